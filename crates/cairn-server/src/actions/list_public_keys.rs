//! `ListPublicKeys`: the public keys that sign the caller's region's digest files and were
//! valid in [StartTime, EndTime] (both default to now), as `aws cloudtrail validate-logs` asks
//! for them (spec §6.4).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::signing_keys::SigningKeys;
use crate::trails::Scope;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPublicKeysRequest {
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    /// "Reserved for future use" (AWS): ignored.
    #[serde(rename = "NextToken")]
    pub _next_token: Option<String>,
}

pub fn handle(
    keys: &SigningKeys,
    scope: &Scope,
    request: ListPublicKeysRequest,
    now: f64,
) -> Result<Value, ApiError> {
    let start = request.start_time.unwrap_or(now);
    let end = request.end_time.unwrap_or(now);
    if start > end {
        return Err(ApiError::new(
            ErrorCode::InvalidTimeRange,
            "StartTime must not be after EndTime.",
        ));
    }
    let listed: Vec<Value> = keys
        .public_keys(&scope.region, start.floor() as i64, end.ceil() as i64)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|key| {
            json!({
                "Value": key.public_key,
                "ValidityStartTime": key.valid_from,
                "ValidityEndTime": key.valid_until,
                "Fingerprint": key.fingerprint,
            })
        })
        .collect();
    Ok(json!({ "PublicKeyList": listed }))
}
