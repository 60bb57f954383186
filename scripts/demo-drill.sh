#!/usr/bin/env bash
# The README's first command: build runbook, bring up the demo stack on this machine (images
# from its Debian binaries, no registry), and run the quarterly DR drill against it end to end.
# The drill's report (RTO and RPO measured against the objectives) is printed at the end.
#   scripts/demo-drill.sh          then, to remove the stack:
#   target/debug/runbook run playbooks/demo/down.yml --env environments/demo.yml
set -euo pipefail
cd "$(dirname "$0")/.."

# Any values do: the demo stack is created with them.
export DB_PASSWORD="${DB_PASSWORD:-demo-db-password}"
export REDIS_PASSWORD="${REDIS_PASSWORD:-demo-redis-password}"

echo "== building runbook"
cargo build --locked -q
runbook=target/debug/runbook

echo "== the demo stack (playbooks/demo/up.yml)"
scripts/demo-images.sh
$runbook run playbooks/demo/up.yml --env environments/demo.yml

echo "== the DR drill (playbooks/dr-drill.yml)"
$runbook run playbooks/dr-drill.yml --env environments/demo.yml

echo "== its report"
cat "$(ls -d "${RUNBOOK_STATE_DIR:-.runbook}"/runs/*/ | tail -1)report.md"
