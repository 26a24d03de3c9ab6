//! AWS Signature Version 4 verification of incoming requests.
//!
//! The `Authorization` header names the access key, the credential scope
//! (`<date>/<region>/<service>/aws4_request`), the signed headers and the signature. cairn looks
//! the key up among its principals, checks the scope and the clock (±15 minutes, as AWS), and
//! recomputes the signature over exactly the headers the client signed with the `aws-sigv4`
//! crate (the AWS SDK's own canonicalisation), comparing in constant time. The payload hash is
//! part of the signature; an `x-amz-content-sha256` header, when sent, must also match the body.
//!
//! A sent `x-amz-content-sha256` is the payload hash the client signed, as S3 has it: a hex
//! hash must match the body; `UNSIGNED-PAYLOAD` and `STREAMING-…` (chunked uploads, whose
//! chunk signatures the upstream checks) are signed as they are.
//!
//! Only the `Authorization` header form is verified: presigned URLs (S3's) pass the capture
//! proxy unverified and unattributed (`crate::capture`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use cairn_model::time::{format_amz_date, parse_amz_date};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{Config, Principal};
use crate::error::{ApiError, ErrorCode};

/// The most a request's `X-Amz-Date` may differ from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The request as it came off the wire.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    pub method: &'a str,
    /// Path and query, as sent.
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    /// `None`: the body streams past unread (the capture proxy's uploads); the declared
    /// `x-amz-content-sha256` then stands for it, and the upstream checks it.
    pub body: Option<&'a [u8]>,
}

/// A request whose signature checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    /// The region of the credential scope: the region the request is in.
    pub region: String,
}

/// A request that failed authentication, with what could be learnt about the caller (for the
/// audit event that records the attempt).
#[derive(Debug, Clone)]
pub struct Rejected {
    pub error: ApiError,
    pub access_key_id: Option<String>,
    pub principal: Option<Principal>,
    pub region: Option<String>,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AuthorizationHeader<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn incomplete(message: &str) -> ApiError {
    ApiError::new(ErrorCode::IncompleteSignature, message)
}

fn parse_authorization(value: &str) -> Result<AuthorizationHeader<'_>, ApiError> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm (Signature Version 4).",
        ));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let missing = |name: &str| {
        incomplete(&format!(
            "Authorization header requires '{name}' parameter. Authorization={value}"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(&format!(
            "Credential should be scoped to a valid region, service and date, and terminated \
             by 'aws4_request'. Credential={credential}"
        )));
    };
    Ok(AuthorizationHeader {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

/// The credential scope a request is signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningScope {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// The scope of a request's `Authorization` header or, for a presigned URL, of its
/// `X-Amz-Credential` query parameter; `None` when it has neither (or they are malformed).
pub fn signing_scope(headers: &HeaderMap, query: Option<&str>) -> Option<SigningScope> {
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_authorization(v).ok())
    {
        return Some(SigningScope {
            access_key_id: auth.access_key_id.to_owned(),
            region: auth.region.to_owned(),
            service: auth.service.to_owned(),
        });
    }
    let credential = form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")?
        .1;
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, _date, region, service, "aws4_request"] = parts[..] else {
        return None;
    };
    Some(SigningScope {
        access_key_id: key.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

fn invalid_signature(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignature, message)
}

/// Verifies `request`'s signature for `service` (`cloudtrail` or `cloudtrail-data`).
pub fn authenticate(
    config: &Config,
    request: IncomingRequest<'_>,
    service: &str,
    now: SystemTime,
) -> Result<Authenticated, Box<Rejected>> {
    let mut rejected = Rejected {
        error: ApiError::new(
            ErrorCode::MissingAuthenticationToken,
            "Missing Authentication Token",
        ),
        access_key_id: None,
        principal: None,
        region: None,
    };
    let Some(authorization) = request.headers.get(http::header::AUTHORIZATION) else {
        return Err(Box::new(rejected));
    };
    let fail = |mut rejected: Rejected, error: ApiError| {
        rejected.error = error;
        Err(Box::new(rejected))
    };
    let Ok(authorization) = authorization.to_str() else {
        return fail(
            rejected,
            incomplete("The Authorization header is not ASCII."),
        );
    };
    let auth = match parse_authorization(authorization) {
        Ok(auth) => auth,
        Err(e) => return fail(rejected, e),
    };
    rejected.access_key_id = Some(auth.access_key_id.to_owned());
    rejected.region = Some(auth.region.to_owned());
    let Some(principal) = config.principals.get(auth.access_key_id) else {
        return fail(
            rejected,
            ApiError::new(
                ErrorCode::UnrecognizedClient,
                "The security token included in the request is invalid.",
            ),
        );
    };
    rejected.principal = Some(principal.clone());
    if auth.service != service {
        return fail(
            rejected,
            invalid_signature(format!(
                "Credential should be scoped to correct service: '{service}'. "
            )),
        );
    }
    let Some(amz_date) = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    else {
        return fail(
            rejected,
            incomplete("Authorization header requires existence of a 'X-Amz-Date' header."),
        );
    };
    let Some(signed_at_ms) = parse_amz_date(amz_date) else {
        return fail(
            rejected,
            incomplete(&format!(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got {amz_date}"
            )),
        );
    };
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return fail(
            rejected,
            invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{}', from '{amz_date}'.",
                auth.date,
                &amz_date[..8]
            )),
        );
    }
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let skew_ms = MAX_CLOCK_SKEW.as_millis() as i64;
    if signed_at_ms < now_ms - skew_ms {
        return fail(
            rejected,
            invalid_signature(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                format_amz_date(now_ms - skew_ms),
                format_amz_date(now_ms)
            )),
        );
    }
    if signed_at_ms > now_ms + skew_ms {
        return fail(
            rejected,
            invalid_signature(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                format_amz_date(now_ms + skew_ms),
                format_amz_date(now_ms)
            )),
        );
    }
    let claimed = request.headers.get("x-amz-content-sha256");
    match (request.body, claimed) {
        (Some(body), Some(claimed)) if !payload_hash_is_a_mode(claimed.as_bytes()) => {
            let body_hash = hex::encode(Sha256::digest(body));
            if !claimed
                .as_bytes()
                .eq_ignore_ascii_case(body_hash.as_bytes())
            {
                return fail(
                    rejected,
                    invalid_signature(
                        "The provided 'x-amz-content-sha256' header does not match what was \
                         computed.",
                    ),
                );
            }
        }
        (None, None) => {
            return fail(
                rejected,
                incomplete("A streamed request body needs an 'x-amz-content-sha256' header."),
            );
        }
        _ => {}
    }
    let expected = match expected_signature(&auth, principal, request, signed_at_ms) {
        Ok(signature) => signature,
        Err(message) => return fail(rejected, incomplete(&message)),
    };
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return fail(
            rejected,
            invalid_signature(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.",
            ),
        );
    }
    Ok(Authenticated {
        principal: principal.clone(),
        region: auth.region.to_owned(),
    })
}

/// The signature `principal`'s secret gives this request, over the headers the client signed.
fn expected_signature(
    auth: &AuthorizationHeader<'_>,
    principal: &Principal,
    request: IncomingRequest<'_>,
    signed_at_ms: i64,
) -> Result<String, String> {
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values = request.headers.get_all(*name);
        let mut any = false;
        for value in values {
            let value = value
                .to_str()
                .map_err(|_| format!("signed header {name} is not ASCII"))?;
            headers.push((*name, value));
            any = true;
        }
        if !any {
            return Err(format!(
                "a signed header is missing from the request: {name}"
            ));
        }
    }
    if !auth.signed_headers.contains(&"host") {
        return Err("'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned());
    }
    let credentials = aws_credential_types::Credentials::new(
        &principal.access_key_id,
        &principal.secret_access_key,
        None,
        None,
        "cairn-principal",
    );
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the client signed: no header is left out by name.
    settings.excluded_headers = Some(Vec::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(UNIX_EPOCH + Duration::from_millis(signed_at_ms as u64))
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    // S3's rule: a sent `x-amz-content-sha256` is the payload hash the client signed, also
    // when it names a mode (`UNSIGNED-PAYLOAD`, `STREAMING-...` chunked uploads, whose chunks
    // the upstream verifies).
    let body = match request
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(claimed) => SignableBody::Precomputed(claimed.to_owned()),
        None => SignableBody::Bytes(request.body.unwrap_or_default()),
    };
    let signable = SignableRequest::new(
        request.method,
        request.path_and_query,
        headers.into_iter(),
        body,
    )
    .map_err(|e| e.to_string())?;
    let output = sign(signable, &params).map_err(|e| e.to_string())?;
    Ok(output.signature().to_owned())
}

/// Whether an `x-amz-content-sha256` value names a payload mode rather than a hash.
fn payload_hash_is_a_mode(claimed: &[u8]) -> bool {
    claimed == b"UNSIGNED-PAYLOAD" || claimed.starts_with(b"STREAMING-")
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who signs a client request, and for which region and service.
#[derive(Debug, Clone, Copy)]
pub struct ClientKey<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
}

/// Signs a request as an AWS client does, for cairn's own client commands and tests: returns
/// the headers to add (`x-amz-date`, `authorization`, `x-amz-security-token`).
pub fn sign_request(
    key: &ClientKey<'_>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let credentials = aws_credential_types::Credentials::new(
        key.access_key_id,
        key.secret_access_key,
        key.session_token.map(str::to_owned),
        None,
        "cairn-client",
    );
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(key.region)
        .name(key.service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Identity, Permissions};
    use std::collections::HashMap;

    fn config() -> Config {
        let principal = Principal {
            account_id: "111111111111".into(),
            access_key_id: "AKIDEXAMPLE00000001".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            identity: Identity::Root,
            permissions: Permissions::Admin,
        };
        Config {
            default_region: "us-east-1".into(),
            principals: HashMap::from([(principal.access_key_id.clone(), principal)]),
            delivery: Default::default(),
            capture: Default::default(),
            lake: Default::default(),
            metrics: Default::default(),
            limits: Default::default(),
        }
    }

    fn signed(secret: &str, at: SystemTime, body: &[u8]) -> HeaderMap {
        let base = [
            ("content-type", "application/x-amz-json-1.1"),
            ("host", "127.0.0.1:7700"),
            (
                "x-amz-target",
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            ),
        ];
        let key = ClientKey {
            access_key_id: "AKIDEXAMPLE00000001",
            secret_access_key: secret,
            session_token: None,
            region: "eu-west-1",
            service: "cloudtrail",
        };
        let added = sign_request(&key, "POST", "http://127.0.0.1:7700/", &base, body, at).unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in base {
            headers.insert(k, v.parse().unwrap());
        }
        for (k, v) in added {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        headers
    }

    fn check(
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Authenticated, Box<Rejected>> {
        let request = IncomingRequest {
            method: "POST",
            path_and_query: "/",
            headers,
            body: Some(body),
        };
        authenticate(&config(), request, "cloudtrail", now)
    }

    #[test]
    fn a_correctly_signed_request_is_accepted_with_its_region() {
        let now = SystemTime::now();
        let headers = signed("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now, b"{}");
        let ok = check(&headers, b"{}", now).unwrap();
        assert_eq!(ok.region, "eu-west-1");
        assert_eq!(ok.principal.account_id, "111111111111");
    }

    #[test]
    fn tampering_with_secret_body_or_clock_is_rejected() {
        let now = SystemTime::now();
        let code = |r: Result<Authenticated, Box<Rejected>>| r.unwrap_err().error.code;
        let wrong_secret = signed("not-the-secret", now, b"{}");
        assert_eq!(
            code(check(&wrong_secret, b"{}", now)),
            ErrorCode::InvalidSignature
        );
        let good = signed("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now, b"{}");
        assert_eq!(
            code(check(&good, br#"{"MaxResults":1}"#, now)),
            ErrorCode::InvalidSignature
        );
        let later = now + Duration::from_secs(16 * 60);
        let rejected = check(&good, b"{}", later).unwrap_err();
        assert_eq!(rejected.error.code, ErrorCode::InvalidSignature);
        assert!(
            rejected.error.message.starts_with("Signature expired"),
            "{}",
            rejected.error.message
        );
        assert_eq!(
            code(check(&HeaderMap::new(), b"{}", now)),
            ErrorCode::MissingAuthenticationToken
        );
        let mut unknown = good.clone();
        let auth = unknown["authorization"]
            .to_str()
            .unwrap()
            .replace("AKIDEXAMPLE00000001", "AKIDUNKNOWN00000001");
        unknown.insert("authorization", auth.parse().unwrap());
        assert_eq!(
            code(check(&unknown, b"{}", now)),
            ErrorCode::UnrecognizedClient
        );
    }

    #[test]
    fn an_s3_style_unsigned_payload_is_verified_by_its_declared_hash() {
        use aws_sigv4::http_request::PayloadChecksumKind;
        let now = SystemTime::now();
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE00000001",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let base = [("host", "127.0.0.1:7700")];
        let signable = SignableRequest::new(
            "PUT",
            "http://127.0.0.1:7700/bucket/key",
            base.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:7700".parse().unwrap());
        for (k, v) in instructions.headers() {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        let request = IncomingRequest {
            method: "PUT",
            path_and_query: "/bucket/key",
            headers: &headers,
            body: Some(b"any bytes at all"),
        };
        assert!(authenticate(&config(), request, "s3", now).is_ok());
        let streamed = IncomingRequest {
            body: None,
            ..request
        };
        assert!(authenticate(&config(), streamed, "s3", now).is_ok());
    }
}
