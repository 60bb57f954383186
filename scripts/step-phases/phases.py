#!/usr/bin/env python3
"""Splits each journaled HTTP check of a run into its system calls and the work between them.

Reads the files the shim (shim.c) wrote for runbook and for the floor, takes the cycles from
one fdatasync to the next that have the usual shape, and prints the median of each piece in
microseconds: what the kernel and the disk took (the calls) and what the program did between
them. Medians over thousands of steps move far less than a whole run's time on a noisy
machine, so a change to one piece of the engine shows in its own row.
"""
import collections
import statistics
import sys

# The pieces of a cycle by the calls around them: S fdatasync, P pwrite (a journal line),
# W the request's write, E epoll_wait, R the answer's read (the floor's read also waits).
# Only runbook's work between calls is named: the floor does nothing there.
RUNBOOK = "SPWERPS"
FLOOR = "SPWRPS"
CALLS = {"S": "fdatasync", "P": "journal line written", "W": "request written",
         "E": "waiting for the answer", "R": "answer read"}
BETWEEN = {
    ("S", "P"): "next step: ready queue, context, start line made",
    ("P", "W"): "request made",
    ("W", "E"): "after the request (console and report catch up)",
    ("E", "R"): "woken, step polled",
    ("R", "P"): "answer parsed, outputs, step settled, result line made",
    ("P", "S"): "before the sync",
}


def cycles(path, shape):
    calls = [line.split() for line in open(path)]
    calls = [(kind, float(start), float(end)) for kind, start, end in calls]
    syncs = [i for i, call in enumerate(calls) if call[0] == "S"]
    found = [calls[a:b + 1] for a, b in zip(syncs, syncs[1:])]
    kept = [c for c in found if "".join(call[0] for call in c) == shape]
    return kept, len(found)


def pieces(kept, between):
    """(label, median microseconds, is a call) for each piece of the cycle, in order."""
    rows = []
    for i in range(len(kept[0]) - 1):
        kind, following = kept[0][i][0], kept[0][i + 1][0]
        rows.append((CALLS[kind], statistics.median(c[i][2] - c[i][1] for c in kept), True))
        label = between.get((kind, following), "")
        rows.append((label, statistics.median(c[i + 1][1] - c[i][2] for c in kept), False))
    return rows


def show(name, path, shape, between):
    kept, total = cycles(path, shape)
    if not kept:
        print(f"{name}: no cycle of the shape {shape} in {path}")
        return None
    rows = pieces(kept, between)
    calls = sum(us for _, us, call in rows if call)
    own = sum(us for _, us, call in rows if not call)
    print(f"{name} ({len(kept)} of {total} cycles)")
    for label, us, call in rows:
        print(f"  {'call' if call else 'own '}  {us:8.1f} us  {label}")
    print(f"  calls {calls:.1f} us, own work {own:.1f} us, cycle (sum of medians) {calls + own:.1f} us")
    return calls + own


if __name__ == "__main__":
    ours = show("runbook", sys.argv[1], RUNBOOK, BETWEEN)
    floor = show("floor", sys.argv[2], FLOOR, {})
    if ours and floor:
        print(f"runbook over the floor: {ours / floor:.2f}x")
