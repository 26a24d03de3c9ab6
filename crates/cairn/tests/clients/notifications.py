"""A trail that uses the services around it, all of them moto_server: it delivers to S3 with
SSE-KMS under a KMS key named by its alias, and notifies an SNS topic that an SQS queue is
subscribed to of every log file it delivers; settings naming a topic, key or log group that
does not exist get AWS's errors; a topic that goes away shows in GetTrailStatus and misses
nothing once the trail has a topic again.

Run by crates/cairn/tests/it/delivery.rs: `python notifications.py SCENARIO.json`; the scenario
adds `moto` (the endpoint of moto_server, which is also cairn's upstream, for the account of
alice).
"""

import json
import sys
import time

import boto3

from scenario import Scenario, expect_error, ok

setup = Scenario(sys.argv[1])
HOME = setup.region
MOTO = setup.data["moto"]
alice = setup.client("alice")
account = setup.principals["alice"]["account"]
BUCKET = "notified-bucket"


def moto(service):
    return boto3.client(service, endpoint_url=MOTO, region_name=HOME,
                        aws_access_key_id="moto", aws_secret_access_key="moto")


s3, sns, sqs, kms, logs = (moto(s) for s in ("s3", "sns", "sqs", "kms", "logs"))
s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": HOME})
topic_arn = sns.create_topic(Name="trail-files")["TopicArn"]
assert topic_arn == f"arn:aws:sns:{HOME}:{account}:trail-files", topic_arn
queue_url = sqs.create_queue(QueueName="trail-files")["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url,
                                     AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
key = kms.create_key(Description="trail logs")["KeyMetadata"]
kms.create_alias(AliasName="alias/trail-logs", TargetKeyId=key["KeyId"])
logs.create_log_group(logGroupName="trail-events")
ROLE = f"arn:aws:iam::{account}:role/CloudTrail_CloudWatchLogs"

# What does not exist is refused with AWS's errors.
message = expect_error("InsufficientSnsTopicPolicyException", alice.create_trail,
                       Name="notified", S3BucketName=BUCKET, SnsTopicName="no-such-topic")
assert message == "SNS Topic does not exist or the topic policy is incorrect!", message
expect_error("KmsKeyNotFoundException", alice.create_trail, Name="notified",
             S3BucketName=BUCKET, KmsKeyId="alias/no-such-key")
message = expect_error("InvalidCloudWatchLogsLogGroupArnException", alice.create_trail,
                       Name="notified", S3BucketName=BUCKET, CloudWatchLogsRoleArn=ROLE,
                       CloudWatchLogsLogGroupArn=f"arn:aws:logs:{HOME}:{account}:"
                                                 "log-group:no-such-group:*")
assert message == "CloudTrail cannot validate the specified log group ARN.", message
assert alice.list_trails()["Trails"] == []
ok("a missing topic, key or log group is refused as AWS refuses it")

created = alice.create_trail(Name="notified", S3BucketName=BUCKET, SnsTopicName="trail-files",
                             KmsKeyId="alias/trail-logs", EnableLogFileValidation=True)
assert created["SnsTopicName"] == "trail-files", created
assert created["SnsTopicARN"] == topic_arn, created
assert created["KmsKeyId"] == key["Arn"], created
trail = alice.get_trail(Name="notified")["Trail"]
assert (trail["SnsTopicARN"], trail["KmsKeyId"]) == (topic_arn, key["Arn"]), trail
ok("a trail names its topic by name and ARN, and its key by the key's ARN")

alice.start_logging(Name="notified")


def log_files():
    """The trail's log files in the bucket (digests apart)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"AWSLogs/{account}/CloudTrail/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


notified = []
topics = [topic_arn]


def receive(seconds):
    """Reads the queue for a while; returns the notifications' keys as they came."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                  WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            envelope = json.loads(message["Body"])
            assert envelope["TopicArn"] in topics, envelope
            body = json.loads(envelope["Message"])
            assert set(body) == {"s3Bucket", "s3ObjectKey"}, body
            assert body["s3Bucket"] == BUCKET, body
            notified.extend(body["s3ObjectKey"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def wait_for(condition, what, seconds=60):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


for _ in range(5):
    alice.describe_trails()
wait_for(lambda: log_files(), "a log file")
receive(3)
wait_for(lambda: (receive(1), set(notified) >= set(log_files()))[1],
         "a notification of every log file")
status = alice.get_trail_status(Name="notified")
assert "LatestNotificationTime" in status and "LatestNotificationError" not in status, status
ok(f"every delivered log file was notified ({len(set(notified))} so far)")

# The topic goes away: files are still delivered, and the status says what failed.
sns.delete_topic(TopicArn=topic_arn)
delivered_before = set(log_files())
alice.describe_trails()
wait_for(lambda: "LatestNotificationError" in alice.get_trail_status(Name="notified"),
         "a notification error")
error = alice.get_trail_status(Name="notified")["LatestNotificationError"]
assert topic_arn in error and "NotFound" in error, error
alice.describe_trails()
wait_for(lambda: set(log_files()) - delivered_before, "a log file while the topic is gone")
ok("a missing topic shows in GetTrailStatus and does not stop delivery")

# The trail is given a new topic: what was delivered meanwhile is notified there.
new_topic = sns.create_topic(Name="trail-files-2")["TopicArn"]
topics.append(new_topic)
sns.subscribe(TopicArn=new_topic, Protocol="sqs", Endpoint=queue_arn)
alice.update_trail(Name="notified", SnsTopicName=new_topic)
assert alice.get_trail(Name="notified")["Trail"]["SnsTopicARN"] == new_topic
alice.describe_trails()
wait_for(lambda: "LatestNotificationError" not in alice.get_trail_status(Name="notified"),
         "notifications to resume")
alice.stop_logging(Name="notified")
time.sleep(3)
wait_for(lambda: (receive(1), set(notified) >= set(log_files()))[1],
         "a notification of every log file")
files = log_files()
assert sorted(notified) == sorted(files), (sorted(notified), sorted(files))
ok(f"with a new topic every log file was notified once ({len(files)} files)")

# Every object the trail wrote is encrypted with its key.
digests = []
for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"AWSLogs/{account}/CloudTrail-Digest/"):
    digests += [o["Key"] for o in page.get("Contents", [])]
assert digests, "no digest was delivered"
for object_key in files + digests:
    head = s3.head_object(Bucket=BUCKET, Key=object_key)
    assert head["ServerSideEncryption"] == "aws:kms", head
    assert head["SSEKMSKeyId"] == key["Arn"], head
ok(f"every log file and digest is written with SSE-KMS under the trail's key "
   f"({len(files)} + {len(digests)} objects)")

updated = alice.update_trail(Name="notified", SnsTopicName="", KmsKeyId="")
assert "SnsTopicName" not in updated and "KmsKeyId" not in updated, updated
ok("UpdateTrail removes the topic and key with empty strings")
