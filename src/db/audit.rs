//! The audit log (§14): entries are written by the write that makes the change, in its
//! transaction ([`insert_tx`]), and read newest first through an index on time.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::Db;

/// One entry of a stack's audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// `blt…` uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// When (ms).
    pub created_at: i64,
    /// What kind of thing changed: `asset`, `folder`, `role`, `member`, `token`, `stack`,
    /// `environment`, `locale`, `webhook`, `extension`, `metadata`, `user`.
    pub module: String,
    /// What happened: `create`, `update`, `replace`, `delete`, `publish`, `unpublish`,
    /// `restore`, `purge`, `sign_in_failed`, …
    pub event_type: String,
    /// `user`, `token` or `system` (the trash's retention, for example).
    pub actor_kind: String,
    /// The user's or token's uid.
    pub actor_uid: String,
    /// The user's e-mail or the token's name, as it was then.
    pub actor_name: String,
    /// The asset, folder, role… that changed.
    pub item_uid: Option<String>,
    /// Its title or name then.
    pub item_title: Option<String>,
    /// Its version before the change.
    pub version_before: Option<i64>,
    /// Its version after.
    pub version_after: Option<i64>,
    /// Client address.
    pub remote_addr: Option<String>,
    /// The request's id (`X-Request-Id`; also in the access log).
    pub request_id: Option<String>,
    /// More about the change (a JSON object).
    pub details: Value,
}

const COLS: &str = "uid, api_key, created_at, module, event_type, actor_kind, actor_uid, \
                    actor_name, item_uid, item_title, version_before, version_after, \
                    remote_addr, request_id, details";

fn entry(row: &AnyRow) -> sqlx::Result<AuditEntry> {
    let details: String = row.try_get("details")?;
    Ok(AuditEntry {
        uid: row.try_get("uid")?,
        api_key: row.try_get("api_key")?,
        created_at: row.try_get("created_at")?,
        module: row.try_get("module")?,
        event_type: row.try_get("event_type")?,
        actor_kind: row.try_get("actor_kind")?,
        actor_uid: row.try_get("actor_uid")?,
        actor_name: row.try_get("actor_name")?,
        item_uid: row.try_get("item_uid")?,
        item_title: row.try_get("item_title")?,
        version_before: row.try_get("version_before")?,
        version_after: row.try_get("version_after")?,
        remote_addr: row.try_get("remote_addr")?,
        request_id: row.try_get("request_id")?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
    })
}

/// Writes entries in the transaction of the change they record: both land, or neither.
pub(crate) async fn insert_tx(
    tx: &mut Transaction<'_, Any>,
    entries: &[AuditEntry],
) -> sqlx::Result<()> {
    for e in entries {
        sqlx::query(&format!(
            "INSERT INTO audit_log ({COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&e.uid)
        .bind(&e.api_key)
        .bind(e.created_at)
        .bind(&e.module)
        .bind(&e.event_type)
        .bind(&e.actor_kind)
        .bind(&e.actor_uid)
        .bind(&e.actor_name)
        .bind(e.item_uid.as_deref())
        .bind(e.item_title.as_deref())
        .bind(e.version_before)
        .bind(e.version_after)
        .bind(e.remote_addr.as_deref())
        .bind(e.request_id.as_deref())
        .bind(e.details.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes the entries into the change's transaction and commits both: the usual end of a
/// change that the audit log records.
pub(crate) async fn commit_with(
    mut tx: Transaction<'_, Any>,
    entries: &[AuditEntry],
) -> sqlx::Result<()> {
    insert_tx(&mut tx, entries).await?;
    tx.commit().await
}

/// Deletes the row `uid` of a stack's `table` in the change's transaction; when it was
/// there, writes the entries too, then commits. Whether it was there.
pub(crate) async fn delete_row_with(
    mut tx: Transaction<'_, Any>,
    table: &'static str,
    (api_key, uid): (&str, &str),
    entries: &[AuditEntry],
) -> sqlx::Result<bool> {
    let r = sqlx::query(&format!(
        "DELETE FROM {table} WHERE api_key = $1 AND uid = $2"
    ))
    .bind(api_key)
    .bind(uid)
    .execute(&mut *tx)
    .await?;
    let deleted = r.rows_affected() == 1;
    if deleted {
        insert_tx(&mut tx, entries).await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

/// Which entries a reader wants (every field optional).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `module`.
    pub module: Option<String>,
    /// `event_type`.
    pub event_type: Option<String>,
    /// The user or token uid (`created_by`).
    pub actor_uid: Option<String>,
    /// One asset's, folder's… entries.
    pub item_uid: Option<String>,
    /// From this time (ms, inclusive).
    pub from: Option<i64>,
    /// Before this time (ms, exclusive).
    pub to: Option<i64>,
}

impl Db {
    /// Records entries on their own (for changes that are not a database write of this
    /// stack, such as a failed sign-in).
    pub async fn record_audit(&self, entries: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        insert_tx(&mut tx, entries).await?;
        tx.commit().await
    }

    /// A page of a stack's audit log, newest first, and how many entries match.
    pub async fn audit_page(
        &self,
        api_key: &str,
        f: &AuditFilter,
        (skip, limit): (i64, i64),
        count: bool,
    ) -> sqlx::Result<(Vec<AuditEntry>, Option<i64>)> {
        let mut cond = String::from("api_key = $1");
        let mut binds: Vec<Bind> = vec![Bind::Text(api_key.to_owned())];
        let mut add = |sql: &str, b: Bind| {
            binds.push(b);
            cond.push_str(&format!(" AND {sql} ${}", binds.len()));
        };
        if let Some(v) = &f.module {
            add("module =", Bind::Text(v.clone()));
        }
        if let Some(v) = &f.event_type {
            add("event_type =", Bind::Text(v.clone()));
        }
        if let Some(v) = &f.actor_uid {
            add("actor_uid =", Bind::Text(v.clone()));
        }
        if let Some(v) = &f.item_uid {
            add("item_uid =", Bind::Text(v.clone()));
        }
        if let Some(v) = f.from {
            add("created_at >=", Bind::Int(v));
        }
        if let Some(v) = f.to {
            add("created_at <", Bind::Int(v));
        }
        let page_sql = format!(
            "SELECT {COLS} FROM audit_log WHERE {cond} \
             ORDER BY created_at DESC, uid DESC LIMIT {limit} OFFSET {skip}"
        );
        let rows = bind(sqlx::query(&page_sql), &binds)
            .fetch_all(&self.read)
            .await?;
        let page = rows.iter().map(entry).collect::<sqlx::Result<Vec<_>>>()?;
        let total = if count {
            let sql = format!("SELECT COUNT(*) FROM audit_log WHERE {cond}");
            Some(
                bind(sqlx::query(&sql), &binds)
                    .fetch_one(&self.read)
                    .await?
                    .try_get::<i64, _>(0)?,
            )
        } else {
            None
        };
        Ok((page, total))
    }

    /// One entry of a stack's log.
    pub async fn audit_entry(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<AuditEntry>> {
        sqlx::query(&format!(
            "SELECT {COLS} FROM audit_log WHERE api_key = $1 AND uid = $2"
        ))
        .bind(api_key)
        .bind(uid)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(entry)
        .transpose()
    }

    /// Removes entries older than `before` (ms), in batches; returns how many.
    pub async fn prune_audit(&self, before: i64) -> sqlx::Result<u64> {
        let mut n = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM audit_log WHERE uid IN \
                 (SELECT uid FROM audit_log WHERE created_at < $1 LIMIT 5000)",
            )
            .bind(before)
            .execute(&self.write)
            .await?
            .rows_affected();
            n += done;
            if done == 0 {
                return Ok(n);
            }
        }
    }

    /// Stacks a user is a member of (for recording what happens to their account).
    pub async fn member_stacks(&self, user_uid: &str) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query("SELECT api_key FROM stack_members WHERE user_uid = $1")
            .bind(user_uid)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

impl AuditEntry {
    /// A new entry, now, by an actor of this kind (`user`, `token`, `system`), uid and name.
    pub fn by(
        api_key: &str,
        module: &str,
        event_type: &str,
        (kind, uid, name): (&str, &str, &str),
    ) -> Self {
        AuditEntry {
            uid: crate::ids::new_uid(),
            api_key: api_key.to_owned(),
            created_at: crate::time::now_ms(),
            module: module.into(),
            event_type: event_type.into(),
            actor_kind: kind.into(),
            actor_uid: uid.into(),
            actor_name: name.into(),
            details: Value::Object(Default::default()),
            ..AuditEntry::default()
        }
    }

    /// An entry of perma itself (no user or token asked for it): `name` says what did it.
    pub fn system(api_key: &str, module: &str, event_type: &str, name: &str) -> Self {
        Self::by(api_key, module, event_type, ("system", "system", name))
    }

    /// An entry by a user (uid and e-mail).
    pub fn by_user(api_key: &str, module: &str, event_type: &str, uid: &str, email: &str) -> Self {
        Self::by(api_key, module, event_type, ("user", uid, email))
    }

    /// The client address and request id of the request that made the change.
    pub fn from_request(mut self, remote_addr: Option<String>, request_id: Option<String>) -> Self {
        self.remote_addr = remote_addr;
        self.request_id = request_id;
        self
    }

    /// The entry is about this item (uid, title and version before the change).
    pub fn item(mut self, uid: &str, title: &str, version: Option<i64>) -> Self {
        self.item_uid = Some(uid.to_owned());
        self.item_title = Some(title.to_owned());
        self.version_before = version;
        self
    }

    /// The item's version after the change.
    pub fn after(mut self, version: i64) -> Self {
        self.version_after = Some(version);
        self
    }

    /// More about the change.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}
