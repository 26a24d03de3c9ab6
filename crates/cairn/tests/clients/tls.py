"""cairn over HTTPS (`cairn serve --tls-cert --tls-key`), checked with the unmodified aws CLI
and boto3 against a CA the test makes: both verify cairn's certificate with the CA bundle and call
the API; without the CA the handshake is refused, and plain HTTP gets no answer; the console
answers over HTTPS too.

Run by crates/cairn/tests/it/tls.rs as `python tls.py SCENARIO.json` (the scenario adds `ca`
and `aws`), with certificates from scripts/make_certs.py.
"""

import http.client
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
CA = setup.data["ca"]
alice = setup.principals["alice"]
assert setup.endpoint.startswith("https://"), setup.endpoint


def cloudtrail(verify):
    return boto3.client("cloudtrail", endpoint_url=setup.endpoint, region_name=setup.region,
                        aws_access_key_id=alice["access_key_id"],
                        aws_secret_access_key=alice["secret_access_key"], verify=verify,
                        config=Config(retries={"total_max_attempts": 1}))


client = cloudtrail(CA)
client.lookup_events(MaxResults=5)
# The first call's own event is in event history once the audit writer has stored it.
for _ in range(50):
    names = [e["EventName"] for e in client.lookup_events()["Events"]]
    if "LookupEvents" in names:
        break
    time.sleep(0.1)
assert "LookupEvents" in names, names
ok("boto3 verifies cairn's certificate with the CA bundle and calls the API over HTTPS")

env = dict(os.environ, AWS_ACCESS_KEY_ID=alice["access_key_id"],
           AWS_SECRET_ACCESS_KEY=alice["secret_access_key"], AWS_DEFAULT_REGION=setup.region)
env.pop("AWS_PROFILE", None)
done = subprocess.run([setup.data["aws"], "cloudtrail", "describe-trails", "--endpoint-url",
                       setup.endpoint, "--ca-bundle", CA, "--output", "json"],
                      env=env, capture_output=True, text=True)
assert done.returncode == 0, done.stderr
assert json.loads(done.stdout) == {"trailList": []}, done.stdout
refused = subprocess.run([setup.data["aws"], "cloudtrail", "describe-trails",
                          "--endpoint-url", setup.endpoint, "--output", "json"],
                         env=env, capture_output=True, text=True)
assert refused.returncode != 0 and "SSL" in refused.stderr, refused.stderr
ok("the aws CLI calls cairn with --ca-bundle, and refuses it without")

try:
    cloudtrail(True).lookup_events(MaxResults=1)
    raise AssertionError("a certificate of an unknown CA was accepted")
except botocore.exceptions.SSLError:
    pass
plain = setup.endpoint.replace("https://", "http://")
try:
    urllib.request.urlopen(plain + "/health", timeout=5)
    raise AssertionError("plain HTTP was answered on the HTTPS port")
except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
    assert "timed out" not in str(e), e
ok("without the CA the handshake fails, and plain HTTP gets no answer")

context = ssl.create_default_context(cafile=CA)
page = urllib.request.urlopen(setup.endpoint + "/console/signin", context=context).read()
assert b"Sign in" in page or b"sign in" in page.lower(), page[:200]
health = urllib.request.urlopen(setup.endpoint + "/health", context=context).read()
ok("the console and /health answer over HTTPS")
