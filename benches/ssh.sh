#!/usr/bin/env bash
# Per-step cost on a remote host (issue 18): N chained `shell.run /bin/true` steps on an sshd
# host over the multiplexed connection, the same N steps locally, and ansible-playbook running N
# `command: /bin/true` tasks on the same host (pipelining on, its own ControlPersist), side by
# side in one run. Prints ms per step and the ratios. Not a test: figures vary with the machine.
#   benches/ssh.sh            (N=100; ansible-core from PyPI into target/tools/ansible)
# The host is a container of runbook-test-sshd:2 (scripts/test-services.sh) plus this machine's
# python3 (Ansible's modules need one on the target), on the default bridge.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-100}
runbook=target/release/runbook
[ -x "$runbook" ] || runbook=target/debug/runbook
[ -x "$runbook" ] || { echo "build first: cargo build --release" >&2; exit 2; }
docker image inspect runbook-test-sshd:2 >/dev/null 2>&1 || scripts/test-services.sh
[ -x target/tools/ansible/bin/ansible-playbook ] || {
    python3 -m venv target/tools/ansible
    target/tools/ansible/bin/pip install -q ansible-core
}

if ! docker image inspect runbook-bench-sshd:2 >/dev/null 2>&1; then
    root=$(mktemp -d)
    cp --parents -L /usr/bin/python3.11 "$root"
    cp -r --parents /usr/lib/python3.11 "$root"
    rm -rf "$root/usr/lib/python3.11/test"
    for file in /usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so; do
        ldd "$file" 2>/dev/null | awk '/=>/ { print $3 }' |
            while read -r lib; do [ -e "$root$lib" ] || cp --parents -L "$lib" "$root"; done
    done
    ln -s python3.11 "$root/usr/bin/python3"
    printf 'FROM runbook-test-sshd:2\nCOPY . /\n' >"$root/Dockerfile"
    docker build -q -t runbook-bench-sshd:2 "$root" >/dev/null
    rm -rf "$root"
fi

work=$(mktemp -d)
name=rbt-bench-ssh-$$
trap 'docker rm -f "$name" >/dev/null 2>&1; rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -f "$work/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$work/id"
cp "$work/id.pub" "$work/authorized_keys"
docker run -d --name "$name" -v "$work:/keys:ro" runbook-bench-sshd:2 >/dev/null
address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
echo "$address $(cut -d' ' -f1,2 "$work/host_ed25519.pub")" >"$work/known_hosts"
sleep 1

cat >"$work/env.yml" <<EOF
hosts:
  app-1: { ssh: root@$address, identity_file: $work/id, known_hosts: $work/known_hosts }
EOF
chain() {
    local host=$1
    echo "version: 1"
    echo "name: chain"
    echo "steps:"
    for i in $(seq 1 "$n"); do
        echo "  - id: s$i"
        [ "$i" = 1 ] || echo "    needs: [s$((i - 1))]"
        [ -z "$host" ] || echo "    host: $host"
        echo "    shell.run: { argv: [/bin/true] }"
    done
}
chain app-1 >"$work/remote.yml"
chain "" >"$work/local.yml"
{
    echo "- hosts: app-1"
    echo "  gather_facts: false"
    echo "  tasks:"
    for i in $(seq 1 "$n"); do echo "    - command: /bin/true"; done
} >"$work/ansible.yml"
cat >"$work/inventory.ini" <<EOF
app-1 ansible_host=$address ansible_user=root ansible_ssh_private_key_file=$work/id ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes'
EOF

now() { date +%s.%N; }
timed() { local start; start=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; echo "$(now) - $start" | bc -l; }
export RUNBOOK_STATE_DIR=$work/state RUNBOOK_LOCK_DIR=$work/locks RUNBOOK_SSH_CONTROL_DIR=$work/ssh
# The master connection is made by a first, unmeasured run, as Ansible's is by its warm-up.
$runbook run "$work/remote.yml" --env "$work/env.yml" --max-parallel 1 >/dev/null
remote=$(timed $runbook run "$work/remote.yml" --env "$work/env.yml" --max-parallel 1)
local=$(timed $runbook run "$work/local.yml" --max-parallel 1)
export ANSIBLE_PIPELINING=True ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_CONTROL_PATH_DIR=$work/ansible-cp
target/tools/ansible/bin/ansible-playbook -i "$work/inventory.ini" "$work/ansible.yml" >/dev/null
ansible=$(timed target/tools/ansible/bin/ansible-playbook -i "$work/inventory.ini" "$work/ansible.yml")

per() { echo "scale=2; $1 * 1000 / $n" | bc -l; }
echo "$n chained steps, $runbook"
echo "runbook, local:               $(per "$local") ms/step"
echo "runbook, on the SSH host:     $(per "$remote") ms/step"
echo "ansible-playbook, same host:  $(per "$ansible") ms/task"
echo "ansible / runbook remote:     $(echo "scale=1; $ansible / $remote" | bc -l)x"
