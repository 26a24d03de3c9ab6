"""Trail delivery conformance, the same checks against either delivery target: a real
S3-compatible server (moto_server) or local folders. Checked with `cairn validate-logs` on
both, and with the unmodified `aws cloudtrail validate-logs` from PyPI on S3.

Run by crates/cairn/tests/it/delivery.rs: `python delivery.py SCENARIO.json`; the scenario adds
`target` ("s3" or "local"), `cairn` (the binary), `data_dir`, and `s3_endpoint` and `aws` (the
aws CLI) for S3 or `buckets_dir` for local folders.
Each check prints one line; the first failure raises and exits non-zero.
"""

import datetime
import gzip
import json
import os
import shutil
import subprocess
import sys
import time

import boto3

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
TARGET = setup.data["target"]
HOME = setup.region
alice = setup.client("alice")
bob = setup.client("bob")
alice_keys = setup.principals["alice"]
account = alice_keys["account"]
BUCKET = "trail-bucket"


class S3Buckets:
    """Buckets of the S3 server, through boto3."""

    def __init__(self, endpoint):
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name=HOME,
                               aws_access_key_id="moto", aws_secret_access_key="moto")

    def create(self, bucket):
        self.s3.create_bucket(Bucket=bucket,
                              CreateBucketConfiguration={"LocationConstraint": HOME})

    def remove(self, bucket):
        for key in self.keys(bucket, ""):
            self.s3.delete_object(Bucket=bucket, Key=key)
        self.s3.delete_bucket(Bucket=bucket)

    def keys(self, bucket, prefix):
        keys = []
        for page in self.s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def get(self, bucket, key):
        got = self.s3.get_object(Bucket=bucket, Key=key)
        return got["Body"].read(), got["Metadata"]

    def put(self, bucket, key, body, metadata=None):
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata or {})

    def delete(self, bucket, key):
        self.s3.delete_object(Bucket=bucket, Key=key)


class LocalBuckets:
    """Folders under the buckets root; metadata in `.metadata/<bucket>/<key>.json`."""

    def __init__(self, root):
        self.root = root

    def path(self, bucket, key):
        return os.path.join(self.root, bucket, key)

    def metadata_path(self, bucket, key):
        return os.path.join(self.root, ".metadata", bucket, key + ".json")

    def create(self, bucket):
        os.makedirs(os.path.join(self.root, bucket))

    def remove(self, bucket):
        shutil.rmtree(os.path.join(self.root, bucket))
        shutil.rmtree(os.path.join(self.root, ".metadata", bucket), ignore_errors=True)

    def keys(self, bucket, prefix):
        base = os.path.join(self.root, bucket)
        keys = []
        for folder, _, files in os.walk(base):
            for name in files:
                key = os.path.relpath(os.path.join(folder, name), base)
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def get(self, bucket, key):
        with open(self.path(bucket, key), "rb") as f:
            body = f.read()
        try:
            with open(self.metadata_path(bucket, key)) as f:
                metadata = json.load(f)
        except FileNotFoundError:
            metadata = {}
        return body, metadata

    def put(self, bucket, key, body, metadata=None):
        os.makedirs(os.path.dirname(self.path(bucket, key)), exist_ok=True)
        with open(self.path(bucket, key), "wb") as f:
            f.write(body)
        if metadata:
            os.makedirs(os.path.dirname(self.metadata_path(bucket, key)), exist_ok=True)
            with open(self.metadata_path(bucket, key), "w") as f:
                json.dump(metadata, f)

    def delete(self, bucket, key):
        os.remove(self.path(bucket, key))
        try:
            os.remove(self.metadata_path(bucket, key))
        except FileNotFoundError:
            pass


buckets = S3Buckets(setup.data["s3_endpoint"]) if TARGET == "s3" else \
    LocalBuckets(setup.data["buckets_dir"])
buckets.create(BUCKET)


def wait_for(what, condition, seconds=60):
    deadline = time.time() + seconds
    while True:
        got = condition()
        if got:
            return got
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def records_in(bucket, prefix):
    records = []
    for key in buckets.keys(bucket, prefix):
        records += json.loads(gzip.decompress(buckets.get(bucket, key)[0]))["Records"]
    return records


# --- Delivery in AWS's layout, exactly once, only the trail's account -----------------------

trail = alice.create_trail(Name="audited", S3BucketName=BUCKET, S3KeyPrefix="org",
                           EnableLogFileValidation=True)
arn = trail["TrailARN"]
start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
alice.start_logging(Name="audited")
request_ids = {alice.describe_trails()["ResponseMetadata"]["RequestId"] for _ in range(20)}
bob.describe_trails()

LOGS = f"org/AWSLogs/{account}/CloudTrail/"
DIGESTS = f"org/AWSLogs/{account}/CloudTrail-Digest/{HOME}/"
wait_for("the calls' events and 8 digests",
         lambda: request_ids <= {r["requestID"] for r in records_in(BUCKET, LOGS)}
         and len(buckets.keys(BUCKET, DIGESTS)) >= 8)
records = records_in(BUCKET, LOGS)
log_keys = buckets.keys(BUCKET, LOGS)
for key in log_keys:
    name = key.rsplit("/", 1)[1]
    assert key.startswith(f"{LOGS}{HOME}/20"), key
    assert name.startswith(f"{account}_CloudTrail_{HOME}_") and name.endswith(".json.gz"), key
    assert len(name.split("_")[-1]) == len("0123456789abcdef.json.gz"), key
ids = [r["eventID"] for r in records]
assert len(ids) == len(set(ids)), "an event was delivered twice"
assert all(r["recipientAccountId"] == account for r in records), "another account's event"
ok(f"{TARGET}: {len(records)} events in {len(log_keys)} log files under AWS's key layout, "
   "once each, only the trail's account")

digests = buckets.keys(BUCKET, DIGESTS)
body, metadata = buckets.get(BUCKET, digests[-1])
assert metadata["signature-algorithm"] == "SHA256withRSA", metadata
assert len(metadata["signature"]) == 512, metadata
digest = json.loads(gzip.decompress(body))
assert digest["digestS3Object"] == digests[-1] and digest["awsAccountId"] == account, digest
assert digest["previousDigestS3Object"] == digests[-2], digest
periods = set()
for key in digests[:-1]:
    d = json.loads(gzip.decompress(buckets.get(BUCKET, key)[0]))
    periods.add((datetime.datetime.fromisoformat(d["digestEndTime"])
                 - datetime.datetime.fromisoformat(d["digestStartTime"])).seconds)
assert periods == {2}, periods
keys = alice.list_public_keys()["PublicKeyList"]
assert [k["Fingerprint"] for k in keys] == [digest["digestPublicKeyFingerprint"]], keys
status = alice.get_trail_status(Name="audited")
assert "LatestDeliveryTime" in status and "LatestDigestDeliveryTime" in status, status
assert "LatestDeliveryError" not in status, status
ok(f"{TARGET}: digests every 2 s, chained, with their signature as metadata; ListPublicKeys "
   "and GetTrailStatus agree")

# --- Validation: cairn validate-logs on both targets, the AWS CLI's on S3 -------------------

client_env = dict(os.environ, AWS_ACCESS_KEY_ID=alice_keys["access_key_id"],
                  AWS_SECRET_ACCESS_KEY=alice_keys["secret_access_key"],
                  AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
if TARGET == "s3":
    # moto takes any key; the API needs alice's.
    client_env.update(CAIRN_DELIVERY_TARGET="s3", AWS_ENDPOINT_URL_S3=setup.data["s3_endpoint"],
                      AWS_REGION=HOME, AWS_ALLOW_HTTP="true")
else:
    client_env.update(CAIRN_DELIVERY_TARGET="local", CAIRN_BUCKETS_DIR=setup.data["buckets_dir"])
since = start.strftime("%Y-%m-%dT%H:%M:%SZ")


def cairn_validate():
    run = subprocess.run(
        [setup.data["cairn"], "validate-logs", "--trail-arn", arn, "--start-time", since,
         "--endpoint-url", setup.endpoint, "--data-dir", setup.data["data_dir"], "--verbose"],
        env=client_env, capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout + run.stderr


def aws_validate():
    run = subprocess.run(
        [setup.data["aws"], "cloudtrail", "validate-logs", "--trail-arn", arn,
         "--start-time", since, "--endpoint-url", setup.endpoint, "--region", HOME,
         "--verbose"],
        env=client_env, capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout + run.stderr


validators = [("cairn validate-logs", cairn_validate)]
if TARGET == "s3":
    validators.append(("aws cloudtrail validate-logs", aws_validate))


def all_report(expected, because):
    for name, validate in validators:
        code, out = validate()
        for line in expected:
            assert line in out, f"{name}: {line!r} missing from:\n{out}"
        assert code != 0, f"{name} exited 0:\n{out}"
        ok(f"{TARGET}: {because}: {name} reports it")


for name, validate in validators:
    code, out = validate()
    assert code == 0 and "INVALID" not in out, out
    summary = [line for line in out.splitlines() if line.endswith(" valid")]
    assert any("digest files valid" in s for s in summary), out
    assert any("log files valid" in s for s in summary), out
    ok(f"{TARGET}: {name}: " + "; ".join(summary))

# One byte of one log file changed.
victim = log_keys[0]
original, _ = buckets.get(BUCKET, victim)
text = gzip.decompress(original)
at = text.index(b'"eventName":"') + len(b'"eventName":"')
tampered = text[:at] + bytes([text[at] ^ 0x20]) + text[at + 1:]
buckets.put(BUCKET, victim, gzip.compress(tampered))
all_report([f"{victim}\tINVALID: hash value doesn't match"], "one byte changed in a log file")
buckets.put(BUCKET, victim, original)

# A log file moved to another key.
moved_to = victim.replace(".json.gz", "_moved.json.gz")
buckets.put(BUCKET, moved_to, original)
buckets.delete(BUCKET, victim)
code, out = cairn_validate()
assert code != 0 and f"{victim}\tINVALID: moved to s3://{BUCKET}/{moved_to}" in out, out
ok(f"{TARGET}: a log file moved: cairn validate-logs says where to")
buckets.put(BUCKET, victim, original)
buckets.delete(BUCKET, moved_to)

# A digest moved to another key (one second later: digests are 2 s apart).
digests = buckets.keys(BUCKET, DIGESTS)
moved_digest = digests[-3]
stamp = moved_digest[-24:-8]
later = (datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
         + datetime.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
digest_moved_to = moved_digest[:-24] + later + ".json.gz"
body, metadata = buckets.get(BUCKET, moved_digest)
buckets.put(BUCKET, digest_moved_to, body, metadata)
buckets.delete(BUCKET, moved_digest)
code, out = cairn_validate()
assert code != 0 and \
    f"{moved_digest}\tINVALID: moved to s3://{BUCKET}/{digest_moved_to}" in out, out
assert out.count("\tINVALID") == 1, out
ok(f"{TARGET}: a digest moved: cairn validate-logs says where to, and follows its chain")
buckets.put(BUCKET, moved_digest, body, metadata)
buckets.delete(BUCKET, digest_moved_to)

# One byte of one digest changed.
changed = digests[-4]
body, metadata = buckets.get(BUCKET, changed)
text = gzip.decompress(body)
at = text.index(b'"digestStartTime":"') + len(b'"digestStartTime":"') + 3  # the year's last digit
text = text[:at] + (b"1" if text[at:at + 1] != b"1" else b"2") + text[at + 1:]
buckets.put(BUCKET, changed, gzip.compress(text), metadata)
all_report([f"{changed}\tINVALID: signature verification failed"], "one byte changed in a digest")
buckets.put(BUCKET, changed, body, metadata)

# One digest deleted.
gone = digests[1]
saved = buckets.get(BUCKET, gone)
buckets.delete(BUCKET, gone)
all_report([f"{gone}\tINVALID: not found"], "a digest deleted")
buckets.put(BUCKET, gone, *saved)

# Three consecutive digests deleted: the AWS CLI notices only the newest of them.
run = digests[2:5]
for key in run:
    buckets.delete(BUCKET, key)
code, out = cairn_validate()
for key in run:
    assert f"{key}\tINVALID: not found" in out, f"{key} not reported:\n{out}"
assert code != 0 and out.count("\tINVALID") == 3, out
ok(f"{TARGET}: three consecutive digests deleted: cairn validate-logs reports all three")
if TARGET == "s3":
    code, out = aws_validate()
    reported = [key for key in run if f"{key}\tINVALID: not found" in out]
    assert reported == [run[-1]], out
    ok("s3: the AWS CLI reports only the newest of the three")

# --- The bucket goes away: the error shows, and delivery catches up with no gap -------------

OUTAGE = "outage-bucket"
buckets.create(OUTAGE)
alice.create_trail(Name="outage", S3BucketName=OUTAGE)
alice.start_logging(Name="outage")
first = alice.describe_trails()["ResponseMetadata"]["RequestId"]
wait_for("the first delivery", lambda: first in {r["requestID"] for r in records_in(OUTAGE, "")})
buckets.remove(OUTAGE)
during = {alice.describe_trails()["ResponseMetadata"]["RequestId"] for _ in range(10)}
error = wait_for("LatestDeliveryError",
                 lambda: alice.get_trail_status(Name="outage").get("LatestDeliveryError"))
ok(f"{TARGET}: the bucket gone, GetTrailStatus shows LatestDeliveryError: {error[:80]}")
buckets.create(OUTAGE)
after = alice.describe_trails()["ResponseMetadata"]["RequestId"]
wanted = during | {after}
got = wait_for("the events made during the outage",
               lambda: (lambda ids: wanted <= set(ids) and ids)(
                   [r["requestID"] for r in records_in(OUTAGE, "")]))
assert len(got) == len(set(got)), "an event was delivered twice after the outage"
status = alice.get_trail_status(Name="outage")
assert "LatestDeliveryError" not in status, status
ok(f"{TARGET}: the bucket back, the {len(during)} events made meanwhile were delivered once, "
   "and the error cleared")
