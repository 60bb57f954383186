#!/usr/bin/env bash
# The pull-request comment of .github/workflows/runbook-plan.yml, on standard output: for each
# playbook changed since BASE, what the change does to its plan (`runbook diff` against the
# file at BASE) and the whole plan (Markdown with its Mermaid graph). Nothing is run.
#   scripts/plan-comment.sh BASE [ENV_FILE] > comment.md
# RUNBOOK names the binary (default target/release/runbook). Run from the repository root.
set -euo pipefail
base=${1:?usage: scripts/plan-comment.sh BASE [ENV_FILE]}
env_file=${2:-environments/goodgo.yml}
runbook=${RUNBOOK:-target/release/runbook}
old=$(mktemp --suffix=.yml)
trap 'rm -f "$old"' EXIT

echo "## runbook: plans of the changed playbooks"
echo
echo "Planned against \`$env_file\`; nothing was run."
# --no-renames: a renamed playbook is shown removed and new, not only new.
changed=$(git diff --no-renames --name-only "$base" HEAD -- 'playbooks/*.yml' 'playbooks/**/*.yml')
for file in $changed; do
    if [ ! -f "$file" ]; then
        printf '\n### `%s`\n\nRemoved.\n' "$file"
        continue
    fi
    printf '\n<details open><summary><code>%s</code></summary>\n\n' "$file"
    if git cat-file -e "$base:$file" 2>/dev/null; then
        git show "$base:$file" > "$old"
        "$runbook" diff "$old" "$file" --env "$env_file" --format markdown
    else
        echo "New playbook."
    fi
    echo
    "$runbook" plan "$file" --env "$env_file" --format markdown
    printf '\n</details>\n'
done
[ -n "$changed" ] || printf '\nNo playbook changed.\n'
