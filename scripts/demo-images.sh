#!/usr/bin/env bash
# Builds the images of the demo stack (playbooks/demo/up.yml). This machine has no registry, so
# nothing is pulled: each image is a root filesystem made of this host's Debian binaries, the
# shared libraries `ldd` says they need, and busybox for a shell, given to `docker import`.
#   runbook-demo-postgres:15   PostgreSQL 15 server (initdb on first start, scram passwords)
#   runbook-demo-pgbouncer:1   PgBouncer in front of it (+ pg_isready for health checks)
#   runbook-demo-redis:7       Redis with a password (+ redis-cli)
#   runbook-demo-nginx:1       nginx (Debian's nginx-light); the site comes from a mounted file
#   runbook-demo-s3:1          an S3 server (s3s-fs, built by scripts/test-services.sh) in MinIO's
#                              role: buckets are directories of /data, made from $S3_BUCKETS
#   runbook-demo-prometheus:1  Prometheus (Debian's prometheus); configuration and rules mounted
#                              at /etc/prometheus by each stack
#   runbook-demo-alertmanager:1  Alertmanager (Debian's prometheus-alertmanager); configuration
#                              mounted at /etc/alertmanager
#   runbook-fixture:1          api and web (scripts/test-images.sh): health endpoints, and with
#                              DB_HOST set a readiness check that runs SELECT 1 through PgBouncer
# Idempotent: an image that exists is kept unless REBUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."

pg=15
need_packages=()
[ -x /usr/lib/postgresql/$pg/bin/postgres ] || need_packages+=("postgresql-$pg")
command -v redis-server >/dev/null || need_packages+=(redis-server)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need_packages+=(pgbouncer)
command -v busybox >/dev/null || need_packages+=(busybox-static)
[ -x /usr/sbin/nginx ] || need_packages+=(nginx-light)
[ -x /usr/bin/prometheus ] || need_packages+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need_packages+=(prometheus-alertmanager)
if [ ${#need_packages[@]} -gt 0 ]; then
    echo "== installing ${need_packages[*]} (Debian) for the demo images"
    # policy-rc.d: the packages' own services must not start on this host.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    scripts/debian-install.sh "${need_packages[@]}"
    rm -f /usr/sbin/policy-rc.d
fi

have() { [ "${REBUILD:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# A root filesystem with busybox, a postgres user (uid 999) and writable /tmp.
base_root() {
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/var/run/postgresql" "$root/data"
    chmod 1777 "$root/tmp"
    cp "$(command -v busybox)" "$root/bin/busybox"
    for tool in sh cat echo ls rm touch sleep mkdir grep wc true false env id chmod wget; do
        ln -s busybox "$root/bin/$tool"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:postgres:/data:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
    chown 999:999 "$root/var/run/postgresql" "$root/data"
    echo "$root"
}

# Copies programs and libraries with every shared library they load, at the same paths.
with_libs() {
    local root=$1
    shift
    for file in "$@"; do
        cp --parents -L "$file" "$root"
        ldd "$file" 2>/dev/null | awk '/=>/ { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' |
            while read -r lib; do
                [ -e "$root$lib" ] || cp --parents -L "$lib" "$root"
            done
    done
}

import() {
    local root=$1 tag=$2
    shift 2
    local changes=(--change 'ENV PATH=/bin:/usr/bin:/usr/sbin' --change 'LABEL runbook.demo-image=true')
    for change in "$@"; do changes+=(--change "$change"); done
    tar -C "$root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
    rm -rf "$root"
    echo "   $tag"
}

echo "== demo images"

if ! have runbook-demo-postgres:$pg; then
    root=$(base_root)
    lib=/usr/lib/postgresql/$pg
    # No PostGIS (its GDAL closure is 130 MB) and no LLVM JIT: the demo schema does not use them.
    modules=$(ls $lib/lib/*.so | grep -v -e postgis -e address_standardizer -e llvmjit -e sepgsql)
    # shellcheck disable=SC2086
    with_libs "$root" $lib/bin/{postgres,initdb,pg_ctl,pg_isready,psql} $modules
    cp -r --parents /usr/share/postgresql/$pg /usr/share/zoneinfo "$root"
    # PostGIS's extension files (postgis*, address_standardizer*) go too: without its library
    # they would only make pg_available_extensions fail.
    rm -rf "$root/usr/share/postgresql/$pg/man" "$root"/usr/share/postgresql/$pg/extension/{postgis,address_standardizer}*
    ln -s $lib/bin/pg_isready "$root/bin/pg_isready"
    ln -s $lib/bin/psql "$root/bin/psql"
    cat >"$root/entrypoint.sh" <<EOF
#!/bin/sh
# First start: a cluster whose superuser is \$POSTGRES_USER with \$POSTGRES_PASSWORD, reachable
# over TCP with scram passwords, and the database \$POSTGRES_DB.
set -e
export PATH=$lib/bin:\$PATH PGDATA=/data/pgdata
if [ ! -s "\$PGDATA/PG_VERSION" ]; then
    echo "\$POSTGRES_PASSWORD" >/tmp/pwfile
    initdb -U "\$POSTGRES_USER" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 \\
        --locale=C --encoding=UTF8 >/dev/null
    rm /tmp/pwfile
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"\$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"\$POSTGRES_DB\";" | postgres --single -D "\$PGDATA" -j postgres >/dev/null
fi
exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
EOF
    chmod +x "$root/entrypoint.sh"
    import "$root" runbook-demo-postgres:$pg 'USER postgres' 'CMD ["/entrypoint.sh"]' \
        'ENV POSTGRES_USER=postgres POSTGRES_DB=postgres'
fi

if ! have runbook-demo-pgbouncer:1; then
    root=$(base_root)
    with_libs "$root" "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" /usr/lib/postgresql/$pg/bin/pg_isready
    ln -s /usr/lib/postgresql/$pg/bin/pg_isready "$root/bin/pg_isready"
    cat >"$root/entrypoint.sh" <<'EOF'
#!/bin/sh
# Clients log in without a password (auth_type = any, the demo network only); PgBouncer logs in
# to PostgreSQL as $DB_USER with $DB_PASSWORD.
set -e
cat >/tmp/pgbouncer.ini <<INI
[databases]
$DB_NAME = host=$DB_HOST port=${DB_PORT:-5432} dbname=$DB_NAME user=$DB_USER password=$DB_PASSWORD
[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 100
default_pool_size = ${POOL_SIZE:-10}
ignore_startup_parameters = extra_float_digits
# Retry a refused server login after 1 s, not 15: PostgreSQL may start after PgBouncer.
server_login_retry = 1
INI
exec pgbouncer /tmp/pgbouncer.ini
EOF
    chmod +x "$root/entrypoint.sh"
    import "$root" runbook-demo-pgbouncer:1 'USER postgres' 'CMD ["/entrypoint.sh"]'
fi

if ! have runbook-demo-redis:7; then
    root=$(base_root)
    with_libs "$root" "$(command -v redis-server)" "$(command -v redis-cli)"
    cat >"$root/entrypoint.sh" <<'EOF'
#!/bin/sh
exec redis-server --requirepass "$REDIS_PASSWORD" --save '' --appendonly no --dir /tmp
EOF
    chmod +x "$root/entrypoint.sh"
    import "$root" runbook-demo-redis:7 'USER postgres' 'CMD ["/entrypoint.sh"]'
fi

if ! have runbook-demo-nginx:1; then
    root=$(base_root)
    with_libs "$root" /usr/sbin/nginx
    cp /etc/nginx/mime.types "$root/etc/mime.types"
    mkdir -p "$root/var/lib/nginx/body" "$root/var/lib/nginx/proxy" "$root/var/log/nginx" \
        "$root/run" "$root/etc/nginx/sites-enabled"
    echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$root/etc/passwd"
    echo 'nogroup:x:65534:' >>"$root/etc/group"
    # The site (sites-enabled/) comes from the stack's own files, mounted.
    cat >"$root/etc/nginx/nginx.conf" <<'EOF'
worker_processes 1;
error_log /dev/stderr;
pid /run/nginx.pid;
events { worker_connections 256; }
http {
  include /etc/mime.types;
  access_log off;
  include /etc/nginx/sites-enabled/*;
}
EOF
    import "$root" runbook-demo-nginx:1 'CMD ["/usr/sbin/nginx", "-g", "daemon off;"]'
fi

if ! have runbook-demo-s3:1; then
    [ -x target/tools/bin/s3s-fs ] || scripts/test-services.sh
    root=$(base_root)
    with_libs "$root" target/tools/bin/s3s-fs
    mv "$root/target/tools/bin/s3s-fs" "$root/bin/s3s-fs" && rm -rf "$root/target"
    cat >"$root/entrypoint.sh" <<'EOF'
#!/bin/sh
# MinIO's role in the demo: buckets are directories under /data.
set -e
for bucket in $S3_BUCKETS; do mkdir -p "/data/$bucket"; done
exec s3s-fs --host 0.0.0.0 --port 9000 --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" /data
EOF
    chmod +x "$root/entrypoint.sh"
    import "$root" runbook-demo-s3:1 'CMD ["/entrypoint.sh"]'
fi

if ! have runbook-demo-prometheus:1; then
    root=$(base_root)
    with_libs "$root" /usr/bin/prometheus
    # The stack's prometheus.yml and rules are mounted over /etc/prometheus; the data is
    # scratch (a demo keeps no history across restarts).
    mkdir -p "$root/etc/prometheus"
    import "$root" runbook-demo-prometheus:1 'USER postgres' \
        'CMD ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/prometheus", "--web.listen-address=:9090"]'
fi

if ! have runbook-demo-alertmanager:1; then
    root=$(base_root)
    with_libs "$root" /usr/bin/prometheus-alertmanager
    # Debian's build reads its notification templates from here rather than embedding them.
    cp -r --parents /usr/share/prometheus/alertmanager "$root"
    mkdir -p "$root/etc/alertmanager"
    # One instance: no cluster gossip port.
    import "$root" runbook-demo-alertmanager:1 'USER postgres' \
        'CMD ["/usr/bin/prometheus-alertmanager", "--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/tmp/alertmanager", "--cluster.listen-address=", "--web.listen-address=:9093"]'
fi

have runbook-fixture:1 || scripts/test-images.sh
