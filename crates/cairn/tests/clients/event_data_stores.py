"""CloudTrail Lake's event data store operations through boto3 (from PyPI) against a live
`cairn serve`: every operation, AWS's defaults, statuses and errors, tags, and the catalog
surviving a restart.

Run by crates/cairn/tests/it/lake.rs: `python event_data_stores.py SCENARIO.json PHASE`, PHASE
`manage` or `after-restart`. Each check prints one line; the first failure raises.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import time

from scenario import Scenario, expect_error, ok

setup = Scenario(sys.argv[1])
PHASE = sys.argv[2]
REGION = setup.region
alice = setup.client("alice")
auditor = setup.client("auditor")
bob = setup.client("bob")
account = setup.principals["alice"]["account"]
ARN = re.compile(rf"^arn:aws:cloudtrail:{REGION}:{account}:eventdatastore/"
                 r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEFAULT_SELECTORS = [{"Name": "Default management events",
                      "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]


def aws_cli(*args):
    """The aws CLI (from PyPI) as alice: (exit status, stdout, stderr)."""
    keys = setup.principals["alice"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=keys["access_key_id"],
               AWS_SECRET_ACCESS_KEY=keys["secret_access_key"], AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run([sys.executable, "-m", "awscli", "cloudtrail", *args, "--endpoint-url",
                          setup.endpoint, "--output", "json"], env=env, capture_output=True,
                         text=True)
    return out.returncode, out.stdout, out.stderr


def named(name):
    for store in alice.list_event_data_stores()["EventDataStores"]:
        if store["Name"] == name:
            return store["EventDataStoreArn"]
    raise AssertionError(f"no store named {name}")


if PHASE == "manage":
    made = alice.create_event_data_store(Name="investigations",
                                         TagsList=[{"Key": "team", "Value": "security"}])
    arn = made["EventDataStoreArn"]
    assert ARN.match(arn), arn
    assert made["Status"] == "CREATED", made
    assert made["RetentionPeriod"] == 366 and made["BillingMode"] == "EXTENDABLE_RETENTION_PRICING"
    assert made["TerminationProtectionEnabled"] is True and made["MultiRegionEnabled"] is True
    assert made["OrganizationEnabled"] is False, made
    assert made["AdvancedEventSelectors"] == DEFAULT_SELECTORS, made
    assert made["TagsList"] == [{"Key": "team", "Value": "security"}], made
    assert isinstance(made["CreatedTimestamp"], datetime.datetime)
    assert "KmsKeyId" not in made, made
    ok("CreateEventDataStore: AWS's defaults (366 days, extendable, protected, multi-region, "
       "management events), CREATED")

    store_id = arn.rsplit("/", 1)[1]
    for reference in (arn, store_id):
        got = alice.get_event_data_store(EventDataStore=reference)
        assert got["EventDataStoreArn"] == arn and got["Status"] == "ENABLED", got
        assert got["FederationStatus"] == "DISABLED", got
    got = auditor.get_event_data_store(EventDataStore=store_id)
    assert got["Name"] == "investigations", got
    ok("GetEventDataStore by ARN or by ID: ENABLED; a read-only principal may read it")

    expect_error("EventDataStoreAlreadyExistsException", alice.create_event_data_store,
                 Name="investigations")
    expect_error("InvalidParameterException", alice.create_event_data_store, Name="bad name")
    expect_error("InvalidParameterException", alice.create_event_data_store, Name="fixed",
                 BillingMode="FIXED_RETENTION_PRICING", RetentionPeriod=3000)
    expect_error("InvalidParameterException", alice.create_event_data_store, Name="keyed",
                 KmsKeyId="alias/lake")
    expect_error("InvalidParameterException", alice.create_event_data_store, Name="org",
                 OrganizationEnabled=True)
    expect_error("InvalidEventSelectorsException", alice.create_event_data_store, Name="odd",
                 AdvancedEventSelectors=[{"FieldSelectors": [
                     {"Field": "eventCategory", "Equals": ["Gossip"]}]}])
    expect_error("InvalidEventSelectorsException", alice.create_event_data_store, Name="many",
                 AdvancedEventSelectors=DEFAULT_SELECTORS * 6)
    expect_error("AccessDeniedException", auditor.create_event_data_store, Name="audits")
    ok("CreateEventDataStore refuses a taken name, bad names and retention, KMS keys, "
       "organization stores, bad selectors, read-only principals")

    # Lake's selectors take fields trails do not: eventName for management events.
    writes = alice.create_event_data_store(
        Name="console-writes", StartIngestion=False, TerminationProtectionEnabled=False,
        BillingMode="FIXED_RETENTION_PRICING", MultiRegionEnabled=False,
        AdvancedEventSelectors=[{"Name": "writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["false"]},
            {"Field": "eventName", "NotStartsWith": ["Describe"]}]}])
    assert writes["RetentionPeriod"] == 2557 and writes["MultiRegionEnabled"] is False, writes
    writes_arn = writes["EventDataStoreArn"]
    assert alice.get_event_data_store(EventDataStore=writes_arn)["Status"] == "STOPPED_INGESTION"
    expect_error("InvalidEventDataStoreStatusException", alice.stop_event_data_store_ingestion,
                 EventDataStore=writes_arn)
    alice.start_event_data_store_ingestion(EventDataStore=writes_arn)
    assert alice.get_event_data_store(EventDataStore=writes_arn)["Status"] == "ENABLED"
    expect_error("InvalidEventDataStoreStatusException", alice.start_event_data_store_ingestion,
                 EventDataStore=writes_arn)
    alice.stop_event_data_store_ingestion(EventDataStore=writes_arn)
    assert alice.get_event_data_store(EventDataStore=writes_arn)["Status"] == "STOPPED_INGESTION"
    insights = alice.create_event_data_store(Name="insights", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}])
    expect_error("InvalidEventDataStoreCategoryException", alice.stop_event_data_store_ingestion,
                 EventDataStore=insights["EventDataStoreArn"])
    ok("Start/StopEventDataStoreIngestion: STOPPED_INGESTION <-> ENABLED, wrong status and "
       "category refused")

    expect_error("InvalidParameterException", alice.update_event_data_store, EventDataStore=arn)
    renamed = alice.update_event_data_store(EventDataStore=arn, Name="investigations-2024",
                                            RetentionPeriod=90)
    assert renamed["Name"] == "investigations-2024" and renamed["RetentionPeriod"] == 90, renamed
    assert renamed["UpdatedTimestamp"] >= renamed["CreatedTimestamp"], renamed
    expect_error("EventDataStoreAlreadyExistsException", alice.update_event_data_store,
                 EventDataStore=arn, Name="console-writes")
    expect_error("InvalidParameterException", alice.update_event_data_store, EventDataStore=arn,
                 BillingMode="FIXED_RETENTION_PRICING")
    upgraded = alice.update_event_data_store(EventDataStore=writes_arn,
                                             BillingMode="EXTENDABLE_RETENTION_PRICING")
    assert upgraded["BillingMode"] == "EXTENDABLE_RETENTION_PRICING", upgraded
    ok("UpdateEventDataStore: renames, retention, billing mode only towards extendable")

    expect_error("EventDataStoreTerminationProtectedException", alice.delete_event_data_store,
                 EventDataStore=arn)
    alice.delete_event_data_store(EventDataStore=writes_arn)
    assert alice.get_event_data_store(EventDataStore=writes_arn)["Status"] == "PENDING_DELETION"
    expect_error("InactiveEventDataStoreException", alice.update_event_data_store,
                 EventDataStore=writes_arn, RetentionPeriod=30)
    expect_error("InactiveEventDataStoreException", alice.delete_event_data_store,
                 EventDataStore=writes_arn)
    restored = alice.restore_event_data_store(EventDataStore=writes_arn)
    assert restored["Status"] == "STOPPED_INGESTION", restored
    expect_error("InvalidEventDataStoreStatusException", alice.restore_event_data_store,
                 EventDataStore=writes_arn)
    alice.delete_event_data_store(EventDataStore=writes_arn)
    ok("Delete: refused while protected; PENDING_DELETION, inactive, restorable once")

    expect_error("EventDataStoreNotFoundException", alice.get_event_data_store,
                 EventDataStore="00000000-0000-4000-8000-000000000000")
    expect_error("EventDataStoreARNInvalidException", alice.get_event_data_store,
                 EventDataStore=f"arn:aws:cloudtrail:{REGION}:{account}:trail/main")
    expect_error("EventDataStoreNotFoundException", bob.get_event_data_store, EventDataStore=arn)
    assert bob.list_event_data_stores()["EventDataStores"] == [], "account B sees A's stores"
    expect_error("EventDataStoreNotFoundException",
                 setup.client("alice", region="eu-west-1").get_event_data_store,
                 EventDataStore=arn)
    ok("unknown IDs, trail ARNs, other accounts and other regions do not find a store")

    alice.add_tags(ResourceId=arn, TagsList=[{"Key": "case", "Value": "IR-42"},
                                             {"Key": "team", "Value": "dfir"}])
    alice.remove_tags(ResourceId=arn, TagsList=[{"Key": "case"}])
    listed = alice.list_tags(ResourceIdList=[arn])["ResourceTagList"]
    assert listed == [{"ResourceId": arn, "TagsList": [{"Key": "team", "Value": "dfir"}]}], listed
    expect_error("InactiveEventDataStoreException", alice.add_tags, ResourceId=writes_arn,
                 TagsList=[{"Key": "k", "Value": "v"}])
    ok("AddTags, RemoveTags and ListTags on an event data store's ARN")

    # Ten stores an account and region, those pending deletion included.
    count = len(alice.list_event_data_stores()["EventDataStores"])
    for i in range(count, 10):
        alice.create_event_data_store(Name=f"filler-{i}")
    expect_error("EventDataStoreMaxLimitExceededException", alice.create_event_data_store,
                 Name="one-too-many")
    pages, token = [], None
    while True:
        page = alice.list_event_data_stores(MaxResults=3, **({"NextToken": token} if token else {}))
        pages.append(page["EventDataStores"])
        token = page.get("NextToken")
        if not token:
            break
    names = [s["Name"] for page in pages for s in page]
    assert len(names) == 10 and len(set(names)) == 10 and len(pages) == 4, pages
    assert all(set(s) == {"EventDataStoreArn", "Name"} for page in pages for s in page), pages
    expect_error("InvalidNextTokenException", alice.list_event_data_stores, NextToken="nonsense")
    ok("ten stores a region at most; ListEventDataStores pages with MaxResults and NextToken")

    # Every call was audited; the store's calls name it as a resource.
    deadline = time.time() + 10
    while True:
        events = alice.lookup_events(LookupAttributes=[
            {"AttributeKey": "ResourceType", "AttributeValue": "AWS::CloudTrail::EventDataStore"}])
        found = {e["EventName"] for e in events["Events"]}
        if {"GetEventDataStore", "UpdateEventDataStore"} <= found or time.time() > deadline:
            break
        time.sleep(0.1)
    assert {"GetEventDataStore", "UpdateEventDataStore", "DeleteEventDataStore"} <= found, found
    ok("event data store calls are audited and found by ResourceType")

    status, printed, _ = aws_cli("list-event-data-stores")
    assert status == 0 and len(json.loads(printed)["EventDataStores"]) == 10, printed
    status, printed, _ = aws_cli("get-event-data-store", "--event-data-store", arn)
    assert status == 0 and json.loads(printed)["Name"] == "investigations-2024", printed
    status, printed, _ = aws_cli("update-event-data-store", "--event-data-store", arn,
                                 "--no-termination-protection-enabled")
    assert status == 0 and json.loads(printed)["TerminationProtectionEnabled"] is False, printed
    status, _, err = aws_cli("create-event-data-store", "--name", "investigations-2024")
    # 255: the aws CLI v1's exit status for an error the service answered.
    assert status == 255 and "(EventDataStoreAlreadyExistsException)" in err, (status, err)
    alice.update_event_data_store(EventDataStore=arn, TerminationProtectionEnabled=True)
    ok("the aws CLI lists, gets and updates stores, and prints AWS's errors")
else:
    arn = named("investigations-2024")
    got = alice.get_event_data_store(EventDataStore=arn)
    assert got["Status"] == "ENABLED" and got["RetentionPeriod"] == 90, got
    assert alice.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"] == [
        {"Key": "team", "Value": "dfir"}]
    writes = alice.get_event_data_store(EventDataStore=named("console-writes"))
    assert writes["Status"] == "PENDING_DELETION", writes
    assert writes["AdvancedEventSelectors"][0]["Name"] == "writes", writes
    ok("after a restart: the stores, their settings, statuses and tags are still there")
print("all checks passed")
