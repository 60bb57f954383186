#!/usr/bin/env bash
# Everything the tests need on a fresh machine of this kind (no registry; Debian packages):
# the local test images, the demo stack's images, a PostgreSQL cluster on port 54329,
# chromium for the HTML report test, and the services of the step families' tests (Compose,
# nginx, Redis, an S3 server: scripts/test-services.sh). Idempotent. `scripts/test-postgres.sh stop` stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-images.sh
scripts/test-services.sh
scripts/demo-images.sh
scripts/test-postgres.sh start
scripts/test-browser.sh
