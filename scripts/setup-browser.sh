#!/usr/bin/env bash
# Installs the browser the console's tests drive: Debian's chromium package, where it is
# missing (Playwright for Python, from scripts/requirements.txt, launches it; `playwright
# install` is never run: it downloads a browser from elsewhere).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: chromium is missing and this machine has no apt-get: install chromium (the console's tests drive it)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing chromium (Debian's package) for the console's browser tests"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
