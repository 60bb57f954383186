#!/usr/bin/env bash
# Builds the local images runbook's Docker tests use. This machine has no registry: nothing
# is pulled. Each image is a tarball of static binaries given to `docker import`:
#   runbook-fixture:1, :2   the fixture service (tests/fixture-service) + busybox (sh, tar...)
#   runbook-fixture:broken  the same files, but the service never reports healthy
# Healthchecks are set when containers are created, as compose does.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v busybox >/dev/null; then
    echo "== installing busybox-static (Debian) for the test images"
    scripts/debian-install.sh busybox-static
fi

echo "== building the static fixture service"
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --locked \
    -p fixture-service --target x86_64-unknown-linux-gnu --target-dir target/fixture

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/data"
cp target/fixture/x86_64-unknown-linux-gnu/release/fixture-service "$root/fixture-service"
cp "$(command -v busybox)" "$root/bin/busybox"
for tool in sh tar cat echo ls rm touch sleep mkdir grep wc true false; do
    ln -s busybox "$root/bin/$tool"
done

import() {
    local tag=$1 cmd=$2
    tar -C "$root" -c . | docker import \
        --change "CMD $cmd" \
        --change 'ENV PATH=/bin PORT=8080' \
        --change 'LABEL runbook.test-image=true' \
        - "$tag" >/dev/null
    echo "   $tag"
}
echo "== importing test images"
import runbook-fixture:1 '["/fixture-service"]'
import runbook-fixture:2 '["/fixture-service"]'
import runbook-fixture:broken '["/fixture-service", "--broken"]'
