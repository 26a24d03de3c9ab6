//! `LookupEvents`: one page of the caller's event history.
//!
//! The request is validated exactly as `cairn lookup-events` validates it
//! ([`LookupEventsRequest::validate`]), scoped to the caller's account and the request's region
//! (the SigV4 credential scope), as AWS scopes event history to the endpoint's region.

use cairn_model::lookup::encode_next_token;
use cairn_model::{LookupEvent, LookupEventsRequest};
use cairn_store::Store;

use crate::error::ApiError;

/// Parses the request body (AWS JSON 1.1).
pub fn parse(body: &[u8]) -> Result<LookupEventsRequest, ApiError> {
    super::parse_request(super::Operation::LookupEvents, body)
}

/// Answers one page, newest first, for `account_id` in `region`.
pub fn handle(
    store: &Store,
    request: &LookupEventsRequest,
    account_id: &str,
    region: &str,
) -> Result<serde_json::Value, ApiError> {
    let valid = request.validate(Some(account_id.to_owned()), Some(region.to_owned()))?;
    let page = store
        .lookup(&valid.query, valid.cursor, valid.max_results)
        .map_err(ApiError::internal)?;
    let events: Vec<LookupEvent> = page
        .records
        .iter()
        .map(|r| LookupEvent::from_record(r))
        .collect();
    let mut response = serde_json::json!({ "Events": events });
    if let Some(next) = page.next {
        response["NextToken"] = encode_next_token(&valid.query, next).into();
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use cairn_model::Record;
    use cairn_store::StoreOptions;

    fn record(id: &str, account: &str, region: &str, second: u32) -> Record {
        Record::parse(&format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:{second:02}Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"{region}","eventID":"{id}","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{account}","userIdentity":{{"type":"Root","accountId":"{account}"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn pages_are_scoped_to_the_callers_account_and_region() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store
            .append(vec![
                record("a1", "111111111111", "us-east-1", 1),
                record("a2", "111111111111", "us-east-1", 2),
                record("a3", "111111111111", "eu-west-1", 3),
                record("b1", "222222222222", "us-east-1", 4),
            ])
            .unwrap();
        let request = parse(br#"{"MaxResults":1}"#).unwrap();
        let first = handle(&store, &request, "111111111111", "us-east-1").unwrap();
        assert_eq!(first["Events"][0]["EventId"], "a2");
        let token = first["NextToken"].as_str().unwrap().to_owned();
        let request = LookupEventsRequest {
            next_token: Some(token),
            ..request
        };
        let second = handle(&store, &request, "111111111111", "us-east-1").unwrap();
        assert_eq!(second["Events"][0]["EventId"], "a1");
        assert!(second.get("NextToken").is_none());
        assert_eq!(second["Events"][0]["EventTime"], 1704067201.0);
    }

    #[test]
    fn a_malformed_body_is_a_serialization_error() {
        assert_eq!(
            parse(br#"{"MaxResults":"many"}"#).unwrap_err().code,
            ErrorCode::SerializationException
        );
        assert!(parse(b"").is_ok());
    }
}
