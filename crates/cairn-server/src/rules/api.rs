//! The rules API's operations, each checked as EventBridge checks it (its messages where they
//! are known). Handlers run on a blocking thread: changes are saved before they are answered.
//!
//! Targets: an API destination (`arn:aws:events:<region>:<account>:api-destination/...`) of
//! the rule's account and region, or an event bus ARN (`...:event-bus/<name>`), whose events
//! go with `PutEvents` to the EventBridge-compatible upstream of the capture configuration.
//! Other target kinds are refused per entry (`FailedEntries`), as EventBridge reports targets
//! it cannot take.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Operation;
use super::model::{
    ApiDestination, Authorization, Connection, DEFAULT_BUS, MAX_RULES_PER_BUS,
    MAX_TARGETS_PER_RULE, Regional, Rule, RuleCatalog, Target, check_bus, position_of,
    validate_name,
};
use crate::catalog_list::CatalogList;
use crate::error::{ApiError, ErrorCode};
use crate::trails::Scope;
use cairn_rules::Pattern;

/// Runs one operation for `scope` (the caller's account and the request's region).
pub fn handle(
    catalog: &RuleCatalog,
    op: Operation,
    body: &[u8],
    scope: &Scope,
    now: f64,
) -> Result<Value, ApiError> {
    match op {
        Operation::PutRule => put_rule(catalog, parse_body(op, body)?, scope, now),
        Operation::DescribeRule => {
            let request: RuleName = parse_body(op, body)?;
            check_bus(request.event_bus_name.as_deref(), scope)?;
            let edit = catalog.rules.edit()?;
            let rule = find_rule(&edit.items, scope, &request.name)?;
            Ok(describe_rule(rule))
        }
        Operation::ListRules => list_rules(catalog, parse_body(op, body)?, scope),
        Operation::DeleteRule => {
            let request: RuleName = parse_body(op, body)?;
            check_bus(request.event_bus_name.as_deref(), scope)?;
            let mut edit = catalog.rules.edit()?;
            // Deleting a rule that is not there succeeds, as EventBridge's does.
            if let Some(at) = position_of(&edit.items, scope, &request.name) {
                if !edit.items[at].targets.is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::Validation,
                        "Rule can't be deleted since it has targets.",
                    ));
                }
                edit.items.remove(at);
                edit.save()?;
            }
            Ok(json!({}))
        }
        Operation::EnableRule | Operation::DisableRule => {
            let request: RuleName = parse_body(op, body)?;
            check_bus(request.event_bus_name.as_deref(), scope)?;
            let mut edit = catalog.rules.edit()?;
            let at = position_of(&edit.items, scope, &request.name)
                .ok_or_else(|| rule_not_found(&request.name))?;
            edit.items[at].enabled = op == Operation::EnableRule;
            edit.save()?;
            Ok(json!({}))
        }
        Operation::PutTargets => put_targets(catalog, parse_body(op, body)?, scope),
        Operation::RemoveTargets => {
            let request: RemoveTargets = parse_body(op, body)?;
            check_bus(request.event_bus_name.as_deref(), scope)?;
            let mut edit = catalog.rules.edit()?;
            let at = position_of(&edit.items, scope, &request.rule)
                .ok_or_else(|| rule_not_found(&request.rule))?;
            edit.items[at]
                .targets
                .retain(|t| !request.ids.contains(&t.id));
            edit.save()?;
            Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
        }
        Operation::ListTargetsByRule => {
            let request: RuleTargets = parse_body(op, body)?;
            check_bus(request.event_bus_name.as_deref(), scope)?;
            let edit = catalog.rules.edit()?;
            let rule = find_rule(&edit.items, scope, &request.rule)?;
            let targets: Vec<&Value> = rule.targets.iter().map(|t| &t.definition).collect();
            Ok(json!({ "Targets": targets }))
        }
        Operation::TestEventPattern => test_event_pattern(parse_body(op, body)?),
        Operation::CreateConnection => {
            create_connection(catalog, parse_body(op, body)?, scope, now)
        }
        Operation::DescribeConnection => {
            let request: Named = parse_body(op, body)?;
            let found = named(
                &catalog.connections,
                scope,
                &request.name,
                connection_not_found,
            )?;
            Ok(describe_connection(&found))
        }
        Operation::ListConnections => {
            let request: ListRequest = parse_body(op, body)?;
            let connections: Vec<Value> = listed(&catalog.connections, scope, &request)?
                .iter()
                .map(|c| {
                    let mut out = connection_state(c);
                    out["Name"] = json!(c.name);
                    out["AuthorizationType"] = json!(c.authorization.kind());
                    out
                })
                .collect();
            Ok(json!({ "Connections": connections }))
        }
        Operation::UpdateConnection => {
            update_connection(catalog, parse_body(op, body)?, scope, now)
        }
        Operation::DeleteConnection => {
            let request: Named = parse_body(op, body)?;
            let connection = remove_named(
                &catalog.connections,
                scope,
                &request.name,
                connection_not_found,
            )?;
            let mut out = connection_state(&connection);
            out["ConnectionState"] = json!("DELETING");
            Ok(out)
        }
        Operation::CreateApiDestination => {
            create_api_destination(catalog, parse_body(op, body)?, scope, now)
        }
        Operation::DescribeApiDestination => {
            let request: Named = parse_body(op, body)?;
            let found = named(
                &catalog.api_destinations,
                scope,
                &request.name,
                api_destination_not_found,
            )?;
            Ok(describe_api_destination(&found))
        }
        Operation::ListApiDestinations => {
            let request: ListRequest = parse_body(op, body)?;
            let destinations: Vec<Value> = listed(&catalog.api_destinations, scope, &request)?
                .iter()
                .filter(|d| {
                    request
                        .connection_arn
                        .as_ref()
                        .is_none_or(|arn| *arn == d.connection_arn)
                })
                .map(describe_api_destination)
                .collect();
            Ok(json!({ "ApiDestinations": destinations }))
        }
        Operation::UpdateApiDestination => {
            update_api_destination(catalog, parse_body(op, body)?, scope, now)
        }
        Operation::DeleteApiDestination => {
            let request: Named = parse_body(op, body)?;
            remove_named(
                &catalog.api_destinations,
                scope,
                &request.name,
                api_destination_not_found,
            )?;
            Ok(json!({}))
        }
    }
}

/// The members of a connection's request that are credentials.
const SECRET_MEMBERS: [&str; 3] = ["Password", "ApiKeyValue", "ClientSecret"];

/// Hides a request's credentials before its audit event is written, as CloudTrail hides
/// secrets (`HIDDEN_DUE_TO_SECURITY_REASONS`): connections' passwords, API key values and
/// client secrets, and the values of their parameters marked `IsValueSecret`.
pub fn hide_secrets(request: &mut Value) {
    match request {
        Value::Object(members) => {
            let secret_value = members.get("IsValueSecret") == Some(&Value::Bool(true));
            for (name, value) in members.iter_mut() {
                if SECRET_MEMBERS.contains(&name.as_str()) || (secret_value && name == "Value") {
                    *value = json!(cairn_capture::redact::HIDDEN);
                } else {
                    hide_secrets(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_secrets),
        _ => {}
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(op: Operation, body: &[u8]) -> Result<T, ApiError> {
    crate::actions::parse_named_request(op.name(), body)
}

/// A copy of `scope`'s item named `name`, or `missing`'s error.
fn named<T: Regional + Clone + serde::Serialize + serde::de::DeserializeOwned>(
    list: &CatalogList<T>,
    scope: &Scope,
    name: &str,
    missing: fn(&str) -> ApiError,
) -> Result<T, ApiError> {
    let edit = list.edit()?;
    let at = position_of(&edit.items, scope, name).ok_or_else(|| missing(name))?;
    Ok(edit.items[at].clone())
}

/// `scope`'s items whose names start with the request's `NamePrefix`, in the order kept.
fn listed<T: Regional + Clone + serde::Serialize + serde::de::DeserializeOwned>(
    list: &CatalogList<T>,
    scope: &Scope,
    request: &ListRequest,
) -> Result<Vec<T>, ApiError> {
    let edit = list.edit()?;
    Ok(edit
        .items
        .iter()
        .filter(|item| item.is_in(scope))
        .filter(|item| {
            request
                .name_prefix
                .as_ref()
                .is_none_or(|prefix| item.name().starts_with(prefix.as_str()))
        })
        .cloned()
        .collect())
}

/// Removes `scope`'s item named `name` (saved before the answer); the item removed.
fn remove_named<T: Regional + serde::Serialize + serde::de::DeserializeOwned>(
    list: &CatalogList<T>,
    scope: &Scope,
    name: &str,
    missing: fn(&str) -> ApiError,
) -> Result<T, ApiError> {
    let mut edit = list.edit()?;
    let at = position_of(&edit.items, scope, name).ok_or_else(|| missing(name))?;
    let removed = edit.items.remove(at);
    edit.save()?;
    Ok(removed)
}

fn rule_not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFound,
        format!("Rule {name} does not exist on EventBus {DEFAULT_BUS}."),
    )
}

fn connection_not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFound,
        format!("Failed to describe the connection(s). Connection '{name}' does not exist."),
    )
}

fn api_destination_not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFound,
        format!(
            "Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
        ),
    )
}

fn find_rule<'a>(rules: &'a [Rule], scope: &Scope, name: &str) -> Result<&'a Rule, ApiError> {
    position_of(rules, scope, name)
        .map(|at| &rules[at])
        .ok_or_else(|| rule_not_found(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_credentials_are_hidden_from_audit_events() {
        let mut request = json!({"Name": "c", "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
            "AuthParameters": {
                "BasicAuthParameters": {"Username": "u", "Password": "p"},
                "ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"},
                "OAuthParameters": {"ClientParameters": {"ClientID": "id", "ClientSecret": "s"}},
                "InvocationHttpParameters": {"HeaderParameters": [
                    {"Key": "x-token", "Value": "t", "IsValueSecret": true},
                    {"Key": "x-plain", "Value": "shown", "IsValueSecret": false}]}}});
        hide_secrets(&mut request);
        let text = request.to_string();
        for secret in ["\"p\"", "\"v\"", "\"s\"", "\"t\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("\"shown\"") && text.contains("\"id\""),
            "{text}"
        );
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleName {
    name: String,
    event_bus_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRule {
    name: String,
    event_pattern: Option<String>,
    schedule_expression: Option<String>,
    state: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
    event_bus_name: Option<String>,
}

fn put_rule(
    catalog: &RuleCatalog,
    request: PutRule,
    scope: &Scope,
    now: f64,
) -> Result<Value, ApiError> {
    validate_name("name", &request.name)?;
    check_bus(request.event_bus_name.as_deref(), scope)?;
    if request.schedule_expression.is_some() {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "ScheduleExpression is not supported by cairn: its rules match events.",
        ));
    }
    let Some(pattern) = request.event_pattern else {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        ));
    };
    Pattern::parse(&pattern)
        .map_err(|e| ApiError::new(ErrorCode::InvalidEventPattern, e.to_string()))?;
    let enabled = match request.state.as_deref() {
        None | Some("ENABLED") | Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => true,
        Some("DISABLED") => false,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!(
                    "1 validation error detected: Value '{other}' at 'state' failed to satisfy \
                     constraint: Member must satisfy enum value set: [ENABLED, DISABLED, \
                     ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
                ),
            ));
        }
    };
    if request
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 512)
    {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "1 validation error detected: Value at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to 512",
        ));
    }
    let mut edit = catalog.rules.edit()?;
    let rule = match position_of(&edit.items, scope, &request.name) {
        // PutRule on an existing rule replaces its settings and keeps its targets.
        Some(at) => {
            let rule = &mut edit.items[at];
            rule.pattern = pattern;
            rule.enabled = enabled;
            rule.description = request.description;
            rule.role_arn = request.role_arn;
            rule.clone()
        }
        None => {
            let count = edit.items.iter().filter(|r| r.is_in(scope)).count();
            if count >= MAX_RULES_PER_BUS {
                return Err(ApiError::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "The requested resource exceeds the maximum number allowed ({MAX_RULES_PER_BUS} rules on an event bus)."
                    ),
                ));
            }
            let rule = Rule {
                id: uuid::Uuid::new_v4().simple().to_string(),
                name: request.name,
                account_id: scope.account_id.clone(),
                region: scope.region.clone(),
                pattern,
                enabled,
                description: request.description,
                role_arn: request.role_arn,
                targets: Vec::new(),
                created: now,
            };
            edit.items.push(rule.clone());
            rule
        }
    };
    edit.save()?;
    Ok(json!({ "RuleArn": rule.arn() }))
}

fn describe_rule(rule: &Rule) -> Value {
    let mut out = json!({
        "Name": rule.name,
        "Arn": rule.arn(),
        "EventPattern": rule.pattern,
        "State": if rule.enabled { "ENABLED" } else { "DISABLED" },
        "EventBusName": DEFAULT_BUS,
        "CreatedBy": rule.account_id,
    });
    if let Some(description) = &rule.description {
        out["Description"] = json!(description);
    }
    if let Some(role) = &rule.role_arn {
        out["RoleArn"] = json!(role);
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    connection_arn: Option<String>,
    next_token: Option<String>,
    limit: Option<usize>,
}

fn list_rules(
    catalog: &RuleCatalog,
    request: ListRequest,
    scope: &Scope,
) -> Result<Value, ApiError> {
    check_bus(request.event_bus_name.as_deref(), scope)?;
    let limit = request.limit.unwrap_or(100).clamp(1, 100);
    let skip: usize = match &request.next_token {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::Validation, "The NextToken is not valid."))?,
    };
    let edit = catalog.rules.edit()?;
    let mut rules: Vec<&Rule> = edit
        .items
        .iter()
        .filter(|r| r.is_in(scope))
        .filter(|r| {
            request
                .name_prefix
                .as_ref()
                .is_none_or(|p| r.name.starts_with(p))
        })
        .collect();
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    let page: Vec<Value> = rules
        .iter()
        .skip(skip)
        .take(limit)
        .map(|r| describe_rule(r))
        .collect();
    let mut out = json!({ "Rules": page });
    if skip + limit < rules.len() {
        out["NextToken"] = json!((skip + limit).to_string());
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTargets {
    rule: String,
    event_bus_name: Option<String>,
    targets: Vec<Value>,
}

fn put_targets(
    catalog: &RuleCatalog,
    request: PutTargets,
    scope: &Scope,
) -> Result<Value, ApiError> {
    check_bus(request.event_bus_name.as_deref(), scope)?;
    if request.targets.is_empty() || request.targets.len() > 10 {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: \
             Member must have length less than or equal to 10 and greater than or equal to 1",
        ));
    }
    let destinations: Vec<String> = {
        let edit = catalog.api_destinations.edit()?;
        edit.items
            .iter()
            .filter(|d| d.is_in(scope))
            .map(ApiDestination::arn)
            .collect()
    };
    let mut edit = catalog.rules.edit()?;
    let at = position_of(&edit.items, scope, &request.rule)
        .ok_or_else(|| rule_not_found(&request.rule))?;
    let mut failed = Vec::new();
    for definition in request.targets {
        let id = definition["Id"].as_str().unwrap_or_default().to_owned();
        let arn = definition["Arn"].as_str().unwrap_or_default().to_owned();
        validate_name("targets.member.id", &id)?;
        if let Err(message) = check_target(&definition, &arn, &destinations) {
            failed.push(json!({
                "TargetId": id, "ErrorCode": "ValidationException", "ErrorMessage": message,
            }));
            continue;
        }
        let rule = &mut edit.items[at];
        let target = Target {
            id: id.clone(),
            arn,
            definition,
        };
        match rule.targets.iter().position(|t| t.id == id) {
            Some(existing) => rule.targets[existing] = target,
            None if rule.targets.len() >= MAX_TARGETS_PER_RULE => {
                return Err(ApiError::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "The requested resource exceeds the maximum number allowed \
                         ({MAX_TARGETS_PER_RULE} targets on a rule)."
                    ),
                ));
            }
            None => rule.targets.push(target),
        }
    }
    edit.save()?;
    Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
}

/// Why a target cannot be taken, if it cannot.
fn check_target(definition: &Value, arn: &str, destinations: &[String]) -> Result<(), String> {
    let kind = arn.splitn(6, ':').nth(5).unwrap_or_default();
    if kind.starts_with("api-destination/") {
        if !destinations.iter().any(|d| d == arn) {
            return Err(format!("API destination {arn} does not exist."));
        }
    } else if kind.starts_with("event-bus/") && arn.starts_with("arn:aws:events:") {
        // Delivered with PutEvents to the EventBridge-compatible upstream.
    } else {
        return Err(format!(
            "{arn} is not a target cairn delivers to: use an API destination or an event bus."
        ));
    }
    let transforms = ["Input", "InputPath", "InputTransformer"]
        .iter()
        .filter(|m| !definition[**m].is_null())
        .count();
    if transforms > 1 {
        return Err("Only one of Input, InputPath, or InputTransformer must be provided.".into());
    }
    if let Some(template) = definition["InputTransformer"].as_object()
        && !template.get("InputTemplate").is_some_and(Value::is_string)
    {
        return Err("InputTransformer needs an InputTemplate.".into());
    }
    if let Some(policy) = definition["RetryPolicy"].as_object() {
        let in_range = |name: &str, low: u64, high: u64| {
            policy
                .get(name)
                .is_none_or(|v| v.as_u64().is_some_and(|n| (low..=high).contains(&n)))
        };
        if !in_range("MaximumRetryAttempts", 0, 185)
            || !in_range("MaximumEventAgeInSeconds", 60, 86_400)
        {
            return Err("RetryPolicy: MaximumRetryAttempts is 0 to 185 and \
                        MaximumEventAgeInSeconds 60 to 86400."
                .into());
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveTargets {
    rule: String,
    event_bus_name: Option<String>,
    ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleTargets {
    rule: String,
    event_bus_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TestEventPattern {
    event_pattern: String,
    event: String,
}

/// The members EventBridge requires of a test event.
const TEST_EVENT_MEMBERS: [&str; 7] = [
    "id",
    "account",
    "source",
    "time",
    "region",
    "resources",
    "detail-type",
];

fn test_event_pattern(request: TestEventPattern) -> Result<Value, ApiError> {
    let pattern = Pattern::parse(&request.event_pattern)
        .map_err(|e| ApiError::new(ErrorCode::InvalidEventPattern, e.to_string()))?;
    let event: Value = serde_json::from_str(&request.event).map_err(|e| {
        ApiError::new(
            ErrorCode::Validation,
            format!("Parameter Event is not valid. Reason: {e}"),
        )
    })?;
    if let Some(missing) = TEST_EVENT_MEMBERS.iter().find(|m| event.get(**m).is_none()) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "Parameter Event is not valid. Reason: Provided Event must have mandatory field {missing}"
            ),
        ));
    }
    Ok(json!({ "Result": pattern.matches(&event) }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectionRequest {
    name: String,
    description: Option<String>,
    authorization_type: Option<String>,
    auth_parameters: Option<Value>,
}

/// A connection's authorization from `AuthorizationType` and `AuthParameters`; `current`
/// supplies what an update leaves out.
fn authorization(
    kind: &str,
    parameters: &Value,
    current: Option<&Authorization>,
) -> Result<Authorization, ApiError> {
    let missing = |what: &str| {
        ApiError::new(
            ErrorCode::Validation,
            format!("{what} must be specified for authorization type {kind}."),
        )
    };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    Ok(match kind {
        "BASIC" => {
            let p = &parameters["BasicAuthParameters"];
            let (user, password) = match current {
                Some(Authorization::Basic { username, password }) => {
                    (Some(username.clone()), Some(password.clone()))
                }
                _ => (None, None),
            };
            Authorization::Basic {
                username: text(&p["Username"])
                    .or(user)
                    .ok_or_else(|| missing("Username"))?,
                password: text(&p["Password"])
                    .or(password)
                    .ok_or_else(|| missing("Password"))?,
            }
        }
        "API_KEY" => {
            let p = &parameters["ApiKeyAuthParameters"];
            let (name, value) = match current {
                Some(Authorization::ApiKey { name, value }) => {
                    (Some(name.clone()), Some(value.clone()))
                }
                _ => (None, None),
            };
            Authorization::ApiKey {
                name: text(&p["ApiKeyName"])
                    .or(name)
                    .ok_or_else(|| missing("ApiKeyName"))?,
                value: text(&p["ApiKeyValue"])
                    .or(value)
                    .ok_or_else(|| missing("ApiKeyValue"))?,
            }
        }
        "OAUTH_CLIENT_CREDENTIALS" => {
            let p = &parameters["OAuthParameters"];
            let old = match current {
                Some(Authorization::OauthClientCredentials {
                    client_id,
                    client_secret,
                    authorization_endpoint,
                    http_method,
                    http_parameters,
                }) => Some((
                    client_id.clone(),
                    client_secret.clone(),
                    authorization_endpoint.clone(),
                    http_method.clone(),
                    http_parameters.clone(),
                )),
                _ => None,
            };
            let client = &p["ClientParameters"];
            Authorization::OauthClientCredentials {
                client_id: text(&client["ClientID"])
                    .or(old.as_ref().map(|o| o.0.clone()))
                    .ok_or_else(|| missing("ClientID"))?,
                client_secret: text(&client["ClientSecret"])
                    .or(old.as_ref().map(|o| o.1.clone()))
                    .ok_or_else(|| missing("ClientSecret"))?,
                authorization_endpoint: text(&p["AuthorizationEndpoint"])
                    .or(old.as_ref().map(|o| o.2.clone()))
                    .ok_or_else(|| missing("AuthorizationEndpoint"))?,
                http_method: text(&p["HttpMethod"])
                    .or(old.as_ref().map(|o| o.3.clone()))
                    .ok_or_else(|| missing("HttpMethod"))?,
                http_parameters: match &p["OAuthHttpParameters"] {
                    Value::Null => old.and_then(|o| o.4),
                    given => Some(given.clone()),
                },
            }
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!(
                    "1 validation error detected: Value '{other}' at 'authorizationType' failed \
                     to satisfy constraint: Member must satisfy enum value set: [BASIC, \
                     OAUTH_CLIENT_CREDENTIALS, API_KEY]"
                ),
            ));
        }
    })
}

fn create_connection(
    catalog: &RuleCatalog,
    request: ConnectionRequest,
    scope: &Scope,
    now: f64,
) -> Result<Value, ApiError> {
    validate_name("name", &request.name)?;
    let kind = request.authorization_type.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Validation,
            "AuthorizationType must be specified.",
        )
    })?;
    let parameters = request.auth_parameters.unwrap_or(Value::Null);
    let authorization = authorization(kind, &parameters, None)?;
    let mut edit = catalog.connections.edit()?;
    if edit
        .items
        .iter()
        .any(|c| c.is_in(scope) && c.name == request.name)
    {
        return Err(ApiError::new(
            ErrorCode::ResourceAlreadyExists,
            format!("Connection {} already exists.", request.name),
        ));
    }
    let connection = Connection {
        id: uuid::Uuid::new_v4().to_string(),
        name: request.name,
        account_id: scope.account_id.clone(),
        region: scope.region.clone(),
        description: request.description,
        authorization,
        invocation_http_parameters: parameters
            .get("InvocationHttpParameters")
            .filter(|v| !v.is_null())
            .cloned(),
        created: now,
        modified: now,
    };
    let answer = connection_state(&connection);
    edit.items.push(connection);
    edit.save()?;
    Ok(answer)
}

fn update_connection(
    catalog: &RuleCatalog,
    request: ConnectionRequest,
    scope: &Scope,
    now: f64,
) -> Result<Value, ApiError> {
    let mut edit = catalog.connections.edit()?;
    let at = position_of(&edit.items, scope, &request.name)
        .ok_or_else(|| connection_not_found(&request.name))?;
    let mut connection = edit.items[at].clone();
    let kind = request
        .authorization_type
        .clone()
        .unwrap_or_else(|| connection.authorization.kind().to_owned());
    let parameters = request.auth_parameters.unwrap_or(Value::Null);
    connection.authorization = authorization(&kind, &parameters, Some(&connection.authorization))?;
    if let Some(description) = request.description {
        connection.description = Some(description);
    }
    if let Some(extra) = parameters
        .get("InvocationHttpParameters")
        .filter(|v| !v.is_null())
    {
        connection.invocation_http_parameters = Some(extra.clone());
    }
    connection.modified = now;
    let answer = connection_state(&connection);
    edit.items[at] = connection;
    edit.save()?;
    Ok(answer)
}

fn connection_state(connection: &Connection) -> Value {
    json!({
        "ConnectionArn": connection.arn(),
        "ConnectionState": "AUTHORIZED",
        "CreationTime": connection.created,
        "LastModifiedTime": connection.modified,
    })
}

/// DescribeConnection's answer: the authorization without its secrets, as EventBridge
/// keeps those in Secrets Manager and never returns them.
fn describe_connection(connection: &Connection) -> Value {
    let mut out = connection_state(connection);
    out["Name"] = json!(connection.name);
    out["AuthorizationType"] = json!(connection.authorization.kind());
    out["LastAuthorizedTime"] = json!(connection.modified);
    if let Some(description) = &connection.description {
        out["Description"] = json!(description);
    }
    out["AuthParameters"] = match &connection.authorization {
        Authorization::Basic { username, .. } => {
            json!({"BasicAuthParameters": {"Username": username}})
        }
        Authorization::ApiKey { name, .. } => json!({"ApiKeyAuthParameters": {"ApiKeyName": name}}),
        Authorization::OauthClientCredentials {
            client_id,
            authorization_endpoint,
            http_method,
            ..
        } => json!({"OAuthParameters": {
            "ClientParameters": {"ClientID": client_id},
            "AuthorizationEndpoint": authorization_endpoint,
            "HttpMethod": http_method,
        }}),
    };
    if let Some(extra) = &connection.invocation_http_parameters {
        out["AuthParameters"]["InvocationHttpParameters"] = extra.clone();
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiDestinationRequest {
    name: String,
    description: Option<String>,
    connection_arn: Option<String>,
    invocation_endpoint: Option<String>,
    http_method: Option<String>,
    invocation_rate_limit_per_second: Option<u64>,
}

const HTTP_METHODS: [&str; 7] = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];

fn check_api_destination(
    catalog: &RuleCatalog,
    scope: &Scope,
    destination: &ApiDestination,
) -> Result<(), ApiError> {
    let connections = catalog.connections.edit()?;
    if !connections
        .items
        .iter()
        .any(|c| c.is_in(scope) && c.arn() == destination.connection_arn)
    {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!(
                "Connection '{}' does not exist.",
                destination.connection_arn
            ),
        ));
    }
    let endpoint_ok = destination.invocation_endpoint.starts_with("https://")
        || destination.invocation_endpoint.starts_with("http://");
    if !endpoint_ok {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "InvocationEndpoint {} is not an http(s) URL.",
                destination.invocation_endpoint
            ),
        ));
    }
    if !HTTP_METHODS.contains(&destination.http_method.as_str()) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{}' at 'httpMethod' failed to satisfy \
                 constraint: Member must satisfy enum value set: [POST, GET, HEAD, OPTIONS, \
                 PUT, PATCH, DELETE]",
                destination.http_method
            ),
        ));
    }
    if destination.rate_limit_per_second == Some(0) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "InvocationRateLimitPerSecond must be at least 1.",
        ));
    }
    Ok(())
}

fn create_api_destination(
    catalog: &RuleCatalog,
    request: ApiDestinationRequest,
    scope: &Scope,
    now: f64,
) -> Result<Value, ApiError> {
    validate_name("name", &request.name)?;
    let required = |value: Option<String>, member: &str| {
        value.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Validation,
                format!("{member} must be specified."),
            )
        })
    };
    let destination = ApiDestination {
        id: uuid::Uuid::new_v4().to_string(),
        name: request.name,
        account_id: scope.account_id.clone(),
        region: scope.region.clone(),
        description: request.description,
        connection_arn: required(request.connection_arn, "ConnectionArn")?,
        invocation_endpoint: required(request.invocation_endpoint, "InvocationEndpoint")?,
        http_method: required(request.http_method, "HttpMethod")?,
        rate_limit_per_second: request.invocation_rate_limit_per_second,
        created: now,
        modified: now,
    };
    check_api_destination(catalog, scope, &destination)?;
    let mut edit = catalog.api_destinations.edit()?;
    if edit
        .items
        .iter()
        .any(|d| d.is_in(scope) && d.name == destination.name)
    {
        return Err(ApiError::new(
            ErrorCode::ResourceAlreadyExists,
            format!("An api-destination '{}' already exists.", destination.name),
        ));
    }
    let answer = api_destination_state(&destination);
    edit.items.push(destination);
    edit.save()?;
    Ok(answer)
}

fn update_api_destination(
    catalog: &RuleCatalog,
    request: ApiDestinationRequest,
    scope: &Scope,
    now: f64,
) -> Result<Value, ApiError> {
    let current = named(
        &catalog.api_destinations,
        scope,
        &request.name,
        api_destination_not_found,
    )?;
    let mut destination = current.clone();
    if let Some(v) = request.description {
        destination.description = Some(v);
    }
    if let Some(v) = request.connection_arn {
        destination.connection_arn = v;
    }
    if let Some(v) = request.invocation_endpoint {
        destination.invocation_endpoint = v;
    }
    if let Some(v) = request.http_method {
        destination.http_method = v;
    }
    if let Some(v) = request.invocation_rate_limit_per_second {
        destination.rate_limit_per_second = Some(v);
    }
    destination.modified = now;
    check_api_destination(catalog, scope, &destination)?;
    let mut edit = catalog.api_destinations.edit()?;
    let at = edit
        .items
        .iter()
        .position(|d| d.id == current.id)
        .ok_or_else(|| api_destination_not_found(&current.name))?;
    let answer = api_destination_state(&destination);
    edit.items[at] = destination;
    edit.save()?;
    Ok(answer)
}

fn api_destination_state(destination: &ApiDestination) -> Value {
    json!({
        "ApiDestinationArn": destination.arn(),
        "ApiDestinationState": "ACTIVE",
        "CreationTime": destination.created,
        "LastModifiedTime": destination.modified,
    })
}

fn describe_api_destination(destination: &ApiDestination) -> Value {
    let mut out = api_destination_state(destination);
    out["Name"] = json!(destination.name);
    out["ConnectionArn"] = json!(destination.connection_arn);
    out["InvocationEndpoint"] = json!(destination.invocation_endpoint);
    out["HttpMethod"] = json!(destination.http_method);
    if let Some(rate) = destination.rate_limit_per_second {
        out["InvocationRateLimitPerSecond"] = json!(rate);
    }
    if let Some(description) = &destination.description {
        out["Description"] = json!(description);
    }
    out
}
