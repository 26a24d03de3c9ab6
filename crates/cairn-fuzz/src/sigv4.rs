//! `sigv4`: an HTTP/1.1 request (head, then body) as the API authenticates it. Whatever the
//! request, authentication answers (it never panics); and a request signed as the AWS SDKs sign
//! it, with a principal's key, is accepted: the verifier and the SDK's signer agree on every
//! request the fuzzer makes.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_server::Config;
use cairn_server::auth::{ClientKey, IncomingRequest, authenticate, sign_request, signing_scope};
use http::{HeaderName, HeaderValue};

use crate::http_text;

pub const ACCESS_KEY_ID: &str = "AKIDFUZZ000000000001";
const SECRET_ACCESS_KEY: &str = "fuzz/secret/access/key/0000000000000000";

/// One principal, with the key the fuzzer's requests are signed with.
pub static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    let text = format!(
        "[[accounts]]\nid = \"111111111111\"\n\n[[principals]]\naccount = \"111111111111\"\n\
         access_key_id = \"{ACCESS_KEY_ID}\"\nsecret_access_key = \"{SECRET_ACCESS_KEY}\"\n\
         type = \"Root\"\npermissions = \"admin\"\n"
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("the fuzz configuration: {e}"))
});

/// When the fuzzer's requests are made: 2023-11-14T22:13:20Z.
const NOW_SECS: u64 = 1_700_000_000;

pub fn run(data: &[u8]) {
    let Some(request) = http_text::request(data) else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let scope = signing_scope(&request.headers, request.query());
    // A signing name as the SDKs have them; else CloudTrail's.
    let service = scope
        .map(|s| s.service)
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or_else(|| "cloudtrail".to_owned());
    let incoming = IncomingRequest {
        method: request.method,
        path_and_query: request.target,
        headers: &request.headers,
        body: Some(request.body),
    };
    // As sent: any answer will do, but an answer.
    let _ = authenticate(&CONFIG, incoming, &service, now);
    let streamed = IncomingRequest {
        body: None,
        ..incoming
    };
    let _ = authenticate(&CONFIG, streamed, &service, now);
    signed_round_trip(&request, &service, now);
}

/// Signs the request with the principal's key as the SDKs do and checks that it is accepted.
fn signed_round_trip(request: &http_text::Request<'_>, service: &str, now: SystemTime) {
    if !request.headers.contains_key(http::header::HOST) {
        return; // SigV4 signs the host: every SDK request has one.
    }
    // What the signer sets, and a payload hash only a client that lies would send.
    let replaced = [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ];
    let mut headers = request.headers.clone();
    for name in replaced {
        headers.remove(name);
    }
    let mut pairs = Vec::new();
    for (name, value) in &headers {
        let Ok(value) = value.to_str() else {
            return; // the SDKs send visible ASCII only
        };
        pairs.push((name.as_str(), value));
    }
    let key = ClientKey {
        access_key_id: ACCESS_KEY_ID,
        secret_access_key: SECRET_ACCESS_KEY,
        session_token: None,
        region: "us-east-1",
        service,
    };
    let Ok(added) = sign_request(
        &key,
        request.method,
        request.target,
        &pairs,
        request.body,
        now,
    ) else {
        return; // a request the SDK cannot sign is not sent
    };
    let mut signed = headers.clone();
    for (name, value) in added {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            panic!("the signer made a header http does not take: {name}: {value}");
        };
        signed.insert(name, value);
    }
    let incoming = IncomingRequest {
        method: request.method,
        path_and_query: request.target,
        headers: &signed,
        body: Some(request.body),
    };
    if let Err(rejected) = authenticate(&CONFIG, incoming, service, now) {
        panic!(
            "a request signed as the SDKs sign it was refused: {} {}",
            rejected.error.code.as_str(),
            rejected.error.message
        );
    }
}
