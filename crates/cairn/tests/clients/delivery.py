"""Trail delivery to an S3-compatible server (moto_server), checked with the unmodified
`aws cloudtrail validate-logs` from PyPI.

Run by crates/cairn/tests/it/delivery.rs: `python delivery.py SCENARIO.json`; the scenario adds
`s3_endpoint` (moto) and `aws` (the aws CLI's path) to the usual members.
Each check prints one line; the first failure raises and exits non-zero.
"""

import datetime
import gzip
import json
import os
import subprocess
import sys
import time

import boto3

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
S3 = setup.data["s3_endpoint"]
AWS = setup.data["aws"]
HOME = setup.region
alice = setup.client("alice")
bob = setup.client("bob")
alice_keys = setup.principals["alice"]
account = alice_keys["account"]
BUCKET = "trail-bucket"
s3 = boto3.client("s3", endpoint_url=S3, region_name=HOME,
                  aws_access_key_id="moto", aws_secret_access_key="moto")
s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": HOME})

trail = alice.create_trail(Name="audited", S3BucketName=BUCKET, S3KeyPrefix="org",
                           EnableLogFileValidation=True)
arn = trail["TrailARN"]
start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
alice.start_logging(Name="audited")
request_ids = {alice.describe_trails()["ResponseMetadata"]["RequestId"] for _ in range(20)}
bob.describe_trails()


def objects(prefix):
    keys = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def delivered_records():
    records = []
    for key in objects(f"org/AWSLogs/{account}/CloudTrail/"):
        body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        records += json.loads(body)["Records"]
    return records


deadline = time.time() + 30
while True:
    records = delivered_records()
    digests = objects(f"org/AWSLogs/{account}/CloudTrail-Digest/{HOME}/")
    if request_ids <= {r["requestID"] for r in records} and len(digests) >= 3:
        break
    assert time.time() < deadline, (len(records), digests)
    time.sleep(0.5)
log_keys = objects(f"org/AWSLogs/{account}/CloudTrail/")
for key in log_keys:
    name = key.rsplit("/", 1)[1]
    assert key.startswith(f"org/AWSLogs/{account}/CloudTrail/{HOME}/20"), key
    assert name.startswith(f"{account}_CloudTrail_{HOME}_") and name.endswith(".json.gz"), key
    assert len(name.split("_")[-1]) == len("0123456789abcdef.json.gz"), key
ids = [r["eventID"] for r in records]
assert len(ids) == len(set(ids)), "an event was delivered twice"
assert all(r["recipientAccountId"] == account for r in records), "another account's event"
ok(f"{len(records)} events in {len(log_keys)} log files under AWS's key layout, once each, "
   "only the trail's account")

digest = s3.get_object(Bucket=BUCKET, Key=digests[-1])
assert digest["Metadata"]["signature-algorithm"] == "SHA256withRSA", digest["Metadata"]
assert len(digest["Metadata"]["signature"]) == 512, digest["Metadata"]
body = json.loads(gzip.decompress(digest["Body"].read()))
assert body["digestS3Object"] == digests[-1] and body["awsAccountId"] == account, body
assert body["previousDigestS3Object"] == digests[-2], body
keys = alice.list_public_keys()["PublicKeyList"]
assert [k["Fingerprint"] for k in keys] == [body["digestPublicKeyFingerprint"]], keys
status = alice.get_trail_status(Name="audited")
assert "LatestDeliveryTime" in status and "LatestDigestDeliveryTime" in status, status
assert "LatestDeliveryError" not in status, status
ok("digests chain, carry their signature as metadata; ListPublicKeys and GetTrailStatus agree")


def validate():
    env = dict(os.environ, AWS_ENDPOINT_URL_S3=S3,
               AWS_ACCESS_KEY_ID=alice_keys["access_key_id"],
               AWS_SECRET_ACCESS_KEY=alice_keys["secret_access_key"],
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    run = subprocess.run(
        [AWS, "cloudtrail", "validate-logs", "--trail-arn", arn,
         "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--endpoint-url", setup.endpoint,
         "--region", HOME, "--verbose"],
        env=env, capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout + run.stderr


code, out = validate()
assert code == 0, out
assert "INVALID" not in out, out
valid = [line for line in out.splitlines() if line.endswith(" valid")]
assert any("digest files valid" in l for l in valid) and any("log files valid" in l for l in valid), out
ok("aws cloudtrail validate-logs: " + "; ".join(valid))

victim = log_keys[0]
original = s3.get_object(Bucket=BUCKET, Key=victim)["Body"].read()
text = gzip.decompress(original)
at = text.index(b'"eventName":"') + len(b'"eventName":"')
tampered = text[:at] + bytes([text[at] ^ 0x20]) + text[at + 1:]
s3.put_object(Bucket=BUCKET, Key=victim, Body=gzip.compress(tampered))
code, out = validate()
assert code != 0 and f"{victim}\tINVALID: hash value doesn't match" in out, out
ok("one byte changed in a log file: validate-logs reports that file invalid")

s3.put_object(Bucket=BUCKET, Key=victim, Body=original)
gone = digests[1]
s3.delete_object(Bucket=BUCKET, Key=gone)
code, out = validate()
assert code != 0 and f"{gone}\tINVALID: not found" in out, out
ok("a digest deleted: validate-logs reports it")
