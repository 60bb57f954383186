#!/usr/bin/env bash
# Installs Debian packages for the tests and the demo: `scripts/debian-install.sh PKG...`.
# The package lists are refreshed only when the first try fails (a fresh machine has none).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "$@" >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null
}
