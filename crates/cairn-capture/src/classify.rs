//! What kind of call an operation is: `readOnly`, data or management event, and the
//! `resources` its event names. Rules where the models say nothing, documented here:
//!
//! - `readOnly`: the operation's name starts with a reading verb (Get, Describe, List, Head,
//!   Lookup, Search, Select, Scan, Query, BatchGet, Check), as AWS's own classification goes
//!   for the seed services;
//! - data events: S3's object-level operations (names with `Object`, `MultipartUpload` or
//!   `Part`, such as GetObject, PutObject, ListObjectsV2, UploadPart) and EBS direct APIs'
//!   block operations; everything else is a management event;
//! - `resources`: S3 calls name their object and bucket (the bucket with its owner, taken to
//!   be the caller's account), SSM document calls their document.

use serde_json::{Value, json};

/// Whether `operation` only reads.
pub fn read_only(operation: &str) -> bool {
    const READING: [&str; 11] = [
        "Get", "Describe", "List", "Head", "Lookup", "Search", "Select", "Scan", "Query",
        "BatchGet", "Check",
    ];
    READING.iter().any(|verb| {
        operation.strip_prefix(verb).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
        })
    })
}

/// Whether a call of `service` (signing name) is a data event.
pub fn is_data_event(service: &str, operation: &str) -> bool {
    match service {
        "s3" => ["Object", "MultipartUpload", "Part"]
            .iter()
            .any(|part| operation.contains(part)),
        "ebs" => matches!(
            operation,
            "GetSnapshotBlock" | "PutSnapshotBlock" | "ListChangedBlocks" | "ListSnapshotBlocks"
        ),
        _ => false,
    }
}

/// The `resources` of a call's event; empty when the event names none.
pub fn resources(
    service: &str,
    operation: &str,
    account_id: &str,
    region: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    parameters: &Value,
) -> Vec<Value> {
    match service {
        "s3" => {
            let mut out = Vec::new();
            if let (Some(bucket), Some(key)) = (bucket, key) {
                out.push(json!({"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")}));
            }
            if let Some(bucket) = bucket {
                out.push(json!({"accountId": account_id, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}));
            }
            out
        }
        "ssm" if operation.ends_with("Document") => parameters["name"]
            .as_str()
            .map(|name| {
                vec![json!({
                    "ARN": format!("arn:aws:ssm:{region}:{account_id}:document/{name}"),
                    "accountId": account_id,
                })]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_verbs_make_read_only_calls() {
        for op in [
            "DescribeImages",
            "GetObject",
            "ListBuckets",
            "HeadObject",
            "DescribeAlarms",
        ] {
            assert!(read_only(op), "{op}");
        }
        for op in [
            "TerminateInstances",
            "PutObject",
            "SendSSHPublicKey",
            "Getaway",
            "PutMetricAlarm",
        ] {
            assert!(!read_only(op), "{op}");
        }
    }

    #[test]
    fn s3_object_calls_are_data_events_and_name_object_and_bucket() {
        assert!(is_data_event("s3", "PutObject"));
        assert!(is_data_event("s3", "UploadPart"));
        assert!(!is_data_event("s3", "CreateBucket"));
        assert!(!is_data_event("ec2", "RunInstances"));
        let named = resources(
            "s3",
            "GetObject",
            "111122223333",
            "us-east-1",
            Some("b"),
            Some("k/1"),
            &Value::Null,
        );
        assert_eq!(named[0]["ARN"], "arn:aws:s3:::b/k/1");
        assert_eq!(
            named[1],
            json!({"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::b"})
        );
    }
}
