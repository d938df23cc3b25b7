//! The metadata database (§9). SQL lives only in this module and its children.
//!
//! One code path serves both backends through sqlx's `Any` driver: the statements are
//! portable SQL (`$n` placeholders, `BIGINT`, `RETURNING`), and the few differences are
//! decided on [`Backend`]. SQLite gets two pools: many readers, and one writer connection so
//! that write transactions queue in the pool instead of failing with `SQLITE_BUSY` (WAL lets
//! the readers go on meanwhile). PostgreSQL uses one pool for both.

mod assets;
pub mod audit;
mod backend;
mod bulk;
mod copy;
mod delivery;
pub mod direct;
pub mod events;
pub mod history;
mod identity;
mod import;
pub mod insights;
pub mod list;
pub mod metadata;
pub mod published;
mod publishing;
mod renditions;
mod roles;
mod rows;
mod settings;
pub mod sso;
mod tokens;
pub mod trash;
pub mod uploads;
mod versions;

use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use assets::{AssetInsert, FileInsert, Miscount, NewVersion};
pub use backend::Backend;
pub use delivery::DeliveryEntry;
pub use direct::DirectReader;
pub use import::ImportedAsset;
pub use renditions::RenditionRow;

/// Handle to the metadata database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    /// SQLite: point reads on the calling thread (delivery misses).
    direct: Option<DirectReader>,
    /// PostgreSQL: where to open a connection of one's own ([`Db::connect_one`]).
    url: Option<std::sync::Arc<str>>,
}

/// One migration: version, name and SQL text, embedded in the binary.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "listing",
        sql: include_str!("../migrations/sqlite/0002_listing.sql"),
    },
    Migration {
        version: 3,
        name: "delivery_api",
        sql: include_str!("../migrations/sqlite/0003_delivery_api.sql"),
    },
    Migration {
        version: 4,
        name: "renditions",
        sql: include_str!("../migrations/sqlite/0004_renditions.sql"),
    },
    Migration {
        version: 5,
        name: "events",
        sql: include_str!("../migrations/sqlite/0005_events.sql"),
    },
    Migration {
        version: 6,
        name: "name_order",
        sql: include_str!("../migrations/sqlite/0006_name_order.sql"),
    },
    Migration {
        version: 7,
        name: "entry_files",
        sql: include_str!("../migrations/sqlite/0007_entry_files.sql"),
    },
    // v8 is PostgreSQL's alone (covering name-order indexes SQLite does not need).
    Migration {
        version: 9,
        name: "asset_counts",
        sql: include_str!("../migrations/sqlite/0009_asset_counts.sql"),
    },
    Migration {
        version: 10,
        name: "planner_statistics",
        sql: include_str!("../migrations/sqlite/0010_planner_statistics.sql"),
    },
    Migration {
        version: 11,
        name: "rendition_sources",
        sql: include_str!("../migrations/sqlite/0011_rendition_sources.sql"),
    },
    Migration {
        version: 12,
        name: "webhook_fields",
        sql: include_str!("../migrations/sqlite/0012_webhook_fields.sql"),
    },
    Migration {
        version: 13,
        name: "metadata",
        sql: include_str!("../migrations/sqlite/0013_metadata.sql"),
    },
    Migration {
        version: 14,
        name: "metadata_values",
        sql: include_str!("../migrations/sqlite/0014_metadata_values.sql"),
    },
    Migration {
        version: 15,
        name: "metadata_extension",
        sql: include_str!("../migrations/sqlite/0015_metadata_extension.sql"),
    },
    Migration {
        version: 16,
        name: "trash",
        sql: include_str!("../migrations/sqlite/0016_trash.sql"),
    },
    Migration {
        version: 17,
        name: "roles",
        sql: include_str!("../migrations/sqlite/0017_roles.sql"),
    },
    Migration {
        version: 18,
        name: "audit_log",
        sql: include_str!("../migrations/sqlite/0018_audit_log.sql"),
    },
    Migration {
        version: 19,
        name: "invitations",
        sql: include_str!("../migrations/sqlite/0019_invitations.sql"),
    },
    Migration {
        version: 20,
        name: "trash_jobs",
        sql: include_str!("../migrations/sqlite/0020_trash_jobs.sql"),
    },
    Migration {
        version: 21,
        name: "sso",
        sql: include_str!("../migrations/sqlite/0021_sso.sql"),
    },
    Migration {
        version: 22,
        name: "parent_order_covering",
        sql: include_str!("../migrations/sqlite/0022_parent_order_covering.sql"),
    },
    Migration {
        version: 23,
        name: "uploads",
        sql: include_str!("../migrations/sqlite/0023_uploads.sql"),
    },
    Migration {
        version: 24,
        name: "insights",
        sql: include_str!("../migrations/sqlite/0024_insights.sql"),
    },
    Migration {
        version: 25,
        name: "direct_uploads",
        sql: include_str!("../migrations/sqlite/0025_direct_uploads.sql"),
    },
];

/// The migration that adds `metadata_values`, which perma fills from the metadata tables.
const METADATA_VALUES_VERSION: i64 = 14;

const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "listing",
        sql: include_str!("../migrations/postgres/0002_listing.sql"),
    },
    Migration {
        version: 3,
        name: "delivery_api",
        sql: include_str!("../migrations/postgres/0003_delivery_api.sql"),
    },
    Migration {
        version: 4,
        name: "renditions",
        sql: include_str!("../migrations/postgres/0004_renditions.sql"),
    },
    Migration {
        version: 5,
        name: "events",
        sql: include_str!("../migrations/postgres/0005_events.sql"),
    },
    Migration {
        version: 6,
        name: "name_order",
        sql: include_str!("../migrations/postgres/0006_name_order.sql"),
    },
    Migration {
        version: 7,
        name: "entry_files",
        sql: include_str!("../migrations/postgres/0007_entry_files.sql"),
    },
    Migration {
        version: 8,
        name: "name_order_covering",
        sql: include_str!("../migrations/postgres/0008_name_order_covering.sql"),
    },
    Migration {
        version: 9,
        name: "asset_counts",
        sql: include_str!("../migrations/postgres/0009_asset_counts.sql"),
    },
    Migration {
        version: 10,
        name: "asset_counts_per_statement",
        sql: include_str!("../migrations/postgres/0010_asset_counts_per_statement.sql"),
    },
    Migration {
        version: 11,
        name: "rendition_sources",
        sql: include_str!("../migrations/postgres/0011_rendition_sources.sql"),
    },
    Migration {
        version: 12,
        name: "webhook_fields",
        sql: include_str!("../migrations/postgres/0012_webhook_fields.sql"),
    },
    Migration {
        version: 13,
        name: "metadata",
        sql: include_str!("../migrations/postgres/0013_metadata.sql"),
    },
    Migration {
        version: 14,
        name: "metadata_values",
        sql: include_str!("../migrations/postgres/0014_metadata_values.sql"),
    },
    Migration {
        version: 15,
        name: "metadata_extension",
        sql: include_str!("../migrations/postgres/0015_metadata_extension.sql"),
    },
    Migration {
        version: 16,
        name: "trash",
        sql: include_str!("../migrations/postgres/0016_trash.sql"),
    },
    Migration {
        version: 17,
        name: "roles",
        sql: include_str!("../migrations/postgres/0017_roles.sql"),
    },
    Migration {
        version: 18,
        name: "audit_log",
        sql: include_str!("../migrations/postgres/0018_audit_log.sql"),
    },
    Migration {
        version: 19,
        name: "invitations",
        sql: include_str!("../migrations/postgres/0019_invitations.sql"),
    },
    Migration {
        version: 20,
        name: "trash_jobs",
        sql: include_str!("../migrations/postgres/0020_trash_jobs.sql"),
    },
    Migration {
        version: 21,
        name: "sso",
        sql: include_str!("../migrations/postgres/0021_sso.sql"),
    },
    Migration {
        version: 22,
        name: "parent_order_covering",
        sql: include_str!("../migrations/postgres/0022_parent_order_covering.sql"),
    },
    Migration {
        version: 23,
        name: "uploads",
        sql: include_str!("../migrations/postgres/0023_uploads.sql"),
    },
    Migration {
        version: 24,
        name: "insights",
        sql: include_str!("../migrations/postgres/0024_insights.sql"),
    },
    Migration {
        version: 25,
        name: "direct_uploads",
        sql: include_str!("../migrations/postgres/0025_direct_uploads.sql"),
    },
];

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`). Does not migrate.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            bail!("unsupported database URL {url:?}: use sqlite://path or postgres://…");
        };
        match backend {
            Backend::Sqlite => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                if let Some(parent) = std::path::Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).with_context(|| {
                            format!("creating database directory {}", parent.display())
                        })?;
                    }
                }
                let url = format!("sqlite://{path}?mode=rwc");
                let options = |more: String| {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(move |conn, _meta| {
                            let more = more.clone();
                            Box::pin(async move {
                                // WAL: readers never block the writer; FULL: an acknowledged
                                // write survives power loss, not only a process kill (§9, STYLE 7).
                                conn.execute(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                                )
                                .await?;
                                if !more.is_empty() {
                                    conn.execute(more.as_str()).await?;
                                }
                                Ok(())
                            })
                        })
                };
                // The writer's large transactions (a flush of link insights, an import)
                // keep their pages in its cache instead of spilling them to the log
                // mid-transaction, and statement journals stay in memory.
                let write = options(format!(
                    "PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA temp_store = MEMORY;"
                ))
                .max_connections(1)
                .connect(&url)
                .await
                .with_context(|| format!("opening SQLite database {path}"))?;
                let read = options(String::new())
                    .max_connections(8)
                    .connect(&url)
                    .await
                    .with_context(|| format!("opening SQLite database {path}"))?;
                Ok(Self {
                    backend,
                    read,
                    write,
                    // An in-memory database is one per connection: no second reader.
                    direct: (!path.is_empty() && !path.starts_with(":memory:"))
                        .then(|| DirectReader::new(path)),
                    url: None,
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await
                    .context("connecting to PostgreSQL")?;
                Ok(Self {
                    backend,
                    read: pool.clone(),
                    write: pool,
                    direct: None,
                    url: Some(url.into()),
                })
            }
        }
    }

    /// A PostgreSQL connection outside the pool, registered with the current runtime: a
    /// delivery worker reads its misses over its own (`delivery/loader.rs`). `None` on
    /// SQLite.
    pub async fn connect_one(&self) -> Option<sqlx::Result<sqlx::AnyConnection>> {
        use sqlx::Connection;
        let url = self.url.as_deref()?;
        Some(sqlx::AnyConnection::connect(url).await)
    }

    /// Point reads of delivery entries on the calling thread, where the backend allows
    /// them (SQLite); `None` on PostgreSQL.
    pub fn direct_reader(&self) -> Option<&DirectReader> {
        self.direct.as_ref()
    }

    /// Connections of each pool: (pool, open, idle). On PostgreSQL reads and writes share
    /// one pool (`shared`).
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, usize)> {
        match self.backend {
            Backend::Sqlite => vec![
                ("read", self.read.size(), self.read.num_idle()),
                ("write", self.write.size(), self.write.num_idle()),
            ],
            Backend::Postgres => vec![("shared", self.read.size(), self.read.num_idle())],
        }
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every migration not yet recorded in `perma_migrations`. Idempotent.
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        self.write
            .execute(
                "CREATE TABLE IF NOT EXISTS perma_migrations (\
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .await
            .context("creating perma_migrations")?;
        let mut applied = Vec::new();
        for m in migrations {
            let mut tx = self.write.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM perma_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            sqlx::raw_sql(m.sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("applying migration {} {}", m.version, m.name))?;
            sqlx::query(
                "INSERT INTO perma_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(crate::time::now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            applied.push(format!("{:04}_{}", m.version, m.name));
            if m.version == METADATA_VALUES_VERSION {
                self.rebuild_metadata_values()
                    .await
                    .context("filling metadata_values")?;
            }
        }
        Ok(applied)
    }

    /// Tells the other perma processes on this database that an asset (or, with `None`,
    /// anything) changed, so they drop what they cached (PostgreSQL `NOTIFY`; a no-op on
    /// SQLite, where one process owns the database).
    pub async fn notify_changed(&self, asset_uid: Option<&str>) -> anyhow::Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let payload = asset_uid.unwrap_or("*");
        // NOTIFY takes no bind parameters; uids are `blt` + hex, checked here anyway.
        anyhow::ensure!(
            payload == "*" || payload.bytes().all(|b| b.is_ascii_alphanumeric()),
            "refusing to notify with payload {payload:?}"
        );
        sqlx::raw_sql(&format!("NOTIFY {CHANGES_CHANNEL}, '{payload}'"))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Whether the database answers (`SELECT 1` on both pools).
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }

    /// Closes both pools (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// SQLite page cache of the one writing connection, in KiB (counted in the memory plan,
/// `config::memory`): a flush of link insights walks its tables in key order, so a few
/// MiB keep it from spilling pages to the log mid-transaction. Its
/// statement journals (an upsert of many rows journals its pages for a rollback of that
/// statement alone) are kept in memory too.
pub const WRITER_CACHE_KIB: i64 = 8 << 10;

/// PostgreSQL channel on which processes announce changed assets.
pub const CHANGES_CHANNEL: &str = "perma_changed";

/// Listens for [`Db::notify_changed`] from other processes and calls `on_change` with the
/// asset uid (`None`: anything may have changed — also after a lost connection, since
/// notifications sent meanwhile are gone). Runs until `keep_going` returns false.
pub async fn listen_changes(
    url: &str,
    on_change: impl Fn(Option<&str>) + Send,
    keep_going: impl Fn() -> bool + Send,
) -> anyhow::Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect(url)
        .await
        .context("connecting the change listener")?;
    listener.listen(CHANGES_CHANNEL).await?;
    while keep_going() {
        match tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await {
            Err(_) => continue,
            Ok(Ok(Some(n))) => match n.payload() {
                "*" => on_change(None),
                uid => on_change(Some(uid)),
            },
            Ok(Ok(None)) => on_change(None), // reconnected: we may have missed some
            Ok(Err(e)) => {
                on_change(None);
                tracing::warn!("change listener: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}

/// Reads a JSON-text column holding a list of strings.
fn json_list(row: &AnyRow, col: &str) -> sqlx::Result<Vec<String>> {
    let text: String = row.try_get(col)?;
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

/// Reads a 0/1 column as bool (SQLite has no boolean type).
fn flag(row: &AnyRow, col: &str) -> sqlx::Result<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Serialises a list of strings as JSON text for storage.
fn to_json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

/// True when a database error is a unique-constraint violation (a lost race or duplicate).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("2067")
                || db.code().as_deref() == Some("1555")
                || db.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}
