#!/usr/bin/env bash
# The containers of the demo stack, labelled as one Docker Compose project so that runbook's
# docker steps select them exactly as they select a real compose stack. Called by
# playbooks/demo/up.yml and playbooks/demo/down.yml, which pass everything in the environment:
#   PROJECT         compose project name (containers are $PROJECT-<service>-1)
#   DB_NAME DB_USER DB_PASSWORD REDIS_PASSWORD
#   PG_PORT API_PORT WEB_PORT PROM_PORT AM_PORT   ports published on 127.0.0.1
#
#   scripts/demo-stack.sh up     create the network, the volume and the containers (idempotent:
#                                a service whose container exists is left alone)
#   scripts/demo-stack.sh down   remove them all, data volume included
set -euo pipefail

: "${PROJECT:?}"
network="${PROJECT}_default"

label() { echo "--label com.docker.compose.project=$PROJECT --label com.docker.compose.service=$1 --label com.docker.compose.container-number=1 --label runbook.demo=true"; }
health() { echo "--health-interval 1s --health-timeout 3s --health-retries 3"; }

service() {
    local name=$1
    shift
    local state
    if state=$(docker container inspect -f '{{.State.Status}}' "$PROJECT-$name-1" 2>/dev/null); then
        # A stack left behind by a reboot or a killed run has stopped containers: start them,
        # or the health wait that follows fails on a container nobody meant to stop.
        if [ "$state" != running ]; then
            docker start "$PROJECT-$name-1" >/dev/null
            echo "   $PROJECT-$name-1 exists, started (was $state)"
        else
            echo "   $PROJECT-$name-1 exists"
        fi
        return
    fi
    # shellcheck disable=SC2046
    docker run -d --init --name "$PROJECT-$name-1" --network "$network" --network-alias "$name" \
        $(label "$name") $(health) "$@" >/dev/null
    echo "   $PROJECT-$name-1 created"
}

up() {
    : "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}" "${REDIS_PASSWORD:?}"
    : "${PG_PORT:?}" "${API_PORT:?}" "${WEB_PORT:?}" "${PROM_PORT:?}" "${AM_PORT:?}"
    docker network inspect "$network" >/dev/null 2>&1 ||
        docker network create --label "com.docker.compose.project=$PROJECT" "$network" >/dev/null
    # SIGINT: a fast shutdown, as the official image does (SIGTERM waits for PgBouncer to hang up).
    service postgres -p "127.0.0.1:$PG_PORT:5432" -v "${PROJECT}_pgdata:/data" --stop-signal SIGINT \
        -e POSTGRES_USER="$DB_USER" -e POSTGRES_PASSWORD="$DB_PASSWORD" -e POSTGRES_DB="$DB_NAME" \
        --health-cmd "pg_isready -q -h 127.0.0.1 -U $DB_USER -d $DB_NAME" \
        runbook-demo-postgres:15
    service redis -e REDIS_PASSWORD="$REDIS_PASSWORD" \
        --health-cmd 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG' \
        runbook-demo-redis:7
    service pgbouncer -e DB_HOST=postgres -e DB_NAME="$DB_NAME" -e DB_USER="$DB_USER" \
        -e DB_PASSWORD="$DB_PASSWORD" \
        --health-cmd "pg_isready -q -h 127.0.0.1 -p 6432 -d $DB_NAME" \
        runbook-demo-pgbouncer:1
    service api -p "127.0.0.1:$API_PORT:3001" -e PORT=3001 -e VERSION=1 \
        -e DB_HOST=pgbouncer -e DB_PORT=6432 -e DB_NAME="$DB_NAME" -e DB_USER="$DB_USER" \
        -e PROBE_PATH=/health/ready --health-cmd "/fixture-service probe" \
        runbook-fixture:1
    service web -p "127.0.0.1:$WEB_PORT:3000" -e PORT=3000 -e VERSION=1 \
        --health-cmd "/fixture-service probe" \
        runbook-fixture:1
    # Monitoring as the seed's stack has it: Prometheus scrapes the apps and evaluates the
    # alert rules, Alertmanager receives them (demo/goodgo/monitoring).
    local monitoring
    monitoring="$(cd "$(dirname "$0")/.." && pwd)/demo/goodgo/monitoring"
    service alertmanager -p "127.0.0.1:$AM_PORT:9093" \
        -v "$monitoring/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" \
        --health-cmd "wget -q -O /dev/null http://127.0.0.1:9093/-/healthy" \
        runbook-demo-alertmanager:1
    service prometheus -p "127.0.0.1:$PROM_PORT:9090" -e PROJECT="$PROJECT" \
        -v "$monitoring:/etc/prometheus:ro" \
        --health-cmd "wget -q -O /dev/null http://127.0.0.1:9090/-/ready" \
        runbook-demo-prometheus:1 /usr/bin/prometheus --config.file=/etc/prometheus/prometheus.yml \
        --storage.tsdb.path=/tmp/prometheus --web.listen-address=:9090 \
        --enable-feature=expand-external-labels
}

down() {
    local ids
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
    # shellcheck disable=SC2086
    [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
    docker network rm "$network" >/dev/null 2>&1 || true
    docker volume rm -f "${PROJECT}_pgdata" >/dev/null
    echo "   $PROJECT removed"
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
