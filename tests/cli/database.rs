//! The test PostgreSQL server (`scripts/test-postgres.sh start`): one database per test,
//! filled with the fixture schema when asked, dropped afterwards even when the test fails.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub fn port() -> String {
    std::env::var("RUNBOOK_TEST_PG_PORT").unwrap_or_else(|_| "54329".into())
}

pub fn password() -> String {
    std::env::var("RUNBOOK_TEST_PG_PASSWORD").unwrap_or_else(|_| "runbook-test-password".into())
}

/// psql as the test superuser; the output of `-At`, or a panic naming the statement.
pub fn psql(database: &str, sql: &str) -> String {
    psql_on(&port(), "runbook", &password(), database, sql)
}

/// psql against any server on 127.0.0.1 (the demo stack's PostgreSQL too).
pub fn psql_on(port: &str, user: &str, password: &str, database: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-p", port, "-U", user, "-d", database])
        .args(["-c", sql])
        .env("PGPASSWORD", password)
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql `{sql}` on {database} at port {port} failed (for the test server: is `scripts/test-postgres.sh start` done?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// An order-independent digest of every table, computed by psql alone, so that what a
/// playbook did to the data is checked by something other than the code under test.
pub const CONTENT_SQL: &str = "SELECT string_agg(format('%s:%s', t, \
       (xpath('/row/h/text()', query_to_xml(format( \
         'SELECT md5(coalesce(string_agg(r::text, E''\\n'' ORDER BY r::text), '''')) AS h FROM %s r', t), \
         false, true, '')))[1]), ' ' ORDER BY t) \
     FROM (SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables \
           WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys') tables";

pub struct Database {
    pub name: String,
}

impl Database {
    /// An empty database with a name unique to this test.
    pub fn empty(purpose: &str) -> Self {
        let name = format!(
            "rb_{purpose}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql("postgres", &format!("CREATE DATABASE {name}"));
        Self { name }
    }

    /// A database with the fixture schema and data (tests/fixtures/postgres/goodgo.sql).
    pub fn fixture(purpose: &str) -> Self {
        let database = Self::empty(purpose);
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/postgres/goodgo.sql"
        );
        let output = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port(),
            ])
            .args(["-U", "runbook", "-d", &database.name, "-f", file])
            .env("PGPASSWORD", password())
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        database
    }

    /// An empty database made a runbook store (`runbook store migrate`).
    pub fn store(purpose: &str) -> Self {
        let database = Self::empty(purpose);
        let migrated = Command::new(env!("CARGO_BIN_EXE_runbook"))
            .args(["store", "migrate"])
            .env("RUNBOOK_STORE", database.store_url())
            .output()
            .expect("runbook runs");
        assert!(
            migrated.status.success(),
            "store migrate: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        database
    }

    /// The URL of this database as a runbook store, password included (RUNBOOK_STORE).
    pub fn store_url(&self) -> String {
        format!(
            "postgres://runbook:{}@127.0.0.1:{}/{}",
            password(),
            port(),
            self.name
        )
    }

    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// The URL playbooks use; the password comes from `secrets.pg`.
    pub fn url(&self) -> String {
        format!("postgres://runbook@127.0.0.1:{}/{}", port(), self.name)
    }

    /// The digest of every table ([`CONTENT_SQL`]).
    pub fn content(&self) -> String {
        self.psql(CONTENT_SQL)
    }

    /// Databases on the server whose names start with this one's (verification copies).
    pub fn copies(&self) -> Vec<String> {
        let list = psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{}\\_%' ORDER BY 1",
                self.name
            ),
        );
        list.lines().map(str::to_string).collect()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let mut names = self.copies();
        names.push(self.name.clone());
        for name in names {
            let _ = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port(),
                    "-U",
                    "runbook",
                ])
                .args(["-d", "postgres", "-c"])
                .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .env("PGPASSWORD", password())
                .output();
        }
    }
}
