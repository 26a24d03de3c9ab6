"""boto3 signing with the short test keys of moto and LocalStack users' scripts
(`FOOBARKEY`/`FOOBARSECRET`, `test`/`test`) against a live `cairn serve`.

Run by crates/cairn/tests/it/api.rs: python short_keys.py SCENARIO.json
"""

import sys

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
for name, principal in setup.principals.items():
    client = setup.client(name)
    key = principal["access_key_id"]
    events = client.lookup_events(MaxResults=5)["Events"]
    assert isinstance(events, list), events
    trail = f"trail-{key.lower()}"
    made = client.create_trail(Name=trail, S3BucketName="audit-bucket")
    assert made["Name"] == trail, made
    names = [t["Name"] for t in client.describe_trails()["trailList"]]
    assert trail in names, names
    client.delete_trail(Name=trail)
    ok(f"access key {key}: LookupEvents, CreateTrail, DescribeTrails, DeleteTrail")
print("all checks passed")
