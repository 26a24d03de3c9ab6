//! Decoding calls as boto3 puts them on the wire, into the shapes of AWS's own records (the
//! expected values are those of records in `../shared/datasets`).

use cairn_capture::redact::HIDDEN;
use cairn_capture::{
    Protocol, RequestParts, ResponseParts, ServiceModel, decode_request, decode_response,
};
use http::HeaderMap;
use serde_json::{Value, json};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

fn request(
    service: &str,
    method: &str,
    path: &str,
    query: &str,
    head: &HeaderMap,
    body: &[u8],
) -> (String, Value) {
    let model = ServiceModel::for_service(service).unwrap();
    let parts = RequestParts {
        method,
        path,
        query,
        headers: head,
        body,
    };
    let decoded = decode_request(model, &parts).unwrap();
    (decoded.operation, decoded.parameters)
}

fn answer(
    service: &str,
    protocol: Protocol,
    operation: &str,
    status: u16,
    head: &HeaderMap,
    body: &[u8],
) -> cairn_capture::DecodedResponse {
    let model = ServiceModel::for_service(service).unwrap();
    let read_only = cairn_capture::classify::read_only(operation);
    let parts = ResponseParts {
        status,
        headers: head,
        body,
    };
    decode_response(model, protocol, operation, read_only, &parts)
}

fn ec2(form: &str) -> (String, Value) {
    request("ec2", "POST", "/", "", &HeaderMap::new(), form.as_bytes())
}

#[test]
fn ec2_lists_become_sets_of_items() {
    let (op, params) =
        ec2("Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2");
    assert_eq!(op, "TerminateInstances");
    assert_eq!(
        params,
        json!({"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}})
    );

    let (_, params) = ec2(
        "Action=DescribeImages&Version=2016-11-15&Owner.1=amazon&Filter.1.Name=name&Filter.1.Value.1=a%2A",
    );
    assert_eq!(
        params,
        json!({
            "executableBySet": {},
            "imagesSet": {},
            "ownersSet": {"items": [{"owner": "amazon"}]},
            "filterSet": {"items": [{"name": "name", "valueSet": {"items": [{"value": "a*"}]}}]}
        })
    );

    let (_, params) = ec2(
        "Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1&InstanceType=t2.micro",
    );
    assert_eq!(
        params,
        json!({
            "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 1}]},
            "instanceType": "t2.micro",
            "blockDeviceMapping": {}
        })
    );
}

#[test]
fn ec2_answers_keep_their_xml_names_and_types() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>a58b663a-fcf6-4bbb-a349-bddfcef95459</requestId>
  <instancesSet><item><instanceId>i-1</instanceId>
    <currentState><code>32</code><name>shutting-down</name></currentState>
    <previousState><code>16</code><name>running</name></previousState></item></instancesSet>
</TerminateInstancesResponse>"#;
    let head = HeaderMap::new();
    let decoded = answer("ec2", Protocol::Ec2, "TerminateInstances", 200, &head, body);
    assert_eq!(
        decoded.request_id.as_deref(),
        Some("a58b663a-fcf6-4bbb-a349-bddfcef95459")
    );
    assert_eq!(
        decoded.elements,
        json!({
            "requestId": "a58b663a-fcf6-4bbb-a349-bddfcef95459",
            "instancesSet": {"items": [{
                "instanceId": "i-1",
                "currentState": {"code": 32, "name": "shutting-down"},
                "previousState": {"code": 16, "name": "running"}
            }]}
        })
    );

    let error = br#"<?xml version="1.0"?><Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-0' does not exist</Message></Error></Errors><RequestID>r-1</RequestID></Response>"#;
    let decoded = answer(
        "ec2",
        Protocol::Ec2,
        "TerminateInstances",
        400,
        &head,
        error,
    );
    assert_eq!(
        decoded.error_code.as_deref(),
        Some("Client.InvalidInstanceID.NotFound")
    );
    assert_eq!(
        decoded.error_message.as_deref(),
        Some("The instance ID 'i-0' does not exist")
    );
    assert_eq!(decoded.elements, Value::Null);
    assert_eq!(decoded.request_id.as_deref(), Some("r-1"));
}

#[test]
fn json_services_use_lower_camel_members_and_hide_sensitive_ones() {
    let head = headers(&[("x-amz-target", "AmazonSSM.PutParameter")]);
    let (op, params) = request(
        "ssm",
        "POST",
        "/",
        "",
        &head,
        br#"{"Name": "db-password", "Value": "s3cr3t", "Type": "SecureString"}"#,
    );
    assert_eq!(op, "PutParameter");
    assert_eq!(
        params,
        json!({"name": "db-password", "value": HIDDEN, "type": "SecureString"})
    );

    let head = headers(&[(
        "x-amz-target",
        "AWSEC2InstanceConnectService.SendSSHPublicKey",
    )]);
    let (op, params) = request("ec2-instance-connect", "POST", "/", "", &head, br#"{"InstanceId": "i-0123456789", "InstanceOSUser": "ec2-user", "SSHPublicKey": "ssh-ed25519 AAAA"}"#);
    assert_eq!(op, "SendSSHPublicKey");
    assert_eq!(
        params,
        json!({"instanceId": "i-0123456789", "instanceOSUser": "ec2-user", "sSHPublicKey": "ssh-ed25519 AAAA"})
    );
    let answer_head = headers(&[("x-amzn-requestid", "791e148a")]);
    let decoded = answer(
        "ec2-instance-connect",
        Protocol::Json,
        "SendSSHPublicKey",
        200,
        &answer_head,
        br#"{"RequestId": "791e148a", "Success": true}"#,
    );
    assert_eq!(
        decoded.elements,
        json!({"requestId": "791e148a", "success": true})
    );
    assert_eq!(decoded.request_id.as_deref(), Some("791e148a"));

    let error = answer(
        "monitoring",
        Protocol::Json,
        "DescribeAlarms",
        400,
        &HeaderMap::new(),
        br#"{"__type": "com.amazonaws.cloudwatch#InvalidNextToken", "message": "bad token"}"#,
    );
    assert_eq!(error.error_code.as_deref(), Some("InvalidNextToken"));
}

#[test]
fn s3_calls_are_told_apart_by_path_query_and_headers() {
    let head = headers(&[
        ("host", "127.0.0.1:7700"),
        ("x-amz-acl", "private"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ]);
    let (op, params) = request(
        "s3",
        "PUT",
        "/audit-bucket/logs/a%20b.txt",
        "",
        &head,
        b"hello",
    );
    assert_eq!(op, "PutObject");
    assert_eq!(
        params,
        json!({"bucketName": "audit-bucket", "Host": "127.0.0.1:7700", "key": "logs/a b.txt", "x-amz-acl": "private"})
    );

    let head = headers(&[("host", "h"), ("x-amz-copy-source", "src/k")]);
    assert_eq!(request("s3", "PUT", "/b/k", "", &head, b"").0, "CopyObject");
    let head = headers(&[("host", "h")]);
    assert_eq!(
        request("s3", "GET", "/b", "list-type=2&prefix=x", &head, b"").0,
        "ListObjectsV2"
    );
    assert_eq!(request("s3", "GET", "/b", "", &head, b"").0, "ListObjects");
    assert_eq!(
        request("s3", "GET", "/b/k", "acl", &head, b"").0,
        "GetObjectAcl"
    );
    assert_eq!(request("s3", "GET", "/", "", &head, b"").0, "ListBuckets");
    let (op, params) = request("s3", "PUT", "/b", "", &head, br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#);
    assert_eq!(op, "CreateBucket");
    assert_eq!(
        params,
        json!({"bucketName": "b", "Host": "h", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}})
    );
}

#[test]
fn query_services_read_member_lists_and_rest_json_binds_uri_labels() {
    let form = "Action=PutMetricAlarm&Version=2010-08-01&AlarmName=cpu-high&Threshold=80.5\
                &Dimensions.member.1.Name=InstanceId&Dimensions.member.1.Value=i-1&Period=300";
    let (op, params) = request(
        "monitoring",
        "POST",
        "/",
        "",
        &HeaderMap::new(),
        form.as_bytes(),
    );
    assert_eq!(op, "PutMetricAlarm");
    assert_eq!(
        params,
        json!({
            "alarmName": "cpu-high",
            "threshold": 80.5,
            "period": 300,
            "dimensions": [{"name": "InstanceId", "value": "i-1"}]
        })
    );

    let head = headers(&[("content-type", "application/json")]);
    let (op, params) = request(
        "ebs",
        "POST",
        "/snapshots",
        "",
        &head,
        br#"{"VolumeSize": 8, "Description": "nightly"}"#,
    );
    assert_eq!(op, "StartSnapshot");
    assert_eq!(params, json!({"volumeSize": 8, "description": "nightly"}));
    let (op, params) = request(
        "ebs",
        "GET",
        "/snapshots/snap-1/blocks",
        "maxResults=10",
        &head,
        b"",
    );
    assert_eq!(op, "ListSnapshotBlocks");
    assert_eq!(params, json!({"snapshotId": "snap-1", "maxResults": 10}));
}
