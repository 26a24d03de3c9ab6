//! cairn as a client of other AWS-protocol services: trails notify SNS topics and send their
//! events to CloudWatch Logs. Each service is reached where the capture configuration sends
//! its calls (`[capture.upstreams]` by signing name, else `[capture] upstream`), so one
//! moto_server or LocalStack behind cairn serves both the captured calls and cairn's own.
//!
//! Requests are signed with SigV4 with the standard AWS credentials of the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the
//! `[delivery.s3]` keys, as the S3 delivery target is.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::auth::{ClientKey, sign_request};
use crate::config::{CaptureConfig, DeliveryConfig};

/// How long one call to a service may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The services cairn calls, and how it signs.
#[derive(Debug, Clone)]
pub struct Upstreams {
    routes: CaptureConfig,
    credentials: Option<Credentials>,
    client: reqwest::Client,
}

/// An access key to sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Why a call to another service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No upstream is configured for the service.
    #[error("cairn has no {0} service to call: set [capture.upstreams] {0} or [capture] upstream")]
    NotConfigured(String),
    /// No credentials to sign with.
    #[error(
        "cairn has no AWS credentials to call {0} with: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY (or [delivery.s3])"
    )]
    NoCredentials(String),
    /// The service could not be reached, or answered what is not its protocol.
    #[error("{service} at {endpoint}: {message}")]
    Unreachable {
        service: String,
        endpoint: String,
        message: String,
    },
    /// The service answered with an error.
    #[error("{code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
}

impl UpstreamError {
    /// The service's error code, when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            UpstreamError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl Upstreams {
    /// The upstreams of `capture`, signing with the environment's credentials (`env`), else
    /// `delivery`'s S3 keys.
    pub fn new(
        capture: &CaptureConfig,
        delivery: &DeliveryConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Upstreams, String> {
        let s3 = delivery.s3.clone().unwrap_or_default();
        let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: env("AWS_SESSION_TOKEN"),
            }),
            _ => s3.access_key_id.zip(s3.secret_access_key).map(
                |(access_key_id, secret_access_key)| Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token: None,
                },
            ),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| format!("building the upstream HTTP client: {e}"))?;
        Ok(Upstreams {
            routes: capture.clone(),
            credentials,
            client,
        })
    }

    /// Where the calls of `service` (a SigV4 signing name) go, if anywhere.
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.routes.upstream_for(service)
    }

    /// Calls an action of a service of AWS's query protocol (SNS, SQS): a form of `params`
    /// with `Action` and `Version` among them; answers the response's XML root.
    pub async fn query(
        &self,
        service: &str,
        region: &str,
        params: &[(&str, &str)],
    ) -> Result<cairn_capture::xml::Element, UpstreamError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let (status, answer, endpoint) = self
            .post(
                service,
                region,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                body.into_bytes(),
            )
            .await?;
        let root = cairn_capture::xml::parse(&answer);
        if (200..300).contains(&status) {
            return root.ok_or_else(|| UpstreamError::Unreachable {
                service: service.to_owned(),
                endpoint,
                message: "the answer is not XML".to_owned(),
            });
        }
        let error = root.as_ref().and_then(|r| r.find("Error"));
        let text = |name: &str| {
            error
                .and_then(|e| e.child(name))
                .map(|c| c.text.trim().to_owned())
        };
        Err(UpstreamError::Service {
            status,
            code: text("Code").unwrap_or_else(|| format!("HTTP {status}")),
            message: text("Message").unwrap_or_default(),
        })
    }

    /// Calls an operation of a service of AWS's JSON protocol (CloudWatch Logs): `target` is
    /// the `X-Amz-Target` (`Logs_20140328.PutLogEvents`).
    pub async fn json(
        &self,
        service: &str,
        region: &str,
        target: &str,
        request: &Value,
    ) -> Result<Value, UpstreamError> {
        let body = serde_json::to_vec(request).map_err(|e| UpstreamError::Unreachable {
            service: service.to_owned(),
            endpoint: String::new(),
            message: e.to_string(),
        })?;
        let (status, answer, _) = self
            .post(
                service,
                region,
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ],
                body,
            )
            .await?;
        let value: Option<Value> = serde_json::from_slice(&answer).ok();
        if (200..300).contains(&status) {
            return Ok(value.unwrap_or(Value::Null));
        }
        let member = |name: &str| {
            value
                .as_ref()
                .and_then(|v| v.get(name).or_else(|| v.get(name.to_ascii_lowercase())))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        // `__type` may carry a namespace: `com.amazonaws.logs#ResourceNotFoundException`.
        let code = member("__type")
            .map(|t| t.rsplit('#').next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(UpstreamError::Service {
            status,
            code,
            message: member("Message").unwrap_or_default(),
        })
    }

    /// POSTs a signed request to `service`'s root: its status, body and the endpoint.
    async fn post(
        &self,
        service: &str,
        region: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>, String), UpstreamError> {
        let endpoint = self
            .endpoint(service)
            .ok_or_else(|| UpstreamError::NotConfigured(service.to_owned()))?
            .to_owned();
        let credentials = self
            .credentials
            .as_ref()
            .ok_or_else(|| UpstreamError::NoCredentials(service.to_owned()))?;
        let url = format!("{endpoint}/");
        let unreachable = |message: String| UpstreamError::Unreachable {
            service: service.to_owned(),
            endpoint: endpoint.clone(),
            message,
        };
        let host = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .ok_or_else(|| unreachable("not an http(s) URL".to_owned()))?;
        let mut signed_headers: Vec<(&str, &str)> = headers.to_vec();
        signed_headers.push(("host", &host));
        let key = ClientKey {
            access_key_id: &credentials.access_key_id,
            secret_access_key: &credentials.secret_access_key,
            session_token: credentials.session_token.as_deref(),
            region,
            service,
        };
        let signature = sign_request(
            &key,
            "POST",
            &url,
            &signed_headers,
            &body,
            SystemTime::now(),
        )
        .map_err(|e| unreachable(format!("signing: {e}")))?;
        let mut request = self.client.post(&url).body(body);
        for (name, value) in headers.iter().copied() {
            request = request.header(name, value);
        }
        for (name, value) in &signature {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = response.status().as_u16();
        let answer = response
            .bytes()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        Ok((status, answer.to_vec(), endpoint))
    }
}

/// An error and its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
