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

/// The event EventBridge makes of `record` (its JSON `text` and derived fields).
pub fn of_record(record: &Record, text: &str) -> Value {
    let fields = &record.fields;
    let detail: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    json!({
        "version": "0",
        "id": event_id(&fields.event_id),
        "detail-type": detail_type(fields.event_type.as_deref()),
        "source": source(fields.event_source.as_deref().unwrap_or_default()),
        "account": fields.account_id.as_deref().unwrap_or_default(),
        "time": detail["eventTime"].as_str().unwrap_or_default(),
        "region": fields.aws_region.as_deref().unwrap_or_default(),
        "resources": [],
        "detail": detail,
    })
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
    fn an_ssh_key_pushed_with_instance_connect_is_an_api_call_of_its_service() {
        let text = r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey","awsRegion":"us-east-1","eventID":"e-1","eventType":"AwsApiCall","recipientAccountId":"111122223333","requestParameters":{"instanceId":"i-0123","instanceOSUser":"ec2-user"}}"#;
        let record = Record::parse(text).unwrap();
        let event = of_record(&record, text);
        assert_eq!(event["source"], "aws.ec2-instance-connect");
        assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(event["account"], "111122223333");
        assert_eq!(event["region"], "us-east-1");
        assert_eq!(event["time"], "2024-05-01T10:00:00Z");
        assert_eq!(
            event["detail"]["requestParameters"]["instanceOSUser"],
            "ec2-user"
        );
        assert_eq!(event["id"], of_record(&record, text)["id"]);
        assert_eq!(event["id"].as_str().unwrap().len(), 36);
        assert_eq!(
            detail_type(Some("AwsConsoleSignIn")),
            "AWS Console Sign In via CloudTrail"
        );
    }
}
