"""The capture proxy with real clients and a real upstream: boto3 calls EC2, SSM, CloudWatch,
EC2 Instance Connect and S3 with `endpoint_url` = cairn, which forwards them to moto_server and
records them; the events are then read back through LookupEvents (and S3's data events through
a trail's delivered log file) and compared with the shapes of AWS's own records.

Run by crates/cairn/tests/it/capture.rs: `python capture.py SCENARIO.json`; the scenario adds
`bucket_dir` (the local bucket the data-event trail delivers to) and `secret` (the SecureString
value, which must appear nowhere).
Each check prints one line; the first failure raises and exits non-zero.
"""

import gzip
import json
import os
import subprocess
import sys
import time

import boto3
import botocore.exceptions

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
REGION = setup.region
SECRET = setup.data["secret"]
alice_keys = setup.principals["alice"]
ACCOUNT = alice_keys["account"]


def client(service):
    return boto3.client(service, endpoint_url=setup.endpoint, region_name=REGION,
                        aws_access_key_id=alice_keys["access_key_id"],
                        aws_secret_access_key=alice_keys["secret_access_key"])


cloudtrail = setup.client("alice")
ec2, ssm, cloudwatch = client("ec2"), client("ssm"), client("cloudwatch")
connect, s3 = client("ec2-instance-connect"), client("s3")

# A trail that keeps S3's object events (data events never show in event history).
os.makedirs(setup.data["bucket_dir"], exist_ok=True)
cloudtrail.create_trail(Name="data-events", S3BucketName=os.path.basename(setup.data["bucket_dir"]))
cloudtrail.put_event_selectors(TrailName="data-events", AdvancedEventSelectors=[{
    "Name": "S3 objects",
    "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                       {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}])
cloudtrail.start_logging(Name="data-events")


def event(name, request_id, within=1.0, where=lambda record: True):
    """The event of call `request_id` (boto3's RequestId) named `name`, by LookupEvents (and
    `where`: moto gives every EC2 answer the same request id)."""
    deadline = time.time() + within
    while True:
        found = cloudtrail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        for e in found:
            record = json.loads(e["CloudTrailEvent"])
            if record.get("requestID") == request_id and where(record):
                return record
        assert time.time() < deadline, \
            f"no {name} event for request {request_id} within {within} s: " \
            f"{[json.loads(e['CloudTrailEvent']) for e in found]}"
        time.sleep(0.05)


def common(record, source, name, read_only):
    identity = record["userIdentity"]
    assert identity["type"] == "IAMUser" and identity["userName"] == "alice", identity
    assert identity["accessKeyId"] == alice_keys["access_key_id"], identity
    assert identity["arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice", identity
    assert record["eventSource"] == source and record["eventName"] == name, record
    assert record["awsRegion"] == REGION and record["recipientAccountId"] == ACCOUNT, record
    assert record["sourceIPAddress"] == "127.0.0.1", record
    assert "Boto3" in record["userAgent"], record["userAgent"]
    assert record["readOnly"] is read_only, record
    assert record["eventType"] == "AwsApiCall", record


def management(record):
    assert record["eventCategory"] == "Management" and record["managementEvent"] is True, record


# --- EC2 and EBS ------------------------------------------------------------------------------

images = ec2.describe_images(Owners=["amazon"])
image = images["Images"][0]["ImageId"]
record = event("DescribeImages", images["ResponseMetadata"]["RequestId"])
common(record, "ec2.amazonaws.com", "DescribeImages", True)
management(record)
assert record["requestParameters"] == {
    "executableBySet": {}, "imagesSet": {}, "ownersSet": {"items": [{"owner": "amazon"}]},
    "filterSet": {}}, record["requestParameters"]
assert record["responseElements"] is None, record
ok("EC2 DescribeImages: read-only, ownersSet.items[], no responseElements")

run = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="t2.micro")
instances = [i["InstanceId"] for i in run["Instances"]]
record = event("RunInstances", run["ResponseMetadata"]["RequestId"])
common(record, "ec2.amazonaws.com", "RunInstances", False)
assert record["requestParameters"]["instancesSet"] == {
    "items": [{"imageId": image, "minCount": 2, "maxCount": 2}]}, record["requestParameters"]
assert record["requestParameters"]["instanceType"] == "t2.micro", record
launched = record["responseElements"]["instancesSet"]["items"]
assert [i["instanceId"] for i in launched] == instances, record["responseElements"]
assert launched[0]["instanceState"] == {"code": 0, "name": "pending"}, launched[0]
ok("EC2 RunInstances: instancesSet.items[] in, launched instances out")

stop = ec2.terminate_instances(InstanceIds=[instances[0]])
record = event("TerminateInstances", stop["ResponseMetadata"]["RequestId"],
               where=lambda r: "errorCode" not in r)
common(record, "ec2.amazonaws.com", "TerminateInstances", False)
management(record)
assert record["requestParameters"] == {"instancesSet": {"items": [{"instanceId": instances[0]}]}}
changed = record["responseElements"]["instancesSet"]["items"][0]
assert changed["instanceId"] == instances[0], changed
assert changed["currentState"] == {"code": 32, "name": "shutting-down"}, changed
assert changed["previousState"] == {"code": 16, "name": "running"}, changed
assert record["responseElements"]["requestId"] == stop["ResponseMetadata"]["RequestId"], record
ok("EC2 TerminateInstances: currentState shutting-down, as in AWS's records")

try:
    ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])
    raise AssertionError("terminating a missing instance succeeded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidInstanceID.NotFound", e.response
    failed_id = e.response["ResponseMetadata"]["RequestId"]
record = event("TerminateInstances", failed_id, where=lambda r: "errorCode" in r)
assert record.get("errorCode") == "Client.InvalidInstanceID.NotFound", record
assert "i-0123456789abcdef0" in record["errorMessage"], record
assert record["responseElements"] is None, record
ok("EC2 TerminateInstances of a missing instance: errorCode Client.InvalidInstanceID.NotFound")

volume = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a", VolumeType="gp2")
record = event("CreateVolume", volume["ResponseMetadata"]["RequestId"])
assert record["requestParameters"]["size"] == 8, record["requestParameters"]
assert record["responseElements"]["volumeId"] == volume["VolumeId"], record["responseElements"]
attach = ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instances[1], Device="/dev/sdf")
record = event("AttachVolume", attach["ResponseMetadata"]["RequestId"])
assert record["requestParameters"] == {
    "volumeId": volume["VolumeId"], "instanceId": instances[1], "device": "/dev/sdf"}, record
assert record["responseElements"]["status"] == "attaching", record["responseElements"]
ok("EBS CreateVolume and AttachVolume: parameters and the attachment recorded")

# --- Systems Manager ----------------------------------------------------------------------------

put = ssm.put_parameter(Name="/prod/db-password", Value=SECRET, Type="SecureString")
record = event("PutParameter", put["ResponseMetadata"]["RequestId"])
common(record, "ssm.amazonaws.com", "PutParameter", False)
assert record["requestParameters"]["value"] == "HIDDEN_DUE_TO_SECURITY_REASONS", record
assert record["requestParameters"]["name"] == "/prod/db-password", record
assert SECRET not in json.dumps(record), record
ok("SSM PutParameter SecureString: the value is HIDDEN_DUE_TO_SECURITY_REASONS")

command = ssm.send_command(InstanceIds=[instances[1]], DocumentName="AWS-RunShellScript",
                           Parameters={"commands": ["echo hello"]})
record = event("SendCommand", command["ResponseMetadata"]["RequestId"])
assert record["requestParameters"]["instanceIds"] == [instances[1]], record
assert record["requestParameters"]["parameters"] == "HIDDEN_DUE_TO_SECURITY_REASONS", record
assert record["responseElements"]["command"]["commandId"] == command["Command"]["CommandId"]
ok("SSM SendCommand: parameters hidden, the command recorded")

ssm.create_document(Name="example-Document", DocumentType="Command", Content=json.dumps({
    "schemaVersion": "2.2", "description": "x", "mainSteps": [
        {"action": "aws:runShellScript", "name": "run", "inputs": {"runCommand": ["date"]}}]}))
deleted = ssm.delete_document(Name="example-Document")
record = event("DeleteDocument", deleted["ResponseMetadata"]["RequestId"])
common(record, "ssm.amazonaws.com", "DeleteDocument", False)
assert record["requestParameters"] == {"name": "example-Document"}, record
assert record["responseElements"] is None, record
assert record["resources"] == [{
    "ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/example-Document",
    "accountId": ACCOUNT}], record
ok("SSM DeleteDocument: as AWS's example record, with the document as resource")

# --- CloudWatch ----------------------------------------------------------------------------------

alarm = cloudwatch.put_metric_alarm(
    AlarmName="cpu-high", MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average",
    Period=300, EvaluationPeriods=1, Threshold=80.0, ComparisonOperator="GreaterThanThreshold",
    Dimensions=[{"Name": "InstanceId", "Value": instances[1]}])
record = event("PutMetricAlarm", alarm["ResponseMetadata"]["RequestId"])
common(record, "monitoring.amazonaws.com", "PutMetricAlarm", False)
params = record["requestParameters"]
assert params["alarmName"] == "cpu-high" and params["threshold"] == 80.0, params
assert params["dimensions"] == [{"name": "InstanceId", "value": instances[1]}], params
alarms = cloudwatch.describe_alarms(MaxRecords=100)
record = event("DescribeAlarms", alarms["ResponseMetadata"]["RequestId"])
assert record["requestParameters"] == {"maxRecords": 100}, record
assert record["readOnly"] is True and record["responseElements"] is None, record
ok("CloudWatch PutMetricAlarm and DescribeAlarms: eventSource monitoring.amazonaws.com")

# --- EC2 Instance Connect ---------------------------------------------------------------------

key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEkeyEXAMPLEkeyEXAMPLEkeyEXAMPLEkeyEXAMPLEkey cairn"
sent = connect.send_ssh_public_key(InstanceId=instances[1], InstanceOSUser="ec2-user",
                                   SSHPublicKey=key)
record = event("SendSSHPublicKey", sent["ResponseMetadata"]["RequestId"])
common(record, "ec2-instance-connect.amazonaws.com", "SendSSHPublicKey", False)
management(record)
assert record["requestParameters"] == {
    "instanceId": instances[1], "instanceOSUser": "ec2-user", "sSHPublicKey": key}, record
assert record["responseElements"]["success"] is True, record
ssh = cloudtrail.lookup_events(LookupAttributes=[{
    "AttributeKey": "EventSource", "AttributeValue": "ec2-instance-connect.amazonaws.com"}])
assert [e["EventName"] for e in ssh["Events"]] == ["SendSSHPublicKey"], ssh["Events"]
ok("EC2 Instance Connect SendSSHPublicKey: found by EventSource, as an SSH audit needs")

# --- S3: CreateBucket is a management event; objects are data events ---------------------

made = s3.create_bucket(Bucket="capture-bucket",
                        CreateBucketConfiguration={"LocationConstraint": REGION})
record = event("CreateBucket", made["ResponseMetadata"]["RequestId"])
common(record, "s3.amazonaws.com", "CreateBucket", False)
management(record)
assert record["requestParameters"]["bucketName"] == "capture-bucket", record
assert record["requestParameters"]["CreateBucketConfiguration"] == {
    "LocationConstraint": REGION}, record
stored = s3.put_object(Bucket="capture-bucket", Key="reports/q3.txt", Body=b"quarterly numbers")
got = s3.get_object(Bucket="capture-bucket", Key="reports/q3.txt")
assert got["Body"].read() == b"quarterly numbers"
# Bigger than cairn's max_body_bytes (2 MiB in this test): the upload streams through unread.
big = bytes(range(256)) * (3 * 4096)
uploaded = s3.put_object(Bucket="capture-bucket", Key="reports/big.bin", Body=big)
assert s3.get_object(Bucket="capture-bucket", Key="reports/big.bin")["Body"].read() == big
object_ids = {stored["ResponseMetadata"]["RequestId"]: "PutObject",
              got["ResponseMetadata"]["RequestId"]: "GetObject"}
time.sleep(1.5)
for name in ("PutObject", "GetObject"):
    found = cloudtrail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    assert found == [], f"a data event ({name}) is in event history: {found}"


def delivered():
    records = []
    for folder, _, files in os.walk(setup.data["bucket_dir"]):
        for name in files:
            if name.endswith(".json.gz"):
                with gzip.open(os.path.join(folder, name)) as f:
                    records += json.load(f)["Records"]
    return records


deadline = time.time() + 20
while True:
    data = {r["requestID"]: r for r in delivered() if r["requestID"] in object_ids}
    big_put = [r for r in delivered() if r["eventName"] == "PutObject"
               and r["requestParameters"]["key"] == "reports/big.bin"]
    if len(data) == 2 and big_put:
        break
    assert time.time() < deadline, f"the trail delivered {list(data)} of {object_ids}"
    time.sleep(0.3)
for request_id, name in object_ids.items():
    record = data[request_id]
    common(record, "s3.amazonaws.com", name, name == "GetObject")
    assert record["eventCategory"] == "Data" and record["managementEvent"] is False, record
    assert record["requestParameters"]["key"] == "reports/q3.txt", record
    assert record["resources"] == [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::capture-bucket/reports/q3.txt"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::capture-bucket"},
    ], record
assert big_put[0]["requestID"] == uploaded["ResponseMetadata"]["RequestId"], big_put
ok("S3 PutObject and GetObject: data events, not in event history, delivered by the trail "
   "that selects them; a 3 MiB upload streamed through cairn unread")

# --- Refused: an unknown key or a bad signature never reaches the upstream -----------------

forged = boto3.client("ec2", endpoint_url=setup.endpoint, region_name=REGION,
                      aws_access_key_id=alice_keys["access_key_id"],
                      aws_secret_access_key="not-alices-secret")
try:
    forged.terminate_instances(InstanceIds=[instances[1]])
    raise AssertionError("a forged signature was forwarded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AuthFailure", e.response
state = ec2.describe_instances(InstanceIds=[instances[1]])
assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running", state
events = cloudtrail.lookup_events(LookupAttributes=[{
    "AttributeKey": "AccessKeyId", "AttributeValue": alice_keys["access_key_id"]}])["Events"]
refused = [json.loads(e["CloudTrailEvent"]) for e in events
           if json.loads(e["CloudTrailEvent"]).get("errorCode") == "AuthFailure"]
assert refused and refused[0]["userIdentity"] == {
    "type": "Unknown", "accessKeyId": alice_keys["access_key_id"]}, refused
ok("a forged signature: AuthFailure, not forwarded, recorded without alice's identity")

# --- Event history resources: what happened to this instance, volume, parameter? --------------
# The records carry no `resources` (AWS's EC2, SSM and CloudWatch records never do); event
# history names the resources of the call all the same, as AWS's does.

stopped = ec2.stop_instances(InstanceIds=[instances[1]])
event("StopInstances", stopped["ResponseMetadata"]["RequestId"])


def by_attribute(key, value):
    pages = cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
    return [e for page in pages for e in page["Events"]]


def by_attribute_with_the_aws_cli(key, value):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=alice_keys["access_key_id"],
               AWS_SECRET_ACCESS_KEY=alice_keys["secret_access_key"], AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run(
        [sys.executable, "-m", "awscli", "cloudtrail", "lookup-events", "--endpoint-url",
         setup.endpoint, "--lookup-attributes", f"AttributeKey={key},AttributeValue={value}",
         "--output", "json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["Events"]


volume_id = volume["VolumeId"]
resources = [
    ("AWS::EC2::Instance", instances[1],
     {"RunInstances", "AttachVolume", "SendSSHPublicKey", "StopInstances"}),
    ("AWS::EC2::Instance", instances[0], {"RunInstances", "TerminateInstances"}),
    ("AWS::EC2::Volume", volume_id, {"CreateVolume", "AttachVolume"}),
    ("AWS::EC2::Ami", image, {"RunInstances"}),
    ("AWS::SSM::Parameter", "/prod/db-password", {"PutParameter"}),
    ("AWS::SSM::ManagedNode", instances[1], {"SendCommand"}),
    ("AWS::SSM::Document", "AWS-RunShellScript", {"SendCommand"}),
    ("AWS::CloudWatch::Alarm", "cpu-high", {"PutMetricAlarm"}),
    ("AWS::S3::Bucket", "capture-bucket", {"CreateBucket"}),
]
for resource_type, name, calls in resources:
    found = by_attribute("ResourceName", name)
    names = {e["EventName"] for e in found}
    assert calls <= names, f"{name}: {names}, expected at least {calls}"
    for e in found:
        assert {"ResourceType": resource_type, "ResourceName": name} in e["Resources"] or \
            any(r["ResourceName"] == name for r in e["Resources"]), e["Resources"]
    typed = {e["EventId"] for e in by_attribute("ResourceType", resource_type)}
    named = {e["EventId"] for e in found
             if {"ResourceType": resource_type, "ResourceName": name} in e["Resources"]}
    assert named and named <= typed, f"{resource_type} {name}: {named - typed} not found by type"
    cli = by_attribute_with_the_aws_cli("ResourceName", name)
    assert [e["EventId"] for e in cli] == [e["EventId"] for e in found], (name, cli, found)
    ok(f"{resource_type} {name}: found by ResourceName ({', '.join(sorted(calls))}) and by "
       "ResourceType, with boto3 and the aws CLI")

attach = next(e for e in by_attribute("ResourceName", volume_id) if e["EventName"] == "AttachVolume")
assert {"ResourceType": "AWS::EC2::Volume", "ResourceName": volume_id} in attach["Resources"]
assert {"ResourceType": "AWS::EC2::Instance", "ResourceName": instances[1]} in attach["Resources"]
assert "resources" not in json.loads(attach["CloudTrailEvent"]), "the record's text was changed"
ok("AttachVolume names the instance and the volume; the record itself is unchanged")
