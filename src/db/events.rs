//! Events (§13): webhooks, the transactional outbox, and the jobs (webhook executions and
//! CDN purges) made from it.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{flag, json_list, to_json_text, Backend, Db};

/// Where a webhook posts (§13 `destinations[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The receiver's URL.
    pub target_url: String,
    /// HTTP basic auth user name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_basic_auth: Option<String>,
    /// HTTP basic auth password, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_basic_password: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub custom_header: Vec<CustomHeader>,
}

/// One extra header of a destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomHeader {
    /// Name.
    pub header_name: String,
    /// Value.
    pub value: String,
}

/// A stack's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Name.
    pub name: String,
    /// Receivers.
    pub destinations: Vec<Destination>,
    /// Channels it listens to (`assets.create`, …).
    pub channels: Vec<String>,
    /// `automatic` (retries with back-off) or `manual`.
    pub retry_policy: String,
    /// Paused.
    pub disabled: bool,
    /// Payloads carry uids and URLs only.
    pub concise_payload: bool,
    /// Contentstack's fields perma keeps without acting on them (`branches`, …).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// HMAC-SHA256 key of `X-Contentstack-Request-Signature`.
    pub secret: String,
    /// Audit fields.
    pub created_by: String,
    /// Audit fields.
    pub updated_by: String,
    /// Audit fields (ms).
    pub created_at: i64,
    /// Audit fields (ms).
    pub updated_at: i64,
}

/// A change written in the same transaction as itself, waiting to be fanned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Order of commits.
    pub seq: i64,
    /// Stack.
    pub api_key: String,
    /// `create`, `update`, `replace`, `permanent_url`, `delete`, `publish`, `unpublish`.
    pub action: String,
    /// The asset.
    pub asset_uid: String,
    /// The asset's version the change made (or published).
    pub version: i64,
    /// Publish and unpublish: the environment.
    pub environment_uid: Option<String>,
    /// Publish and unpublish: the locale.
    pub locale: Option<String>,
    /// Who.
    pub by_uid: String,
    /// When (ms).
    pub at: i64,
}

/// One attempt at sending a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When (ms).
    pub at: i64,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// The start of its answer, or why there was none.
    pub response: String,
    /// Milliseconds taken.
    pub duration_ms: u64,
}

/// A webhook execution or a purge request, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventJob {
    /// Uid (the stable id receivers de-duplicate with).
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// `webhook` or `purge`.
    pub kind: String,
    /// The webhook, for `webhook` jobs.
    pub webhook_uid: Option<String>,
    /// The channel that fired.
    pub channel: String,
    /// Where it goes: the destination URL, or the purge target.
    pub target: String,
    /// The request body (webhooks) or what to purge (JSON).
    pub body: String,
    /// `pending`, `retrying`, `success` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Not before (ms).
    pub next_attempt_at: i64,
    /// Every attempt.
    pub log: Vec<Attempt>,
    /// Audit fields (ms).
    pub created_at: i64,
    /// Audit fields (ms).
    pub updated_at: i64,
}

fn webhook(r: &AnyRow) -> sqlx::Result<Webhook> {
    let destinations: String = r.try_get("destinations")?;
    Ok(Webhook {
        uid: r.try_get("uid")?,
        api_key: r.try_get("api_key")?,
        name: r.try_get("name")?,
        destinations: serde_json::from_str(&destinations).unwrap_or_default(),
        channels: json_list(r, "channels")?,
        retry_policy: r.try_get("retry_policy")?,
        disabled: flag(r, "disabled")?,
        concise_payload: flag(r, "concise_payload")?,
        extra: r
            .try_get::<String, _>("extra")
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        secret: r.try_get("secret")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn event(r: &AnyRow) -> sqlx::Result<OutboxEvent> {
    Ok(OutboxEvent {
        seq: r.try_get("seq")?,
        api_key: r.try_get("api_key")?,
        action: r.try_get("action")?,
        asset_uid: r.try_get("asset_uid")?,
        version: r.try_get("version")?,
        environment_uid: r.try_get("environment_uid")?,
        locale: r.try_get("locale")?,
        by_uid: r.try_get("by_uid")?,
        at: r.try_get("at")?,
    })
}

fn job(r: &AnyRow) -> sqlx::Result<EventJob> {
    let log: String = r.try_get("log")?;
    Ok(EventJob {
        uid: r.try_get("uid")?,
        api_key: r.try_get("api_key")?,
        kind: r.try_get("kind")?,
        webhook_uid: r.try_get("webhook_uid")?,
        channel: r.try_get("channel")?,
        target: r.try_get("target")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        log: serde_json::from_str(&log).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// What a change writes to the outbox, inside its own transaction.
pub(super) struct Emit<'a> {
    pub api_key: &'a str,
    pub action: &'a str,
    pub asset_uid: &'a str,
    pub version: i64,
    pub target: Option<(&'a str, &'a str)>,
    pub by: &'a str,
    pub at: i64,
}

/// Writes an outbox row in the change's transaction (§13: at least once, whatever happens
/// after the commit).
pub(super) async fn record_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    e: Emit<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (api_key, action, asset_uid, version, environment_uid, locale, \
         by_uid, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.api_key)
    .bind(e.action)
    .bind(e.asset_uid)
    .bind(e.version)
    .bind(e.target.map(|t| t.0))
    .bind(e.target.map(|t| t.1))
    .bind(e.by)
    .bind(e.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Stores a new webhook.
    pub async fn insert_webhook(&self, w: &Webhook, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO webhooks (uid, api_key, name, destinations, channels, retry_policy, \
             disabled, concise_payload, secret, created_by, updated_by, created_at, updated_at, \
             extra) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&w.uid)
        .bind(&w.api_key)
        .bind(&w.name)
        .bind(to_json_text(&w.destinations))
        .bind(to_json_text(&w.channels))
        .bind(&w.retry_policy)
        .bind(i64::from(w.disabled))
        .bind(i64::from(w.concise_payload))
        .bind(&w.secret)
        .bind(&w.created_by)
        .bind(&w.updated_by)
        .bind(w.created_at)
        .bind(w.updated_at)
        .bind(to_json_text(&w.extra))
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// Replaces a webhook's settings (not its secret); false when it does not exist.
    pub async fn update_webhook(&self, w: &Webhook, audit: &[AuditEntry]) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE webhooks SET name = $3, destinations = $4, channels = $5, retry_policy = $6, \
             disabled = $7, concise_payload = $8, updated_by = $9, updated_at = $10, \
             extra = $11 WHERE api_key = $1 AND uid = $2",
        )
        .bind(&w.api_key)
        .bind(&w.uid)
        .bind(&w.name)
        .bind(to_json_text(&w.destinations))
        .bind(to_json_text(&w.channels))
        .bind(&w.retry_policy)
        .bind(i64::from(w.disabled))
        .bind(i64::from(w.concise_payload))
        .bind(&w.updated_by)
        .bind(w.updated_at)
        .bind(to_json_text(&w.extra))
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Deletes a webhook (and its executions); false when it did not exist.
    pub async fn delete_webhook(
        &self,
        api_key: &str,
        uid: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM event_jobs WHERE webhook_uid = $1 AND api_key = $2")
            .bind(uid)
            .bind(api_key)
            .execute(&mut *tx)
            .await?;
        audit::delete_row_with(tx, "webhooks", (api_key, uid), audit).await
    }

    /// One webhook of a stack.
    pub async fn webhook(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<Webhook>> {
        self.stack_row("webhooks", "uid", (api_key, uid), webhook)
            .await
    }

    /// A stack's webhooks, oldest first.
    pub async fn webhooks(&self, api_key: &str) -> sqlx::Result<Vec<Webhook>> {
        self.stack_rows("webhooks", api_key, webhook).await
    }

    /// Outbox rows not fanned out yet, in commit order.
    pub async fn pending_events(&self, limit: i64) -> sqlx::Result<Vec<OutboxEvent>> {
        sqlx::query("SELECT * FROM outbox ORDER BY seq LIMIT $1")
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(event)
            .collect()
    }

    /// Replaces an outbox row by its jobs, atomically; false when another process did it
    /// first (so each event is fanned out once).
    pub async fn fan_out(&self, seq: i64, jobs: &[EventJob]) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("DELETE FROM outbox WHERE seq = $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for j in jobs {
            sqlx::query(
                "INSERT INTO event_jobs (uid, api_key, kind, webhook_uid, channel, target, body, \
                 status, attempts, next_attempt_at, lease_until, log, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 0, $10, $11, $11)",
            )
            .bind(&j.uid)
            .bind(&j.api_key)
            .bind(&j.kind)
            .bind(&j.webhook_uid)
            .bind(&j.channel)
            .bind(&j.target)
            .bind(&j.body)
            .bind(&j.status)
            .bind(j.next_attempt_at)
            .bind(to_json_text(&j.log))
            .bind(j.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Jobs due now and not leased by a sender.
    pub async fn due_jobs(&self, now: i64, limit: i64) -> sqlx::Result<Vec<EventJob>> {
        sqlx::query(
            "SELECT * FROM event_jobs WHERE status IN ('pending', 'retrying') \
             AND next_attempt_at <= $1 AND lease_until < $1 ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(job)
        .collect()
    }

    /// Takes a job for sending until `until` (ms); false when another sender has it.
    pub async fn lease_job(&self, uid: &str, now: i64, until: i64) -> sqlx::Result<bool> {
        let r = sqlx::query(
            "UPDATE event_jobs SET lease_until = $3 WHERE uid = $1 AND lease_until < $2 \
             AND status IN ('pending', 'retrying')",
        )
        .bind(uid)
        .bind(now)
        .bind(until)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes up to `limit` finished jobs (succeeded, or failed and not retried since)
    /// last changed before `before`; returns how many.
    ///
    /// A finished job's last attempt was due no later than it finished
    /// (`next_attempt_at <= updated_at`), so `next_attempt_at < before` holds for every
    /// job deleted: stated, it makes the search a range of `event_jobs_due` (status,
    /// next_attempt_at) instead of a walk over every finished job kept.
    pub async fn prune_jobs(&self, before: i64, limit: i64) -> sqlx::Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM event_jobs WHERE uid IN (SELECT uid FROM event_jobs \
             WHERE status IN ('success', 'failed') AND next_attempt_at < $1 \
             AND updated_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.write)
        .await?
        .rows_affected())
    }

    /// Records an attempt's outcome and releases the lease.
    pub async fn finish_attempt(&self, j: &EventJob) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE event_jobs SET status = $2, attempts = $3, next_attempt_at = $4, \
             lease_until = 0, log = $5, updated_at = $6 WHERE uid = $1",
        )
        .bind(&j.uid)
        .bind(&j.status)
        .bind(j.attempts)
        .bind(j.next_attempt_at)
        .bind(to_json_text(&j.log))
        .bind(j.updated_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A webhook's executions, newest first.
    pub async fn webhook_jobs(
        &self,
        webhook_uid: &str,
        skip: i64,
        limit: i64,
    ) -> sqlx::Result<(Vec<EventJob>, i64)> {
        let rows = sqlx::query(
            "SELECT * FROM event_jobs WHERE webhook_uid = $1 \
             ORDER BY created_at DESC, uid DESC LIMIT $2 OFFSET $3",
        )
        .bind(webhook_uid)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(job)
        .collect::<sqlx::Result<Vec<_>>>()?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM event_jobs WHERE webhook_uid = $1")
                .bind(webhook_uid)
                .fetch_one(&self.read)
                .await?;
        Ok((rows, count))
    }

    /// One job.
    pub async fn event_job(&self, uid: &str) -> sqlx::Result<Option<EventJob>> {
        sqlx::query("SELECT * FROM event_jobs WHERE uid = $1")
            .bind(uid)
            .fetch_optional(&self.read)
            .await?
            .map(|r| job(&r))
            .transpose()
    }

    /// Sends a job again now (`POST /v3/webhooks/{uid}/retry`).
    pub async fn requeue_job(&self, uid: &str, now: i64) -> sqlx::Result<bool> {
        let r = sqlx::query(
            "UPDATE event_jobs SET status = 'pending', next_attempt_at = $2, lease_until = 0, \
             updated_at = $2 WHERE uid = $1",
        )
        .bind(uid)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

/// A stack's URL signing key (§13 signed URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// HMAC-SHA256 key.
    pub secret: String,
    /// Created (ms).
    pub created_at: i64,
}

impl Db {
    /// A stack's active signing keys, newest first (at most two).
    pub async fn signing_keys(&self, api_key: &str) -> sqlx::Result<Vec<SigningKey>> {
        sqlx::query(
            "SELECT kid, secret, created_at FROM signing_keys WHERE api_key = $1 AND active = 1 \
             ORDER BY created_at DESC, kid DESC LIMIT 2",
        )
        .bind(api_key)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| {
            Ok(SigningKey {
                kid: r.try_get("kid")?,
                secret: r.try_get("secret")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
    }

    /// Adds a signing key; only it and the one before stay active. Returns the key as
    /// stored: its `created_at` is moved past the stack's newest key when the clock has not
    /// (two rotations in one millisecond), so that "newest" is always the last one added.
    pub async fn add_signing_key(
        &self,
        api_key: &str,
        k: &SigningKey,
        audit: &[AuditEntry],
    ) -> sqlx::Result<SigningKey> {
        let mut tx = self.write.begin().await?;
        if self.backend == Backend::Postgres {
            // Concurrent rotations of one stack take turns (SQLite has one writer).
            sqlx::query("SELECT api_key FROM stacks WHERE api_key = $1 FOR UPDATE")
                .bind(api_key)
                .execute(&mut *tx)
                .await?;
        }
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(created_at) FROM signing_keys WHERE api_key = $1")
                .bind(api_key)
                .fetch_one(&mut *tx)
                .await?;
        let k = SigningKey {
            created_at: newest.map_or(k.created_at, |n| k.created_at.max(n + 1)),
            ..k.clone()
        };
        sqlx::query(
            "INSERT INTO signing_keys (kid, api_key, secret, created_at, active) \
             VALUES ($1, $2, $3, $4, 1)",
        )
        .bind(&k.kid)
        .bind(api_key)
        .bind(&k.secret)
        .bind(k.created_at)
        .execute(&mut *tx)
        .await?;
        let keep: Vec<String> = sqlx::query_scalar(
            "SELECT kid FROM signing_keys WHERE api_key = $1 AND active = 1 \
             ORDER BY created_at DESC, kid DESC LIMIT 2",
        )
        .bind(api_key)
        .fetch_all(&mut *tx)
        .await?;
        for old in sqlx::query_scalar::<_, String>(
            "SELECT kid FROM signing_keys WHERE api_key = $1 AND active = 1",
        )
        .bind(api_key)
        .fetch_all(&mut *tx)
        .await?
        {
            if !keep.contains(&old) {
                sqlx::query("UPDATE signing_keys SET active = 0 WHERE kid = $1")
                    .bind(&old)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        audit::commit_with(tx, audit).await?;
        Ok(k)
    }
}
