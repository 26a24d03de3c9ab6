"""EventBridge-style rules through the unmodified aws CLI and boto3: a rule on EC2 Instance
Connect's SendSSHPublicKey, captured through cairn's proxy (moto_server upstream), reaches a
webhook (an API destination with an API key) as EventBridge presents CloudTrail events;
TestEventPattern agrees with EventBridge's documented examples; bad patterns, names and
targets get EventBridge's errors; a webhook that is down gets everything afterwards, also
across a kill -9 of cairn.

Run by crates/cairn/tests/it/rules.rs in phases: `python rules.py SCENARIO.json PHASE`:
- `setup`: the connection, destination, rule and targets, the checks of errors and
  TestEventPattern, then two SSH keys pushed and received;
- `push`: three more SSH keys pushed (the receiver is down; cairn is killed after);
- `check`: (cairn restarted, the receiver back) every pushed key's event arrives.
The scenario adds `receiver_port`, `received` (the receiver's file) and `aws` (the CLI).
"""

import json
import subprocess
import sys
import time

import boto3
from botocore.config import Config

from scenario import Scenario, expect_error, ok

setup = Scenario(sys.argv[1])
PHASE = sys.argv[2]
HOME = setup.region
alice_keys = setup.principals["alice"]
account = alice_keys["account"]
RECEIVED = setup.data["received"]
PUSHED = setup.data["pushed"]  # the event ids of the pushed keys, kept between phases
HOOK = f"http://127.0.0.1:{setup.data['receiver_port']}/hook"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEkeyEXAMPLEkeyEXAMPLEkeyEXAMPLEkey cairn"


def client(service, name="alice"):
    p = setup.principals[name]
    return boto3.client(service, endpoint_url=setup.endpoint, region_name=HOME,
                        aws_access_key_id=p["access_key_id"],
                        aws_secret_access_key=p["secret_access_key"],
                        config=Config(retries={"total_max_attempts": 1}))


events, connect = client("events"), client("ec2-instance-connect")
cloudtrail = client("cloudtrail")


def aws(*args):
    """The aws CLI against cairn, as alice; its JSON output."""
    env = {"AWS_ACCESS_KEY_ID": alice_keys["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": alice_keys["secret_access_key"],
           "AWS_DEFAULT_REGION": HOME, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([setup.data["aws"], *args, "--endpoint-url", setup.endpoint,
                          "--output", "json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def received():
    try:
        return [json.loads(line) for line in open(RECEIVED)]
    except FileNotFoundError:
        return []


def received_ids():
    return [json.loads(r["body"])["detail"]["eventID"] for r in received()]


def wait_for(condition, what, seconds=60):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def push_key(instance):
    """Pushes an SSH key through cairn's proxy; the event's ID, from event history."""
    sent = connect.send_ssh_public_key(InstanceId=instance, InstanceOSUser="ec2-user",
                                       SSHPublicKey=KEY)
    request_id = sent["ResponseMetadata"]["RequestId"]
    for _ in range(50):
        found = cloudtrail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "SendSSHPublicKey"}])["Events"]
        for event in found:
            record = json.loads(event["CloudTrailEvent"])
            if record.get("requestID") == request_id:
                return record["eventID"]
        time.sleep(0.1)
    raise AssertionError(f"the SendSSHPublicKey event of {request_id} was not stored")


def remember(ids):
    pushed = json.load(open(PUSHED)) if PHASE != "setup" else []
    json.dump(pushed + ids, open(PUSHED, "w"))


PATTERN = {"source": ["aws.ec2-instance-connect"],
           "detail-type": ["AWS API Call via CloudTrail"],
           "detail": {"eventName": ["SendSSHPublicKey"],
                      "requestParameters": {"instanceOSUser": [{"anything-but": "root"}]}}}

if PHASE == "setup":
    # Errors first: nothing is kept of them.
    message = expect_error("InvalidEventPatternException", events.put_rule, Name="bad",
                           EventPattern=json.dumps({"source": "aws.ec2"}))
    assert message == ('Event pattern is not valid. Reason: "source" must be an object or an '
                       'array'), message
    expect_error("ValidationException", events.put_rule, Name="no spaces",
                 EventPattern=json.dumps(PATTERN))
    expect_error("ValidationException", events.put_rule, Name="no-pattern")
    expect_error("ResourceNotFoundException", events.describe_rule, Name="nothing")
    expect_error("ResourceNotFoundException", events.put_rule, Name="x",
                 EventPattern=json.dumps(PATTERN), EventBusName="other-bus")
    assert events.list_rules()["Rules"] == []
    ok("bad patterns, names and buses get EventBridge's errors")

    # TestEventPattern, with EventBridge's documented examples, through the aws CLI.
    sample = {"id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance "
              "State-change Notification", "source": "aws.ec2", "account": "123456789012",
              "time": "2015-11-11T21:29:54Z", "region": "us-east-1",
              "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
              "detail": {"instance-id": "i-abcd1111", "state": "pending", "c-count": 5,
                         "source-ip": "10.0.0.7"}}
    cases = [
        ({"source": ["aws.ec2"], "detail": {"state": ["pending"]}}, True),
        ({"detail": {"state": [{"anything-but": "pending"}]}}, False),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
        ({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
        ({"time": [{"prefix": "2015-11-11"}]}, True),
        ({"detail": {"instance-id": [{"suffix": "2222"}]}}, False),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"source": ["aws.ec2"], "$or": [{"detail": {"state": ["stopped"]}},
                                         {"detail": {"c-count": [5]}}]}, True),
        ({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
         True),
        ({"detail": {"instance-id": [{"wildcard": "i-*1111"}]}}, True),
    ]
    for pattern, expected in cases:
        got = aws("events", "test-event-pattern", "--event-pattern", json.dumps(pattern),
                  "--event", json.dumps(sample))
        assert got["Result"] is expected, (pattern, got)
    expect_error("InvalidEventPatternException", events.test_event_pattern,
                 EventPattern='{"detail": {"n": [{"numeric": [">", "x"]}]}}',
                 Event=json.dumps(sample))
    ok(f"TestEventPattern agrees with EventBridge's examples ({len(cases)} patterns)")

    made = events.create_connection(Name="hook-key", AuthorizationType="API_KEY",
                                    AuthParameters={"ApiKeyAuthParameters": {
                                        "ApiKeyName": "x-api-key",
                                        "ApiKeyValue": "s3cr3t"}})
    assert made["ConnectionState"] == "AUTHORIZED", made
    described = events.describe_connection(Name="hook-key")
    assert described["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key"}}
    destination = events.create_api_destination(
        Name="hook", ConnectionArn=made["ConnectionArn"], InvocationEndpoint=HOOK,
        HttpMethod="POST", InvocationRateLimitPerSecond=300)
    assert destination["ApiDestinationArn"].startswith(
        f"arn:aws:events:{HOME}:{account}:api-destination/hook/"), destination
    rule = aws("events", "put-rule", "--name", "ssh-keys", "--event-pattern",
               json.dumps(PATTERN), "--description", "Someone pushed an SSH key")
    assert rule["RuleArn"] == f"arn:aws:events:{HOME}:{account}:rule/ssh-keys", rule
    failed = events.put_targets(Rule="ssh-keys", Targets=[
        {"Id": "webhook", "Arn": destination["ApiDestinationArn"],
         "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 3600}},
        {"Id": "lambda", "Arn": f"arn:aws:lambda:{HOME}:{account}:function:f"}])
    assert failed["FailedEntryCount"] == 1, failed
    assert failed["FailedEntries"][0]["TargetId"] == "lambda", failed
    targets = events.list_targets_by_rule(Rule="ssh-keys")["Targets"]
    assert [t["Id"] for t in targets] == ["webhook"], targets
    described = events.describe_rule(Name="ssh-keys")
    assert described["State"] == "ENABLED" and json.loads(described["EventPattern"]) == PATTERN
    expect_error("ValidationException", events.delete_rule, Name="ssh-keys")
    ok("an API destination with an API key is the target of a rule on SendSSHPublicKey")

    ids = [push_key("i-0123456789abcdef0"), push_key("i-0123456789abcdef1")]
    remember(ids)
    wait_for(lambda: set(ids) <= set(received_ids()), "the webhook to get both keys")
    first = received()[0]
    assert first["headers"]["x-api-key"] == "s3cr3t", first["headers"]
    assert first["path"] == "/hook", first
    body = json.loads(first["body"])
    assert body["source"] == "aws.ec2-instance-connect", body
    assert body["detail-type"] == "AWS API Call via CloudTrail", body
    assert body["account"] == account and body["region"] == HOME, body
    assert body["detail"]["eventName"] == "SendSSHPublicKey", body
    assert body["detail"]["requestParameters"]["instanceOSUser"] == "ec2-user", body
    ok("the webhook got each pushed key as EventBridge presents CloudTrail events")

elif PHASE == "push":
    ids = [push_key(f"i-0123456789abcdef{i}") for i in (2, 3, 4)]
    remember(ids)
    ok("three more keys pushed while the webhook is down")

elif PHASE == "check":
    pushed = json.load(open(PUSHED))
    wait_for(lambda: set(pushed) <= set(received_ids()), "every pushed key at the webhook", 90)
    assert all(r["headers"]["x-api-key"] == "s3cr3t" for r in received())
    ok(f"after the webhook was down and cairn was killed, all {len(pushed)} keys arrived "
       f"({len(received())} deliveries)")
