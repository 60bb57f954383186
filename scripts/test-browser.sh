#!/usr/bin/env bash
# Debian's chromium, for the test that renders HTML reports headless and checks the screenshot.
set -euo pipefail
if ! command -v chromium >/dev/null; then
    echo "== installing chromium (Debian) for the HTML report test"
    "$(dirname "$0")/debian-install.sh" chromium
fi
echo "== $(chromium --version)"
