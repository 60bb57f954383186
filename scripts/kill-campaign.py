#!/usr/bin/env python3
"""A crash campaign against `runbook run` / `resume` (issue 12): kill -9 at random moments,
resume (and kill resumes too) until the run finishes, then check what the journal promises.

    scripts/kill-campaign.py [RUNS] [RUNBOOK]      # default 40 runs, target/release/runbook

Each run is a chain of 12 steps; step i appends `step-i` to a log once (it checks first:
`idempotent: true`, so resume may re-run it) and leaves a background job that would write
`late-i` 300 ms later, the grandchild `kill -9` used to leave behind. Checked after each run:
- every step's line is in the log exactly once, in order (no lost or duplicated work);
- the run ended `succeeded` in its journal, every journal line parses;
- no process of the run is left once it has finished, and no `late-*` line was written
  after the end (leftovers were killed by the resume that found them).
Bounded: RUNS runs, at most 30 kills each. Prints the totals.
"""
import json, os, random, signal, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
RUNBOOK = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/release/runbook")
STEPS = 12

def playbook(d):
    steps = []
    for i in range(STEPS):
        need = f"\n    needs: [s{i - 1}]" if i else ""
        steps.append(f"""  - id: s{i}{need}
    idempotent: true
    shell.run:
      script: |
        sleep 0.0$(( $$ % 9 ))
        grep -qx step-{i} {d}/log 2>/dev/null || echo step-{i} >> {d}/log
        (sleep 0.3; echo late-{i} >> {d}/late) &
        wait""")
    return "version: 1\nname: campaign\nsteps:\n" + "\n".join(steps) + "\n"

def leftovers(d):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if d in cmd and ") Z " not in stat:
            found.append(cmd)
    return found

totals = dict(runs=0, kills=0, resumes=0, lost=0, duplicated=0, unfinished=0,
              leftovers_after_end=0, late_writes_after_end=0, bad_journal=0)
for n in range(RUNS):
    d = tempfile.mkdtemp(prefix="runbook-campaign-")
    open(f"{d}/p.yml", "w").write(playbook(d))
    env = dict(os.environ, RUNBOOK_STATE_DIR=f"{d}/state", RUNBOOK_LOCK_DIR=f"{d}/locks")
    args = [RUNBOOK, "run", f"{d}/p.yml", "--no-prompt"]
    finished = False
    for attempt in range(30):
        child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            child.wait(timeout=random.uniform(0.05, 1.5))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
            totals["kills"] += 1
        runs_dir = f"{d}/state/runs"
        journal = []
        for r in (os.listdir(runs_dir) if os.path.isdir(runs_dir) else []):
            # A killed run's journal ends in zeros written ahead of its lines: they end there.
            text = open(f"{runs_dir}/{r}/journal.jsonl", "rb").read().split(b"\0")[0]
            lines = text.decode().split("\n")
            for i, l in enumerate(lines):
                if not l.strip():
                    continue
                try:
                    journal.append(json.loads(l))
                except ValueError:
                    # Only the last line may be torn by a kill (the reader drops it).
                    if i < len(lines) - 2:
                        totals["bad_journal"] += 1
        if journal and journal[-1].get("event") == "run_finished":
            finished = journal[-1]["status"] == "succeeded"
            break
        args = [RUNBOOK, "resume", "last", "--no-prompt"]
        totals["resumes"] += 1
    totals["runs"] += 1
    if not finished:
        totals["unfinished"] += 1
        continue
    end = time.time()
    log = open(f"{d}/log").read().split() if os.path.exists(f"{d}/log") else []
    expected = [f"step-{i}" for i in range(STEPS)]
    totals["lost"] += len(set(expected) - set(log))
    totals["duplicated"] += len(log) - len(set(log))
    if log != expected and len(log) == len(set(log)) and not set(expected) - set(log):
        totals["out_of_order"] = totals.get("out_of_order", 0) + 1
    totals["leftovers_after_end"] += len(leftovers(d))
    time.sleep(0.5)  # a leftover background job would write within 300 ms
    late = os.path.getmtime(f"{d}/late") if os.path.exists(f"{d}/late") else 0
    if late > end:
        totals["late_writes_after_end"] += 1
    subprocess.run(["rm", "-rf", d])
print(json.dumps(totals, indent=1))
