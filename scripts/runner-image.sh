#!/usr/bin/env bash
# Builds `runbook-runner:1`, the image of the "other hosts" of the multi-host tests
# (tests/cli/hosts.rs): busybox for a shell, /etc/passwd, and the shared libraries a runbook
# binary needs. The binary itself is not in it: each test mounts the one it just built.
# No registry: the root filesystem is given to `docker import`. Idempotent (REBUILD=1 redoes).
#   scripts/runner-image.sh [BINARY]   BINARY: whose libraries to include (target/debug/runbook)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=runbook-runner:1
binary=${1:-target/debug/runbook}
if [ "${REBUILD:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    exit 0
fi
command -v busybox >/dev/null || scripts/debian-install.sh busybox-static

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/usr/local/bin" "$root/run/lock"
chmod 1777 "$root/tmp" "$root/run/lock"
cp "$(command -v busybox)" "$root/bin/busybox"
for tool in sh cat echo ls rm touch sleep mkdir grep wc true false env id hostname kill pidof ps date; do
    ln -s busybox "$root/bin/$tool"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
# The libraries of the binary (glibc, libgcc_s), at the same paths; without a binary yet,
# those of a Rust program on this host.
if [ -x "$binary" ]; then
    libs=$(ldd "$binary" | awk '/=>/ { print $3 } /^\t\/[^ ]+ \(/ { print $1 }')
else
    libs="/lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2"
fi
for lib in $libs; do
    cp --parents -L "$lib" "$root"
done
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/bin' \
    --change 'LABEL runbook.test-image=true' \
    --change 'CMD ["sleep", "86400"]' \
    - "$tag" >/dev/null
echo "   $tag"
