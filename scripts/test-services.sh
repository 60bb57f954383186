#!/usr/bin/env bash
# The real programs the step families' tests talk to, from Debian's packages and crates.io:
# the Compose tool, nginx, Redis, openssl (test certificates), and an S3 server (s3s-fs, a
# file-system-backed implementation of the S3 API). Idempotent; the tests start their own
# instances on loopback ports, so nothing here is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v redis-server >/dev/null || need+=(redis-server)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]} (Debian)"
    scripts/debian-install.sh "${need[@]}"
fi
# Debian's packages start their services on install; the tests run their own instances.
service nginx stop >/dev/null 2>&1 || true
service redis-server stop >/dev/null 2>&1 || true

S3S_VERSION=0.14.1
if ! target/tools/bin/s3s-fs --version 2>/dev/null | grep -q "$S3S_VERSION"; then
    echo "== building s3s-fs $S3S_VERSION (crates.io), the S3 server of the s3 tests"
    cargo install -q --locked --features binary --root target/tools "s3s-fs@$S3S_VERSION"
fi
echo "== $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /'), $(/usr/sbin/nginx -v 2>&1), $(redis-server --version | cut -d' ' -f1-3), $(target/tools/bin/s3s-fs --version)"
