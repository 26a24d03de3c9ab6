//! `sql`: a Lake query, as StartQuery takes it: checked, rewritten to Trino's semantics and
//! planned (logical and physical plans) over an event data store of a few events, the table
//! [`STORE_ID`]. It is not run: a valid query may rightly take long (Lake's timeout ends it),
//! which a fuzzer cannot tell from a hang. Every query gets a plan or an error.

use std::sync::LazyLock;

use cairn_lake::Lake;
use cairn_model::Record;

/// The table the seeds query.
pub const STORE_ID: &str = "e19654c7-120b-4e5b-a35f-0d734b7de799";

/// Events of the kinds a store holds: a console sign-in, an EC2 call with resources, an error.
const EVENTS: [&str; 3] = [
    r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111111111111","arn":"arn:aws:iam::111111111111:root","accountId":"111111111111"},"eventTime":"2023-11-14T22:13:20Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventID":"3f9d3ab8-2a8e-4c1b-9c55-0f7e4f0c2a01","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111111111111","eventCategory":"Management"}"#,
    r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAFUZZ","arn":"arn:aws:iam::111111111111:user/alice","accountId":"111111111111","accessKeyId":"AKIDFUZZ","userName":"alice"},"eventTime":"2023-11-14T22:14:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.2","userAgent":"aws-cli/2","requestParameters":{"instanceType":"t3.micro","instancesSet":{"items":[{"imageId":"ami-0123456789abcdef0","minCount":1,"maxCount":1}]}},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-0123456789abcdef0"}]}},"requestID":"5b1a5c0e-1111-4222-8333-944455556666","eventID":"3f9d3ab8-2a8e-4c1b-9c55-0f7e4f0c2a02","readOnly":false,"resources":[{"accountId":"111111111111","type":"AWS::EC2::Instance","ARN":"arn:aws:ec2:us-east-1:111111111111:instance/i-0123456789abcdef0"}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111111111111","eventCategory":"Management"}"#,
    r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAFUZZ:bob","arn":"arn:aws:sts::111111111111:assumed-role/Admin/bob","accountId":"111111111111","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"},"attributes":{"creationDate":"2023-11-14T22:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2023-11-14T22:15:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-west-2","sourceIPAddress":"192.0.2.3","userAgent":"boto3","errorCode":"AccessDenied","errorMessage":"Access Denied","requestParameters":{"bucketName":"logs","key":"a.txt"},"responseElements":null,"eventID":"3f9d3ab8-2a8e-4c1b-9c55-0f7e4f0c2a03","readOnly":true,"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111111111111","eventCategory":"Data"}"#,
];

static LAKE: LazyLock<Lake> = LazyLock::new(|| {
    let records: Vec<Record> = EVENTS
        .iter()
        .map(|text| Record::parse(text).unwrap_or_else(|e| panic!("a fuzz event: {e}")))
        .collect();
    let mut lake = Lake::new();
    lake.add_events(STORE_ID, &records)
        .unwrap_or_else(|e| panic!("the fuzz store: {e}"));
    lake
});

pub fn run(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return; // StartQuery's QueryStatement is a JSON string: UTF-8
    };
    let _ = LAKE.plan_blocking(sql);
}
