//! The server's configuration: accounts and the principals that may call the API.
//!
//! # The configuration file (TOML, strict: an unknown key is an error)
//!
//! ```toml
//! # The region requests are in when their signature does not say (it always does for SigV4).
//! default_region = "us-east-1"          # optional
//!
//! [[accounts]]
//! id = "123456789012"                    # 12 digits
//!
//! [[principals]]
//! account = "123456789012"               # one of the accounts above
//! access_key_id = "AKIAIOSFODNN7EXAMPLE" # 1-128 letters and digits, unique (under 16: a warning)
//! secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
//! type = "IAMUser"                       # Root | IAMUser | AssumedRole
//! user_name = "alice"                    # IAMUser only, required
//! # role_name = "Admin"                  # AssumedRole only, required
//! # session_name = "alice-session"       # AssumedRole only, required
//! permissions = "admin"                  # admin | read-only | ingest
//!
//! # Trail delivery (all optional). Each setting can also come from the environment, which
//! # wins: CAIRN_DELIVERY_TARGET, CAIRN_DELIVERY_INTERVAL_SECS, CAIRN_DIGEST_INTERVAL_SECS,
//! # CAIRN_BUCKETS_DIR, and for S3 the standard AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL),
//! # AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP.
//! [delivery]
//! target = "local"                       # local (default) | s3
//! interval_secs = 300                    # log files: every 5 minutes (1 at least)
//! digest_interval_secs = 3600            # digests: hourly
//! buckets_dir = "/srv/cairn-buckets"     # local: default <data-dir>/buckets
//! [delivery.s3]                          # s3: an S3-compatible store
//! endpoint = "http://127.0.0.1:9000"     # default AWS's endpoint for the region
//! region = "us-east-1"
//! access_key_id = "minioadmin"
//! secret_access_key = "minioadmin"
//! allow_http = true
//!
//! # The capture proxy (all optional): calls signed for other services than CloudTrail are
//! # forwarded to their upstream and recorded as their CloudTrail events. Trails call the same
//! # upstreams for `sns` (notifications), `logs` (CloudWatch Logs) and `kms` (their key).
//! [capture]
//! upstream = "http://127.0.0.1:5000"     # every service (also `cairn serve --upstream`)
//! durability = "sync"                    # sync (answer once the event is durable) | async
//! trusted_proxies = ["10.0.0.5"]         # whose X-Forwarded-For names the caller
//! redact = ["apiKey", "ssm:PutParameter:description"]  # more members to hide
//! max_body_bytes = 67108864              # bodies read whole up to this size (64 MiB)
//! [capture.upstreams]                    # by SigV4 signing name, before `upstream`
//! s3 = "http://127.0.0.1:9000"
//!
//! # CloudTrail Lake (optional).
//! [lake]
//! query_timeout_secs = 3600              # a query running longer is TIMED_OUT
//!
//! # Who may read /metrics (optional): with this, only a principal (HTTP basic authorization
//! # with its access key ID and secret access key, Prometheus's `basic_auth`).
//! [metrics]
//! require_principal = true
//!
//! # What one client may hold of the server (all optional).
//! [limits]
//! max_connections = 1024                 # served at once; more wait to be accepted
//! header_timeout_secs = 10               # a request's headers must arrive in time (slowloris)
//! max_header_bytes = 65536               # request line and headers; more is answered 431
//! requests_per_second = 50               # API calls a second per principal (default: no limit)
//! lookup_events_per_second = 2           # LookupEvents a second per principal, as AWS allows
//! ```
//!
//! - `admin` may call every operation; `read-only` only reading ones (`Lookup*`, `Get*`,
//!   `Describe*`, `List*`); `ingest` only `PutAuditEvents`.
//! - The file holds secret keys: cairn refuses to load it when users other than its owner may
//!   read or change it (`chmod 600`).
//! - Without a configuration file, one admin principal of type Root is bootstrapped (see
//!   [`bootstrap`]): `CAIRN_ROOT_ACCESS_KEY_ID` / `CAIRN_ROOT_SECRET_ACCESS_KEY` /
//!   `CAIRN_ACCOUNT_ID` (default `123456789012`), or a key generated on first start and kept in
//!   `<data-dir>/root-credentials` (mode 0600, the AWS CLI's shared credentials format: its
//!   secret is never printed; `AWS_SHARED_CREDENTIALS_FILE=<that file>` uses it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The account cairn uses when none is configured (AWS's documentation account).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
/// The region of a request whose signature does not name one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Where a generated bootstrap key is kept, inside the data directory.
pub const ROOT_CREDENTIALS_FILE: &str = "root-credentials";

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating an access key: the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// The file as written (step one: parse strictly).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    default_region: Option<String>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    principals: Vec<RawPrincipal>,
    #[serde(default)]
    delivery: DeliveryConfig,
    #[serde(default)]
    capture: CaptureConfig,
    #[serde(default)]
    lake: LakeConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    limits: LimitsConfig,
}

/// The `[limits]` table: what one client may hold of the server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections served at once; more wait to be accepted (default 1024).
    pub max_connections: Option<usize>,
    /// A request's headers must arrive within this many seconds of its first byte, or the
    /// connection is closed (slow clients, slowloris; default 10).
    pub header_timeout_secs: Option<u64>,
    /// The most bytes of request line and headers (default 65536; at least 8192); more is
    /// answered 431.
    pub max_header_bytes: Option<usize>,
    /// API calls a second one principal may make (a burst of a second's worth); more are
    /// answered `ThrottlingException`. Default: no limit.
    pub requests_per_second: Option<f64>,
    /// LookupEvents calls a second one principal may make (AWS allows 2); default: no limit.
    pub lookup_events_per_second: Option<f64>,
}

impl LimitsConfig {
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or(1024).max(1)
    }

    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.header_timeout_secs.unwrap_or(10).max(1))
    }

    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes.unwrap_or(65_536).max(8192)
    }
}

/// The `[metrics]` table: who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Answer `/metrics` only with HTTP basic authorization by a principal (its access key ID
    /// and secret access key, as Prometheus's `basic_auth` sends them); default: anyone.
    #[serde(default)]
    pub require_principal: bool,
}

/// The `[lake]` table: CloudTrail Lake queries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// A query that runs longer is TIMED_OUT; default one hour, as AWS's.
    pub query_timeout_secs: Option<u64>,
}

impl CaptureConfig {
    /// Where the calls of `service` (a SigV4 signing name) go: its own upstream, else the
    /// default one (without a trailing `/`).
    pub fn upstream_for(&self, service: &str) -> Option<&str> {
        self.upstreams
            .get(service)
            .or(self.upstream.as_ref())
            .map(|u| u.trim_end_matches('/'))
    }
}

impl LakeConfig {
    pub fn query_timeout_secs(&self) -> f64 {
        self.query_timeout_secs.unwrap_or(3600) as f64
    }
}

/// The `[capture]` table: the services whose calls cairn forwards and records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Where the calls of a service without its own upstream go (`cairn serve --upstream`).
    pub upstream: Option<String>,
    /// Upstreams by SigV4 signing name (`ec2`, `s3`, `ssm`, `monitoring`, ...).
    #[serde(default)]
    pub upstreams: std::collections::BTreeMap<String, String>,
    /// Proxies in front of cairn whose `X-Forwarded-For` names the caller.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `sync` (default): a call is answered once its event is durable; `async`: at once.
    #[serde(default)]
    pub durability: Durability,
    /// More members to hide, by name or as `service:Operation:member`.
    #[serde(default)]
    pub redact: Vec<String>,
    /// The largest request or answer body read whole (default 64 MiB).
    pub max_body_bytes: Option<usize>,
}

/// When a captured call is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After its event is durable (group commit keeps this cheap).
    #[default]
    Sync,
    /// At once; the event follows within the audit writer's next batch.
    Async,
}

/// The `[delivery]` table as written; [`crate::delivery::DeliverySettings::resolve`] adds the
/// environment and defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub target: Option<String>,
    pub interval_secs: Option<u64>,
    pub digest_interval_secs: Option<u64>,
    pub buckets_dir: Option<PathBuf>,
    pub s3: Option<S3Config>,
}

/// The `[delivery.s3]` table as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    account: String,
    access_key_id: String,
    secret_access_key: String,
    #[serde(rename = "type")]
    kind: PrincipalKind,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default)]
    session_name: Option<String>,
    permissions: Permissions,
}

/// The identity type a principal appears as in `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PrincipalKind {
    Root,
    #[serde(rename = "IAMUser")]
    IamUser,
    AssumedRole,
}

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permissions {
    Admin,
    ReadOnly,
    Ingest,
}

/// Who a principal is, as `userIdentity` will show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Root,
    IamUser {
        user_name: String,
    },
    AssumedRole {
        role_name: String,
        session_name: String,
    },
}

/// A principal: an access key, its secret, the account it belongs to and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub identity: Identity,
    pub permissions: Permissions,
}

/// The resolved configuration (step two: validated).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub default_region: String,
    /// By access key id.
    pub principals: HashMap<String, Principal>,
    pub delivery: DeliveryConfig,
    pub capture: CaptureConfig,
    pub lake: LakeConfig,
    pub metrics: MetricsConfig,
    pub limits: LimitsConfig,
}

/// Refuses a file of secrets (the configuration, a TLS private key) that users other than its
/// owner may read or write.
pub fn refuse_shared_secret_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} may be read or changed by other users (mode {:o}) and holds secrets: make it \
                 its owner's alone (chmod 600 {})",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

impl Config {
    /// Reads and validates a configuration file, which must be its owner's alone (it holds
    /// secret access keys).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        refuse_shared_secret_file(path).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut accounts = Vec::new();
        for account in &raw.accounts {
            if account.id.len() != 12 || !account.id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "account id {:?} is not 12 digits, as AWS account ids are",
                    account.id
                ));
            }
            if accounts.contains(&account.id) {
                return Err(format!("account {} is listed twice", account.id));
            }
            accounts.push(account.id.clone());
        }
        let mut principals = HashMap::new();
        for (i, p) in raw.principals.into_iter().enumerate() {
            let which = format!("principals[{i}] ({})", p.access_key_id);
            if !accounts.contains(&p.account) {
                return Err(format!(
                    "{which}: account {} is not in [[accounts]]",
                    p.account
                ));
            }
            check_access_key_id(&p.access_key_id).map_err(|m| format!("{which}: {m}"))?;
            if p.secret_access_key.is_empty() {
                return Err(format!("{which}: secret_access_key is empty"));
            }
            let identity = match p.kind {
                PrincipalKind::Root => {
                    if p.user_name.is_some() || p.role_name.is_some() || p.session_name.is_some() {
                        return Err(format!(
                            "{which}: a Root principal has no user_name, role_name or session_name"
                        ));
                    }
                    Identity::Root
                }
                PrincipalKind::IamUser => match (p.user_name, p.role_name, p.session_name) {
                    (Some(user_name), None, None) if !user_name.is_empty() => {
                        Identity::IamUser { user_name }
                    }
                    _ => {
                        return Err(format!(
                            "{which}: an IAMUser principal needs user_name (and no role_name or session_name)"
                        ));
                    }
                },
                PrincipalKind::AssumedRole => match (p.user_name, p.role_name, p.session_name) {
                    (None, Some(role_name), Some(session_name))
                        if !role_name.is_empty() && !session_name.is_empty() =>
                    {
                        Identity::AssumedRole {
                            role_name,
                            session_name,
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{which}: an AssumedRole principal needs role_name and session_name (and no user_name)"
                        ));
                    }
                },
            };
            let principal = Principal {
                account_id: p.account,
                access_key_id: p.access_key_id.clone(),
                secret_access_key: p.secret_access_key,
                identity,
                permissions: p.permissions,
            };
            if principals.insert(p.access_key_id, principal).is_some() {
                return Err(format!("{which}: access_key_id is used twice"));
            }
        }
        if principals.is_empty() {
            return Err("no [[principals]]: nobody could call the API".to_owned());
        }
        Ok(Config {
            default_region: raw
                .default_region
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            principals,
            delivery: raw.delivery,
            capture: raw.capture,
            lake: raw.lake,
            metrics: raw.metrics,
            limits: raw.limits,
        })
    }

    /// What is accepted but unlike AWS, for the operator to read at start: access keys shorter
    /// than AWS's 16 characters, in access key order.
    pub fn warnings(&self) -> Vec<String> {
        let mut short: Vec<&str> = self
            .principals
            .keys()
            .filter(|key| key.len() < AWS_MIN_ACCESS_KEY_ID_LEN)
            .map(String::as_str)
            .collect();
        short.sort_unstable();
        short
            .into_iter()
            .map(|key| {
                format!(
                    "access key {key} is shorter than AWS's {AWS_MIN_ACCESS_KEY_ID_LEN} \
                     characters: fine for tests, easy to guess in production"
                )
            })
            .collect()
    }

    /// The account events go to when a request cannot be attributed to one (an unknown access
    /// key): the account of the first principal in access key order, so that it is stable.
    pub fn fallback_account(&self) -> String {
        self.principals
            .iter()
            .min_by_key(|(key, _)| *key)
            .map_or_else(
                || DEFAULT_ACCOUNT_ID.to_owned(),
                |(_, p)| p.account_id.clone(),
            )
    }
}

/// AWS's access key ids are 16 to 128 letters and digits. Shorter ones are accepted, because
/// the test keys of moto and LocalStack users (`test`, `FOOBARKEY`) are in every such script;
/// [`Config::warnings`] names them.
fn check_access_key_id(key: &str) -> Result<(), String> {
    if !(1..=MAX_ACCESS_KEY_ID_LEN).contains(&key.len())
        || !key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(format!(
            "access_key_id must be 1-{MAX_ACCESS_KEY_ID_LEN} letters and digits"
        ));
    }
    Ok(())
}

/// The length of AWS's access key ids: at least this, at most [`MAX_ACCESS_KEY_ID_LEN`].
pub const AWS_MIN_ACCESS_KEY_ID_LEN: usize = 16;
pub const MAX_ACCESS_KEY_ID_LEN: usize = 128;

/// The bootstrap principal when there is no configuration file: from the environment if
/// `CAIRN_ROOT_ACCESS_KEY_ID` is set, else from `<data-dir>/root-credentials`, else generated
/// and written there (mode 0600). Returns the configuration and, when the key was generated
/// just now, the secret to print once.
pub fn bootstrap(
    data_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Config, Option<Principal>), ConfigError> {
    let account_id = env("CAIRN_ACCOUNT_ID").unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_owned());
    let invalid = |message: String| ConfigError::Invalid {
        path: PathBuf::from("environment"),
        message,
    };
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "CAIRN_ACCOUNT_ID {account_id:?} is not 12 digits"
        )));
    }
    let root = |access_key_id: String, secret_access_key: String| Principal {
        account_id: account_id.clone(),
        access_key_id,
        secret_access_key,
        identity: Identity::Root,
        permissions: Permissions::Admin,
    };
    let (principal, generated) = match env("CAIRN_ROOT_ACCESS_KEY_ID") {
        Some(key) => {
            check_access_key_id(&key)
                .map_err(|m| invalid(format!("CAIRN_ROOT_ACCESS_KEY_ID: {m}")))?;
            let secret = env("CAIRN_ROOT_SECRET_ACCESS_KEY").ok_or_else(|| {
                invalid(
                    "CAIRN_ROOT_ACCESS_KEY_ID is set but CAIRN_ROOT_SECRET_ACCESS_KEY is not"
                        .to_owned(),
                )
            })?;
            (root(key, secret), false)
        }
        None => {
            let path = data_dir.join(ROOT_CREDENTIALS_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let (key, secret) =
                        parse_credentials_file(&text).ok_or_else(|| ConfigError::Invalid {
                            path: path.clone(),
                            message: "expected the lines `aws_access_key_id = ...` and \
                                      `aws_secret_access_key = ...`"
                                .to_owned(),
                        })?;
                    (root(key, secret), false)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let (key, secret) = generate_key()?;
                    write_credentials_file(&path, &key, &secret)?;
                    (root(key, secret), true)
                }
                Err(source) => return Err(ConfigError::Read { path, source }),
            }
        }
    };
    let config = Config {
        default_region: DEFAULT_REGION.to_owned(),
        principals: HashMap::from([(principal.access_key_id.clone(), principal.clone())]),
        delivery: DeliveryConfig::default(),
        capture: CaptureConfig::default(),
        lake: LakeConfig::default(),
        metrics: MetricsConfig::default(),
        limits: LimitsConfig::default(),
    };
    Ok((config, generated.then_some(principal)))
}

/// A TOML error by line and column, without the line itself: the line may hold a secret key,
/// and errors are printed.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
            format!("line {line}, column {column}: {}", error.message().trim())
        }
        None => error.message().trim().to_owned(),
    }
}

/// The key of a `root-credentials` file: the AWS CLI's shared credentials format (`[default]`,
/// `aws_access_key_id = ...`), or the `access_key_id = "..."` lines earlier versions wrote.
fn parse_credentials_file(text: &str) -> Option<(String, String)> {
    let value = |names: [&str; 2]| {
        text.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            names
                .contains(&k.trim())
                .then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    Some((
        value(["aws_access_key_id", "access_key_id"])?,
        value(["aws_secret_access_key", "secret_access_key"])?,
    ))
}

fn write_credentials_file(path: &Path, key: &str, secret: &str) -> Result<(), ConfigError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(err)?;
    write!(
        file,
        "# cairn's bootstrap admin key (generated on first start; keep it secret), in the AWS\n\
         # CLI's shared credentials format: AWS_SHARED_CREDENTIALS_FILE=<this file>\n\
         [default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    .and_then(|()| file.sync_all())
    .map_err(err)
}

/// A new access key in AWS's shapes: `AKIA` + 16 base-32 characters, and a 40-character secret.
pub fn generate_key() -> Result<(String, String), ConfigError> {
    const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = [0u8; 56];
    getrandom::fill(&mut bytes).map_err(ConfigError::Random)?;
    let key: String = "AKIA"
        .chars()
        .chain(
            bytes[..16]
                .iter()
                .map(|b| KEY_ALPHABET[(*b as usize) % 32] as char),
        )
        .collect();
    let secret: String = bytes[16..]
        .iter()
        .map(|b| SECRET_ALPHABET[(*b as usize) % 64] as char)
        .collect();
    Ok((key, secret))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_configuration_error_never_shows_the_line_it_is_on() {
        let text = "[[accounts]]\nid = \"123456789012\"\n\n[[principals]]\n\
                    account = \"123456789012\"\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\n\
                    secret_access_key = wJalrXUtnFEMI/K7MDENG\n";
        let error = Config::parse(text).unwrap_err();
        assert!(!error.contains("wJalrXUtnFEMI"), "{error}");
        assert!(error.starts_with("line 7, column "), "{error}");
    }

    use super::*;

    #[test]
    fn a_secret_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        let text = "[[accounts]]\nid = \"123456789012\"\n[[principals]]\naccount = \"123456789012\"\n\
                    access_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = \"s\"\n\
                    type = \"Root\"\npermissions = \"admin\"\n";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = Config::load(&path).unwrap_err().to_string();
        assert!(
            refused.contains("mode 644") && refused.contains("chmod 600"),
            "{refused}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Config::load(&path).is_ok(), "{:?}", Config::load(&path));
    }

    const SAMPLE: &str = r#"
        [[accounts]]
        id = "111111111111"
        [[accounts]]
        id = "222222222222"

        [[principals]]
        account = "111111111111"
        access_key_id = "AKIAALICE0000000001"
        secret_access_key = "alice-secret"
        type = "IAMUser"
        user_name = "alice"
        permissions = "admin"

        [[principals]]
        account = "222222222222"
        access_key_id = "ASIAROLE00000000002"
        secret_access_key = "role-secret"
        type = "AssumedRole"
        role_name = "Auditor"
        session_name = "bob"
        permissions = "read-only"
    "#;

    #[test]
    fn a_sample_config_resolves() {
        let config = Config::parse(SAMPLE).unwrap();
        assert_eq!(config.default_region, "us-east-1");
        let role = &config.principals["ASIAROLE00000000002"];
        assert_eq!(role.account_id, "222222222222");
        assert_eq!(role.permissions, Permissions::ReadOnly);
        assert_eq!(
            role.identity,
            Identity::AssumedRole {
                role_name: "Auditor".into(),
                session_name: "bob".into()
            }
        );
    }

    #[test]
    fn unknown_keys_and_inconsistent_principals_are_errors() {
        let err =
            Config::parse("[[accounts]]\nid = \"111111111111\"\ncolour = \"red\"\n").unwrap_err();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = Config::parse(&SAMPLE.replace("\"alice\"", "\"alice\"\nrole_name = \"x\""))
            .unwrap_err();
        assert!(err.contains("IAMUser principal needs user_name"), "{err}");
        let err = Config::parse(
            &SAMPLE.replace("account = \"222222222222\"", "account = \"333333333333\""),
        )
        .unwrap_err();
        assert!(err.contains("not in [[accounts]]"), "{err}");
        let err = Config::parse(&SAMPLE.replace("read-only", "superuser")).unwrap_err();
        assert!(err.contains("unknown variant `superuser`"), "{err}");
        let err = Config::parse("[[accounts]]\nid = \"12\"\n").unwrap_err();
        assert!(err.contains("not 12 digits"), "{err}");
    }

    #[test]
    fn bootstrap_generates_a_key_once_and_keeps_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let (first, printed) = bootstrap(dir.path(), |_| None).unwrap();
        let printed = printed.expect("a generated key is returned to be printed");
        assert!(printed.access_key_id.starts_with("AKIA") && printed.access_key_id.len() == 20);
        assert_eq!(printed.secret_access_key.len(), 40);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ROOT_CREDENTIALS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, printed_again) = bootstrap(dir.path(), |_| None).unwrap();
        assert!(printed_again.is_none());
        assert_eq!(first, second);
    }

    #[test]
    fn bootstrap_takes_the_key_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let env = |name: &str| match name {
            "CAIRN_ROOT_ACCESS_KEY_ID" => Some("AKIAENVIRONMENT00001".to_owned()),
            "CAIRN_ROOT_SECRET_ACCESS_KEY" => Some("s3cret".to_owned()),
            "CAIRN_ACCOUNT_ID" => Some("999999999999".to_owned()),
            _ => None,
        };
        let (config, printed) = bootstrap(dir.path(), env).unwrap();
        assert!(printed.is_none());
        let root = &config.principals["AKIAENVIRONMENT00001"];
        assert_eq!(root.account_id, "999999999999");
        assert_eq!(root.identity, Identity::Root);
        assert!(!dir.path().join(ROOT_CREDENTIALS_FILE).exists());
    }

    #[test]
    fn the_test_keys_of_moto_and_localstack_are_accepted_with_a_warning() {
        let config = Config::parse(
            &SAMPLE
                .replace("AKIAALICE0000000001", "FOOBARKEY")
                .replace("ASIAROLE00000000002", "test"),
        )
        .unwrap();
        assert!(config.principals.contains_key("FOOBARKEY"));
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("access key FOOBARKEY is shorter than AWS's 16"));
        assert!(warnings[1].starts_with("access key test is shorter"));
        assert!(Config::parse(SAMPLE).unwrap().warnings().is_empty());

        let env = |name: &str| match name {
            "CAIRN_ROOT_ACCESS_KEY_ID" => Some("test".to_owned()),
            "CAIRN_ROOT_SECRET_ACCESS_KEY" => Some("test".to_owned()),
            _ => None,
        };
        let dir = tempfile::tempdir().unwrap();
        let (config, _) = bootstrap(dir.path(), env).unwrap();
        assert_eq!(config.warnings().len(), 1);

        // Still refused: empty, too long, or not letters and digits.
        for bad in ["", &"A".repeat(129), "FOO-BAR", "KEY WITH SPACE"] {
            let err = Config::parse(&SAMPLE.replace("AKIAALICE0000000001", bad)).unwrap_err();
            assert!(
                err.contains("must be 1-128 letters and digits"),
                "{bad:?}: {err}"
            );
        }
    }
}
