#!/usr/bin/env bash
# Benchmarks of the postgres family against the seeds' shell procedures, on the test cluster
# (scripts/test-postgres.sh start) and a release build (cargo build --release):
#   1. postgres.verify_backup on a generated database of about SIZE_MB (default 1024) vs the
#      shell procedure: createdb, pg_restore, count(*) per table on both sides, md5 queries
#      on the checksum tables, dropdb. Same dump, same server, same checks.
#   2. postgres.query round trip vs `psql -c`: N (default 200) queries each way.
# Prints wall-clock seconds and ratios. Not a test: figures vary with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${SIZE_MB:-1024}
queries=${QUERIES:-200}
port=${RUNBOOK_TEST_PG_PORT:-54329}
export PGPASSWORD=${RUNBOOK_TEST_PG_PASSWORD:-runbook-test-password}
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=runbook
runbook=$PWD/target/release/runbook
[ -x "$runbook" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
db=rb_bench
trap 'rm -rf "$work"; dropdb --if-exists --force "$db" 2>/dev/null || true' EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

echo "== generating $db (~${size_mb} MB)"
dropdb --if-exists --force "$db"
createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f tests/fixtures/postgres/goodgo.sql
# Scale the fixture: Payment carries the bulk (~220 bytes a row with its indexes).
payments=$(((size_mb - 40) * 1024 * 1024 / 220))
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
INSERT INTO "User" (email, name, role)
SELECT 'bulk' || i || '@example.com', 'Bulk ' || i, 'USER' FROM generate_series(1, 50000) i;
INSERT INTO "Listing" ("propertyId", price, status, meta)
SELECT 1 + i % 300, i, 'ACTIVE', jsonb_build_object('i', i) FROM generate_series(1, 200000) i;
INSERT INTO "Payment" ("userId", amount, status, "paidAt")
SELECT md5('user' || (1 + i % 200))::uuid, (i % 997) * 1.5, 'PAID',
       timestamptz '2026-01-01' + i * interval '1 second'
FROM generate_series(1, $payments) i;
VACUUM ANALYZE;
SQL
psql -X -At -d "$db" -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('$db'))"
pg_dump -Fc -Z6 -f "$work/backup.dump" "$db"
echo "dump: $(du -h "$work/backup.dump" | cut -f1)"

tables='User Property Listing Payment'
checksum_tables='User Listing'

cat > "$work/verify.yml" <<YML
version: 1
name: bench-verify
secrets:
  pg: { env: PGPASSWORD }
steps:
  - id: verify
    timeout: 2h
    postgres.verify_backup:
      url: "postgres://runbook@127.0.0.1:$port/$db"
      password: "{{ secrets.pg }}"
      file: "$work/backup.dump"
      tables: [User, Property, Listing, Payment]
      checksum_tables: [User, Listing]
      report: "$work/report.json"
YML

verify_runbook() {
    RUNBOOK_STATE_DIR=$work/state "$runbook" run "$work/verify.yml" 2>/dev/null
}

verify_shell() {
    local test_db=${db}_verify_shell
    createdb "$test_db"
    pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
        -d "$test_db" "$work/backup.dump"
    for t in $tables; do
        live=$(psql -X -At -d "$db" -c "SELECT count(*) FROM \"$t\"")
        restored=$(psql -X -At -d "$test_db" -c "SELECT count(*) FROM \"$t\"")
        [ "$live" = "$restored" ] || echo "row count differs: $t"
    done
    for t in $checksum_tables; do
        q="SELECT md5(string_agg(t::text, '' ORDER BY t::text)) FROM \"$t\" t"
        [ "$(psql -X -At -d "$db" -c "$q")" = "$(psql -X -At -d "$test_db" -c "$q")" ] ||
            echo "checksum differs: $t"
    done
    dropdb --force "$test_db"
}

# Interleaved, after a checkpoint each, so neither side inherits the other's dirty buffers or
# the generation's background writes.
rounds=${ROUNDS:-3}
echo "== verify_backup: $rounds rounds, runbook and the seeds' shell procedure interleaved"
for round in $(seq 1 "$rounds"); do
    for side in shell runbook; do
        psql -X -q -d "$db" -c CHECKPOINT
        start=$(now)
        "verify_$side"
        took=$(since "$start")
        echo "round $round $side: ${took}s"
        echo "$took" >> "$work/$side.times"
    done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
runbook_s=$(median "$work/runbook.times")
shell_s=$(median "$work/shell.times")
echo "verify_backup median: runbook ${runbook_s}s, shell ${shell_s}s ($(grep -o '"restoreDurationSeconds": [0-9.]*' "$work/report.json"))"
echo "verify_backup ratio runbook/shell: $(echo "scale=2; $runbook_s / $shell_s" | bc)"

echo "== $queries queries: postgres.query vs psql -c"
{
    printf 'version: 1\nname: bench-query\nsecrets:\n  pg: { env: PGPASSWORD }\nsteps:\n'
    for i in $(seq 1 "$queries"); do
        needs=""
        [ "$i" -gt 1 ] && needs="    needs: [q$((i - 1))]"
        printf '  - id: q%s\n%s\n    postgres.query: { url: "postgres://runbook@127.0.0.1:%s/%s", password: "{{ secrets.pg }}", sql: "SELECT count(*) AS n FROM \\"User\\"" }\n' \
            "$i" "$needs" "$port" "$db"
    done
} | sed '/^$/d' > "$work/queries.yml"
start=$(now)
RUNBOOK_STATE_DIR=$work/state "$runbook" run "$work/queries.yml" 2>/dev/null
runbook_q=$(since "$start")
start=$(now)
for _ in $(seq 1 "$queries"); do
    psql -X -At -d "$db" -c 'SELECT count(*) AS n FROM "User"' > /dev/null
done
psql_q=$(since "$start")
echo "runbook: ${runbook_q}s for $queries steps ($(echo "scale=2; $runbook_q * 1000 / $queries" | bc) ms each)"
echo "psql -c: ${psql_q}s for $queries runs ($(echo "scale=2; $psql_q * 1000 / $queries" | bc) ms each)"
echo "query ratio runbook/psql: $(echo "scale=2; $runbook_q / $psql_q" | bc)"
