#!/usr/bin/env bash
# The instructions runbook executes for each further step of an `assert.that` chain (no
# process, no network), at 100, 1,000 and 10,000 steps: (I(n) - I(1)) / (n - 1), counted by
# valgrind's cachegrind, user space only.
#
# Why instructions: this machine kind's CPU time swings by a fifth from one minute to the
# next, and hardware counters are not available in its VM. An instruction count does not
# move between runs, so it says whether the engine's own work per step grows with the
# playbook (it should not: each step is O(its own edges)). What it cannot see is time lost
# to memory (a long run's state no longer in cache) and the kernel's share: the bench
# (`cargo bench --bench per_step`, `assert.that` growth) measures those, in time.
#
# Usage: scripts/instructions-per-step.sh [COUNTS...]   (default 100 1000 10000)
#   RUNBOOK=path/to/runbook (default target/release/runbook). 10,000 steps take about ten
#   seconds under valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
runbook=${RUNBOOK:-target/release/runbook}
command -v valgrind >/dev/null || {
    echo "valgrind is not installed (Debian: apt-get install valgrind)" >&2
    exit 2
}
[ -x "$runbook" ] || {
    echo "$runbook not found: cargo build --release --bin runbook, or set RUNBOOK" >&2
    exit 2
}
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 10000)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

chain() {
    local n=$1 i
    {
        printf 'version: 1\nname: bench\nsteps:\n'
        for ((i = 0; i < n; i++)); do
            printf '  - id: s%d\n' "$i"
            [ "$i" -eq 0 ] || printf '    needs: [s%d]\n' $((i - 1))
            printf '    assert.that: { that: "{{ 1 + 1 == 2 }}" }\n'
        done
    } >"$work/chain-$n.yml"
}

# Every process of the run (runbook forks a helper), summed.
instructions() {
    local n=$1
    rm -rf "$work/state" "$work/cg".*
    RUNBOOK_STATE_DIR="$work/state" RUNBOOK_LOCK_DIR="$work/locks" \
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/cg.%p" \
        "$runbook" run "$work/chain-$n.yml" --max-parallel 1 >/dev/null 2>&1 || {
        echo "the $n-step run failed under valgrind" >&2
        exit 1
    }
    awk '/^summary:/ { total += $2 } END { print total }' "$work"/cg.*
}

chain 1
base=$(instructions 1)
printf '%-8s %16s %18s\n' steps instructions "a further step"
printf '%-8s %16s\n' 1 "$base"
for n in "${counts[@]}"; do
    chain "$n"
    total=$(instructions "$n")
    printf '%-8s %16s %18s\n' "$n" "$total" "$(((total - base) / (n - 1)))"
done
