"""What every client test script shares: the scenario the Rust test wrote, boto3 clients of its
principals, and the way checks report.

    scenario = Scenario(path)   # {"endpoint", "region", "principals": {name: {...}}, ...}
    alice = scenario.client("alice")
"""

import json

import boto3
import botocore.exceptions
from botocore.config import Config


class Scenario:
    def __init__(self, path):
        self.data = json.load(open(path))
        self.endpoint = self.data["endpoint"]
        self.region = self.data["region"]
        # name -> {access_key_id, secret_access_key, account}
        self.principals = self.data["principals"]

    def client(self, name, region=None, secret=None, key=None):
        """A CloudTrail client signing as principal `name` (or with another key or secret)."""
        p = self.principals[name]
        return boto3.client(
            "cloudtrail",
            endpoint_url=self.endpoint,
            region_name=region or self.region,
            aws_access_key_id=key or p["access_key_id"],
            aws_secret_access_key=secret or p["secret_access_key"],
            # One attempt: an error must reach the test as the server sent it.
            config=Config(retries={"total_max_attempts": 1}),
        )


def ok(message):
    print("ok:", message, flush=True)


def expect_error(code, call, **kwargs):
    """Calls `call` and requires AWS error `code` with HTTP 400; returns the error message."""
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        return e.response["Error"]["Message"]
    raise AssertionError(f"expected {code}, but the call succeeded")
