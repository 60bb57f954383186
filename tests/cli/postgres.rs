//! The postgres family on a real PostgreSQL (`scripts/test-postgres.sh start`): each test makes
//! its own databases (`Database`) and drops them afterwards.

use crate::database::{Database, password};
use crate::support::{Sandbox, code, events, stderr, stdout};
use std::process::Output;

/// Writes a playbook whose `@URL@`/`@URL2@` stand for the databases (password from
/// `secrets.pg`) and runs it with `args`.
fn run_playbook(sandbox: &Sandbox, urls: &[&Database], text: &str, args: &[&str]) -> Output {
    let mut text = format!(
        "version: 1\nname: pg-test\nsecrets:\n  pg: {{ env: PG_PASSWORD }}\n{}",
        text.trim_start()
    );
    for (i, db) in urls.iter().enumerate() {
        let key = if i == 0 {
            "@URL@".to_string()
        } else {
            format!("@URL{}@", i + 1)
        };
        text = text.replace(&key, &db.url());
    }
    sandbox.write("pg.yml", &text);
    let mut command = sandbox.command(&[&["run", "pg.yml"], args].concat());
    command.env("PG_PASSWORD", password());
    command.output().expect("runbook runs")
}

/// The outputs a step left in the journal.
fn outputs(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    let journal = sandbox.last_journal();
    events(&journal, "step_succeeded")
        .into_iter()
        .find(|e| e["step"] == step)
        .unwrap_or_else(|| panic!("`{step}` did not succeed: {journal:#?}"))["outputs"]
        .clone()
}

fn failure(sandbox: &Sandbox, step: &str) -> String {
    let journal = sandbox.last_journal();
    events(&journal, "step_failed")
        .into_iter()
        .find(|e| e["step"] == step)
        .unwrap_or_else(|| panic!("`{step}` did not fail: {journal:#?}"))["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn dump_then_restore_round_trips_the_data_exactly() {
    let live = Database::fixture("live");
    let copy = Database::empty("copy");
    let plain = Database::empty("plain");
    let sandbox = Sandbox::new();
    let output = run_playbook(
        &sandbox,
        &[&live, &copy, &plain],
        r#"
steps:
  - id: dump
    postgres.dump:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      to_dir: "{dir}/backups"
      # A template in the name is rendered when the step runs, as the plan shows it.
      name: "{{ run.playbook }}_{database}_{timestamp}.dump"
  - id: restore
    needs: [dump]
    postgres.restore:
      url: "@URL2@"
      password: "{{ secrets.pg }}"
      file: "{{ steps.dump.path }}"
      recreate: true
  - id: plain-dump
    shell.run:
      script: pg_dump --no-owner "@URL@" | gzip > {dir}/plain.sql.gz
      env: { PGPASSWORD: "{{ secrets.pg }}" }
  - id: restore-gz
    needs: [plain-dump]
    postgres.restore: { url: "@URL3@", password: "{{ secrets.pg }}", file: "{dir}/plain.sql.gz" }
  - id: compare
    needs: [restore, restore-gz]
    postgres.compare:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      other_url: "@URL2@?password={{ secrets.pg }}"
      checksum_tables: [User, Property, Listing, Payment]
"#,
        &[],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let dump = outputs(&sandbox, "dump");
    let path = dump["path"].as_str().expect("a path");
    let name = std::path::Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy();
    let playbook = sandbox.last_journal()[0]["playbook"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with(&format!("{playbook}_{}_", live.name)) && name.ends_with(".dump"),
        "{name}"
    );
    assert_eq!(
        dump["size"],
        std::fs::metadata(path).expect("dump exists").len()
    );
    assert_eq!(
        dump["tool"].as_str().unwrap().split(' ').next(),
        Some("pg_dump")
    );
    assert_eq!(outputs(&sandbox, "restore")["format"], "custom format");
    assert_eq!(
        outputs(&sandbox, "restore-gz")["format"],
        "gzip-compressed plain SQL"
    );
    assert_eq!(outputs(&sandbox, "compare")["matches"], true);
    // Checked independently of runbook: psql's ordered md5 of every table.
    let original = live.content();
    assert!(original.contains("\"Payment\":"), "{original}");
    assert_eq!(copy.content(), original);
    assert_eq!(plain.content(), original);
    assert_eq!(
        copy.psql("SELECT count(*) FROM pg_type WHERE typtype = 'e'"),
        "3"
    );
}

const VERIFY: &str = r#"
steps:
  - id: verify
    postgres.verify_backup:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      file: "{dir}/backup.dump"
      tables: [User, Property, Listing, Payment]
      checksum_tables: [User, Payment]
      extensions: [citext, pgcrypto]
      report: "{dir}/verify-latest.json"
"#;

fn dump_with(database: &Database, sandbox: &Sandbox, extra: &[&str]) {
    let status = std::process::Command::new("pg_dump")
        .args(["-Fc", "-f"])
        .arg(sandbox.path().join("backup.dump"))
        .args(extra)
        .arg(database.url())
        .env("PGPASSWORD", password())
        .status()
        .expect("pg_dump runs");
    assert!(status.success());
}

fn report(sandbox: &Sandbox) -> serde_json::Value {
    serde_json::from_str(&sandbox.read("verify-latest.json")).expect("the report is JSON")
}

fn check<'r>(report: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {report:#}"))
}

#[test]
fn verify_backup_passes_on_a_good_dump_and_leaves_no_database_behind() {
    let live = Database::fixture("good");
    let sandbox = Sandbox::new();
    dump_with(&live, &sandbox, &[]);
    let output = run_playbook(&sandbox, &[&live], VERIFY, &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = report(&sandbox);
    for key in [
        "timestamp",
        "backupFile",
        "backupSize",
        "testDatabase",
        "restoreDurationSeconds",
        "passed",
        "failed",
        "warnings",
        "result",
        "checks",
    ] {
        assert!(report.get(key).is_some(), "`{key}` missing from {report:#}");
    }
    assert_eq!(report["result"], "pass", "{report:#}");
    assert_eq!(report["failed"], 0);
    assert_eq!(report["passed"], 9);
    assert!(
        report["testDatabase"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}_verify_", live.name))
    );
    assert_eq!(check(&report, "Row counts")["status"], "pass");
    assert_eq!(check(&report, "Checksum: Payment")["status"], "pass");
    assert_eq!(check(&report, "Enum types")["detail"], "3 in both");
    assert_eq!(
        live.copies(),
        Vec::<String>::new(),
        "the verification database is dropped"
    );
    assert_eq!(outputs(&sandbox, "verify")["result"], "pass");
}

/// The scratch copy's rows are dealt over two connections in chunks cut at line ends: text
/// with COPY's escapes (tabs, newlines, backslashes, a `\.` inside a value) arrives whole.
#[test]
fn verify_backup_loads_a_table_over_two_connections_row_for_row() {
    let live = Database::fixture("split");
    // About 3 MB of names: many chunks, so both connections take some.
    live.psql(
        "INSERT INTO \"User\" (email, name, role) SELECT 'split' || i || '@example.com', \
         E'tab\\there\\nnew line \\\\ back \\\\. dot \u{fc}ber ' || repeat('x', 40) || i, 'USER' \
         FROM generate_series(1, 30000) i",
    );
    let sandbox = Sandbox::new();
    dump_with(&live, &sandbox, &[]);
    let output = run_playbook(&sandbox, &[&live], VERIFY, &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = report(&sandbox);
    assert_eq!(report["result"], "pass", "{report:#}");
    assert_eq!(check(&report, "Checksum: User")["status"], "pass");
    let restore = check(&report, "Restore")["detail"].as_str().unwrap();
    let rows: u64 = restore
        .split(" rows over 2 connections")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rows over 2 connections in {restore}"));
    assert!(rows > 30_000, "{restore}");
    assert!(restore.contains("unlogged scratch tables"), "{restore}");
    assert_eq!(live.copies(), Vec::<String>::new());
}

/// A dump whose data is INSERT statements (`pg_dump --inserts`) is restored by pg_restore
/// alone, and verified the same.
#[test]
fn verify_backup_of_an_inserts_dump_restores_through_pg_restore() {
    let live = Database::fixture("inserts");
    let sandbox = Sandbox::new();
    dump_with(&live, &sandbox, &["--inserts"]);
    let output = run_playbook(&sandbox, &[&live], VERIFY, &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = report(&sandbox);
    assert_eq!(report["result"], "pass", "{report:#}");
    let restore = check(&report, "Restore")["detail"].as_str().unwrap();
    assert!(
        restore.contains("data through pg_restore (its data is not COPY: `INSERT INTO"),
        "{restore}"
    );
    assert_eq!(live.copies(), Vec::<String>::new());
}

#[test]
fn verify_backup_fails_on_the_check_a_changed_table_breaks() {
    let live = Database::fixture("altered");
    let sandbox = Sandbox::new();
    dump_with(&live, &sandbox, &[]);
    // After the backup, one payment changes: same row count, different content.
    live.psql("UPDATE \"Payment\" SET amount = amount + 1 WHERE id = 7");
    let output = run_playbook(&sandbox, &[&live], VERIFY, &[]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let report = report(&sandbox);
    assert_eq!(report["result"], "fail");
    assert_eq!(report["failed"], 1, "{report:#}");
    assert_eq!(check(&report, "Checksum: Payment")["status"], "fail");
    assert_eq!(check(&report, "Checksum: User")["status"], "pass");
    assert_eq!(check(&report, "Row counts")["status"], "pass");
    let error = failure(&sandbox, "verify");
    assert!(
        error.contains("failed verification, 1 of 9 checks"),
        "{error}"
    );
    assert!(
        error.contains("Checksum: Payment: Hashes differ"),
        "{error}"
    );
    assert_eq!(live.copies(), Vec::<String>::new());
}

#[test]
fn verify_backup_fails_on_row_counts_when_a_table_was_dumped_empty() {
    let live = Database::fixture("truncated");
    let sandbox = Sandbox::new();
    // A backup whose Listing table holds no rows, like a dump taken while it was truncated.
    dump_with(&live, &sandbox, &["--exclude-table-data=\"Listing\""]);
    let output = run_playbook(&sandbox, &[&live], VERIFY, &[]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let report = report(&sandbox);
    assert_eq!(report["failed"], 1, "{report:#}");
    assert_eq!(check(&report, "Row counts")["status"], "fail");
    assert_eq!(
        check(&report, "Row counts")["detail"],
        "Listing: live 500, backup 0"
    );
    assert_eq!(check(&report, "Table existence")["status"], "pass");
}

#[test]
fn terminate_backends_ends_a_long_query_and_not_its_own() {
    let live = Database::empty("busy");
    let sleeper = std::process::Command::new("psql")
        .args(["-X", "-c", "SELECT pg_sleep(120)"])
        .arg(live.url())
        .env("PGPASSWORD", password())
        .env("PGAPPNAME", "sleeper")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while live.psql(&format!(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = '{}' AND state = 'active' AND application_name = 'sleeper'",
        live.name
    )) != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleeper never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sandbox = Sandbox::new();
    // The step's own connection is to the same database and active too: the filter matches
    // it, and it must be spared.
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: terminate
    postgres.terminate_backends:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      target_database: "@DB@"
      states: [active]
"#
        .replace("@DB@", &live.name)
        .as_str(),
        &[],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let terminated = outputs(&sandbox, "terminate");
    assert_eq!(terminated["count"], 1, "{terminated}");
    let ended = sleeper.wait_with_output().expect("psql ends");
    assert!(!ended.status.success());
    assert!(
        String::from_utf8_lossy(&ended.stderr).contains("terminating connection"),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
}

#[test]
fn a_restore_that_fails_midway_changes_nothing_and_says_so() {
    let live = Database::fixture("midway");
    let before = live.content();
    let sandbox = Sandbox::new();
    sandbox.write(
        "broken.sql",
        "DELETE FROM \"Payment\";\nCREATE TABLE half_done (id int);\nINSERT INTO missing_table VALUES (1);\n",
    );
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: restore
    postgres.restore: { url: "@URL@", password: "{{ secrets.pg }}", file: "{dir}/broken.sql" }
"#,
        &[],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let error = failure(&sandbox, "restore");
    assert!(
        error.contains("the restore ran in one transaction: nothing changed"),
        "{error}"
    );
    assert!(
        error.contains("relation \"missing_table\" does not exist"),
        "{error}"
    );
    assert_eq!(live.content(), before);
    assert_eq!(
        live.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"),
        "0"
    );
}

#[test]
fn exec_is_one_transaction_its_rollback_undoes_it_and_query_rows_are_outputs() {
    let live = Database::fixture("exec");
    let before = live.content();
    let sandbox = Sandbox::new();
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: count
    postgres.query:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      sql: 'SELECT role, count(*) AS n FROM "User" WHERE "createdAt" > $1 GROUP BY role ORDER BY role;'
      params: ["2026-01-01"]
      expect: { min_rows: 3, that: ["rows[0].role == 'USER'", "rows[0].n > 60"] }
  - id: mark
    needs: [count]
    postgres.exec:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      sql: |
        UPDATE "Listing" SET tags = tags || '{runbook}' WHERE id <= {{ steps.count.rows[0].n }};
        UPDATE "Listing" SET tags = tags || '{first}' WHERE id = 1;
    rollback:
      postgres.exec:
        url: "@URL@"
        password: "{{ secrets.pg }}"
        sql: UPDATE "Listing" SET tags = array_remove(array_remove(tags, 'runbook'), 'first')
  - id: broken
    needs: [mark]
    postgres.exec:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      sql: |
        DELETE FROM "Payment";
        SELECT 1 / 0;
"#,
        &[],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let count = outputs(&sandbox, "count");
    assert_eq!(count["row_count"], 3);
    assert_eq!(
        count["rows"][0],
        serde_json::json!({ "role": "USER", "n": 66 })
    );
    assert_eq!(outputs(&sandbox, "mark")["rows_affected"], 67);
    let error = failure(&sandbox, "broken");
    assert!(
        error.contains("the transaction was rolled back and nothing changed: division by zero"),
        "{error}"
    );
    // `broken` changed nothing; `mark` was undone by its rollback.
    assert_eq!(
        events(&sandbox.last_journal(), "compensation_succeeded")[0]["step"],
        "mark"
    );
    assert_eq!(live.content(), before);

    // A read-only verb cannot write, even when asked to.
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: sneaky
    postgres.query: { url: "@URL@", password: "{{ secrets.pg }}", sql: 'DELETE FROM "Payment" RETURNING id' }
"#,
        &[],
    );
    assert_eq!(code(&output), 1);
    assert!(failure(&sandbox, "sneaky").contains("syntax error"));
    assert_eq!(live.psql("SELECT count(*) FROM \"Payment\""), "1000");
}

#[test]
fn check_mode_previews_from_the_live_server_and_changes_nothing() {
    let live = Database::fixture("check");
    let before = live.content();
    let sandbox = Sandbox::new();
    dump_with(&live, &sandbox, &[]);
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: ready
    postgres.ready: { url: "@URL@", password: "{{ secrets.pg }}" }
  - id: wipe
    postgres.exec: { url: "@URL@", password: "{{ secrets.pg }}", sql: 'DELETE FROM "Payment"' }
  - id: restore
    postgres.restore:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      file: "{dir}/backup.dump"
      recreate: true
  - id: dump
    postgres.dump: { url: "@URL@", password: "{{ secrets.pg }}", to_dir: "{dir}/backups" }
"#,
        &["--dry-run"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let preview = |step: &str| -> String {
        events(&journal, "step_previewed")
            .iter()
            .find(|e| e["step"] == step)
            .and_then(|e| e["preview"].as_str())
            .unwrap_or_else(|| panic!("no preview of `{step}`"))
            .to_string()
    };
    let label = format!(
        "runbook@127.0.0.1:{}/{}",
        crate::database::port(),
        live.name
    );
    assert_eq!(
        preview("wipe"),
        format!("would run in one transaction on {label}: DELETE FROM \"Payment\"")
    );
    // The other steps' previews run at the same time and may hold a connection of their own:
    // the count of connections to terminate is whatever was live.
    let restore = preview("restore");
    let (counted, rest) = restore
        .strip_prefix("would terminate ")
        .and_then(|r| r.split_once(' '))
        .unwrap_or_else(|| panic!("{restore}"));
    assert!(counted.parse::<u32>().is_ok(), "{restore}");
    assert!(
        rest.contains(&format!(
            ", drop and recreate {}, then restore {}/backup.dump (custom format, ",
            live.name,
            sandbox.path().display()
        )),
        "{restore}"
    );
    assert!(preview("dump").starts_with(&format!("would dump {label} with pg_dump ")));
    assert_eq!(live.content(), before);
    assert!(!sandbox.exists("backups"));
}

#[test]
fn connection_failures_are_one_clear_line_without_the_secret() {
    let live = Database::empty("conn");
    let cases = [
        (
            live.url(),
            "wrong-password-4711",
            "password authentication failed for user \"runbook\"",
        ),
        (
            format!("{}_missing", live.url()),
            "@PASSWORD@",
            "database \"",
        ),
        (
            "postgres://runbook@127.0.0.1:1/postgres".to_string(),
            "secret-4712",
            "Connection refused",
        ),
        (
            "postgres://runbook@db.invalid/postgres".to_string(),
            "secret-4713",
            "check the host name",
        ),
    ];
    for (url, secret, expected) in cases {
        let secret = if secret == "@PASSWORD@" {
            password()
        } else {
            secret.to_string()
        };
        let sandbox = Sandbox::new();
        sandbox.write(
            "pg.yml",
            &format!(
                "version: 1\nname: conn\nsecrets:\n  pg: {{ env: PG_PASSWORD }}\nsteps:\n  - id: ready\n    postgres.ready: {{ url: \"{url}\", password: \"{{{{ secrets.pg }}}}\" }}\n"
            ),
        );
        let output = sandbox
            .command(&["run", "pg.yml"])
            .env("PG_PASSWORD", &secret)
            .output()
            .expect("runs");
        assert_eq!(code(&output), 1, "{url}: {}", stderr(&output));
        let error = failure(&sandbox, "ready");
        assert!(error.contains(expected), "{url}: {error}");
        assert!(
            error.starts_with("cannot connect to PostgreSQL runbook@"),
            "{error}"
        );
        assert!(!error.contains('\n'), "one line: {error}");
        let journal = serde_json::to_string(&sandbox.last_journal()).expect("json");
        for text in [stdout(&output), stderr(&output), journal] {
            assert!(!text.contains(&secret), "the password leaked: {text}");
        }
    }
}

#[test]
fn tls_is_used_when_required_and_certificates_are_checked_when_asked() {
    let live = Database::empty("tls");
    let sandbox = Sandbox::new();
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: tls
    postgres.query:
      url: "@URL@"
      password: "{{ secrets.pg }}"
      sslmode: require
      sql: SELECT ssl, version AS protocol FROM pg_stat_ssl WHERE pid = pg_backend_pid()
      expect: { that: ["rows[0].ssl"] }
  - id: verified
    needs: [tls]
    postgres.ready: { url: "@URL@?sslmode=verify-full", password: "{{ secrets.pg }}" }
"#,
        &[],
    );
    // Debian's test cluster serves a self-signed "snakeoil" certificate: encrypted, yes;
    // verified, no.
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let rows = &outputs(&sandbox, "tls")["rows"];
    assert_eq!(rows[0]["ssl"], true, "{rows}");
    assert!(rows[0]["protocol"].as_str().unwrap().starts_with("TLSv1."));
    let error = failure(&sandbox, "verified");
    assert!(error.contains("certificate"), "{error}");
}

#[test]
fn a_client_older_than_the_server_is_refused_by_name() {
    let live = Database::empty("tools");
    let sandbox = Sandbox::new();
    sandbox.write(
        "old-bin/pg_dump",
        "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n",
    );
    let status = std::process::Command::new("chmod")
        .arg("+x")
        .arg(sandbox.path().join("old-bin/pg_dump"))
        .status()
        .expect("chmod");
    assert!(status.success());
    let output = run_playbook(
        &sandbox,
        &[&live],
        r#"
steps:
  - id: dump
    postgres.dump: { url: "@URL@", password: "{{ secrets.pg }}", to_dir: "{dir}/b", bin_dir: "{dir}/old-bin" }
"#,
        &[],
    );
    assert_eq!(code(&output), 1);
    let error = failure(&sandbox, "dump");
    assert!(
        error.starts_with("`pg_dump` 9.6.24 (")
            && error.contains("is older than the server (PostgreSQL 1"),
        "{error}"
    );
    assert!(error.contains("install postgresql-client-1"), "{error}");
}
