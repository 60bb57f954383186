//! `postgres.compare`: two databases side by side (a staging restore against production, a
//! replica against its primary): tables, row counts, checksums.

use serde_json::json;
use std::collections::BTreeSet;

use super::Compare;
use super::connect::{Params, Target};
use super::inventory::{Side, TableName, list};
use crate::prelude::*;

impl Compare {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let this = self.target(ctx).await?;
        let other = Target::new(Params {
            url: Some(ctx.render(&self.other_url)?),
            host: None,
            port: None,
            user: None,
            password: None,
            database: None,
            sslmode: None,
            connect_timeout: None,
        })?;
        let (a_client, b_client) = (this.connect().await?, other.connect().await?);
        let fail = |e: String| {
            StepError::failed(format!(
                "comparing {} with {}: {e}",
                this.label(),
                other.label()
            ))
        };
        let a = Side::new(&a_client, this.label()).await.map_err(fail)?;
        let b = Side::new(&b_client, other.label()).await.map_err(fail)?;
        let differences = differences(&a, &b, &self.tables, &self.checksum_tables)
            .await
            .map_err(fail)?;
        if !differences.is_empty() && !self.allow_differences {
            return Err(StepError::failed(format!(
                "{} and {} differ:\n{}",
                this.label(),
                other.label(),
                differences.join("\n")
            )));
        }
        Ok(outputs(json!({
            "matches": differences.is_empty(),
            "differences": differences,
        })))
    }
}

async fn differences(
    a: &Side<'_>,
    b: &Side<'_>,
    tables: &[String],
    checksum_tables: &[String],
) -> Result<Vec<String>, String> {
    let (a_tables, b_tables) = (a.tables().await?, b.tables().await?);
    let mut found = Vec::new();
    let wanted: BTreeSet<TableName> = if tables.is_empty() {
        a_tables.union(&b_tables).cloned().collect()
    } else {
        tables.iter().map(|t| TableName::parse(t)).collect()
    };
    for (side, present, other) in [(a, &a_tables, b), (b, &b_tables, a)] {
        let missing: Vec<&TableName> = wanted.iter().filter(|t| !present.contains(t)).collect();
        if !missing.is_empty() {
            found.push(format!(
                "only in {}, not in {}: {}",
                other.name,
                side.name,
                list(missing)
            ));
        }
    }
    for table in wanted
        .iter()
        .filter(|t| a_tables.contains(t) && b_tables.contains(t))
    {
        let (in_a, in_b) = (a.row_count(table).await?, b.row_count(table).await?);
        if in_a != in_b {
            found.push(format!(
                "{table}: {in_a} rows in {}, {in_b} in {}",
                a.name, b.name
            ));
        }
    }
    for table in checksum_tables.iter().map(|t| TableName::parse(t)) {
        if a_tables.contains(&table) && b_tables.contains(&table) {
            let (sum_a, sum_b) = (a.checksum(&table).await?, b.checksum(&table).await?);
            if sum_a != sum_b {
                found.push(format!("{table}: checksums differ"));
            }
        }
    }
    Ok(found)
}
