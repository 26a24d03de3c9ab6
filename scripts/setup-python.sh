#!/usr/bin/env bash
# Creates .venv with the Python packages cairn's benchmarks and client tests use (from PyPI):
# DuckDB, the aws CLI and boto3, and moto_server (the S3-compatible server of the delivery tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
