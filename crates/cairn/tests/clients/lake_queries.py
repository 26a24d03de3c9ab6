"""CloudTrail Lake queries through boto3 and the aws CLI against a live `cairn serve`: an event
data store holds the calls made while it ingests, of its account only; StartQuery,
DescribeQuery, GetQueryResults (paged), ListQueries and CancelQuery with AWS's errors; results
saved to a bucket (DeliveryS3Uri) with a sign file checked as AWS's custom validation does;
results kept across a restart.

Run by crates/cairn/tests/it/lake.rs: `python lake_queries.py SCENARIO.json PHASE`, PHASE
`query` or `after-restart`. Each check prints one line; the first failure raises.
"""

import calendar
import csv
import gzip
import hashlib
import io
import json
import os
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
STATE = os.path.join(os.path.dirname(sys.argv[1]), "lake-state.json")
# The server delivers to its local target: a bucket is a folder of its data directory.
RESULTS_BUCKET = "lake-results"
BUCKETS = os.path.join(os.path.dirname(sys.argv[1]), "data", "buckets")
COUNTED = "('ListTrails', 'DescribeTrails', 'GetTrailStatus')"


def finished(client, query_id):
    deadline = time.time() + 20
    while True:
        described = client.describe_query(QueryId=query_id)
        if described["QueryStatus"] not in ("QUEUED", "RUNNING"):
            return described
        assert time.time() < deadline, described
        time.sleep(0.05)


def rows(client, query_id, **paging):
    out = client.get_query_results(QueryId=query_id, **paging)
    return [[list(column.items())[0] for column in row] for row in out["QueryResultRows"]], out


def counts(client, store_id):
    query_id = client.start_query(QueryStatement=(
        f"SELECT eventName, count(*) AS n FROM {store_id} WHERE eventName IN {COUNTED} "
        "GROUP BY eventName ORDER BY eventName"))["QueryId"]
    described = finished(client, query_id)
    assert described["QueryStatus"] == "FINISHED", described
    found, _ = rows(client, query_id)
    return query_id, [(name[1], int(n[1])) for name, n in found], found


if PHASE == "query":
    alice.list_trails()  # before the store: not in it
    store = alice.create_event_data_store(Name="investigations")
    store_id = store["EventDataStoreArn"].rsplit("/", 1)[1]
    for _ in range(3):
        alice.list_trails()
    alice.describe_trails()
    alice.describe_trails()
    expect_error("TrailNotFoundException", alice.get_trail_status, Name="nowhere")
    bob.list_trails()  # another account: not in it
    expected = [("DescribeTrails", 2), ("GetTrailStatus", 1), ("ListTrails", 3)]
    deadline = time.time() + 10
    while True:
        query_id, found, raw = counts(alice, store_id)
        if found == expected or time.time() > deadline:
            break
        time.sleep(0.2)
    assert found == expected, found
    assert [label for label, _ in raw[0]] == ["eventName", "n"], raw
    ok("an event data store holds its account's calls made while it ingests; "
       "StartQuery -> FINISHED -> GetQueryResults, labels as written")

    described = alice.describe_query(QueryId=query_id)
    stats = described["QueryStatistics"]
    assert described["QueryString"].startswith("SELECT eventName") and stats["EventsScanned"] > 0
    page, out = rows(alice, query_id, MaxQueryResults=2)
    assert len(page) == 2 and out["QueryStatistics"]["TotalResultsCount"] == 3, out
    rest, out2 = rows(alice, query_id, MaxQueryResults=2, NextToken=out["NextToken"])
    assert len(rest) == 1 and "NextToken" not in out2, out2
    listed = alice.list_queries(EventDataStore=store["EventDataStoreArn"])["Queries"]
    assert query_id in [q["QueryId"] for q in listed], listed
    expect_error("InactiveQueryException", alice.cancel_query, QueryId=query_id)
    ok("DescribeQuery statistics, GetQueryResults pages, ListQueries, a finished query "
       "cannot be cancelled")

    times = alice.start_query(QueryStatement=(
        f"SELECT eventTime, userIdentity.arn, element_at(requestParameters, 'name') AS asked "
        f"FROM {store_id} WHERE eventName = 'GetTrailStatus'"))["QueryId"]
    done = finished(alice, times)
    assert done["QueryStatus"] == "FINISHED", done
    (when, arn, asked), = rows(alice, times)[0]
    assert when[0] == "eventTime" and len(when[1]) == 23 and when[1][10] == " ", when
    assert arn == ("arn", f"arn:aws:iam::{setup.principals['alice']['account']}:user/alice"), arn
    assert asked == ("asked", "nowhere"), asked
    ok("timestamps as Lake renders them, nested fields labelled by their last part, "
       "Trino's element_at on requestParameters")

    expect_error("InvalidQueryStatementException", alice.start_query,
                 QueryStatement=f"DELETE FROM {store_id}")
    expect_error("InvalidQueryStatementException", alice.start_query,
                 QueryStatement=f"SELECT * FROM {store_id}; SELECT 1")
    expect_error("InvalidQueryStatementException", alice.start_query,
                 QueryStatement="SELECT 1")
    expect_error("EventDataStoreNotFoundException", alice.start_query,
                 QueryStatement="SELECT * FROM 00000000-0000-4000-8000-000000000000")
    expect_error("EventDataStoreNotFoundException", bob.start_query,
                 QueryStatement=f"SELECT * FROM {store_id}")
    expect_error("QueryIdNotFoundException", alice.get_query_results,
                 QueryId="00000000-0000-4000-8000-000000000000")
    expect_error("QueryIdNotFoundException", bob.describe_query, QueryId=query_id)
    ok("mutating, multi-statement and storeless SQL refused; other accounts see neither the "
       "store nor its queries")

    mine = auditor.start_query(QueryStatement=f"SELECT count(*) FROM {store_id}")["QueryId"]
    assert finished(auditor, mine)["QueryStatus"] == "FINISHED"
    ok("a read-only principal may run queries")

    keys = setup.principals["alice"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=keys["access_key_id"],
               AWS_SECRET_ACCESS_KEY=keys["secret_access_key"], AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    cli = [sys.executable, "-m", "awscli", "cloudtrail", "--endpoint-url", setup.endpoint,
           "--output", "json"]
    started = subprocess.run(cli + ["start-query", "--query-statement",
                                    f"SELECT eventName FROM {store_id} LIMIT 1"],
                             env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    cli_query = json.loads(started.stdout)["QueryId"]
    finished(alice, cli_query)
    got = subprocess.run(cli + ["get-query-results", "--query-id", cli_query],
                         env=env, capture_output=True, text=True)
    assert got.returncode == 0 and json.loads(got.stdout)["QueryStatus"] == "FINISHED", got
    ok("the aws CLI starts a query and reads its results")

    statement = (f"SELECT eventName, count(*) AS n, 'a,\"quoted\" value' AS odd "
                 f"FROM {store_id} WHERE eventName IN {COUNTED} GROUP BY eventName "
                 "ORDER BY eventName")
    saved = alice.start_query(QueryStatement=statement,
                              DeliveryS3Uri=f"s3://{RESULTS_BUCKET}/investigations/")["QueryId"]
    deadline = time.time() + 20
    while True:
        described = alice.describe_query(QueryId=saved)
        if described.get("DeliveryStatus") != "PENDING":
            break
        assert time.time() < deadline, described
        time.sleep(0.05)
    assert described["QueryStatus"] == "FINISHED", described
    assert described["DeliveryStatus"] == "SUCCESS", described
    account = setup.principals["alice"]["account"]
    folder_uri = described["DeliveryS3Uri"]
    day = time.strftime("%Y/%m/%d", time.gmtime())
    assert folder_uri == (f"s3://{RESULTS_BUCKET}/investigations/AWSLogs/{account}/"
                          f"CloudTrail-Lake/Query/{day}/{saved}"), folder_uri
    folder = os.path.join(BUCKETS, RESULTS_BUCKET, folder_uri.split("/", 3)[3])
    compressed = open(os.path.join(folder, "result_1.csv.gz"), "rb").read()
    lines = list(csv.reader(io.StringIO(gzip.decompress(compressed).decode())))
    shown, _ = rows(alice, saved)
    assert lines[0] == ["eventName", "n", "odd"], lines
    assert lines[1:] == [[value for _, value in row] for row in shown], (lines, shown)
    assert lines[1][2] == 'a,"quoted" value', lines
    sign = json.load(open(os.path.join(folder, "result_sign.json")))
    assert sign["files"] == [{"fileHashValue": hashlib.sha256(compressed).hexdigest(),
                              "fileName": "result_1.csv.gz"}], sign
    assert (sign["version"], sign["region"], sign["hashAlgorithm"],
            sign["signatureAlgorithm"]) == ("1.0", REGION, "SHA-256", "SHA256withRSA"), sign
    # AWS's custom validation: the public key whose fingerprint the sign file names, valid
    # when the query completed, verifies the hashes joined by spaces.
    import rsa  # the aws CLI's own dependency, which its validate-logs uses
    completed = calendar.timegm(time.strptime(sign["queryCompleteTime"], "%Y-%m-%dT%H:%M:%SZ"))
    keys = alice.list_public_keys(StartTime=completed - 3600,
                                  EndTime=completed + 3600)["PublicKeyList"]
    key = [k for k in keys if k["Fingerprint"] == sign["publicKeyFingerprint"]]
    assert len(key) == 1, (keys, sign)
    public = rsa.PublicKey.load_pkcs1(key[0]["Value"], format="DER")
    signed = " ".join(f["fileHashValue"] for f in sign["files"]).encode()
    assert rsa.verify(signed, bytes.fromhex(sign["hashSignature"]), public) == "SHA-256"
    tampered = compressed[:-1] + bytes([compressed[-1] ^ 1])
    assert hashlib.sha256(tampered).hexdigest() != sign["files"][0]["fileHashValue"]
    expect_error("InvalidS3BucketNameException", alice.start_query, QueryStatement=statement,
                 DeliveryS3Uri="s3://Not_A_Bucket/x")
    expect_error("S3BucketDoesNotExistException", alice.start_query, QueryStatement=statement,
                 DeliveryS3Uri="s3://no-such-results-bucket")
    ok("DeliveryS3Uri: the results as gzipped CSV in AWS's folder, a sign file whose signature "
       "the listed public key verifies; bad and missing buckets refused")

    json.dump({"store": store["EventDataStoreArn"], "query": query_id,
               "rows": [list(map(list, row)) for row in raw]}, open(STATE, "w"))
else:
    state = json.load(open(STATE))
    found, _ = rows(alice, state["query"])
    assert [list(map(list, row)) for row in found] == state["rows"], found
    listed = alice.list_queries(EventDataStore=state["store"])["Queries"]
    assert state["query"] in [q["QueryId"] for q in listed], listed
    ok("after a restart: the query and its results are still there")
print("all checks passed")
