"""A full disk under cairn's data directory: calls through the capture proxy (durability
`sync`) are answered InternalFailure and not made (moto never sees the bucket), event
history still answers, and once space comes back calls go through again, each made call's
event stored once; a read made while not even its own event fits has its event stored once
space returns.

Run by crates/cairn/tests/it/capture.rs in three phases: `python full_disk.py SCENARIO.json
fill` (buckets until the disk is full), `... read` (once the test filled the disk to the last
byte), then, after the test frees space, `... resume`. The scenario
adds `moto` and `made` (a file for the buckets made, kept between the phases).
"""

import json
import sys
import time

import boto3
import botocore.exceptions
from botocore.config import Config

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
PHASE = sys.argv[2]
alice = setup.principals["alice"]
MADE = setup.data["made"]


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=alice["access_key_id"],
                        aws_secret_access_key=alice["secret_access_key"],
                        config=Config(retries={"total_max_attempts": 1},
                                      s3={"addressing_style": "path"}))


s3 = client("s3", setup.endpoint)
moto_s3 = client("s3", setup.data["moto"])
cloudtrail = boto3.client("cloudtrail", endpoint_url=setup.endpoint, region_name="us-east-1",
                          aws_access_key_id=alice["access_key_id"],
                          aws_secret_access_key=alice["secret_access_key"],
                          config=Config(retries={"total_max_attempts": 1}))


def make(name):
    """Creates a bucket through cairn; True if made, False if cairn refused for a full disk."""
    try:
        s3.create_bucket(Bucket=name)
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500, e.response
        assert "disk is full" in e.response["Error"]["Message"], e.response
        return False


if PHASE == "fill":
    made, refused = [], None
    for i in range(5000):
        name = f"full-disk-{i}"
        if make(name):
            made.append(name)
        else:
            refused = name
            break
    assert refused, "the disk never filled up"
    moto_buckets = {b["Name"] for b in moto_s3.list_buckets()["Buckets"]}
    assert refused not in moto_buckets, "a refused call was made upstream"
    assert set(made) <= moto_buckets
    events = cloudtrail.lookup_events(MaxResults=5)["Events"]
    assert len(events) == min(5, len(made)) or len(events) == 5, events
    # CloudTrail's own changes are refused too; its reads answer.
    try:
        cloudtrail.create_trail(Name="on-a-full-disk", S3BucketName="no-bucket")
        raise AssertionError("a trail was created on a full disk")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InternalFailure", e.response
        assert "disk is full" in e.response["Error"]["Message"], e.response
    assert cloudtrail.describe_trails()["trailList"] == []
    json.dump({"made": made}, open(MADE, "w"))
    ok(f"a full disk refuses calls before they are made ({len(made)} made, then {refused}) "
       "and CloudTrail changes, and event history still answers")
    sys.exit(0)

saved = json.load(open(MADE))
made = saved["made"]
if sys.argv[-1] == "read":
    # The disk is full to the last byte now: not even the read's own event fits. It answers,
    # and its event waits in memory for room.
    # Twenty: the first may still fit in the log file's last page.
    saved["reads"] = []
    for _ in range(20):
        described = cloudtrail.describe_trails()
        assert described["trailList"] == []
        saved["reads"].append(described["ResponseMetadata"]["RequestId"])
    json.dump(saved, open(MADE, "w"))
    ok("reads answer on a disk full to the last byte")
    sys.exit(0)

# The first call after space comes back may still be refused: its record finds the space.
for attempt in range(20):
    if make("after-space"):
        break
    time.sleep(0.2)
else:
    raise AssertionError("calls did not resume when space came back")
made.append("after-space")
ok("calls go through again once space comes back")

stored = {}
token = None
for _ in range(200):
    kwargs = {"NextToken": token} if token else {}
    page = cloudtrail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "CreateBucket"}], **kwargs)
    for event in page["Events"]:
        record = json.loads(event["CloudTrailEvent"])
        if record.get("errorCode"):
            continue
        name = record["requestParameters"]["bucketName"]
        stored[name] = stored.get(name, 0) + 1
    token = page.get("NextToken")
    if not token:
        break
assert all(stored.get(name) == 1 for name in made), {n: stored.get(n) for n in made}
ok(f"each of the {len(made)} calls made has its event, once")

# The events of the reads made while the disk was full were kept and stored once there was room.
for attempt in range(50):
    ids = []
    token = None
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = cloudtrail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "DescribeTrails"}], **kwargs)
        ids += [json.loads(e["CloudTrailEvent"]).get("requestID") for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            break
    if all(read in ids for read in saved["reads"]):
        break
    time.sleep(0.2)
missing = [read for read in saved["reads"] if read not in ids]
assert not missing, f"{len(missing)} reads made on the full disk have no event"
assert all(ids.count(read) == 1 for read in saved["reads"]), ids
ok(f"the events of {len(saved['reads'])} reads made on the full disk are stored once space comes back")
