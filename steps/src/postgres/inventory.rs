//! What a database holds, read the same way from two databases so they can be compared
//! (`verify_backup`: the restored copy against the live one; `compare`): tables, row counts,
//! checksums, indexes, enum types, extensions.

use futures_util::future::try_join_all;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use tokio_postgres::Client;

use super::connect::reason;

/// Settings that make a row's text the same on both sides, whatever the sessions' defaults.
const STABLE_TEXT: &str = "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; \
    SET IntervalStyle TO 'postgres'; SET extra_float_digits TO 3; SET bytea_output TO 'hex'";

/// User tables, without those an extension owns (PostGIS's `spatial_ref_sys`).
const TABLES: &str = "
    SELECT n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype = 'e')
    ORDER BY 1, 2";

const INDEXES: &str = "SELECT count(*) FROM pg_indexes \
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema')";

const ENUMS: &str = "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
    WHERE t.typtype = 'e' AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

const EXTENSIONS: &str = "SELECT extname::text FROM pg_extension ORDER BY 1";

/// `schema.table`; written `Listing` (schema `public`) or `billing.Payment` in playbooks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    pub fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((schema, name)) => Self {
                schema: unquote(schema),
                name: unquote(name),
            },
            None => Self {
                schema: "public".into(),
                name: unquote(text),
            },
        }
    }

    /// The name as SQL, quoted so `User` stays `User` (not `user`).
    fn sql(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schema == "public" {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

fn unquote(part: &str) -> String {
    part.trim().trim_matches('"').to_string()
}

pub(super) fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// One side of a comparison: a connection with stable text settings.
pub(super) struct Side<'a> {
    client: &'a Client,
    /// `live`, `backup`, or a database name: how messages call this side.
    pub name: String,
}

impl<'a> Side<'a> {
    pub async fn new(client: &'a Client, name: impl Into<String>) -> Result<Self, String> {
        client
            .batch_execute(STABLE_TEXT)
            .await
            .map_err(|e| reason(&e))?;
        Ok(Self {
            client,
            name: name.into(),
        })
    }

    fn fail(&self, what: &str, error: &tokio_postgres::Error) -> String {
        format!("{what} ({}): {}", self.name, reason(error))
    }

    pub async fn tables(&self) -> Result<BTreeSet<TableName>, String> {
        let rows = self
            .client
            .query(TABLES, &[])
            .await
            .map_err(|e| self.fail("listing tables", &e))?;
        Ok(rows
            .iter()
            .map(|r| TableName {
                schema: r.get(0),
                name: r.get(1),
            })
            .collect())
    }

    pub async fn row_count(&self, table: &TableName) -> Result<i64, String> {
        let row = self
            .client
            .query_one(&format!("SELECT count(*) FROM {}", table.sql()), &[])
            .await
            .map_err(|e| self.fail(&format!("counting rows of {table}"), &e))?;
        Ok(row.get(0))
    }

    /// A checksum of a table's content that does not depend on row order: the md5 of each
    /// row's text, summed as 64-bit numbers, with the row count. One pass, constant memory,
    /// no sort, so it stays cheap on large tables (an ordered `string_agg` does not).
    pub async fn checksum(&self, table: &TableName) -> Result<String, String> {
        let sql = format!(
            "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text \
             FROM {} AS t",
            table.sql()
        );
        let row = self
            .client
            .query_one(&sql, &[])
            .await
            .map_err(|e| self.fail(&format!("checksumming {table}"), &e))?;
        let (count, sum): (i64, String) = (row.get(0), row.get(1));
        let digest = Md5::digest(format!("{count}:{sum}").as_bytes());
        Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub async fn index_count(&self) -> Result<i64, String> {
        self.count(INDEXES, "counting indexes").await
    }

    pub async fn enum_count(&self) -> Result<i64, String> {
        self.count(ENUMS, "counting enum types").await
    }

    async fn count(&self, sql: &str, what: &str) -> Result<i64, String> {
        let row = self
            .client
            .query_one(sql, &[])
            .await
            .map_err(|e| self.fail(what, &e))?;
        Ok(row.get(0))
    }

    pub async fn extensions(&self) -> Result<BTreeSet<String>, String> {
        let rows = self
            .client
            .query(EXTENSIONS, &[])
            .await
            .map_err(|e| self.fail("listing extensions", &e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// What one side holds, read once: a verification reads the live side while the backup is
/// still restoring, then judges both without another query.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Snapshot {
    pub tables: BTreeSet<TableName>,
    /// Rows of the counted tables this side has.
    pub rows: BTreeMap<TableName, i64>,
    /// Checksums of the checksummed tables this side has.
    pub checksums: BTreeMap<TableName, String>,
    pub extensions: BTreeSet<String>,
    pub indexes: i64,
    pub enums: i64,
}

impl Side<'_> {
    /// Tables, then every count and checksum asked for (of the tables this side has; all of
    /// its tables counted when `counted` is `None`), extensions, index and enum counts. The
    /// queries are sent together on the one connection (tokio-postgres pipelines them), so
    /// the side costs its queries' work, not a round trip each.
    pub async fn snapshot(
        &self,
        counted: Option<&BTreeSet<TableName>>,
        checksummed: &[TableName],
    ) -> Result<Snapshot, String> {
        let tables = self.tables().await?;
        let counted: Vec<&TableName> = match counted {
            Some(wanted) => wanted.intersection(&tables).collect(),
            None => tables.iter().collect(),
        };
        let summed: BTreeSet<&TableName> =
            checksummed.iter().filter(|t| tables.contains(t)).collect();
        let rows = try_join_all(counted.iter().map(|t| self.row_count(t)));
        let sums = try_join_all(summed.iter().map(|t| self.checksum(t)));
        let (rows, sums, extensions, indexes, enums) = tokio::try_join!(
            rows,
            sums,
            self.extensions(),
            self.index_count(),
            self.enum_count()
        )?;
        Ok(Snapshot {
            rows: counted.into_iter().cloned().zip(rows).collect(),
            checksums: summed.into_iter().cloned().zip(sums).collect(),
            tables,
            extensions,
            indexes,
            enums,
        })
    }
}

/// Names for messages: `User, Listing`.
pub(super) fn list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_default_to_public_and_keep_their_case() {
        let user = TableName::parse("User");
        assert_eq!(user.sql(), "\"public\".\"User\"");
        assert_eq!(user.to_string(), "User");
        let payment = TableName::parse("billing.\"Payment\"");
        assert_eq!(payment.sql(), "\"billing\".\"Payment\"");
        assert_eq!(payment.to_string(), "billing.Payment");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
