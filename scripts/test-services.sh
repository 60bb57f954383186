#!/usr/bin/env bash
# The real programs the step families' tests talk to, from Debian's packages and crates.io:
# the Compose tool, nginx, Redis, openssl (test certificates), and an S3 server (s3s-fs, a
# file-system-backed implementation of the S3 API), and OpenSSH: the client runbook uses, and
# Debian's sshd imaged as `runbook-test-sshd:2`, the remote hosts of the SSH tests (each a
# container with its own address). Idempotent; the tests start their own
# instances on loopback ports, so nothing here is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v redis-server >/dev/null || need+=(redis-server)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]} (Debian)"
    # policy-rc.d: the packages' own services (sshd on port 22) must not start on this host.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    scripts/debian-install.sh "${need[@]}"
    rm -f /usr/sbin/policy-rc.d
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

# The SSH tests' hosts: Debian's sshd with the libraries it loads and busybox (the login
# shell and the tools a remote command uses). Host key and authorized_keys come from the test,
# mounted at /keys, so the test knows the key it must trust.
if [ "${REBUILD:-0}" = 1 ] || ! docker image inspect runbook-test-sshd:2 >/dev/null 2>&1; then
    command -v busybox >/dev/null || scripts/debian-install.sh busybox-static
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/etc/ssh" "$root/run/sshd" "$root/root" "$root/var/empty"
    chmod 1777 "$root/tmp"
    cp "$(command -v busybox)" "$root/bin/busybox"
    for tool in sh cat echo ls rm touch sleep mkdir grep wc true false env id kill ps mkfifo \
        mktemp setsid printf hostname head tail sed stat find sha256sum md5sum mv cp chmod \
        sort df cut tr dirname basename; do
        ln -s busybox "$root/bin/$tool"
    done
    # sftp-server: what OpenSSH's scp speaks (`file.copy` to and from a host).
    for program in /usr/sbin/sshd /usr/lib/openssh/sftp-server; do
        cp --parents -L "$program" "$root"
        ldd "$program" | awk '/=>/ { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' |
            while read -r lib; do [ -e "$root$lib" ] || cp --parents -L "$lib" "$root"; done
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    cat >"$root/etc/ssh/sshd_config" <<'CONFIG'
HostKey /keys/host_ed25519
AuthorizedKeysFile /keys/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# Up to 20 sessions over one multiplexed connection (sshd's default is 10).
MaxSessions 20
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
CONFIG
    tar -C "$root" -c . | docker import --change 'ENV PATH=/bin:/usr/sbin' \
        --change 'CMD ["/usr/sbin/sshd", "-D", "-e"]' --change 'LABEL runbook.test-image=true' \
        - runbook-test-sshd:2 >/dev/null
    rm -rf "$root"
    echo "   runbook-test-sshd:2"
fi
