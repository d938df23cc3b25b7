//! What is published where (§12): the `published_assets` rows the Content Delivery API
//! lists, and the per-stack `sync_events` log the sync API reads. Both are written in the
//! transaction that changes `publications`, so they never disagree with it.
//!
//! Event numbers come from `stacks.sync_seq`, incremented in that transaction: the
//! increment locks the stack's row until commit, so within a stack numbers are handed out
//! in commit order. A reader that has seen event `n` has seen every event before it; a
//! sync token is just such an `n` (§12 "no change is ever missed or repeated").

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{json_list, Db};
use crate::records::{SyncEvent, SyncKind};

/// Appends one event to the stack's log; returns its number.
async fn append_event(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    e: (&str, &str, &str),
    kind: SyncKind,
    version: Option<i64>,
    (by, at): (&str, i64),
) -> sqlx::Result<i64> {
    let (asset_uid, environment_uid, locale) = e;
    let seq: i64 = sqlx::query_scalar(
        "UPDATE stacks SET sync_seq = sync_seq + 1 WHERE api_key = $1 RETURNING sync_seq",
    )
    .bind(api_key)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO sync_events (api_key, seq, environment_uid, locale, asset_uid, kind, \
         version, by_uid, event_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(api_key)
    .bind(seq)
    .bind(environment_uid)
    .bind(locale)
    .bind(asset_uid)
    .bind(kind.as_str())
    .bind(version)
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

/// Makes `version` of an asset the published one in an environment and locale: its row in
/// `published_assets` (that version's metadata), its tags, and an `asset_published` event.
pub(super) async fn record_publish(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    target: (&str, &str, &str),
    version: i64,
    by: &str,
    at: i64,
) -> sqlx::Result<()> {
    let (asset_uid, environment_uid, locale) = target;
    delete_published(tx, target).await?;
    sqlx::query(
        "INSERT INTO published_assets (environment_uid, locale, uid, api_key, parent_uid, title, \
         description, tags, file_uid, version, filename, content_type, file_size, created_by, \
         updated_by, created_at, updated_at, published_by, published_at) \
         SELECT $1, $2, a.uid, a.api_key, v.parent_uid, v.title, v.description, v.tags, \
         v.file_uid, v.version, f.filename, f.content_type, f.size, a.created_by, v.created_by, \
         a.created_at, v.created_at, $5, $6 FROM assets a \
         JOIN asset_versions v ON v.asset_uid = a.uid AND v.version = $4 \
         LEFT JOIN files f ON f.uid = v.file_uid WHERE a.uid = $3",
    )
    .bind(environment_uid)
    .bind(locale)
    .bind(asset_uid)
    .bind(version)
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(
        "SELECT tags FROM published_assets WHERE environment_uid = $1 AND locale = $2 AND uid = $3",
    )
    .bind(environment_uid)
    .bind(locale)
    .bind(asset_uid)
    .fetch_optional(&mut **tx)
    .await?;
    let tags = match &row {
        Some(r) => json_list(r, "tags")?,
        None => Vec::new(),
    };
    for tag in tags {
        sqlx::query(
            "INSERT INTO published_tags (environment_uid, locale, asset_uid, tag) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(environment_uid)
        .bind(locale)
        .bind(asset_uid)
        .bind(tag)
        .execute(&mut **tx)
        .await?;
    }
    append_event(
        tx,
        api_key,
        target,
        SyncKind::Published,
        Some(version),
        (by, at),
    )
    .await?;
    Ok(())
}

/// Tells sync readers that an asset published in an environment and locale changed
/// without a new publication (its published metadata did): an `asset_published` event of
/// the version published there. Nothing when it is not published there.
pub(super) async fn record_touch(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    target: (&str, &str, &str),
    (by, at): (&str, i64),
) -> sqlx::Result<()> {
    let (asset_uid, environment_uid, locale) = target;
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM publications WHERE asset_uid = $1 AND environment_uid = $2 \
         AND locale = $3",
    )
    .bind(asset_uid)
    .bind(environment_uid)
    .bind(locale)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(version) = version {
        append_event(
            tx,
            api_key,
            target,
            SyncKind::Published,
            Some(version),
            (by, at),
        )
        .await?;
    }
    Ok(())
}

/// Withdraws an asset from an environment and locale (`kind`: unpublished or deleted).
pub(super) async fn record_removal(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    target: (&str, &str, &str),
    kind: SyncKind,
    (by, at): (&str, i64),
) -> sqlx::Result<()> {
    delete_published(tx, target).await?;
    append_event(tx, api_key, target, kind, None, (by, at)).await?;
    Ok(())
}

/// Withdraws every publication of `asset_uids`, tombstoned in this transaction: their
/// published rows and tags go, and each publication becomes a `kind` event. The events are
/// numbered in the order of `asset_uids` (then environment and locale) from one block of
/// the stack's numbers, taken by one increment per stack: a folder of 20,000 published
/// files changes the stack's row once, not 20,000 times (on PostgreSQL a row changed many
/// times in one transaction costs more each time).
pub(super) async fn record_removals(
    tx: &mut Transaction<'_, Any>,
    asset_uids: &[String],
    kind: SyncKind,
    (by, at): (&str, i64),
) -> sqlx::Result<()> {
    if asset_uids.is_empty() {
        return Ok(());
    }
    let marks: Vec<String> = (1..=asset_uids.len()).map(|i| format!("${i}")).collect();
    let marks = marks.join(", ");
    let select = format!(
        "SELECT p.asset_uid, p.environment_uid, p.locale, a.api_key FROM publications p \
         JOIN assets a ON a.uid = p.asset_uid WHERE p.asset_uid IN ({marks}) \
         ORDER BY p.environment_uid, p.locale"
    );
    let mut q = sqlx::query_as::<_, (String, String, String, String)>(&select);
    for uid in asset_uids {
        q = q.bind(uid);
    }
    let mut withdrawn = q.fetch_all(&mut **tx).await?;
    let position: std::collections::HashMap<&str, usize> = asset_uids
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i))
        .collect();
    withdrawn.sort_by_key(|(uid, ..)| position.get(uid.as_str()).copied());
    let mut stacks: Vec<&str> = Vec::new();
    for (.., api_key) in &withdrawn {
        if !stacks.contains(&api_key.as_str()) {
            stacks.push(api_key);
        }
    }
    for api_key in stacks {
        let events: Vec<&(String, String, String, String)> =
            withdrawn.iter().filter(|e| e.3 == api_key).collect();
        let last: i64 = sqlx::query_scalar(
            "UPDATE stacks SET sync_seq = sync_seq + $2 WHERE api_key = $1 RETURNING sync_seq",
        )
        .bind(api_key)
        .bind(events.len() as i64)
        .fetch_one(&mut **tx)
        .await?;
        let first = last - events.len() as i64 + 1;
        // 8 values a row, well inside either backend's limit.
        let backend = super::Backend::of(tx);
        for (c, chunk) in events.chunks(3000).enumerate() {
            let sql = format!(
                "INSERT INTO sync_events (api_key, seq, environment_uid, locale, asset_uid, \
                 kind, version, by_uid, event_at) VALUES {}",
                backend.rows("(?, ?, ?, ?, ?, ?, NULL, ?, ?)", chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for (r, (uid, env, locale, _)) in chunk.iter().enumerate() {
                q = q
                    .bind(api_key)
                    .bind(first + (c * 3000 + r) as i64)
                    .bind(env)
                    .bind(locale)
                    .bind(uid)
                    .bind(kind.as_str())
                    .bind(by)
                    .bind(at);
            }
            q.execute(&mut **tx).await?;
        }
    }
    for sql in [
        "DELETE FROM published_tags WHERE asset_uid",
        "DELETE FROM published_assets WHERE uid",
        "DELETE FROM publications WHERE asset_uid",
    ] {
        let sql = format!("{sql} IN ({marks})");
        let mut q = sqlx::query(&sql);
        for uid in asset_uids {
            q = q.bind(uid);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes an asset's published row and its tags in one environment and locale.
async fn delete_published(
    tx: &mut Transaction<'_, Any>,
    (asset_uid, environment_uid, locale): (&str, &str, &str),
) -> sqlx::Result<()> {
    for table_and_column in [
        "published_tags WHERE asset_uid",
        "published_assets WHERE uid",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table_and_column} = $3 AND environment_uid = $1 AND locale = $2"
        ))
        .bind(environment_uid)
        .bind(locale)
        .bind(asset_uid)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A stretch of a stack's sync log, as one sync call reads it (§12).
#[derive(Debug, Clone)]
pub struct SyncWindow {
    /// Stack.
    pub api_key: String,
    /// Environment uid.
    pub environment_uid: String,
    /// Locale code.
    pub locale: String,
    /// Events after this number…
    pub after: i64,
    /// …up to and including this one.
    pub upto: i64,
    /// Only these kinds (after compaction: an asset's latest event in the window counts).
    pub kinds: Vec<SyncKind>,
    /// Only events at or after this time (ms).
    pub since: Option<i64>,
}

impl SyncWindow {
    /// `FROM … WHERE …`: each asset's latest event in the window, of the wanted kinds.
    /// Compaction is what makes a sync repeat nothing: an asset published twice in one
    /// window appears once, with what is published now (as of `upto`).
    fn sql_after(&self, cursor: i64) -> (String, Vec<SqlArg>) {
        let mut args = vec![
            SqlArg::Text(self.api_key.clone()),
            SqlArg::Text(self.environment_uid.clone()),
            SqlArg::Text(self.locale.clone()),
            SqlArg::Int(cursor),
            SqlArg::Int(self.upto),
        ];
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|k| {
                args.push(SqlArg::Text(k.as_str().to_owned()));
                format!("${}", args.len())
            })
            .collect();
        let mut text = format!(
            "FROM sync_events e WHERE e.api_key = $1 AND e.environment_uid = $2 \
             AND e.locale = $3 AND e.seq > $4 AND e.seq <= $5 AND e.kind IN ({}) \
             AND NOT EXISTS (SELECT 1 FROM sync_events l WHERE l.environment_uid = $2 \
             AND l.locale = $3 AND l.asset_uid = e.asset_uid AND l.seq > e.seq AND l.seq <= $5)",
            if kinds.is_empty() {
                "NULL".to_owned()
            } else {
                kinds.join(", ")
            }
        );
        if let Some(since) = self.since {
            args.push(SqlArg::Int(since));
            text.push_str(&format!(" AND e.event_at >= ${}", args.len()));
        }
        (text, args)
    }
}

enum SqlArg {
    Text(String),
    Int(i64),
}

fn bind_args<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [SqlArg],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            SqlArg::Text(s) => q.bind(s.as_str()),
            SqlArg::Int(i) => q.bind(*i),
        };
    }
    q
}

fn sync_event(r: &AnyRow) -> sqlx::Result<SyncEvent> {
    let kind: String = r.try_get("kind")?;
    Ok(SyncEvent {
        seq: r.try_get("seq")?,
        kind: SyncKind::parse(&kind).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "kind".into(),
            source: format!("unknown sync event kind {kind:?}").into(),
        })?,
        asset_uid: r.try_get("asset_uid")?,
        environment_uid: r.try_get("environment_uid")?,
        locale: r.try_get("locale")?,
        version: r.try_get("version")?,
        by: r.try_get("by_uid")?,
        event_at: r.try_get("event_at")?,
    })
}

impl Db {
    /// The number of the stack's latest event (0 before the first).
    pub async fn sync_head(&self, api_key: &str) -> sqlx::Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT sync_seq FROM stacks WHERE api_key = $1")
                .bind(api_key)
                .fetch_optional(&self.read)
                .await?
                .unwrap_or(0),
        )
    }

    /// Up to `limit` items of a window after event `cursor`, in log order.
    pub async fn sync_page(
        &self,
        w: &SyncWindow,
        cursor: i64,
        limit: u64,
    ) -> sqlx::Result<Vec<SyncEvent>> {
        let (from, args) = w.sql_after(cursor);
        let text = format!("SELECT e.* {from} ORDER BY e.seq LIMIT {limit}");
        let rows = bind_args(sqlx::query(&text), &args)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(sync_event).collect()
    }

    /// How many items a window holds after event `cursor`.
    pub async fn sync_count(&self, w: &SyncWindow, cursor: i64) -> sqlx::Result<u64> {
        let (from, args) = w.sql_after(cursor);
        let n: i64 = bind_args(sqlx::query(&format!("SELECT COUNT(*) {from}")), &args)
            .fetch_one(&self.read)
            .await?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    }
}
