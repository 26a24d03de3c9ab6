"""Exactly-once delivery across crashes, against the local target (a folder per bucket).

Run by crates/cairn/tests/it/delivery.rs: `python delivery_crash.py SCENARIO.json PHASE` with
PHASE `start` (create a logging trail), `load` (make calls; the server may die meanwhile) or
`check` (every stored event of the trail's account was delivered exactly once). The scenario
adds `bucket_dir`, the bucket's folder.
"""

import gzip
import json
import os
import sys
import time

import botocore.exceptions

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
PHASE = sys.argv[2]
alice = setup.client("alice")
BUCKET_DIR = setup.data["bucket_dir"]


def delivered():
    records = []
    for folder, _, files in os.walk(BUCKET_DIR):
        for name in files:
            if name.endswith(".json.gz"):
                with gzip.open(os.path.join(folder, name)) as f:
                    records += json.load(f)["Records"]
    return records


if PHASE == "start":
    alice.create_trail(Name="crashy", S3BucketName="crash-bucket")
    alice.start_logging(Name="crashy")
    ok("a logging trail to the local bucket")
elif PHASE == "load":
    made = 0
    try:
        for _ in range(200):
            alice.describe_trails()
            made += 1
            time.sleep(0.01)
    except botocore.exceptions.EndpointConnectionError:
        pass  # the server died, as this phase intends
    ok(f"{made} calls made")
elif PHASE == "check":
    checked_from = time.time()
    stored = set()
    for page in alice.get_paginator("lookup_events").paginate():
        for event in page["Events"]:
            if event["EventName"] != "CreateTrail" and event["EventTime"].timestamp() < checked_from - 1:
                stored.add(event["EventId"])
    deadline = time.time() + 30
    while True:
        ids = [r["eventID"] for r in delivered()]
        if stored <= set(ids) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert stored <= set(ids), f"{len(stored - set(ids))} stored events never delivered"
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events delivered twice"
    ok(f"{len(stored)} stored events delivered exactly once across the crashes ({len(ids)} in all)")
else:
    raise SystemExit(f"unknown phase {PHASE}")
