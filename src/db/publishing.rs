//! Queries for publishing (§5, §12): publishing and unpublishing an asset (with each
//! publication's published row, sync event and §13 event in the same transaction), and
//! reading publications.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::events::{self, Emit};
use super::{published, Db};
use crate::records::{Publication, SyncKind};

pub(super) fn publication(r: &AnyRow) -> sqlx::Result<Publication> {
    Ok(Publication {
        environment_uid: r.try_get("environment_uid")?,
        environment: r.try_get("environment_name")?,
        locale: r.try_get("locale")?,
        version: r.try_get("version")?,
        published_by: r.try_get("published_by")?,
        published_at: r.try_get("published_at")?,
    })
}

/// The stack an asset belongs to, read inside a transaction.
async fn asset_api_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    uid: &str,
) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT api_key FROM assets WHERE uid = $1")
        .bind(uid)
        .fetch_one(&mut **tx)
        .await
}

/// Publishes `version` of an asset to one environment and locale inside a transaction:
/// the publication, its published row (§12), its sync event and its §13 event.
pub(super) async fn publish_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    api_key: &str,
    (asset_uid, env, locale): (&str, &str, &str),
    version: i64,
    by: &str,
    at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO publications (asset_uid, environment_uid, locale, version, \
         published_by, published_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (asset_uid, environment_uid, locale) DO UPDATE SET \
         version = excluded.version, published_by = excluded.published_by, \
         published_at = excluded.published_at",
    )
    .bind(asset_uid)
    .bind(env)
    .bind(locale)
    .bind(version)
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    published::record_publish(tx, api_key, (asset_uid, env, locale), version, by, at).await?;
    publication_event(
        tx,
        api_key,
        "publish",
        (asset_uid, env, locale),
        version,
        (by, at),
    )
    .await
}

/// The §13 event of a publish or an unpublish of `version` to one target, recorded in the
/// transaction that changed the publication.
async fn publication_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    api_key: &str,
    action: &'static str,
    (asset_uid, env, locale): (&str, &str, &str),
    version: i64,
    (by, at): (&str, i64),
) -> sqlx::Result<()> {
    let emit = Emit {
        api_key,
        action,
        asset_uid,
        version,
        target: Some((env, locale)),
        by,
        at,
    };
    events::record_event(tx, emit).await
}

impl Db {
    /// Records publications of `version` to each (environment uid, locale), with their
    /// published rows and sync events (§12).
    pub async fn publish(
        &self,
        asset_uid: &str,
        targets: &[(String, String)],
        version: i64,
        (by, at): (&str, i64),
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        let api_key = asset_api_key(&mut tx, asset_uid).await?;
        for (env, locale) in targets {
            publish_row(&mut tx, &api_key, (asset_uid, env, locale), version, by, at).await?;
        }
        audit::commit_with(tx, audit).await
    }

    /// Removes publications for each (environment uid, locale); an `asset_unpublished`
    /// sync event for each that existed. Returns how many existed.
    pub async fn unpublish(
        &self,
        asset_uid: &str,
        targets: &[(String, String)],
        (by, at): (&str, i64),
        audit: &[AuditEntry],
    ) -> sqlx::Result<u64> {
        let mut tx = self.write.begin().await?;
        let api_key = asset_api_key(&mut tx, asset_uid).await?;
        let mut removed = 0;
        for (env, locale) in targets {
            let r = sqlx::query(
                "DELETE FROM publications WHERE asset_uid = $1 AND environment_uid = $2 AND locale = $3",
            )
            .bind(asset_uid)
            .bind(env)
            .bind(locale)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() > 0 {
                removed += 1;
                published::record_removal(
                    &mut tx,
                    &api_key,
                    (asset_uid, env, locale),
                    SyncKind::Unpublished,
                    (by, at),
                )
                .await?;
                let version: i64 = sqlx::query_scalar("SELECT version FROM assets WHERE uid = $1")
                    .bind(asset_uid)
                    .fetch_one(&mut *tx)
                    .await?;
                let target = (asset_uid, env.as_str(), locale.as_str());
                publication_event(&mut tx, &api_key, "unpublish", target, version, (by, at))
                    .await?;
            }
        }
        if removed > 0 {
            audit::insert_tx(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Publications of these assets (a page of a list), by asset uid.
    pub async fn publications_of(
        &self,
        asset_uids: &[String],
    ) -> sqlx::Result<HashMap<String, Vec<Publication>>> {
        let mut out: HashMap<String, Vec<Publication>> = HashMap::new();
        if asset_uids.is_empty() {
            return Ok(out);
        }
        let marks: Vec<String> = (1..=asset_uids.len()).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT p.*, e.name AS environment_name FROM publications p \
             JOIN environments e ON e.uid = p.environment_uid WHERE p.asset_uid IN ({}) \
             ORDER BY e.name, p.locale",
            marks.join(", ")
        );
        let mut q = sqlx::query(&text);
        for uid in asset_uids {
            q = q.bind(uid.as_str());
        }
        for r in &q.fetch_all(&self.read).await? {
            out.entry(r.try_get("asset_uid")?)
                .or_default()
                .push(publication(r)?);
        }
        Ok(out)
    }

    /// Publications of one asset.
    pub async fn asset_publications(&self, asset_uid: &str) -> sqlx::Result<Vec<Publication>> {
        let rows = sqlx::query(
            "SELECT p.*, e.name AS environment_name FROM publications p \
             JOIN environments e ON e.uid = p.environment_uid WHERE p.asset_uid = $1 \
             ORDER BY e.name, p.locale",
        )
        .bind(asset_uid)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(publication).collect()
    }

    /// The version of an asset published to an environment and locale.
    pub async fn published_version(
        &self,
        asset_uid: &str,
        environment_uid: &str,
        locale: &str,
    ) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar(
            "SELECT version FROM publications WHERE asset_uid = $1 AND environment_uid = $2 \
             AND locale = $3",
        )
        .bind(asset_uid)
        .bind(environment_uid)
        .bind(locale)
        .fetch_optional(&self.read)
        .await
    }
}
