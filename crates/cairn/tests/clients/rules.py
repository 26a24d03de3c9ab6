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
The scenario adds `receiver_port`, `received` (the receiver's file), `pushed`, `moto` and
`aws` (the CLI).
"""

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

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


def received_ids(path="/hook"):
    return [json.loads(r["body"])["detail"]["eventID"] for r in received() if r["path"] == path]


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
    """Adds pushed keys' event IDs to the list the later phases check."""
    try:
        pushed = json.load(open(PUSHED))
    except FileNotFoundError:
        pushed = []
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
    # Two more destinations: OAuth client credentials (the receiver's /token), and one that
    # refuses for good, whose events go to a dead-letter queue (moto's SQS).
    oauth = events.create_connection(
        Name="hook-oauth", AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters={"OAuthParameters": {
            "ClientParameters": {"ClientID": "cairn", "ClientSecret": "oauth-secret"},
            "AuthorizationEndpoint": HOOK.replace("/hook", "/token"), "HttpMethod": "POST"}})
    oauth_destination = events.create_api_destination(
        Name="hook-oauth", ConnectionArn=oauth["ConnectionArn"],
        InvocationEndpoint=HOOK.replace("/hook", "/oauth"), HttpMethod="POST")
    # The refusing one's connection adds a secret query parameter: never shown in an error.
    secret_query = events.create_connection(
        Name="hook-secret-query", AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key",
                                                 "ApiKeyValue": "s3cr3t"},
                        "InvocationHttpParameters": {"QueryStringParameters": [
                            {"Key": "token", "Value": "query-s3cr3t", "IsValueSecret": True}]}})
    rejecting = events.create_api_destination(
        Name="rejecting", ConnectionArn=secret_query["ConnectionArn"],
        InvocationEndpoint=HOOK.replace("/hook", "/reject"), HttpMethod="POST")
    sqs = boto3.client("sqs", endpoint_url=setup.data["moto"], region_name=HOME,
                       aws_access_key_id="moto", aws_secret_access_key="moto")
    dlq_url = sqs.create_queue(QueueName="rule-dead-letters")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    failed = events.put_targets(Rule="ssh-keys", Targets=[
        {"Id": "webhook", "Arn": destination["ApiDestinationArn"],
         "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 3600}},
        {"Id": "oauth", "Arn": oauth_destination["ApiDestinationArn"],
         "InputTransformer": {
             "InputPathsMap": {"instance": "$.detail.requestParameters.instanceId",
                               "who": "$.detail.userIdentity.arn",
                               "id": "$.detail.eventID"},
             "InputTemplate": '{"detail": {"eventID": "<id>"}, '
                              '"text": "<who> pushed an SSH key to <instance>"}'}},
        {"Id": "rejecting", "Arn": rejecting["ApiDestinationArn"],
         "DeadLetterConfig": {"Arn": dlq_arn}},
        {"Id": "lambda", "Arn": f"arn:aws:lambda:{HOME}:{account}:function:f"}])
    assert failed["FailedEntryCount"] == 1, failed
    assert failed["FailedEntries"][0]["TargetId"] == "lambda", failed
    targets = events.list_targets_by_rule(Rule="ssh-keys")["Targets"]
    assert [t["Id"] for t in targets] == ["webhook", "oauth", "rejecting"], targets
    described = events.describe_rule(Name="ssh-keys")
    assert described["State"] == "ENABLED" and json.loads(described["EventPattern"]) == PATTERN
    expect_error("ValidationException", events.delete_rule, Name="ssh-keys")
    ok("an API destination with an API key is the target of a rule on SendSSHPublicKey")

    ids = [push_key("i-0123456789abcdef0"), push_key("i-0123456789abcdef1")]
    remember(ids)
    wait_for(lambda: set(ids) <= set(received_ids()), "the webhook to get both keys")
    first = [r for r in received() if r["path"] == "/hook"][0]
    assert first["headers"]["x-api-key"] == "s3cr3t", first["headers"]
    assert first["path"] == "/hook", first
    body = json.loads(first["body"])
    assert body["source"] == "aws.ec2-instance-connect", body
    assert body["detail-type"] == "AWS API Call via CloudTrail", body
    assert body["account"] == account and body["region"] == HOME, body
    assert body["detail"]["eventName"] == "SendSSHPublicKey", body
    assert body["detail"]["requestParameters"]["instanceOSUser"] == "ec2-user", body
    ok("the webhook got each pushed key as EventBridge presents CloudTrail events")

    wait_for(lambda: set(ids) <= set(received_ids("/oauth")), "the OAuth destination")
    token_calls = [r for r in received() if r["path"] == "/token"]
    assert token_calls and token_calls[0]["headers"]["authorization"].startswith("Basic "), \
        token_calls
    assert "grant_type=client_credentials" in token_calls[0]["body"], token_calls[0]
    oauth_calls = [r for r in received() if r["path"] == "/oauth"]
    assert all(r["headers"]["authorization"] == "Bearer token-123" for r in oauth_calls)
    text = json.loads(oauth_calls[0]["body"])["text"]
    assert text == (f"arn:aws:iam::{account}:user/alice pushed an SSH key to "
                    "i-0123456789abcdef0"), text
    ok("an OAuth destination gets a bearer token and the input transformer's text")

    letters = []
    def dead_letters():
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"], WaitTimeSeconds=1)
        letters.extend(got.get("Messages", []))
        return len(letters) >= 2
    wait_for(dead_letters, "the refused events in the dead-letter queue")
    assert {json.loads(m["Body"])["detail"]["eventID"] for m in letters} == set(ids), letters
    attributes = letters[0]["MessageAttributes"]
    assert attributes["RULE_ARN"]["StringValue"] == rule["RuleArn"], attributes
    assert "HTTP 400" in attributes["ERROR_MESSAGE"]["StringValue"], attributes
    assert "query-s3cr3t" not in attributes["ERROR_MESSAGE"]["StringValue"], attributes
    assert any(r["query"].get("token") == ["query-s3cr3t"] for r in received()
               if r["path"] == "/reject"), "the secret query parameter was not sent"
    ok("events a destination refuses (HTTP 400) go to the target's dead-letter queue")
    # The refusing target goes before the webhook is down: its dead letters are done.
    events.remove_targets(Rule="ssh-keys", Ids=["rejecting"])

    # An event bus target: moto's default bus, whose own rule puts what it gets in a queue.
    moto_events = boto3.client("events", endpoint_url=setup.data["moto"], region_name=HOME,
                               aws_access_key_id="moto", aws_secret_access_key="moto")
    bus_queue = sqs.create_queue(QueueName="from-bus")["QueueUrl"]
    bus_queue_arn = sqs.get_queue_attributes(QueueUrl=bus_queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    moto_events.put_rule(Name="all-ssh", EventPattern=json.dumps(
        {"source": ["aws.ec2-instance-connect"]}))
    moto_events.put_targets(Rule="all-ssh", Targets=[{"Id": "q", "Arn": bus_queue_arn}])
    bus_arn = moto_events.describe_event_bus()["Arn"]
    events.put_targets(Rule="ssh-keys", Targets=[{"Id": "bus", "Arn": bus_arn}])
    forwarded_id = push_key("i-0123456789abcdef9")
    remember([forwarded_id])
    forwarded = []
    def from_bus():
        got = sqs.receive_message(QueueUrl=bus_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        forwarded.extend(json.loads(m["Body"]) for m in got.get("Messages", []))
        return any(f["detail"]["eventID"] == forwarded_id for f in forwarded)
    wait_for(from_bus, "the event forwarded to the upstream bus")
    event = [f for f in forwarded if f["detail"]["eventID"] == forwarded_id][0]
    assert event["source"] == "aws.ec2-instance-connect", event
    assert event["detail-type"] == "AWS API Call via CloudTrail", event
    events.remove_targets(Rule="ssh-keys", Ids=["bus"])
    ok("an event bus target forwards the event with PutEvents to the upstream's bus")

    # Connections and destinations are listed, changed and deleted as EventBridge's are.
    names = [c["Name"] for c in events.list_connections()["Connections"]]
    assert names == ["hook-key", "hook-oauth", "hook-secret-query"], names
    assert {d["Name"] for d in events.list_api_destinations()["ApiDestinations"]} == {
        "hook", "hook-oauth", "rejecting"}
    events.update_api_destination(Name="rejecting", InvocationRateLimitPerSecond=5)
    assert events.describe_api_destination(Name="rejecting")[
        "InvocationRateLimitPerSecond"] == 5
    events.update_connection(Name="hook-oauth", AuthParameters={"OAuthParameters": {
        "ClientParameters": {"ClientID": "cairn", "ClientSecret": "oauth-secret"}}})
    assert events.describe_connection(Name="hook-oauth")["AuthParameters"]["OAuthParameters"][
        "AuthorizationEndpoint"] == HOOK.replace("/hook", "/token")
    events.delete_api_destination(Name="rejecting")
    expect_error("ResourceNotFoundException", events.describe_api_destination, Name="rejecting")
    expect_error("ResourceAlreadyExistsException", events.create_connection, Name="hook-key",
                 AuthorizationType="API_KEY", AuthParameters={"ApiKeyAuthParameters": {
                     "ApiKeyName": "k", "ApiKeyValue": "v"}})
    ok("connections and API destinations are listed, updated and deleted")

    # Their credentials never reach event history.
    def recorded(name):
        found = cloudtrail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        return [e["CloudTrailEvent"] for e in found]
    wait_for(lambda: len(recorded("CreateConnection")) >= 2, "the CreateConnection events")
    for text in recorded("CreateConnection") + recorded("UpdateConnection"):
        assert "s3cr3t" not in text and "oauth-secret" not in text, text
        assert "HIDDEN_DUE_TO_SECURITY_REASONS" in text, text
        assert json.loads(text)["eventSource"] == "events.amazonaws.com", text
    ok("connection credentials are hidden in the calls' CloudTrail events")

    # Bob, his account's root, makes a rule that alerts on root console sign-ins (basic
    # authorization, in the console's region).
    bob_keys = setup.principals["bob"]
    bob_region = "us-east-1"
    bob = boto3.client("events", endpoint_url=setup.endpoint, region_name=bob_region,
                       aws_access_key_id=bob_keys["access_key_id"],
                       aws_secret_access_key=bob_keys["secret_access_key"])
    basic = bob.create_connection(Name="alerts", AuthorizationType="BASIC", AuthParameters={
        "BasicAuthParameters": {"Username": "alerts", "Password": "pa55"}})
    alert = bob.create_api_destination(Name="alerts", ConnectionArn=basic["ConnectionArn"],
                                       InvocationEndpoint=HOOK.replace("/hook", "/root"),
                                       HttpMethod="POST")
    bob.put_rule(Name="root-sign-in", EventPattern=json.dumps({
        "detail-type": ["AWS Console Sign In via CloudTrail"],
        "detail": {"userIdentity": {"type": ["Root"]},
                   "responseElements": {"ConsoleLogin": ["Success"]}}}))
    bob.put_targets(Rule="root-sign-in", Targets=[{
        "Id": "alert", "Arn": alert["ApiDestinationArn"],
        "InputTransformer": {"InputPathsMap": {"ip": "$.detail.sourceIPAddress"},
                             "InputTemplate": '"root signed in from <ip>"'}}])
    assert events.list_rules()["Rules"][0]["Name"] == "ssh-keys"
    assert [r["Name"] for r in bob.list_rules()["Rules"]] == ["root-sign-in"]
    form = urllib.parse.urlencode({"access_key_id": bob_keys["access_key_id"],
                                   "secret_access_key": bob_keys["secret_access_key"]})
    host = setup.endpoint.removeprefix("http://")
    request = urllib.request.Request(f"{setup.endpoint}/console/signin", data=form.encode(),
                                     headers={"Origin": f"http://{host}"}, method="POST")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None
    try:
        urllib.request.build_opener(NoRedirect).open(request)
    except urllib.error.HTTPError as e:
        assert e.code in (302, 303), e
    wait_for(lambda: any(r["path"] == "/root" for r in received()), "the root sign-in alert")
    alert_call = [r for r in received() if r["path"] == "/root"][0]
    expected = "Basic " + base64.b64encode(b"alerts:pa55").decode()
    assert alert_call["headers"]["authorization"] == expected, alert_call["headers"]
    assert json.loads(alert_call["body"]) == "root signed in from 127.0.0.1", alert_call
    ok("a root console sign-in reaches a basic-auth destination as the template's text")

elif PHASE == "push":
    ids = [push_key(f"i-0123456789abcdef{i}") for i in (2, 3, 4)]
    remember(ids)
    ok("three more keys pushed while the webhook is down")

elif PHASE == "check":
    pushed = json.load(open(PUSHED))
    wait_for(lambda: set(pushed) <= set(received_ids()), "every pushed key at the webhook", 90)
    wait_for(lambda: set(pushed) <= set(received_ids("/oauth")), "every key at the OAuth one")
    assert all(r["headers"]["x-api-key"] == "s3cr3t" for r in received() if r["path"] == "/hook")
    ok(f"after the webhook was down and cairn was killed, all {len(pushed)} keys arrived "
       f"({len(received())} deliveries)")
