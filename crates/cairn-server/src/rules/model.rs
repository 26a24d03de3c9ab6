//! Rules, their targets, connections and API destinations, as cairn keeps them, with
//! EventBridge's rules for names, ARNs and limits.
//!
//! # Format: catalog documents, version 1
//!
//! - `rules.json`: `{"version": 1, "rules": [<Rule>, ...]}`, each as [`Rule`] serializes
//!   (snake_case members, times as epoch seconds, `pattern` the pattern's JSON text as given);
//! - `connections.json` (secret: it holds the connections' credentials):
//!   `{"version": 1, "connections": [<Connection>, ...]}`;
//! - `api-destinations.json`: `{"version": 1, "api_destinations": [<ApiDestination>, ...]}`.
//!
//! Every change rewrites its document atomically before the API answers.

use std::sync::Arc;

use cairn_store::{Store, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog_list::{CatalogList, ListDocument};
use crate::error::{ApiError, ErrorCode};

const RULES: ListDocument = ListDocument {
    name: "rules.json",
    version: 1,
    member: "rules",
    visibility: Visibility::Plain,
};
const CONNECTIONS: ListDocument = ListDocument {
    name: "connections.json",
    version: 1,
    member: "connections",
    visibility: Visibility::Secret,
};
const API_DESTINATIONS: ListDocument = ListDocument {
    name: "api-destinations.json",
    version: 1,
    member: "api_destinations",
    visibility: Visibility::Plain,
};

/// The only event bus cairn has: every account's default bus.
pub const DEFAULT_BUS: &str = "default";
/// EventBridge's quotas: rules per event bus, targets per rule.
pub const MAX_RULES_PER_BUS: usize = 300;
pub const MAX_TARGETS_PER_RULE: usize = 5;

/// A rule of an account's default bus in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Never reused: names the rule's delivery state.
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub region: String,
    /// The event pattern's JSON text, as given.
    pub pattern: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub targets: Vec<Target>,
    pub created: f64,
}

impl Rule {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:rule/{}",
            self.region, self.account_id, self.name
        )
    }
}

/// A target of a rule, with its members as the API gives them (`Id`, `Arn`, `Input`,
/// `InputPath`, `InputTransformer`, `RetryPolicy`, `DeadLetterConfig`, `HttpParameters`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub arn: String,
    /// The whole `Target` structure, as ListTargetsByRule gives it back.
    pub definition: Value,
}

/// How a connection authorizes the calls of its API destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authorization {
    Basic {
        username: String,
        password: String,
    },
    ApiKey {
        name: String,
        value: String,
    },
    OauthClientCredentials {
        client_id: String,
        client_secret: String,
        authorization_endpoint: String,
        http_method: String,
        /// Extra body parameters, headers and query string of the token request
        /// (`OAuthHttpParameters`), as given.
        http_parameters: Option<Value>,
    },
}

impl Authorization {
    pub fn kind(&self) -> &'static str {
        match self {
            Authorization::Basic { .. } => "BASIC",
            Authorization::ApiKey { .. } => "API_KEY",
            Authorization::OauthClientCredentials { .. } => "OAUTH_CLIENT_CREDENTIALS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub region: String,
    pub description: Option<String>,
    pub authorization: Authorization,
    /// Headers, query string and body parameters added to every call
    /// (`InvocationHttpParameters`), as given.
    pub invocation_http_parameters: Option<Value>,
    pub created: f64,
    pub modified: f64,
}

impl Connection {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:connection/{}/{}",
            self.region, self.account_id, self.name, self.id
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiDestination {
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub region: String,
    pub description: Option<String>,
    pub connection_arn: String,
    pub invocation_endpoint: String,
    pub http_method: String,
    pub rate_limit_per_second: Option<u64>,
    pub created: f64,
    pub modified: f64,
}

impl ApiDestination {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:api-destination/{}/{}",
            self.region, self.account_id, self.name, self.id
        )
    }
}

/// Something kept per account and region, by name: rules, connections, API destinations.
pub trait Regional {
    fn account_id(&self) -> &str;
    fn region(&self) -> &str;
    fn name(&self) -> &str;

    /// Whether it is of the caller's account and region.
    fn is_in(&self, scope: &crate::trails::Scope) -> bool {
        self.account_id() == scope.account_id && self.region() == scope.region
    }
}

macro_rules! regional {
    ($($kind:ty),*) => {$(
        impl Regional for $kind {
            fn account_id(&self) -> &str { &self.account_id }
            fn region(&self) -> &str { &self.region }
            fn name(&self) -> &str { &self.name }
        }
    )*};
}
regional!(Rule, Connection, ApiDestination);

/// Where `scope`'s item named `name` is among `items`.
pub fn position_of<T: Regional>(
    items: &[T],
    scope: &crate::trails::Scope,
    name: &str,
) -> Option<usize> {
    items
        .iter()
        .position(|item| item.is_in(scope) && item.name() == name)
}

/// Everything the rules API keeps.
#[derive(Debug)]
pub struct RuleCatalog {
    pub rules: CatalogList<Rule>,
    pub connections: CatalogList<Connection>,
    pub api_destinations: CatalogList<ApiDestination>,
}

impl RuleCatalog {
    pub fn load(store: Arc<Store>) -> Result<RuleCatalog, String> {
        Ok(RuleCatalog {
            rules: CatalogList::load(store.clone(), RULES)?,
            connections: CatalogList::load(store.clone(), CONNECTIONS)?,
            api_destinations: CatalogList::load(store, API_DESTINATIONS)?,
        })
    }
}

/// EventBridge's name rule for rules, targets' ids, connections and API destinations: 1 to 64
/// of letters, digits, `.`, `-` and `_`.
pub fn validate_name(member: &str, name: &str) -> Result<(), ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{name}' at '{member}' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ \
                 and have length between 1 and 64"
            ),
        ))
    }
}

/// The name a request gives for an event bus, as a name: cairn has only `default`.
pub fn check_bus(bus: Option<&str>, scope: &crate::trails::Scope) -> Result<(), ApiError> {
    let Some(bus) = bus else { return Ok(()) };
    let default_arn = format!(
        "arn:aws:events:{}:{}:event-bus/default",
        scope.region, scope.account_id
    );
    if bus == DEFAULT_BUS || bus == default_arn {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("Event bus {bus} does not exist."),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_eventbridge_rules() {
        for good in ["ssh-keys", "a", "Rule_1.x", &"r".repeat(64)] {
            assert!(validate_name("name", good).is_ok(), "{good}");
        }
        for bad in ["", "no spaces", "slash/", &"r".repeat(65)] {
            assert_eq!(
                validate_name("name", bad).unwrap_err().code,
                ErrorCode::Validation
            );
        }
    }
}
