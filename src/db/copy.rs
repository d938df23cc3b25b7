//! Copying every row of one perma database into another (`perma copy`, moving from the
//! embedded SQLite to PostgreSQL, §9). Tables are copied in foreign-key order, in one
//! transaction, each read as a stream so that memory does not grow with the library; every
//! column is TEXT or BIGINT, so values are carried over as such.

use anyhow::{ensure, Context};
use futures_util::TryStreamExt;
use sqlx::Row;

use super::{Backend, Db};

/// Tables in an order that satisfies their foreign keys.
const TABLES: &[&str] = &[
    "organizations",
    "users",
    "sessions",
    "user_identities",
    "invitations",
    "stacks",
    "stack_members",
    "roles",
    "member_roles",
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
    // Without them a copy would lose the webhooks, break every signed URL (§13), drop
    // events not yet delivered, and orphan the stored renditions (§11).
    "webhooks",
    "signing_keys",
    "outbox",
    "event_jobs",
    "renditions",
    "extensions",
    "asset_metadata",
    "asset_metadata_published",
    "audit_log",
    "traffic_hourly",
    "traffic_daily",
    "traffic_referrers",
];

/// How a column is carried over: perma's schema has only these two types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

/// The columns of `table` in `db` with their kinds, as its schema declares them. Values are
/// bound by these, never by what a row holds: a NULL says nothing of its column's type, and
/// a prepared insert must give each parameter one type for every row.
async fn columns(db: &Db, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql)
        .bind(table)
        .fetch_all(&db.read)
        .await
        .with_context(|| format!("reading the columns of {table}"))?;
    ensure!(!rows.is_empty(), "no table {table}");
    rows.into_iter()
        .map(|(name, ty)| {
            let ty = ty.to_ascii_lowercase();
            let kind = if ty.contains("int") {
                Kind::Int
            } else if ty == "text" {
                Kind::Text
            } else {
                anyhow::bail!("{table}.{name} has type {ty}, neither an integer nor text");
            };
            Ok((name, kind))
        })
        .collect()
}

/// At most this many rows per INSERT, and at most this many values (PostgreSQL takes
/// 65,535 parameters per statement, SQLite 32,766).
const BATCH_ROWS: usize = 500;
const BATCH_VALUES: usize = 30_000;

/// A value read from the source, typed by its column.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

/// Writes `values` (whole rows of `columns`) as one multi-row INSERT and empties it.
async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    values: &mut Vec<Value>,
) -> anyhow::Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        Backend::of(tx).rows(&row, values.len() / columns.len())
    );
    let mut q = sqlx::query(&sql);
    for v in values.drain(..) {
        q = match v {
            Value::Int(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
        };
    }
    q.execute(&mut **tx)
        .await
        .with_context(|| format!("writing {table}"))?;
    Ok(())
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
            let cols = columns(target, table).await?;
            let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            let select = format!("SELECT {} FROM {table}", names.join(", "));
            let mut rows = sqlx::query(&select).fetch(&self.read);
            // Rows go in batches, one INSERT each: fewer round trips, and on PostgreSQL
            // one change of the kept folder totals per batch rather than per row (§6).
            let batch_rows = (BATCH_VALUES / cols.len()).clamp(1, BATCH_ROWS);
            let mut batch: Vec<Value> = Vec::with_capacity(batch_rows * cols.len());
            let mut n = 0;
            while let Some(row) = rows
                .try_next()
                .await
                .with_context(|| format!("reading {table}"))?
            {
                for (i, (name, kind)) in cols.iter().enumerate() {
                    let read = || format!("reading {table}.{name}");
                    batch.push(match kind {
                        Kind::Int => Value::Int(row.try_get(i).with_context(read)?),
                        // SQLite keeps what it is given: a number in a TEXT column is
                        // carried over as its text.
                        Kind::Text => Value::Text(match row.try_get::<Option<String>, _>(i) {
                            Ok(v) => v,
                            Err(_) => row
                                .try_get::<Option<i64>, _>(i)
                                .with_context(read)?
                                .map(|v| v.to_string()),
                        }),
                    });
                }
                n += 1;
                if batch.len() == batch_rows * cols.len() {
                    insert(&mut tx, table, &names, &mut batch).await?;
                }
            }
            insert(&mut tx, table, &names, &mut batch).await?;
            if target.backend == Backend::Postgres {
                // Statistics of what was just written, in this transaction: the checks of
                // the foreign keys into this table (the next tables' rows) are planned by
                // them, and would otherwise take the table for empty and scan it each time.
                sqlx::raw_sql(&format!("ANALYZE {table}"))
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("analysing {table}"))?;
            }
            counts.push((*table, n));
        }
        if target.backend == Backend::Postgres {
            // The outbox's numbers were copied as they were: its sequence continues after
            // them, or the target's next change would reuse one.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('outbox', 'seq'), \
                 COALESCE((SELECT MAX(seq) FROM outbox), 0) + 1, false)",
            )
            .execute(&mut *tx)
            .await
            .context("moving the outbox sequence past the copied events")?;
        }
        tx.commit().await?;
        // Derived from the metadata tables (and holding the one non-integer number column),
        // so rebuilt rather than copied.
        let n = target
            .rebuild_metadata_values()
            .await
            .context("rebuilding metadata_values")?;
        counts.push(("metadata_values (rebuilt per metadata)", n as usize));
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables deliberately not copied: the kept folder totals, which the target's triggers
    /// rebuild as the assets arrive, the metadata values, which `copy_into` rebuilds from the
    /// metadata, each database's own record of its migrations, and single sign-ins in
    /// progress (minutes long; a copy is made with the service stopped).
    const NOT_COPIED: &[&str] = &[
        "asset_counts",
        "perma_migrations",
        "metadata_values",
        "sso_logins",
        // Unfinished resumable uploads: their bytes live in the source's data directory.
        "uploads",
    ];

    /// The table names that follow `keyword` in `sql`.
    fn names_after<'a>(sql: &'a str, keyword: &'a str) -> impl Iterator<Item = String> + 'a {
        sql.match_indices(keyword).map(move |(i, _)| {
            sql[i + keyword.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
    }

    /// Every table any migration creates is copied or deliberately not: a table added
    /// later cannot be forgotten by `perma copy`.
    #[test]
    fn every_table_is_copied_or_deliberately_not() {
        for migrations in [
            super::super::SQLITE_MIGRATIONS,
            super::super::POSTGRES_MIGRATIONS,
        ] {
            let mut created: Vec<String> = Vec::new();
            for m in migrations {
                created.extend(names_after(m.sql, "CREATE TABLE "));
                for dropped in names_after(m.sql, "DROP TABLE ") {
                    created.retain(|t| *t != dropped);
                }
            }
            assert!(created.len() > 20, "{created:?}");
            for table in &created {
                assert!(
                    TABLES.contains(&table.as_str()) || NOT_COPIED.contains(&table.as_str()),
                    "perma copy neither copies nor skips table {table}"
                );
            }
            for table in TABLES.iter().chain(NOT_COPIED) {
                assert!(
                    created.iter().any(|t| t == table) || *table == "perma_migrations",
                    "{table} is listed but no migration creates it"
                );
            }
        }
    }
}
