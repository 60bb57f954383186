#!/usr/bin/env bash
# Everything the tests need on a fresh machine of this kind (no registry; Debian packages):
# the local test images, the demo stack's images, a PostgreSQL cluster on port 54329, and
# chromium for the HTML report test. Idempotent. `scripts/test-postgres.sh stop` stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-images.sh
scripts/demo-images.sh
scripts/test-postgres.sh start
scripts/test-browser.sh
