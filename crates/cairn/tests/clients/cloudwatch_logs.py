"""A trail that sends its events to a CloudWatch Logs log group on moto_server, each exactly
once, also when cairn dies between sending a batch and noting it: the log group holds the same
events as the trail's log files, in AWS's log stream, each once.

Run by crates/cairn/tests/it/delivery.rs in two phases around a crash:
`python cloudwatch_logs.py SCENARIO.json start` (make the log group, bucket and trail, then
`CALLS` calls; the server dies after sending them), then, after a restart,
`... check` (more calls, stop logging, compare). The scenario adds `moto`.
"""

import gzip
import json
import sys
import time

import boto3

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
PHASE = sys.argv[2]
HOME = setup.region
MOTO = setup.data["moto"]
CALLS = setup.data["calls"]
alice = setup.client("alice")
account = setup.principals["alice"]["account"]
BUCKET = "watched-bucket"
GROUP = "trail-events"
STREAM = f"{account}_CloudTrail_{HOME}"


def moto(service):
    return boto3.client(service, endpoint_url=MOTO, region_name=HOME,
                        aws_access_key_id="moto", aws_secret_access_key="moto")


s3, logs = moto("s3"), moto("logs")

if PHASE == "start":
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": HOME})
    logs.create_log_group(logGroupName=GROUP)
    group_arn = f"arn:aws:logs:{HOME}:{account}:log-group:{GROUP}:*"
    role_arn = f"arn:aws:iam::{account}:role/CloudTrail_CloudWatchLogs"
    created = alice.create_trail(Name="watched", S3BucketName=BUCKET,
                                 CloudWatchLogsLogGroupArn=group_arn,
                                 CloudWatchLogsRoleArn=role_arn)
    assert created["CloudWatchLogsLogGroupArn"] == group_arn, created
    assert created["CloudWatchLogsRoleArn"] == role_arn, created
    alice.start_logging(Name="watched")
    for _ in range(CALLS):
        alice.describe_trails()
    ok(f"a trail with a log group made {CALLS} events; the server dies once it sent them")
    sys.exit(0)


def wait_for(condition, what, seconds=60):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def file_events():
    """The eventIDs in the trail's log files."""
    ids = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"AWSLogs/{account}/CloudTrail/")
    for page in pages:
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            ids += [r["eventID"] for r in json.loads(gzip.decompress(body))["Records"]]
    return ids


def log_events():
    """The eventIDs of the stream's log events, with their timestamps checked."""
    ids, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM,
                                   startFromHead=True, **kwargs)
        for event in page["events"]:
            record = json.loads(event["message"])
            assert record["awsRegion"] == HOME, record
            ids.append(record["eventID"])
        if not page["events"] or page["nextForwardToken"] == token:
            return ids
        token = page["nextForwardToken"]


for _ in range(5):
    alice.describe_trails()
status = alice.get_trail_status(Name="watched")
alice.stop_logging(Name="watched")
wait_for(lambda: len(file_events()) >= CALLS + 5, "the log files")
time.sleep(2)
wait_for(lambda: sorted(log_events()) == sorted(file_events()),
         "the log group to hold the log files' events")
in_files, in_logs = file_events(), log_events()
assert len(set(in_logs)) == len(in_logs), "an event was sent twice"
assert len(in_logs) >= CALLS + 5, in_logs
status = alice.get_trail_status(Name="watched")
assert "LatestCloudWatchLogsDeliveryTime" in status, status
assert "LatestCloudWatchLogsDeliveryError" not in status, status
ok(f"the log group holds the {len(in_logs)} events of the log files, each once, across a crash")
