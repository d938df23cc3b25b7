//! Copying every row of one perma database into another (`perma copy`, moving from the
//! embedded SQLite to PostgreSQL). Tables are copied in foreign-key order, each in one
//! transaction; every column is TEXT or BIGINT, so values are carried over as such.

use anyhow::{ensure, Context};
use sqlx::any::AnyRow;
use sqlx::{Column, Row};

use super::Db;

/// Tables in an order that satisfies their foreign keys.
const TABLES: &[&str] = &[
    "organizations",
    "users",
    "sessions",
    "stacks",
    "stack_members",
    "environments",
    "locales",
    "tokens",
    "assets",
    "asset_tags",
    "files",
    "asset_versions",
    "publications",
    "published_assets",
    "published_tags",
    "sync_events",
    "bulk_jobs",
    "bulk_job_items",
];

/// A column value of either of the two types perma's schema uses.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

fn value(row: &AnyRow, i: usize) -> anyhow::Result<Value> {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return Ok(Value::Int(v));
    }
    Ok(Value::Text(
        row.try_get::<Option<String>, _>(i)
            .with_context(|| format!("column {i} is neither BIGINT nor TEXT"))?,
    ))
}

impl Db {
    /// Copies every row into `target`, which must be migrated and hold no users yet.
    /// Returns (table, rows) counts.
    pub async fn copy_into(&self, target: &Db) -> anyhow::Result<Vec<(&'static str, usize)>> {
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&target.read)
            .await?;
        ensure!(
            users == 0,
            "the target database already holds data; copy into an empty one"
        );
        let mut counts = Vec::new();
        let mut tx = target.write.begin().await?;
        for table in TABLES {
            let rows = sqlx::query(&format!("SELECT * FROM {table}"))
                .fetch_all(&self.read)
                .await
                .with_context(|| format!("reading {table}"))?;
            for row in &rows {
                let cols: Vec<String> = row.columns().iter().map(|c| c.name().to_owned()).collect();
                let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    cols.join(", "),
                    marks.join(", ")
                );
                let mut q = sqlx::query(&sql);
                for i in 0..cols.len() {
                    q = match value(row, i)? {
                        Value::Int(v) => q.bind(v),
                        Value::Text(v) => q.bind(v),
                    };
                }
                q.execute(&mut *tx)
                    .await
                    .with_context(|| format!("writing {table}"))?;
            }
            counts.push((*table, rows.len()));
        }
        tx.commit().await?;
        Ok(counts)
    }
}
