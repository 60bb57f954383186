#!/usr/bin/env bash
# How `validate` scales with the size of a playbook and the number of mistakes in it:
# 10,000 and 100,000 valid steps, 3,000 typos in `needs`, 10,000 duplicate ids, 100,000
# unknown `needs`. Prints wall time and peak memory (GNU time) of each, for the release
# binary and, if given, another binary side by side in the same run (an older build):
#   benches/validate_scale.sh [OTHER_RUNBOOK]
# Not a test: the figures depend on the machine. Target (issue 12): 100,000 steps validate in
# under 2 s and 500 MB, and mistakes cost time linear in their number.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
def chain(name, n, typo=False, dup=False, unknown=False):
    with open(f"{d}/{name}.yml", "w") as f:
        f.write("version: 1\nname: scale\nsteps:\n")
        for i in range(n):
            f.write(f"  - id: s{i // 2 if dup else i}\n")
            if i > 0:
                need = f"zz{i}" if unknown else f"s{i - 1}x" if typo else f"s{i - 1}"
                f.write(f"    needs: [{need}]\n")
            f.write("    wait.sleep: { duration: 1s }\n")
chain("valid-10k", 10_000)
chain("valid-100k", 100_000)
chain("typos-3k", 3_000, typo=True)
chain("duplicates-10k", 20_000, dup=True)
chain("unknown-needs-100k", 100_000, unknown=True)
PY
for file in valid-10k valid-100k typos-3k duplicates-10k unknown-needs-100k; do
    for bin in target/release/runbook ${1:-}; do
        /usr/bin/time -f "%e s  %M KB" -o "$dir/time" timeout 300 "$bin" validate "$dir/$file.yml" \
            > /dev/null 2>&1 || true
        printf '%-20s %-40s %s\n' "$file" "$bin" "$(cat "$dir/time" | tail -1)"
    done
done
