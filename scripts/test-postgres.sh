#!/usr/bin/env bash
# A PostgreSQL server for runbook's postgres tests, from Debian's packages:
#   scripts/test-postgres.sh start   install if missing, create and start the cluster
#   scripts/test-postgres.sh stop    stop it
# The cluster is Debian's `<version>/runbook-test` on 127.0.0.1:54329, apart from any `main`
# cluster; the tests log in as `runbook` (superuser) with the password below over TCP, so
# password authentication is real. The tests read the same defaults
# (RUNBOOK_TEST_PG_PORT / RUNBOOK_TEST_PG_PASSWORD override both).
set -euo pipefail

port=${RUNBOOK_TEST_PG_PORT:-54329}
password=${RUNBOOK_TEST_PG_PASSWORD:-runbook-test-password}
cluster=runbook-test

newest_version() {
    ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1
}

install() {
    if ! command -v pg_createcluster >/dev/null || [ -z "$(newest_version)" ]; then
        echo "== installing PostgreSQL (Debian)"
        "$(dirname "$0")/debian-install.sh" postgresql postgresql-client
    fi
    local version
    version=$(newest_version)
    # PostGIS, as in the seeds, when Debian has it for this version.
    if [ ! -e "/usr/share/postgresql/$version/extension/postgis.control" ]; then
        echo "== installing PostGIS for PostgreSQL $version (Debian)"
        "$(dirname "$0")/debian-install.sh" "postgresql-$version-postgis-3" 2>/dev/null ||
            echo "   (no PostGIS package here; the fixture schema goes without it)"
    fi
}

start() {
    install
    local version
    version=$(newest_version)
    if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$version/$cluster"; then
        echo "== creating cluster $version/$cluster on port $port"
        pg_createcluster "$version" "$cluster" -p "$port" >/dev/null
    fi
    if ! pg_lsclusters -h | awk -v c="$cluster" '$2 == c {print $4}' | grep -qx online; then
        pg_ctlcluster "$version" "$cluster" start
    fi
    runuser -u postgres -- psql -X -q -p "$port" -v ON_ERROR_STOP=1 -v pw="$password" <<'SQL'
SELECT format('CREATE ROLE runbook LOGIN SUPERUSER PASSWORD %L', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'runbook') \gexec
SELECT format('ALTER ROLE runbook PASSWORD %L', :'pw') \gexec
SQL
    echo "== PostgreSQL $version ($cluster) accepts connections on 127.0.0.1:$port"
}

stop() {
    local version
    version=$(newest_version)
    if [ -n "$version" ] && pg_lsclusters -h | awk '{print $2}' | grep -qx "$cluster"; then
        pg_ctlcluster "$version" "$cluster" stop || true
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
