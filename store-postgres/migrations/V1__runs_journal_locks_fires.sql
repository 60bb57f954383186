-- runbook's shared store, version 1. Times that decide ownership are the server's (now()),
-- never a runner's clock, so runners with skewed clocks still agree on who owns what.

-- One row per run: the snapshot it started from, and who owns it now.
CREATE TABLE runbook_runs (
    id          text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    playbook    text NOT NULL,          -- the playbook text the run started from
    plan        text NOT NULL,          -- the compiled plan, JSON, secrets redacted
    inputs      text NOT NULL,          -- the inputs given, JSON (inputs are not secrets)
    started_by  text,                   -- the daemon that started it, if one did
    owner       text,                   -- user@host (pid N) of the process working on it
    owner_host  text,                   -- its host and pid: on the same host, a gone process
    owner_pid   bigint,                 -- is known dead without waiting for its lease
    epoch       bigint NOT NULL DEFAULT 0,  -- bumped by every new owner: the fencing token
    lease_until timestamptz             -- the owner must renew before this, or lose the run
);

-- The journal: one row per event, written only by the run's owner of the current epoch.
CREATE TABLE runbook_events (
    run_id  text NOT NULL REFERENCES runbook_runs (id) ON DELETE CASCADE,
    seq     bigint NOT NULL,
    epoch   bigint NOT NULL,
    line    text NOT NULL,              -- the event as one JSON line, secrets redacted
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE runbook_reports (
    run_id  text NOT NULL REFERENCES runbook_runs (id) ON DELETE CASCADE,
    format  text NOT NULL,              -- json, md, html, junit.xml
    body    text NOT NULL,
    PRIMARY KEY (run_id, format)
);

CREATE TABLE runbook_approvals (
    run_id     text NOT NULL REFERENCES runbook_runs (id) ON DELETE CASCADE,
    step       text NOT NULL,
    decision   text NOT NULL,           -- {"approved", "approver", "comment"}
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step)
);

-- `lock:` keys: held while expires_at is ahead; the owner's heartbeat renews its run's keys.
CREATE TABLE runbook_locks (
    key        text PRIMARY KEY,
    run_id     text NOT NULL,
    holder     text NOT NULL,           -- JSON: run, playbook, user, host, pid, since
    expires_at timestamptz NOT NULL
);

-- One row per schedule fire: the primary key makes each fire run once, whichever daemon
-- claims it first.
CREATE TABLE runbook_fires (
    schedule      text NOT NULL,        -- path#name
    scheduled_for timestamptz NOT NULL,
    daemon        text NOT NULL,
    claimed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule, scheduled_for)
);

-- Leases of roles (the daemons' leader): held by one holder until expires_at.
CREATE TABLE runbook_leases (
    role       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
