//! A CloudTrail record as EventBridge presents it to rules (AWS's "Events from AWS services"
//! page and its CloudTrail examples):
//!
//! ```json
//! {"version": "0", "id": "<uuid>", "detail-type": "AWS API Call via CloudTrail",
//!  "source": "aws.ec2", "account": "<account>", "time": "<eventTime>",
//!  "region": "<awsRegion>", "resources": [], "detail": {<the record>}}
//! ```
//!
//! `source` is `aws.` and the `eventSource` before `.amazonaws.com`; `detail-type` follows the
//! record's `eventType` (`AwsApiCall`, `AwsConsoleSignIn`, `AwsConsoleAction`,
//! `AwsServiceEvent`). AWS gives each delivery a new random `id`; cairn derives it from the
//! record's event ID, so that a delivery repeated after a failure carries the same `id` and a
//! receiver can tell it again (AWS is silent on redeliveries; its `id` is documented only as
//! unique per event).

use cairn_model::Record;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The `detail-type` of a record's `eventType`.
pub fn detail_type(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

/// The `source` of an `eventSource`: `ec2.amazonaws.com` is `aws.ec2`.
pub fn source(event_source: &str) -> String {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    format!("aws.{service}")
}

/// The event EventBridge makes of a stored record's JSON `text` (whitespace removed, as the
/// store keeps it); `None` if it is not a JSON object. The account is the record's
/// `recipientAccountId`, else `userIdentity.accountId`, as `cairn_model` files events; a
/// record without an `eventID` has the one `cairn_model` derives.
pub fn of_text(text: &str) -> Option<Value> {
    // A string with a lone surrogate escape must not hide the event from the rules.
    let detail: Value =
        serde_json::from_str(&cairn_model::record::with_lone_surrogates_replaced(text)).ok()?;
    let string = |value: &Value| value.as_str().map(str::to_owned);
    let member = |name: &str| string(&detail[name]);
    let account = member("recipientAccountId")
        .or_else(|| string(&detail["userIdentity"]["accountId"]))
        .unwrap_or_default();
    let record_id =
        member("eventID").unwrap_or_else(|| cairn_model::record::derived_event_id(text));
    let event_type = member("eventType");
    Some(json!({
        "version": "0",
        "id": event_id(&record_id),
        "detail-type": detail_type(event_type.as_deref()),
        "source": source(&member("eventSource").unwrap_or_default()),
        "account": account,
        "time": member("eventTime").unwrap_or_default(),
        "region": member("awsRegion").unwrap_or_default(),
        "resources": [],
        "detail": detail,
    }))
}

/// The event EventBridge makes of `record`.
pub fn of_record(record: &Record) -> Value {
    of_text(&record.json).unwrap_or(Value::Null)
}

/// A UUID-shaped id derived from a record's event ID.
fn event_id(record_event_id: &str) -> String {
    let digest = Sha256::digest(format!("eventbridge/{record_event_id}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_a_lone_surrogate_escape_still_reaches_the_rules() {
        let text = r#"{"eventID":"e1","eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"curl\ud83d"}"#;
        let event = of_text(text).unwrap();
        assert_eq!(event["detail"]["eventName"], "GetObject");
        assert_eq!(event["detail"]["userAgent"], "curl\u{fffd}");
    }

    #[test]
    fn an_ssh_key_pushed_with_instance_connect_is_an_api_call_of_its_service() {
        let text = r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey","awsRegion":"us-east-1","eventID":"e-1","eventType":"AwsApiCall","recipientAccountId":"111122223333","requestParameters":{"instanceId":"i-0123","instanceOSUser":"ec2-user"}}"#;
        let record = Record::parse(text).unwrap();
        let event = of_record(&record);
        assert_eq!(event["source"], "aws.ec2-instance-connect");
        assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(event["account"], "111122223333");
        assert_eq!(event["region"], "us-east-1");
        assert_eq!(event["time"], "2024-05-01T10:00:00Z");
        assert_eq!(
            event["detail"]["requestParameters"]["instanceOSUser"],
            "ec2-user"
        );
        assert_eq!(event["id"], of_text(text).unwrap()["id"]);
        assert_eq!(event["id"].as_str().unwrap().len(), 36);
        assert_eq!(
            detail_type(Some("AwsConsoleSignIn")),
            "AWS Console Sign In via CloudTrail"
        );
    }
}
