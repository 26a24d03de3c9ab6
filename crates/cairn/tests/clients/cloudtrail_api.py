"""Real AWS clients (boto3 and the aws CLI, from PyPI) against a live `cairn serve`.

Run by crates/cairn/tests/it/api.rs, which imports the repository's testdata/datasets, computes the expected
event ids with cairn's own lookup, starts the server and passes everything in a JSON file:

    python cloudtrail_api.py SCENARIO.json

Each check prints one line; the first failure raises and exits non-zero.
"""

import datetime
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from scenario import Scenario, expect_error, ok

setup = Scenario(sys.argv[1])
scenario = setup.data
ENDPOINT = setup.endpoint
REGION = setup.region
PRINCIPALS = setup.principals
TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
client = setup.client


def lookup_params(query):
    params = {}
    if "attribute" in query:
        key, value = query["attribute"]
        params["LookupAttributes"] = [{"AttributeKey": key, "AttributeValue": value}]
    for name in ("StartTime", "EndTime"):
        if name in query:
            params[name] = datetime.datetime.fromtimestamp(query[name], datetime.timezone.utc)
    return params


def sign(key, secret, region, body, target, when, service="cloudtrail"):
    """SigV4 by hand, as AWS documents it, for requests boto3 would not send."""
    host = ENDPOINT.split("//", 1)[1]
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": target,
    }
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        ["POST", "/", ""]
        + [f"{k}:{headers[k]}" for k in sorted(headers)]
        + ["", signed, hashlib.sha256(body).hexdigest()]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return headers


def raw_call(headers, body):
    request = urllib.request.Request(ENDPOINT + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


alice = client("alice")  # admin, account A
auditor = client("auditor")  # read-only assumed role, account A
bob = client("bob")  # admin Root, account B

# 1. The boto3 paginator returns exactly cairn's own lookup, page by page, newest first.
for case in scenario["expectations"]:
    paginator = alice.get_paginator("lookup_events")
    events = []
    pages = 0
    for page in paginator.paginate(**lookup_params(case["query"]), PaginationConfig={"PageSize": 50}):
        assert len(page["Events"]) <= 50
        events.extend(page["Events"])
        pages += 1
    ids = [e["EventId"] for e in events]
    assert ids == case["event_ids"], f"{case['query']}: {len(ids)} ids, expected {len(case['event_ids'])}"
    for e in events[:50]:
        assert isinstance(e["EventTime"], datetime.datetime)
        # AWS leaves ReadOnly out when the record has no readOnly (one TrailDiscover record).
        assert e.get("ReadOnly", "absent") in ("true", "false", "absent")
        record = json.loads(e["CloudTrailEvent"])
        # A record without an eventID (a few edited fixtures) gets one cairn derives.
        assert record.get("eventID", e["EventId"]) == e["EventId"]
    ok(f"boto3 paginator {case['query']}: {len(ids)} events in {pages} pages")

# EventCategory=insight returns the Insights events alone; without it, none of them.
insights = scenario["insights"]
carol = client("carol", region=insights["region"])  # read-only, the Insights events' account
paginator = carol.get_paginator("lookup_events")
events = [e for page in paginator.paginate(EventCategory="insight") for e in page["Events"]]
ids = [e["EventId"] for e in events]
assert ids == insights["event_ids"], f"insight: {ids}, expected {insights['event_ids']}"
assert all(json.loads(e["CloudTrailEvent"])["eventType"] == "AwsCloudTrailInsight" for e in events)
management = [e["EventId"] for page in paginator.paginate() for e in page["Events"]]
assert management and not set(management) & set(ids), "Insights events in management history"
ok(f"EventCategory=insight: the {len(ids)} Insights events, and only there")

# 2. The aws CLI, with --max-items and --starting-token, prints the same events.
cli_case = scenario["expectations"][scenario["cli_case"]]
env = dict(
    os.environ,
    AWS_ACCESS_KEY_ID=PRINCIPALS["alice"]["access_key_id"],
    AWS_SECRET_ACCESS_KEY=PRINCIPALS["alice"]["secret_access_key"],
    AWS_DEFAULT_REGION=REGION,
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
)
key, value = cli_case["query"]["attribute"]
base = [
    sys.executable, "-m", "awscli", "cloudtrail", "lookup-events",
    "--endpoint-url", ENDPOINT,
    "--lookup-attributes", f"AttributeKey={key},AttributeValue={value}",
    "--end-time", str(cli_case["query"]["EndTime"]),
    "--max-items", "40", "--output", "json",
]
ids, token, runs = [], None, 0
while True:
    args = base + (["--starting-token", token] if token else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    ids.extend(e["EventId"] for e in printed["Events"])
    runs += 1
    token = printed.get("NextToken")
    if not token:
        break
assert ids == cli_case["event_ids"], f"aws CLI printed {len(ids)} events, expected {len(cli_case['event_ids'])}"
ok(f"aws cloudtrail lookup-events --max-items 40 --starting-token: {len(ids)} events in {runs} runs")

# 3. Every error path, with AWS's error codes.
expect_error("UnrecognizedClientException", client("alice", key="AKIAUNKNOWNKEY000001").lookup_events)
expect_error("InvalidSignatureException", client("alice", secret="not-the-secret").lookup_events)
now = datetime.datetime.now(datetime.timezone.utc)
p = PRINCIPALS["alice"]
status, body = raw_call(
    sign(p["access_key_id"], p["secret_access_key"], REGION, b"{}", TARGET + "LookupEvents",
         now - datetime.timedelta(minutes=20)),
    b"{}",
)
assert status == 400 and body["__type"] == "InvalidSignatureException", body
assert body["message"].startswith("Signature expired"), body
headers = sign(p["access_key_id"], p["secret_access_key"], REGION, b"{}", TARGET + "LookupEvents", now)
status, body = raw_call(headers, b'{"MaxResults": 1}')
assert status == 400 and body["__type"] == "InvalidSignatureException", ("payload not checked", body)
headers = sign(p["access_key_id"], p["secret_access_key"], REGION, b"{}", TARGET + "DropAllEvents", now)
status, body = raw_call(headers, b"{}")
assert status == 400 and body["__type"] == "UnknownOperationException", body
ok("unknown key, bad signature, 20 minutes of clock skew, tampered payload, unknown operation")

expect_error("InvalidMaxResultsException", alice.lookup_events, MaxResults=51)
# botocore refuses MaxResults=0 itself: send it signed by hand.
zero = b'{"MaxResults": 0}'
status, body = raw_call(
    sign(p["access_key_id"], p["secret_access_key"], REGION, zero, TARGET + "LookupEvents", now), zero)
assert status == 400 and body["__type"] == "InvalidMaxResultsException", body
expect_error(
    "InvalidTimeRangeException", alice.lookup_events,
    StartTime=datetime.datetime(2024, 1, 2), EndTime=datetime.datetime(2024, 1, 1),
)
expect_error(
    "InvalidLookupAttributesException", alice.lookup_events,
    LookupAttributes=[{"AttributeKey": "eventName", "AttributeValue": "X"}],
)
expect_error("InvalidNextTokenException", alice.lookup_events, NextToken="not-a-token")
expect_error("InvalidEventCategoryException", alice.lookup_events, EventCategory="data")
message = expect_error(
    "AccessDeniedException", auditor.create_trail, Name="audit-trail", S3BucketName="bucket"
)
assert "assumed-role/Auditor/auditor-session" in message and "cloudtrail:CreateTrail" in message, message
ok("MaxResults out of range, reversed time range, bad attribute key, bad token and category, denied write")

# 4. A read-only principal may look up; the two accounts never see each other's events.
assert auditor.lookup_events(MaxResults=5)["Events"], "the read-only principal sees events"
account_a, account_b = PRINCIPALS["alice"]["account"], PRINCIPALS["bob"]["account"]
bob.lookup_events(MaxResults=1)  # account B's first call: its only event is that call's audit event
deadline = time.time() + 10
while True:
    seen_by_b = [json.loads(e["CloudTrailEvent"])
                 for page in bob.get_paginator("lookup_events").paginate() for e in page["Events"]]
    if seen_by_b or time.time() > deadline:
        break
    time.sleep(0.05)
assert seen_by_b, "account B sees its own (audit) events"
assert all(r["recipientAccountId"] == account_b for r in seen_by_b), "account B saw another account's event"
seen_by_a = [
    json.loads(e["CloudTrailEvent"])
    for page in alice.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "cloudtrail.amazonaws.com"}])
    for e in page["Events"]
]
assert seen_by_a and all(r["recipientAccountId"] == account_a for r in seen_by_a), "account A saw B's events"
ok(f"account B sees {len(seen_by_b)} events, all its own; account A's cloudtrail events are all A's")

# 5. cairn recorded every call above, failed and denied ones included.
def recorded(c, name, predicate):
    deadline = time.time() + 10
    while True:
        for page in c.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]):
            for e in page["Events"]:
                r = json.loads(e["CloudTrailEvent"])
                if predicate(r):
                    return e, r
        assert time.time() < deadline, f"no recorded {name} event matched"
        time.sleep(0.1)

e, r = recorded(alice, "CreateTrail", lambda r: r.get("errorCode") == "AccessDeniedException")
assert r["eventSource"] == "cloudtrail.amazonaws.com" and r["readOnly"] is False, r
assert r["userIdentity"]["type"] == "AssumedRole", r
assert r["userIdentity"]["arn"] == f"arn:aws:sts::{account_a}:assumed-role/Auditor/auditor-session", r
assert r["requestParameters"] == {"name": "audit-trail", "s3BucketName": "bucket"}, r
assert r["responseElements"] is None and r["sourceIPAddress"] == "127.0.0.1", r
assert "Boto3" in r["userAgent"] and r["awsRegion"] == REGION and r["requestID"], r
assert e["Username"] == "auditor-session", e
e, r = recorded(alice, "LookupEvents", lambda r: r.get("errorCode") == "InvalidMaxResultsException"
                and r["requestParameters"] == {"maxResults": 51})
assert r["requestParameters"] == {"maxResults": 51} and r["readOnly"] is True, r
assert r["userIdentity"]["userName"] == "alice" and r["userIdentity"]["type"] == "IAMUser", r
recorded(alice, "LookupEvents", lambda r: r.get("errorCode") == "InvalidSignatureException"
         and r["userIdentity"].get("accessKeyId") == PRINCIPALS["alice"]["access_key_id"])
recorded(alice, "LookupEvents", lambda r: r.get("errorCode") is None and r.get("requestParameters")
         and r["requestParameters"].get("lookupAttributes"))
e, r = recorded(bob, "LookupEvents", lambda r: r.get("errorCode") is None)
assert r["userIdentity"] == {
    "type": "Root", "principalId": account_b, "arn": f"arn:aws:iam::{account_b}:root",
    "accountId": account_b, "accessKeyId": PRINCIPALS["bob"]["access_key_id"]}, r
ok("denied, failed and successful calls are recorded with identity, source, agent and parameters")
print("all checks passed")
