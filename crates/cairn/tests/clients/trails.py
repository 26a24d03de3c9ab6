"""Trail operations through boto3 (from PyPI) against a live `cairn serve`.

Run by crates/cairn/tests/it/trails.rs: `python trails.py SCENARIO.json PHASE`, PHASE `manage`
(create, read, change and refuse trails) or `after-restart` (what `manage` left is still there).
Each check prints one line; the first failure raises and exits non-zero.
"""

import datetime
import json
import sys
import time

from scenario import Scenario, expect_error, ok

setup = Scenario(sys.argv[1])
PHASE = sys.argv[2]
HOME = setup.region
OTHER = "eu-west-1"
PRINCIPALS = setup.principals
client = setup.client

alice = client("alice")
alice_elsewhere = client("alice", OTHER)
auditor = client("auditor")
bob = client("bob")
account = PRINCIPALS["alice"]["account"]
main_arn = f"arn:aws:cloudtrail:{HOME}:{account}:trail/main"

if PHASE == "manage":
    created = alice.create_trail(
        Name="main", S3BucketName="audit-bucket", S3KeyPrefix="org",
        IsMultiRegionTrail=True, EnableLogFileValidation=True,
        TagsList=[{"Key": "team", "Value": "security"}])
    assert created["TrailARN"] == main_arn, created
    assert created["S3KeyPrefix"] == "org" and created["IsMultiRegionTrail"] is True, created
    assert created["LogFileValidationEnabled"] is True, created
    assert created["IncludeGlobalServiceEvents"] is True, created
    assert created["IsOrganizationTrail"] is False and "HomeRegion" not in created, created
    regional = alice.create_trail(Name="regional", S3BucketName="audit-bucket")
    assert regional["IsMultiRegionTrail"] is False and regional["LogFileValidationEnabled"] is False
    ok("CreateTrail answers with the trail's settings and ARN")

    expect_error("TrailAlreadyExistsException", alice.create_trail, Name="main", S3BucketName="b-1")
    expect_error("TrailAlreadyExistsException", alice_elsewhere.create_trail, Name="main",
                 S3BucketName="b-1")
    for bad in ("my--trail", "ab", "-trail", "10.0.0.1", "trail name"):
        expect_error("InvalidTrailNameException", alice.create_trail, Name=bad, S3BucketName="b-1")
    # AWS's messages, word for word: scripts match on them.
    message = expect_error("InvalidTrailNameException", alice.create_trail, Name="a",
                           S3BucketName="b-1")
    assert message == ("Trail name too short. Minimum allowed length: 3 characters. "
                       "Specified name length: 1 characters."), message
    message = expect_error("InvalidTrailNameException", alice.create_trail, Name="-trail",
                           S3BucketName="b-1")
    assert message == "Trail name must starts with a letter or number.", message
    message = expect_error("TrailNotFoundException", alice.get_trail, Name="no-such-trail")
    assert message == f"Unknown trail: no-such-trail for the user: {account}", message
    message = expect_error("TrailNotFoundException", alice.get_trail_status, Name="no-such-trail")
    assert message == (f"Unknown trail: arn:aws:cloudtrail:{HOME}:{account}:trail/no-such-trail "
                       f"for the user: {account}"), message
    expect_error("InvalidS3BucketNameException", alice.create_trail, Name="t-1",
                 S3BucketName="Bad_Bucket")
    expect_error("InvalidS3PrefixException", alice.create_trail, Name="t-1", S3BucketName="b-1",
                 S3KeyPrefix="p" * 201)
    # Members naming other services are checked as AWS checks them; this server has no
    # upstream services (see notifications.py for a trail that uses them).
    expect_error("InvalidKmsKeyIdException", alice.create_trail, Name="t-1", S3BucketName="b-1",
                 KmsKeyId="not a key")
    expect_error("InvalidSnsTopicNameException", alice.create_trail, Name="t-1",
                 S3BucketName="b-1", SnsTopicName="no spaces")
    message = expect_error("InsufficientSnsTopicPolicyException", alice.create_trail,
                           Name="t-1", S3BucketName="b-1", SnsTopicName="alerts")
    assert message.startswith("SNS Topic does not exist or the topic policy is incorrect!"), \
        message
    message = expect_error("InvalidCloudWatchLogsRoleArnException", alice.create_trail,
                           Name="t-1", S3BucketName="b-1",
                           CloudWatchLogsLogGroupArn=f"arn:aws:logs:{HOME}:{account}:"
                                                     "log-group:trail:*")
    assert message == "You must specify a role ARN as well as a log group.", message
    expect_error("OrganizationsNotInUseException", alice.create_trail, Name="t-1",
                 S3BucketName="b-1", IsOrganizationTrail=True)
    expect_error("AccessDeniedException", auditor.create_trail, Name="t-1", S3BucketName="b-1")
    ok("CreateTrail refuses taken and invalid names, buckets, prefixes, unsupported services")

    trail = alice.get_trail(Name="main")["Trail"]
    assert trail["HomeRegion"] == HOME and trail["TrailARN"] == main_arn, trail
    assert trail["HasCustomEventSelectors"] is False and trail["HasInsightSelectors"] is False
    assert alice.get_trail(Name=main_arn)["Trail"] == trail
    assert auditor.get_trail(Name="main")["Trail"] == trail
    assert alice_elsewhere.get_trail(Name="main")["Trail"] == trail
    expect_error("TrailNotFoundException", alice_elsewhere.get_trail, Name="regional")
    expect_error("TrailNotFoundException", bob.get_trail, Name="main")
    expect_error("CloudTrailARNInvalidException", alice.get_trail,
                 Name=f"arn:aws:cloudtrail:{HOME}:{account}:eventdatastore/x")
    ok("GetTrail by name or ARN; a multi-region trail is seen from every region, others not")

    names = lambda trails: sorted(t["Name"] for t in trails)
    assert names(alice.describe_trails()["trailList"]) == ["main", "regional"]
    assert names(alice_elsewhere.describe_trails()["trailList"]) == ["main"]
    assert alice_elsewhere.describe_trails(includeShadowTrails=False)["trailList"] == []
    assert names(alice.describe_trails(trailNameList=["regional", "missing"])["trailList"]) == ["regional"]
    listed = alice_elsewhere.list_trails()["Trails"]
    assert sorted((t["Name"], t["HomeRegion"]) for t in listed) == [("main", HOME), ("regional", HOME)]
    assert bob.list_trails()["Trails"] == [] and bob.describe_trails()["trailList"] == []
    ok("DescribeTrails with shadow trails and names; ListTrails over regions; accounts apart")

    expect_error("InvalidHomeRegionException", alice_elsewhere.start_logging, Name="main")
    expect_error("InvalidHomeRegionException", alice_elsewhere.delete_trail, Name=main_arn)
    status = alice.get_trail_status(Name="main")
    assert status["IsLogging"] is False and "StartLoggingTime" not in status, status
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    alice.start_logging(Name="main")
    status = alice_elsewhere.get_trail_status(Name="main")
    assert status["IsLogging"] is True and status["StartLoggingTime"] >= before, status
    alice.start_logging(Name="regional")
    alice.stop_logging(Name="regional")
    status = alice.get_trail_status(Name="regional")
    assert status["IsLogging"] is False and status["StopLoggingTime"] >= status["StartLoggingTime"]
    expect_error("AccessDeniedException", auditor.stop_logging, Name="main")
    ok("StartLogging/StopLogging from the home region only; GetTrailStatus shows them")

    message = expect_error("S3BucketDoesNotExistException", alice.create_trail, Name="t-1",
                           S3BucketName="no-such-bucket")
    assert message == "S3 bucket no-such-bucket does not exist!", message
    updated = alice.update_trail(Name="regional", S3KeyPrefix="r", EnableLogFileValidation=True)
    assert updated["S3KeyPrefix"] == "r" and updated["LogFileValidationEnabled"] is True, updated
    assert updated["S3BucketName"] == "audit-bucket", updated
    updated = alice.update_trail(Name="regional", S3KeyPrefix="")
    assert "S3KeyPrefix" not in updated and updated["LogFileValidationEnabled"] is True, updated
    expect_error("S3BucketDoesNotExistException", alice.update_trail, Name="regional",
                 S3BucketName="no-such-bucket")
    expect_error("InvalidHomeRegionException", alice_elsewhere.update_trail, Name="main",
                 S3KeyPrefix="x")
    expect_error("InvalidParameterCombinationException", alice.update_trail, Name="main",
                 IncludeGlobalServiceEvents=False)
    expect_error("TrailNotFoundException", alice.update_trail, Name="missing", S3KeyPrefix="x")
    ok("UpdateTrail changes what it is given, from the home region, with CreateTrail's rules")

    default = alice.get_event_selectors(TrailName="main")
    assert default["TrailARN"] == main_arn, default
    assert default["EventSelectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                          "DataResources": [], "ExcludeManagementEventSources": []}]
    advanced = [
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "puts", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "eventName", "Equals": ["PutObject", "DeleteObject"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::mybucket/prefix"]}]}]
    put = alice.put_event_selectors(TrailName="regional", AdvancedEventSelectors=advanced)
    assert put["AdvancedEventSelectors"] == advanced and "EventSelectors" not in put, put
    got = alice.get_event_selectors(TrailName=f"arn:aws:cloudtrail:{HOME}:{account}:trail/regional")
    assert got["AdvancedEventSelectors"] == advanced and "EventSelectors" not in got, got
    assert alice.get_trail(Name="regional")["Trail"]["HasCustomEventSelectors"] is True
    basic = [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
              "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::mybucket/"]}],
              "ExcludeManagementEventSources": ["kms.amazonaws.com"]}]
    alice.put_event_selectors(TrailName="regional", EventSelectors=basic)
    got = alice.get_event_selectors(TrailName="regional")
    assert got["EventSelectors"] == basic and "AdvancedEventSelectors" not in got, got
    assert alice_elsewhere.get_event_selectors(TrailName="main")["TrailARN"] == main_arn
    expect_error("InvalidEventSelectorsException", alice.put_event_selectors, TrailName="regional",
                 EventSelectors=basic, AdvancedEventSelectors=advanced)
    expect_error("InvalidEventSelectorsException", alice.put_event_selectors, TrailName="regional",
                 AdvancedEventSelectors=[{"FieldSelectors": [
                     {"Field": "eventCategory", "Equals": ["Management"]},
                     {"Field": "eventName", "Equals": ["RunInstances"]}]}])
    expect_error("InvalidEventSelectorsException", alice.put_event_selectors, TrailName="regional",
                 EventSelectors=[{"ReadWriteType": "All"}] * 6)
    expect_error("InvalidHomeRegionException", alice_elsewhere.put_event_selectors,
                 TrailName="main", EventSelectors=basic)
    assert alice.get_event_selectors(TrailName="regional")["EventSelectors"] == basic
    ok("PutEventSelectors/GetEventSelectors: basic or advanced, never both, with AWS's rules")

    alice.add_tags(ResourceId=main_arn, TagsList=[{"Key": "team", "Value": "audit"},
                                                  {"Key": "cost", "Value": "42"}])
    alice.remove_tags(ResourceId=main_arn, TagsList=[{"Key": "cost"}])
    listed = alice_elsewhere.list_tags(ResourceIdList=[main_arn])["ResourceTagList"]
    assert listed == [{"ResourceId": main_arn, "TagsList": [{"Key": "team", "Value": "audit"}]}], listed
    expect_error("TagsLimitExceededException", alice.add_tags, ResourceId=main_arn,
                 TagsList=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    expect_error("CloudTrailARNInvalidException", alice.add_tags, ResourceId="main",
                 TagsList=[{"Key": "a", "Value": "b"}])
    expect_error("InvalidHomeRegionException", alice_elsewhere.add_tags, ResourceId=main_arn,
                 TagsList=[{"Key": "a", "Value": "b"}])
    expect_error("TrailNotFoundException", bob.list_tags, ResourceIdList=[main_arn])
    ok("AddTags/RemoveTags/ListTags by ARN; 50 tags at most; changed from the home region")

    for i in range(3):
        alice.create_trail(Name=f"extra-{i}", S3BucketName="audit-bucket")
    expect_error("MaximumNumberOfTrailsExceededException", alice.create_trail, Name="extra-3",
                 S3BucketName="audit-bucket")
    alice.delete_trail(Name="extra-2")
    expect_error("TrailNotFoundException", alice.get_trail, Name="extra-2")
    ok("five trails a region; DeleteTrail frees a place")

    deadline = time.time() + 10
    while True:
        events = alice.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}])["Events"]
        records = [json.loads(e["CloudTrailEvent"]) for e in events]
        mine = [r for r in records if r.get("responseElements") and
                r["responseElements"].get("trailARN") == main_arn]
        if mine or time.time() > deadline:
            break
        time.sleep(0.1)
    assert mine, records
    r = mine[0]
    assert r["requestParameters"]["name"] == "main" and r["readOnly"] is False, r
    assert r["requestParameters"]["isMultiRegionTrail"] is True, r
    assert r["userIdentity"]["userName"] == "alice", r
    ok("trail operations are recorded with their parameters and response elements")

elif PHASE == "after-restart":
    assert sorted(t["Name"] for t in alice.describe_trails()["trailList"]) == [
        "extra-0", "extra-1", "main", "regional"]
    assert alice.get_trail_status(Name="main")["IsLogging"] is True
    assert alice.get_trail_status(Name="regional")["IsLogging"] is False
    assert alice.get_trail(Name="main")["Trail"]["LogFileValidationEnabled"] is True
    assert alice.get_event_selectors(TrailName="regional")["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    assert alice.list_tags(ResourceIdList=[main_arn])["ResourceTagList"][0]["TagsList"] == [
        {"Key": "team", "Value": "audit"}]
    ok("trails, their logging state, selectors and tags survive a restart")
else:
    raise SystemExit(f"unknown phase {PHASE}")
