#!/usr/bin/env bash
# Debian's chromium, for the test that renders HTML reports headless and checks the screenshot.
set -euo pipefail
if ! command -v chromium >/dev/null; then
    echo "== installing chromium (Debian) for the HTML report test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null || {
        apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
    }
fi
echo "== $(chromium --version)"
