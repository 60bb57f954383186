//! `postgres.*`: readiness, queries, backups, restores and their verification.
//!
//! Every verb connects the same way (`connect.rs`): a `url` (its password redacted wherever
//! printed) or discrete fields, the password usually `{{ secrets.db_password }}`. The
//! connection fields are repeated by `postgres_params!` because serde's `flatten` cannot refuse
//! unknown keys. Dumps and restores go through pg_dump/pg_restore/psql (`tools.rs`).

use crate::prelude::*;

/// On a step's `host:`: a database the host reaches, through an SSH tunnel; files (dumps, restores) stay on the runner.
const FAMILY_ON_HOSTS: bool = true;

mod backends;
mod compare;
mod connect;
mod dump;
mod inventory;
mod query;
mod restore;
mod scratch;
mod tools;
mod verify;

macro_rules! postgres_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// `postgres://user:password@host:port/database?sslmode=require`
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub url: Option<Template>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub host: Option<Template>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub port: Option<Tpl<u16>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub user: Option<Template>,
            /// Usually `{{ secrets.db_password }}`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub password: Option<Template>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub database: Option<Template>,
            /// `disable`, `prefer` or `require` (TLS through rustls).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub sslmode: Option<SslMode>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub connect_timeout: Option<Tpl<Duration>>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            fn check_connection(&self) -> Result<(), String> {
                match (&self.url, &self.host) {
                    (Some(_), Some(_)) => Err("give either `url` or `host` (+ port, user, database), not both".into()),
                    (None, None) => Err("connect with `url` or `host` (+ port, user, database)".into()),
                    _ => Ok(()),
                }
            }

            /// The server and database this step works on, templates rendered. On a step's
            /// `host:`, `host` and `port` are as that host sees them, reached through a
            /// tunnel over its SSH connection.
            async fn target(&self, ctx: &StepContext) -> Result<connect::Target, StepError> {
                let render = |t: &Option<Template>| t.as_ref().map(|t| ctx.render(t)).transpose();
                let mut host = render(&self.host)?;
                let mut port = self.port.as_ref().map(|p| ctx.resolve(p)).transpose()?;
                if let Some(transport) = ctx.transport()? {
                    let Some(remote) = &host else {
                        return Err(StepError::failed("on a `host:`, give the database as `host` and `port` as that host sees them (not `url`)"));
                    };
                    let local = transport.forward(&format!("{remote}:{}", port.unwrap_or(5432))).await?;
                    let (address, local_port) = local.rsplit_once(':').unwrap_or((&local, "5432"));
                    host = Some(address.to_string());
                    port = local_port.parse().ok();
                }
                connect::Target::new(connect::Params {
                    url: render(&self.url)?,
                    host,
                    port,
                    user: render(&self.user)?,
                    password: render(&self.password)?,
                    database: render(&self.database)?,
                    sslmode: self.sslmode,
                    connect_timeout: self
                        .connect_timeout
                        .as_ref()
                        .map(|d| ctx.resolve(d))
                        .transpose()?
                        .map(|d| d.0),
                })
            }
        }
    };
}

/// A postgres verb: its connection fields are validated by `check_connection`.
macro_rules! postgres_verb {
    ($name:ident, $effect:ident, $($rest:tt)*) => {
        family_verb!($name, $effect, check_connection, $($rest)*);
    };
}

/// libpq's modes: `prefer` and `require` encrypt without checking the certificate,
/// `verify-full` checks it against the system's roots and the host name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

postgres_params! {
    /// Succeed when the server accepts connections (the `pg_isready` equivalent).
    pub struct Ready {}
}
postgres_verb!(
    Ready,
    ReadOnly,
    "Check that PostgreSQL accepts connections",
    ["version", "version_num", "in_recovery"]
);

postgres_params! {
    /// Run a read-only query; its rows become outputs and can be checked.
    pub struct Query {
        pub sql: Template,
        /// Bind parameters `$1`, `$2`...
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub params: Vec<Template>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expect: Option<RowExpect>,
    }
}
postgres_verb!(
    Query,
    ReadOnly,
    "Run a read-only query and check its rows",
    ["rows", "row_count"]
);

/// Expectations over the rows of a query.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rows: Option<Tpl<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<Tpl<u64>>,
    /// Expressions over `rows` that must all hold, e.g. `rows[0].count > 0`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub that: Vec<String>,
}

postgres_params! {
    /// Run statements in one transaction, rolled back if any fails.
    pub struct Exec {
        pub sql: Template,
        /// `false` for statements that cannot run in a transaction (`CREATE DATABASE`,
        /// `VACUUM`): each statement then stands on its own.
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        pub transaction: bool,
    }
}
postgres_verb!(
    Exec,
    Mutating,
    "Run statements in one transaction",
    ["rows_affected"]
);

postgres_params! {
    /// Terminate backends matching filters (never this connection's own).
    pub struct TerminateBackends {
        /// Only backends connected to this database.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target_database: Option<Template>,
        /// Only backends in these states, e.g. `[active, idle in transaction]`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub states: Vec<String>,
        /// Only backends whose current query or transaction is older than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub older_than: Option<Tpl<Duration>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub application_name: Option<Template>,
    }
}
postgres_verb!(
    TerminateBackends,
    Mutating,
    "Terminate matching backends (pool exhaustion)",
    ["pids", "count"]
);

postgres_params! {
    /// `pg_dump` in custom format, named by pattern, with retention.
    pub struct Dump {
        /// Directory of pg_dump/pg_restore/psql. Default: PATH, then Debian's
        /// /usr/lib/postgresql/<version>/bin, the first not older than the server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bin_dir: Option<Template>,
        /// Directory the dump is written to.
        pub to_dir: Template,
        /// File name; `{timestamp}` and `{database}` are replaced (after templates are
        /// rendered: `"{{ inputs.prefix }}_{timestamp}.dump"`).
        #[serde(default = "default_dump_name")]
        pub name: Template,
        /// Compression level 0-9.
        #[serde(default = "default_compress")]
        pub compress: Tpl<u8>,
        /// Delete dumps matching the pattern that are older than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub keep_for: Option<Tpl<Duration>>,
    }
}
postgres_verb!(
    Dump,
    Mutating,
    "Dump a database with pg_dump (custom format) and prune old dumps",
    ["path", "size", "pruned", "tool"]
);

fn default_dump_name() -> Template {
    Template("{database}_{timestamp}.dump".into())
}

fn default_compress() -> Tpl<u8> {
    Tpl::Value(6)
}

postgres_params! {
    /// Restore a dump (custom format, `.sql` or `.sql.gz`) into the database.
    pub struct Restore {
        /// Directory of pg_dump/pg_restore/psql. Default: PATH, then Debian's
        /// /usr/lib/postgresql/<version>/bin, the first not older than the server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bin_dir: Option<Template>,
        pub file: Template,
        /// `pg_restore --clean --if-exists`: drop objects before recreating them.
        #[serde(default, skip_serializing_if = "is_false")]
        pub clean: bool,
        /// Terminate connections, drop and recreate the database first.
        #[serde(default, skip_serializing_if = "is_false")]
        pub recreate: bool,
        /// Parallel jobs for custom-format dumps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub jobs: Option<Tpl<u8>>,
    }
}
postgres_verb!(
    Restore,
    Mutating,
    "Restore a database from a dump",
    ["format", "tool"]
);

postgres_params! {
    /// Restore a backup into an isolated `<db>_verify_<timestamp>` database and compare it
    /// with the live one; writes a JSON report like `verify-latest.json`.
    pub struct VerifyBackup {
        /// Directory of pg_dump/pg_restore/psql. Default: PATH, then Debian's
        /// /usr/lib/postgresql/<version>/bin, the first not older than the server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bin_dir: Option<Template>,
        pub file: Template,
        /// Tables that must exist and whose row counts must match the live database.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tables: Vec<String>,
        /// Tables whose md5 checksums must match.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub checksum_tables: Vec<String>,
        /// Extensions that must be present, e.g. `[postgis]`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub extensions: Vec<String>,
        /// Where to write the JSON report.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub report: Option<Template>,
        /// Keep the verification database afterwards (default: drop it). A kept copy is
        /// restored as `postgres.restore` would (logged tables, pg_restore alone); one that is
        /// dropped is restored faster: its tables UNLOGGED, each table's rows over `jobs`
        /// connections.
        #[serde(default, skip_serializing_if = "is_false")]
        pub keep: bool,
        /// Row counts may differ from the live database by this percentage (a warning, not a
        /// failure): the live database has moved on since the backup. Default 0: exact.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub row_count_tolerance: Option<Tpl<f64>>,
        /// Connections and pg_restore jobs the restore uses on the live server. Default 2
        /// for a custom or directory-format dump that is not kept, else 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub jobs: Option<Tpl<u8>>,
    }
}
postgres_verb!(
    VerifyBackup,
    Mutating,
    "Restore a backup into an isolated database and compare it with the live one",
    [
        "passed",
        "failed",
        "warnings",
        "result",
        "report_path",
        "test_database",
        "restore_seconds",
        "checks"
    ]
);

postgres_params! {
    /// Compare this database with another: tables, row counts, checksums.
    pub struct Compare {
        /// URL of the other database.
        pub other_url: Template,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tables: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub checksum_tables: Vec<String>,
        /// Report differences as outputs without failing the step.
        #[serde(default, skip_serializing_if = "is_false")]
        pub allow_differences: bool,
    }
}
postgres_verb!(
    Compare,
    ReadOnly,
    "Compare two databases: tables, row counts, checksums",
    ["matches", "differences"]
);
