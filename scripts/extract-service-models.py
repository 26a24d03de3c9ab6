#!/usr/bin/env python3
"""Writes the compact service models the capture proxy decodes calls with.

    .venv/bin/python scripts/extract-service-models.py ec2 ssm cloudwatch ...

For each botocore service name it reads botocore's public API model (`service-2.json`, from the
botocore installed in the project's `.venv` by scripts/setup-python.sh) and writes
`crates/cairn-capture/models/<signing name>.json`: the protocol, the event source, and every
operation with its HTTP binding and the shapes its input and output reach, keeping only what
decoding needs. Adding a service: run this with its botocore name, add the written file to
`MODELS` in `crates/cairn-capture/src/model.rs`, and write a test of one of its calls.
"""

import gzip
import json
import os
import sys

import botocore

DATA = os.path.join(os.path.dirname(botocore.__file__), "data")
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "cairn-capture", "models")
# The members of a shape and of a member reference that decoding uses.
SHAPE_KEYS = ("type", "members", "member", "key", "value", "flattened", "locationName", "required",
              "timestampFormat", "payload", "sensitive")
MEMBER_KEYS = ("shape", "location", "locationName", "queryName", "flattened", "jsonvalue")


def load(service):
    folder = os.path.join(DATA, service)
    version = sorted(os.listdir(folder))[-1]
    for name in ("service-2.json.gz", "service-2.json"):
        path = os.path.join(folder, version, name)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return json.load(f)
    raise SystemExit(f"no service-2.json for {service} in {folder}/{version}")


def compact(model):
    shapes = model["shapes"]
    kept = {}

    def reach(name):
        if name in kept:
            return
        shape = shapes[name]
        out = {k: shape[k] for k in SHAPE_KEYS if k in shape}
        kept[name] = out
        if "members" in shape:
            out["members"] = {m: {k: ref[k] for k in MEMBER_KEYS if k in ref}
                              for m, ref in shape["members"].items()}
            for ref in shape["members"].values():
                reach(ref["shape"])
        for part in ("member", "key", "value"):
            if part in shape:
                out[part] = {k: shape[part][k] for k in MEMBER_KEYS if k in shape[part]}
                reach(shape[part]["shape"])

    operations = {}
    for name, op in sorted(model["operations"].items()):
        entry = {"method": op["http"]["method"], "uri": op["http"]["requestUri"]}
        for side in ("input", "output"):
            if side in op:
                entry[side] = op[side]["shape"]
                reach(op[side]["shape"])
        operations[name] = entry
    meta = model["metadata"]
    return {
        "service": meta.get("signingName", meta["endpointPrefix"]),
        # Every protocol cairn reads that the service speaks, the preferred first.
        "protocols": [p for p in meta.get("protocols", [meta["protocol"]])
                      if p in ("json", "query", "ec2", "rest-json", "rest-xml")],
        "eventSource": meta["endpointPrefix"] + ".amazonaws.com",
        "apiVersion": meta["apiVersion"],
        "targetPrefix": meta.get("targetPrefix"),
        "operations": operations,
        "shapes": dict(sorted(kept.items())),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for service in sys.argv[1:]:
        model = compact(load(service))
        path = os.path.join(OUT, model["service"] + ".json")
        with open(path, "w") as f:
            json.dump(model, f, separators=(",", ":"), sort_keys=False)
            f.write("\n")
        print(f"{service}: {len(model['operations'])} operations, {len(model['shapes'])} shapes "
              f"-> {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
