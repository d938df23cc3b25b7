//! Extensions and asset metadata (Contentstack's Metadata API): the rows, and what of each
//! metadata is published per environment and locale. Publishing metadata also appends a
//! sync event for the asset where the asset is published (§12: a site re-reads it), and
//! every change writes a §13 `update` event for the asset, in the same transaction.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::events::{self, Emit};
use super::Db;

pub mod values;

use values::Owner;

/// A stack's extension (a record: perma hosts no extension UI).
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// Uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Title.
    pub title: String,
    /// `field`, `widget`, `dashboard`, `asset_sidebar_widget`, `rte_plugin`.
    pub kind: String,
    /// The rest of Contentstack's fields (`src`, `srcdoc`, `config`, `tags`, `data_type`,
    /// `multiple`, `scope`, …), kept as sent.
    pub body: Map<String, Value>,
    /// Audit fields.
    pub created_by: String,
    /// Audit fields.
    pub updated_by: String,
    /// Audit fields (ms).
    pub created_at: i64,
    /// Audit fields (ms).
    pub updated_at: i64,
}

/// Metadata of one asset for one extension and locale.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// The asset.
    pub entity_uid: String,
    /// The extension it belongs to.
    pub extension_uid: String,
    /// Locale code.
    pub locale: String,
    /// The metadata's own fields (`presets`, …), kept as sent.
    pub body: Map<String, Value>,
    /// Changes so far (the asset's version does not move).
    pub version: i64,
    /// Audit fields.
    pub created_by: String,
    /// Audit fields.
    pub updated_by: String,
    /// Audit fields (ms).
    pub created_at: i64,
    /// Audit fields (ms).
    pub updated_at: i64,
}

/// Metadata as published to one environment and locale.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedMetadata {
    /// The metadata.
    pub metadata_uid: String,
    /// The asset.
    pub entity_uid: String,
    /// The extension (read from the metadata row).
    pub extension_uid: String,
    /// The published fields.
    pub body: Map<String, Value>,
    /// The metadata's version that was published.
    pub version: i64,
}

fn object(r: &AnyRow, col: &str) -> sqlx::Result<Map<String, Value>> {
    let text: String = r.try_get(col)?;
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

fn extension(r: &AnyRow) -> sqlx::Result<Extension> {
    Ok(Extension {
        uid: r.try_get("uid")?,
        api_key: r.try_get("api_key")?,
        title: r.try_get("title")?,
        kind: r.try_get("type")?,
        body: object(r, "body")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn metadata(r: &AnyRow) -> sqlx::Result<Metadata> {
    Ok(Metadata {
        uid: r.try_get("uid")?,
        api_key: r.try_get("api_key")?,
        entity_uid: r.try_get("entity_uid")?,
        extension_uid: r.try_get("extension_uid")?,
        locale: r.try_get("locale")?,
        body: object(r, "body")?,
        version: r.try_get("version")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".to_owned())
}

/// The values of `m` as it is (not as published).
fn current(m: &Metadata) -> Owner<'_> {
    Owner {
        metadata_uid: &m.uid,
        api_key: &m.api_key,
        entity_uid: &m.entity_uid,
        extension_uid: &m.extension_uid,
        environment_uid: "",
        locale: &m.locale,
    }
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The §13 event of a metadata change: an `update` of its asset at the asset's version.
async fn touch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    api_key: &str,
    asset_uid: &str,
    (by, at): (&str, i64),
) -> sqlx::Result<()> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM assets WHERE api_key = $1 AND uid = $2")
            .bind(api_key)
            .bind(asset_uid)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(version) = version else {
        return Ok(());
    };
    let emit = Emit {
        api_key,
        action: "update",
        asset_uid,
        version,
        target: None,
        by,
        at,
    };
    events::record_event(tx, emit).await
}

impl Db {
    /// Stores a new extension.
    pub async fn insert_extension(&self, e: &Extension, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO extensions (uid, api_key, title, type, body, created_by, updated_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&e.uid)
        .bind(&e.api_key)
        .bind(&e.title)
        .bind(&e.kind)
        .bind(text(&e.body))
        .bind(&e.created_by)
        .bind(&e.updated_by)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// Replaces an extension's fields; false when it does not exist.
    pub async fn update_extension(
        &self,
        e: &Extension,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE extensions SET title = $3, type = $4, body = $5, updated_by = $6, \
             updated_at = $7 WHERE api_key = $1 AND uid = $2",
        )
        .bind(&e.api_key)
        .bind(&e.uid)
        .bind(&e.title)
        .bind(&e.kind)
        .bind(text(&e.body))
        .bind(&e.updated_by)
        .bind(e.updated_at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Deletes an extension and the metadata that belongs to it (and un-chooses it as the
    /// stack's `metadata_extension`); false when it did not exist.
    pub async fn delete_extension(
        &self,
        api_key: &str,
        uid: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "DELETE FROM asset_metadata_published WHERE metadata_uid IN \
             (SELECT uid FROM asset_metadata WHERE api_key = $1 AND extension_uid = $2)",
        )
        .bind(api_key)
        .bind(uid)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM metadata_values WHERE api_key = $1 AND extension_uid = $2")
            .bind(api_key)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM asset_metadata WHERE api_key = $1 AND extension_uid = $2")
            .bind(api_key)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE stacks SET metadata_extension = '' \
             WHERE api_key = $1 AND metadata_extension = $2",
        )
        .bind(api_key)
        .bind(uid)
        .execute(&mut *tx)
        .await?;
        audit::delete_row_with(tx, "extensions", (api_key, uid), audit).await
    }

    /// One extension of a stack.
    pub async fn extension(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<Extension>> {
        self.stack_row("extensions", "uid", (api_key, uid), extension)
            .await
    }

    /// A stack's extensions, oldest first.
    pub async fn extensions(&self, api_key: &str) -> sqlx::Result<Vec<Extension>> {
        self.stack_rows("extensions", api_key, extension).await
    }

    /// Stores new metadata, with the asset's `update` event; false when the asset already
    /// has metadata for this extension and locale.
    pub async fn insert_metadata(&self, m: &Metadata, audit: &[AuditEntry]) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "INSERT INTO asset_metadata (uid, api_key, entity_uid, extension_uid, locale, body, \
             version, created_by, updated_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (api_key, entity_uid, extension_uid, locale) DO NOTHING",
        )
        .bind(&m.uid)
        .bind(&m.api_key)
        .bind(&m.entity_uid)
        .bind(&m.extension_uid)
        .bind(&m.locale)
        .bind(text(&m.body))
        .bind(m.version)
        .bind(&m.created_by)
        .bind(&m.updated_by)
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        values::replace(&mut tx, &current(m), &m.body).await?;
        touch(
            &mut tx,
            &m.api_key,
            &m.entity_uid,
            (&m.created_by, m.created_at),
        )
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Replaces metadata's fields (its version moves by one), with the asset's `update`
    /// event; false when it does not exist.
    pub async fn update_metadata(&self, m: &Metadata, audit: &[AuditEntry]) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE asset_metadata SET body = $3, version = version + 1, updated_by = $4, \
             updated_at = $5 WHERE api_key = $1 AND uid = $2",
        )
        .bind(&m.api_key)
        .bind(&m.uid)
        .bind(text(&m.body))
        .bind(&m.updated_by)
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        values::replace(&mut tx, &current(m), &m.body).await?;
        touch(
            &mut tx,
            &m.api_key,
            &m.entity_uid,
            (&m.updated_by, m.updated_at),
        )
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Deletes metadata (and what of it was published: the asset's sync events where it
    /// was), with the asset's `update` event; false when it did not exist.
    pub async fn delete_metadata(
        &self,
        m: &Metadata,
        by: &str,
        at: i64,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let targets: Vec<(String, String)> = sqlx::query_as(
            "SELECT environment_uid, locale FROM asset_metadata_published WHERE metadata_uid = $1",
        )
        .bind(&m.uid)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM asset_metadata_published WHERE metadata_uid = $1")
            .bind(&m.uid)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM asset_metadata WHERE api_key = $1 AND uid = $2")
            .bind(&m.api_key)
            .bind(&m.uid)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        values::remove(&mut tx, &m.uid, None).await?;
        for (env, locale) in &targets {
            super::published::record_touch(
                &mut tx,
                &m.api_key,
                (&m.entity_uid, env, locale),
                (by, at),
            )
            .await?;
        }
        touch(&mut tx, &m.api_key, &m.entity_uid, (by, at)).await?;
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// One metadata of a stack.
    pub async fn metadata(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<Metadata>> {
        self.stack_row("asset_metadata", "uid", (api_key, uid), metadata)
            .await
    }

    /// A page of a stack's metadata, oldest first (optionally of one asset or extension),
    /// and how many there are.
    pub async fn metadata_page(
        &self,
        api_key: &str,
        entity_uid: Option<&str>,
        extension_uid: Option<&str>,
        (skip, limit): (i64, i64),
    ) -> sqlx::Result<(Vec<Metadata>, i64)> {
        let filter = "api_key = $1 AND ($2 = '' OR entity_uid = $2) \
                      AND ($3 = '' OR extension_uid = $3)";
        let rows = sqlx::query(&format!(
            "SELECT * FROM asset_metadata WHERE {filter} ORDER BY created_at, uid \
             LIMIT $4 OFFSET $5"
        ))
        .bind(api_key)
        .bind(entity_uid.unwrap_or(""))
        .bind(extension_uid.unwrap_or(""))
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?;
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM asset_metadata WHERE {filter}"
        ))
        .bind(api_key)
        .bind(entity_uid.unwrap_or(""))
        .bind(extension_uid.unwrap_or(""))
        .fetch_one(&self.read)
        .await?;
        Ok((
            rows.iter().map(metadata).collect::<sqlx::Result<_>>()?,
            count,
        ))
    }

    /// The metadata of these assets (at most a page of them), oldest first.
    pub async fn metadata_of(
        &self,
        api_key: &str,
        entity_uids: &[&str],
    ) -> sqlx::Result<Vec<Metadata>> {
        if entity_uids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM asset_metadata WHERE api_key = $1 AND entity_uid IN ({}) \
             ORDER BY created_at, uid",
            placeholders(2, entity_uids.len())
        );
        let mut q = sqlx::query(&sql).bind(api_key);
        for u in entity_uids {
            q = q.bind(*u);
        }
        q.fetch_all(&self.read)
            .await?
            .iter()
            .map(metadata)
            .collect()
    }

    /// What of these assets' metadata is published to an environment and locale.
    pub async fn published_metadata_of(
        &self,
        environment_uid: &str,
        locale: &str,
        entity_uids: &[&str],
    ) -> sqlx::Result<Vec<PublishedMetadata>> {
        if entity_uids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT p.metadata_uid, p.entity_uid, m.extension_uid, p.body, p.version \
             FROM asset_metadata_published p JOIN asset_metadata m ON m.uid = p.metadata_uid \
             WHERE p.environment_uid = $1 AND p.locale = $2 AND p.entity_uid IN ({}) \
             ORDER BY m.created_at, m.uid",
            placeholders(3, entity_uids.len())
        );
        let mut q = sqlx::query(&sql).bind(environment_uid).bind(locale);
        for u in entity_uids {
            q = q.bind(*u);
        }
        q.fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| {
                Ok(PublishedMetadata {
                    metadata_uid: r.try_get("metadata_uid")?,
                    entity_uid: r.try_get("entity_uid")?,
                    extension_uid: r.try_get("extension_uid")?,
                    body: object(r, "body")?,
                    version: r.try_get("version")?,
                })
            })
            .collect()
    }

    /// Where metadata is published: (environment uid, locale).
    pub async fn metadata_targets(&self, uid: &str) -> sqlx::Result<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT environment_uid, locale FROM asset_metadata_published \
             WHERE metadata_uid = $1 ORDER BY environment_uid, locale",
        )
        .bind(uid)
        .fetch_all(&self.read)
        .await
    }

    /// Publishes (`publish`) or withdraws metadata for each (environment uid, locale): the
    /// published rows, a sync event for the asset where the asset is published there, and
    /// the asset's `update` event. Returns how many targets changed.
    pub async fn publish_metadata(
        &self,
        m: &Metadata,
        targets: &[(String, String)],
        publish: bool,
        (by, at): (&str, i64),
        audit: &[AuditEntry],
    ) -> sqlx::Result<u64> {
        let mut tx = self.write.begin().await?;
        let mut changed = 0;
        for (env, locale) in targets {
            let r = if publish {
                sqlx::query(
                    "INSERT INTO asset_metadata_published (metadata_uid, entity_uid, \
                     environment_uid, locale, body, version, published_by, published_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (metadata_uid, environment_uid, locale) DO UPDATE SET \
                     body = excluded.body, version = excluded.version, \
                     published_by = excluded.published_by, published_at = excluded.published_at",
                )
                .bind(&m.uid)
                .bind(&m.entity_uid)
                .bind(env)
                .bind(locale)
                .bind(text(&m.body))
                .bind(m.version)
                .bind(by)
                .bind(at)
                .execute(&mut *tx)
                .await?
            } else {
                sqlx::query(
                    "DELETE FROM asset_metadata_published WHERE metadata_uid = $1 \
                     AND environment_uid = $2 AND locale = $3",
                )
                .bind(&m.uid)
                .bind(env)
                .bind(locale)
                .execute(&mut *tx)
                .await?
            };
            if publish {
                let owner = Owner {
                    environment_uid: env,
                    locale,
                    ..current(m)
                };
                values::replace(&mut tx, &owner, &m.body).await?;
            } else {
                values::remove(&mut tx, &m.uid, Some((env, locale))).await?;
            }
            if r.rows_affected() > 0 {
                changed += 1;
                super::published::record_touch(
                    &mut tx,
                    &m.api_key,
                    (&m.entity_uid, env, locale),
                    (by, at),
                )
                .await?;
            }
        }
        if changed > 0 {
            touch(&mut tx, &m.api_key, &m.entity_uid, (by, at)).await?;
        }
        if changed > 0 {
            audit::insert_tx(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
