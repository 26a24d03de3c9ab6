//! `cairn lookup-events`: event history lookups from the command line, printed as the AWS CLI
//! prints them (`--output json`) or as the console's table (`--output table`).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use cairn_model::lookup::{LookupAttribute, LookupError, encode_next_token};
use cairn_model::time::{format_event_time, parse_user_time};
use cairn_model::{LookupEvent, LookupEventsRequest, PageCursor};
use cairn_store::Store;
use serde::Serialize;

/// Parses `AttributeKey=K,AttributeValue=V` (the AWS CLI's shorthand). The value may contain
/// commas and `=`; everything after `AttributeValue=` is the value.
pub fn parse_lookup_attribute(text: &str) -> Result<LookupAttribute> {
    let rest = text.trim().strip_prefix("AttributeKey=").ok_or_else(|| {
        anyhow::anyhow!("expected AttributeKey=KEY,AttributeValue=VALUE, got {text:?}")
    })?;
    let Some((key, value)) = rest.split_once(",AttributeValue=") else {
        bail!("expected AttributeKey=KEY,AttributeValue=VALUE, got {text:?}");
    };
    Ok(LookupAttribute {
        attribute_key: key.to_owned(),
        attribute_value: value.to_owned(),
    })
}

/// Parses a `--start-time`/`--end-time` into epoch seconds.
pub fn parse_time_arg(text: &str) -> Result<f64> {
    match parse_user_time(text) {
        Some(ms) => Ok(ms as f64 / 1000.0),
        None => {
            bail!("invalid time {text:?}: use ISO 8601 (2024-01-31T12:00:00Z) or epoch seconds")
        }
    }
}

/// What to look up, as the command line gives it.
#[derive(Debug, Clone, Default)]
pub struct LookupArgs {
    pub request: LookupEventsRequest,
    /// Stop after this many events (all pages are read otherwise).
    pub max_items: Option<usize>,
    pub account_id: Option<String>,
    pub region: Option<String>,
}

/// The AWS CLI's output shape: all events, and a `NextToken` when `--max-items` cut it short.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupOutput {
    pub events: Vec<LookupEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Runs a lookup through every page, as the AWS CLI's paginator does.
pub fn run_lookup(store: &Store, args: &LookupArgs) -> Result<Result<LookupOutput, LookupError>> {
    let valid = match args
        .request
        .validate(args.account_id.clone(), args.region.clone())
    {
        Ok(valid) => valid,
        Err(e) => return Ok(Err(e)),
    };
    let mut events = Vec::new();
    let mut cursor = valid.cursor;
    let full = |events: &Vec<LookupEvent>| args.max_items.is_some_and(|max| events.len() >= max);
    let mut cut_short = false;
    loop {
        let page = store.lookup(&valid.query, cursor, valid.max_results)?;
        for record in &page.records {
            if full(&events) {
                cut_short = true;
                break;
            }
            events.push(LookupEvent::from_record(record));
            cursor = Some(PageCursor {
                time_ms: record.fields.event_time_ms,
                fingerprint: record.fingerprint,
            });
        }
        if full(&events) {
            cut_short |= page.next.is_some();
            break;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let next_token = if cut_short {
        cursor.map(|c| encode_next_token(&valid.query, c))
    } else {
        None
    };
    Ok(Ok(LookupOutput { events, next_token }))
}

/// JSON as the AWS CLI (v1, default settings) prints it: 4-space indent, non-ASCII as is,
/// `EventTime` as the epoch number the API returned.
pub fn render_json(output: &LookupOutput) -> Result<String> {
    let mut buffer = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffer, formatter);
    output.serialize(&mut serializer)?;
    buffer.push(b'\n');
    Ok(String::from_utf8(buffer)?)
}

/// The console's event history view: time, user, event name, source, resource.
pub fn render_table(output: &LookupOutput) -> String {
    const HEADERS: [&str; 6] = [
        "Event time",
        "User name",
        "Event name",
        "Event source",
        "Resource type",
        "Resource name",
    ];
    const MAX_WIDTH: usize = 60;
    let rows: Vec<[String; 6]> = output
        .events
        .iter()
        .map(|e| {
            let first = e.resources.first();
            [
                format_event_time((e.event_time * 1000.0).round() as i64),
                e.username.clone().unwrap_or_else(|| "-".into()),
                e.event_name.clone().unwrap_or_else(|| "-".into()),
                e.event_source.clone().unwrap_or_else(|| "-".into()),
                first
                    .and_then(|r| r.resource_type.clone())
                    .unwrap_or_else(|| "-".into()),
                first
                    .and_then(|r| r.resource_name.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let clip = |s: &str| -> String {
        if s.chars().count() > MAX_WIDTH {
            let mut c: String = s.chars().take(MAX_WIDTH - 1).collect();
            c.push('…');
            c
        } else {
            s.to_owned()
        }
    };
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(clip(cell).chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{:<w$}", clip(c), w = w))
            .collect();
        parts.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&HEADERS.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    if let Some(token) = &output.next_token {
        out.push_str(&format!("(more events: --starting-token {token})\n"));
    }
    out
}

/// An error a CloudTrail endpoint answered with (`__type` and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

impl ServiceError {
    /// The AWS CLI's wording for the error of a call to `operation`.
    pub fn aws_cli_message(&self, operation: &str) -> String {
        format!(
            "An error occurred ({}) when calling the {operation} operation: {}",
            self.code, self.message
        )
    }

    /// Prints the AWS CLI's wording on stderr; answers the AWS CLI's exit status for it.
    pub fn report(&self, operation: &str) -> std::process::ExitCode {
        eprintln!("{}", self.aws_cli_message(operation));
        std::process::ExitCode::from(254)
    }
}

impl From<LookupError> for ServiceError {
    fn from(e: LookupError) -> ServiceError {
        ServiceError {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// AWS credentials and region, found as the AWS CLI finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

/// Credentials from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), else from the profile (`AWS_PROFILE`, default `default`) in the shared
/// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`) and the config
/// file (`AWS_CONFIG_FILE`, default `~/.aws/config`). The region: `AWS_REGION`,
/// `AWS_DEFAULT_REGION`, else the profile's `region`.
pub fn find_credentials(env: impl Fn(&str) -> Option<String>) -> Result<ClientCredentials> {
    let home = env("HOME").unwrap_or_default();
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let read = |var: &str, default: &str, section: &str| -> BTreeMap<String, String> {
        let path = env(var).unwrap_or_else(|| format!("{home}/.aws/{default}"));
        std::fs::read_to_string(path)
            .map(|text| ini_section(&text, section))
            .unwrap_or_default()
    };
    let credentials_file = read("AWS_SHARED_CREDENTIALS_FILE", "credentials", &profile);
    let config_section = if profile == "default" {
        "default".to_owned()
    } else {
        format!("profile {profile}")
    };
    let config_file = read("AWS_CONFIG_FILE", "config", &config_section);
    let from_files = |name: &str| {
        credentials_file
            .get(name)
            .or_else(|| config_file.get(name))
            .cloned()
    };
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| config_file.get("region").cloned());
    let (key, secret, token) = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => (key, secret, env("AWS_SESSION_TOKEN")),
        _ => match (
            from_files("aws_access_key_id"),
            from_files("aws_secret_access_key"),
        ) {
            (Some(key), Some(secret)) => (key, secret, from_files("aws_session_token")),
            _ => bail!(
                "Unable to locate credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                 or configure profile {profile:?} in ~/.aws/credentials"
            ),
        },
    };
    Ok(ClientCredentials {
        access_key_id: key,
        secret_access_key: secret,
        session_token: token,
        region,
    })
}

/// The `key = value` lines of one `[section]` of an INI file (the AWS shared files' format).
fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside && let Some((k, v)) = line.split_once('=') {
            values.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    values
}

/// How cairn's client commands check an HTTPS endpoint, as the aws CLI does.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// The CA certificates (PEM) to verify an https:// --endpoint-url with; default: the
    /// system's.
    #[arg(long, env = "AWS_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Do not verify an https:// --endpoint-url's certificate.
    #[arg(long)]
    pub no_verify_ssl: bool,
}

impl TlsArgs {
    /// The TLS settings of an HTTP agent: rustls (aws-lc-rs), verifying with `ca_bundle`'s
    /// certificates or the system's.
    fn config(&self) -> Result<ureq::tls::TlsConfig> {
        let roots = match &self.ca_bundle {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading the CA bundle {}", path.display()))?;
                let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    anyhow::bail!("the CA bundle {} holds no certificate", path.display());
                }
                ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs))
            }
            None => ureq::tls::RootCerts::PlatformVerifier,
        };
        Ok(ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(roots)
            .disable_verification(self.no_verify_ssl)
            .build())
    }
}

/// A signed CloudTrail API client over HTTP or HTTPS, as the AWS CLI calls the API.
#[derive(Debug)]
pub struct ApiClient {
    agent: ureq::Agent,
    url: String,
    host: String,
    credentials: ClientCredentials,
    region: String,
}

/// One answer of the API.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    pub status: u16,
    pub body: serde_json::Value,
    /// `x-amzn-RequestId`.
    pub request_id: Option<String>,
}

impl ApiClient {
    /// A client of `endpoint` that verifies an HTTPS endpoint with the system's certificates
    /// (or `AWS_CA_BUNDLE`'s).
    pub fn new(endpoint: &str, credentials: ClientCredentials, region: &str) -> Result<ApiClient> {
        let tls = TlsArgs {
            ca_bundle: std::env::var_os("AWS_CA_BUNDLE").map(Into::into),
            no_verify_ssl: false,
        };
        ApiClient::with_tls(endpoint, credentials, region, &tls)
    }

    /// A client of `endpoint` (http:// or https://) that checks HTTPS as `tls` says.
    pub fn with_tls(
        endpoint: &str,
        credentials: ClientCredentials,
        region: &str,
        tls: &TlsArgs,
    ) -> Result<ApiClient> {
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .map(|rest| rest.split('/').next().unwrap_or_default())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("--endpoint-url {endpoint:?} is not an http:// or https:// URL")
            })?
            .to_owned();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.config()?)
            .build()
            .into();
        Ok(ApiClient {
            agent,
            url,
            host,
            credentials,
            region: region.to_owned(),
        })
    }

    /// The same endpoint and credentials, signing for `region`.
    pub fn in_region(&self, region: &str) -> ApiClient {
        ApiClient {
            agent: self.agent.clone(),
            url: self.url.clone(),
            host: self.host.clone(),
            credentials: self.credentials.clone(),
            region: region.to_owned(),
        }
    }

    /// Calls a control-plane operation with a JSON body.
    pub fn call(&self, operation: &str, body: &[u8]) -> Result<ApiAnswer> {
        let target = format!("{}.{operation}", cairn_server::actions::TARGET_PREFIX);
        self.call_service("cloudtrail", &target, body)
    }

    /// Calls an operation of another AWS JSON 1.1 service cairn serves (`events`), signed for
    /// `service`, with its `X-Amz-Target` (`AWSEvents.PutRule`).
    pub fn call_service(&self, service: &str, target: &str, body: &[u8]) -> Result<ApiAnswer> {
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("host", self.host.as_str()),
            ("x-amz-target", target),
        ];
        let key = cairn_server::auth::ClientKey {
            access_key_id: &self.credentials.access_key_id,
            secret_access_key: &self.credentials.secret_access_key,
            session_token: self.credentials.session_token.as_deref(),
            region: &self.region,
            service,
        };
        let signed = cairn_server::auth::sign_request(
            &key,
            "POST",
            &self.url,
            &headers,
            body,
            std::time::SystemTime::now(),
        )
        .map_err(|e| anyhow::anyhow!("signing the request: {e}"))?;
        let mut request = self.agent.post(&self.url);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request
            .send(body)
            .with_context(|| format!("calling {}", self.url))?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {}", self.url))?;
        let body = serde_json::from_str(&text)
            .with_context(|| format!("{} answered HTTP {status} with no JSON: {text}", self.url))?;
        Ok(ApiAnswer {
            status,
            body,
            request_id,
        })
    }
}

impl ApiAnswer {
    /// The service error, when the call failed.
    pub fn error(&self) -> Option<ServiceError> {
        if (200..300).contains(&self.status) {
            return None;
        }
        let code = self.body["__type"]
            .as_str()
            .map_or_else(|| self.status.to_string(), str::to_owned);
        let code = code.rsplit('#').next().unwrap_or(&code).to_owned();
        let message = self.body["message"]
            .as_str()
            .or(self.body["Message"].as_str())
            .unwrap_or_default()
            .to_owned();
        Some(ServiceError { code, message })
    }
}

/// Runs a lookup through every page against a CloudTrail endpoint (`cairn serve` or any other),
/// signing each request with SigV4 as the AWS CLI does.
pub fn run_remote_lookup(
    endpoint: &str,
    credentials: &ClientCredentials,
    args: &LookupArgs,
    tls: &TlsArgs,
) -> Result<Result<LookupOutput, ServiceError>> {
    let Some(region) = args.region.as_deref().or(credentials.region.as_deref()) else {
        bail!("You must specify a region: --region, AWS_REGION or the profile's region");
    };
    if args.account_id.is_some() {
        bail!(
            "--account applies to a local data directory; an endpoint scopes lookups to the \
             caller's account"
        );
    }
    let client = ApiClient::with_tls(endpoint, credentials.clone(), region, tls)?;
    let page_size = args.request.max_results.unwrap_or(50);
    let mut request = args.request.clone();
    let mut events: Vec<LookupEvent> = Vec::new();
    loop {
        let remaining = args.max_items.map(|max| max.saturating_sub(events.len()));
        if remaining == Some(0) {
            break;
        }
        // Never ask for more than --max-items still needs, so that the NextToken printed
        // continues exactly after the last event printed.
        request.max_results = Some(remaining.map_or(page_size, |r| page_size.min(r as i64)));
        let answer = client.call("LookupEvents", &serde_json::to_vec(&request)?)?;
        if let Some(error) = answer.error() {
            return Ok(Err(error));
        }
        let page: cairn_model::lookup::LookupEventsResponse =
            serde_json::from_value(answer.body)
                .context("the endpoint answered with an unexpected LookupEvents shape")?;
        events.extend(page.events);
        request.next_token = page.next_token;
        if request.next_token.is_none() {
            break;
        }
    }
    Ok(Ok(LookupOutput {
        events,
        next_token: request.next_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_then_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n\n\
             [work]\naws_access_key_id=AKIAWORK\naws_secret_access_key=w\naws_session_token=t\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile work]\nregion = eu-west-3\n").unwrap();
        let files = |name: &str, extra: &[(&str, &str)]| {
            let mut vars: BTreeMap<String, String> = BTreeMap::from([
                (
                    "AWS_SHARED_CREDENTIALS_FILE".into(),
                    credentials.display().to_string(),
                ),
                ("AWS_CONFIG_FILE".into(), config.display().to_string()),
            ]);
            vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            vars.get(name).cloned()
        };
        let default = find_credentials(|n| files(n, &[])).unwrap();
        assert_eq!(default.access_key_id, "AKIADEFAULT");
        assert_eq!(default.region, None);
        let work = find_credentials(|n| files(n, &[("AWS_PROFILE", "work")])).unwrap();
        assert_eq!(
            (
                work.access_key_id.as_str(),
                work.session_token.as_deref(),
                work.region.as_deref()
            ),
            ("AKIAWORK", Some("t"), Some("eu-west-3"))
        );
        let env = find_credentials(|n| {
            files(
                n,
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                    ("AWS_SECRET_ACCESS_KEY", "e"),
                    ("AWS_REGION", "ap-south-1"),
                ],
            )
        })
        .unwrap();
        assert_eq!(
            (env.access_key_id.as_str(), env.region.as_deref()),
            ("AKIAENV", Some("ap-south-1"))
        );
        assert!(find_credentials(|_| None).is_err());
    }
}
