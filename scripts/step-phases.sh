#!/usr/bin/env bash
# Where a journaled HTTP check's time goes: runbook on a chain of `http.check` steps and the
# like-for-like floor (start line, GET, result line, fdatasync; benches/per_step.rs) against
# the same local server, each system call timed by an LD_PRELOAD shim. Prints, for each, the
# median of every call and of the work between calls (docs/decisions.md, "A step's time,
# call by call"). A measuring tool: it needs a C compiler and python3, and builds nothing of runbook's.
#
#   scripts/step-phases.sh [STEPS] [DIR]
#
# STEPS defaults to 2000; DIR (where the journals go) to target/step-phases, on the same disk
# as the bench's. Use /dev/shm/... to see the engine's work without the disk. RUNBOOK names
# the binary (default target/release/runbook).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-2000}
dir=${2:-target/step-phases}
runbook=${RUNBOOK:-target/release/runbook}
port=${PORT:-18089}
here=scripts/step-phases
build=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$build"' EXIT

[ -x "$runbook" ] || { echo "no $runbook: cargo build --release --bin runbook" >&2; exit 1; }
cc -O2 -shared -fPIC -o "$build/shim.so" "$here/shim.c" -ldl
cc -O2 -o "$build/floor" "$here/floor.c"
cc -O2 -pthread -o "$build/server" "$here/server.c"
"$build/server" "$port" &
server=$!
sleep 0.2

mkdir -p "$dir"
playbook="$build/chain.yml"
{
    echo "version: 1"
    echo "name: phases"
    echo "steps:"
    for ((i = 0; i < steps; i++)); do
        echo "  - id: s$i"
        [ "$i" -gt 0 ] && echo "    needs: [s$((i - 1))]"
        echo "    http.check: { url: \"http://127.0.0.1:$port/\" }"
    done
} > "$playbook"

rm -rf "$dir/state"
PHASES_OUT="$build/runbook.calls" LD_PRELOAD="$build/shim.so" \
    RUNBOOK_STATE_DIR="$dir/state" RUNBOOK_LOCK_DIR="$dir/locks" \
    "$runbook" run "$playbook" --max-parallel 1 > /dev/null 2>&1
PHASES_OUT="$build/floor.calls" LD_PRELOAD="$build/shim.so" \
    "$build/floor" "$port" "$steps" "$dir/floor.journal"
python3 "$here/phases.py" "$build/runbook.calls" "$build/floor.calls"
