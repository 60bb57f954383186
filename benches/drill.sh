#!/usr/bin/env bash
# The DR drill's service recovery chain (GoodGo runbook section 9, step 4) on the demo stack,
# as the seed writes it and as dr-drill.yml runs it:
#   seed:     docker restart postgres; sleep 10; pgbouncer + redis; sleep 10; api + web;
#             sleep 15; then the health checks (curl). Its fixed waits are its RTO floor.
#   runbook:  `runbook run playbooks/dr-drill.yml`, each tier gated on health instead of
#             sleeps; its RTO is the one the run measures (report.json), from the start of
#             `restart-postgres` to the end of `health-web`.
# RUNS (default 5) of each; prints every figure and the medians. Not a test: figures vary
# with the machine. Needs the demo stack up (scripts/demo-drill.sh, or playbooks/demo/up.yml)
# and a build (cargo build --release, else the debug binary).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
project=goodgo-demo
export DB_PASSWORD=${DB_PASSWORD:-demo-db-password} REDIS_PASSWORD=${REDIS_PASSWORD:-demo-redis-password}
runbook=target/release/runbook
[ -x "$runbook" ] || runbook=target/debug/runbook
[ -x "$runbook" ] || { echo "build first: cargo build --release" >&2; exit 2; }
docker inspect "$project-postgres-1" >/dev/null 2>&1 ||
    { echo "the demo stack is not up: scripts/demo-drill.sh" >&2; exit 2; }
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

seed_chain() {
    docker restart "$project-postgres-1" >/dev/null
    sleep 10
    docker restart "$project-pgbouncer-1" "$project-redis-1" >/dev/null
    sleep 10
    docker restart "$project-api-1" "$project-web-1" >/dev/null
    sleep 15
    curl -sf http://127.0.0.1:13001/health/ready >/dev/null && curl -sf http://127.0.0.1:13000/health >/dev/null
}

echo "== the seed's chain (restart + sleep), $runs runs"
seed=()
for _ in $(seq "$runs"); do
    start=$(now)
    if seed_chain; then verdict=healthy; else verdict="NOT healthy at the end"; fi
    took=$(echo "$(now) - $start" | bc)
    seed+=("$took")
    printf '   %.1fs (%s)\n' "$took" "$verdict"
done

echo "== dr-drill.yml (gated on health), $runs runs; RTO as measured by the run"
rto=()
for _ in $(seq "$runs"); do
    RUNBOOK_STATE_DIR=$state "$runbook" run playbooks/dr-drill.yml --env environments/demo.yml \
        >/dev/null 2>&1 || { echo "the drill failed: see $state" >&2; trap - EXIT; exit 1; }
    report=$(ls -d "$state"/runs/*/ | tail -1)report.json
    measured=$(jq -r '.objectives.rto.measured' "$report")
    whole=$(jq -r '.duration' "$report")
    rto+=("$measured")
    printf '   RTO %.1fs (whole drill %.1fs, backup verification included)\n' "$measured" "$whole"
done

seed_median=$(printf '%s\n' "${seed[@]}" | median)
rto_median=$(printf '%s\n' "${rto[@]}" | median)
printf '== medians: seed chain %.1fs, dr-drill RTO %.1fs (%.1fx)\n' \
    "$seed_median" "$rto_median" "$(echo "$seed_median / $rto_median" | bc -l)"
