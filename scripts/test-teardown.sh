#!/usr/bin/env bash
# Stops what the tests leave running: the test PostgreSQL cluster, the demo stacks of the
# tests and the README's demo stack. CI runs it at the end (.ci/run); run it yourself after
# `cargo test` and before a bench: the stacks' health checks keep both processors of this
# machine kind busy (a load of 4 to 5), and the bench's ratios swing with them.
# Each part is allowed to fail: what is not running is already stopped.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/test-postgres.sh stop || true
PROJECT=rbt-demo scripts/demo-stack.sh down || true
# The Car Rental stack of the tests (tests/cli/car_rental.rs), by the tool that made it.
DB_PASSWORD=x REDIS_PASSWORD=x MINIO_ACCESS_KEY=x MINIO_SECRET_KEY=x docker-compose \
    -p rbt-carrental -f demo/car-rental/docker-compose.yml down -v || true
# The Audio Tài Lộc demo of the tests (tests/cli/audio_tai_loc.rs): its NGINX, its projects.
pkill -f "nginx -p /tmp/rbt-audio-nginx" || true
for colour in blue green; do
    GREEN_PORT=1 BLUE_PORT=1 docker-compose -p rbt-audio-$colour \
        -f demo/audio-tai-loc/docker-compose.$colour.yml down || true
done
DB_PASSWORD=x REDIS_PASSWORD=x docker-compose --env-file demo/audio-tai-loc/.env -p rbt-audio \
    -f demo/audio-tai-loc/docker-compose.yml down -v || true
for project in rbt-liyaqa rbt-liyaqa-dr; do
    DB_PASSWORD=x JWT_SECRET=x S3_ACCESS_KEY=x S3_SECRET_KEY=x PREFIX=$project docker-compose \
        --env-file demo/liyaqa/.env -p $project -f demo/liyaqa/docker-compose.yml down -v || true
done
# The DR drill's separate database server (playbooks/dr-drill.yml, step 3), if a test left it.
DR_TEST_IMAGE=x DR_TEST_PORT=1 DR_TEST_USER=x DR_TEST_DB=x DR_TEST_PASSWORD=x docker-compose \
    -p rbt-demo-dr-test -f compose/goodgo-dr-test.yml down -v || true
# The previous containers compose.up kept for those projects (out of compose's sight).
for project in rbt-carrental rbt-audio rbt-audio-blue rbt-audio-green rbt-liyaqa rbt-liyaqa-dr rbt-demo-dr-test; do
    docker ps -aq --filter "label=runbook.previous-project=$project" | xargs -r docker rm -f >/dev/null || true
done
# The README's demo stack, removed by its playbook (what a user runs).
DB_PASSWORD=x REDIS_PASSWORD=x target/debug/runbook run playbooks/demo/down.yml \
    --env environments/demo.yml || PROJECT=goodgo-demo scripts/demo-stack.sh down || true
