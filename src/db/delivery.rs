//! What the delivery index reads (§4): one asset with its stack settings and every file,
//! in one indexed query per asset (a miss), or in batches in key order (the preload).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::assets::{asset_from_row, file_at, FileColumns, ASSET_COLS};
use super::{flag, Db};
use crate::records::{Asset, FileMeta};

/// An asset as delivery needs it: the asset, its stack's `secure_asset_urls` and master
/// locale, and every file it ever had (version URLs).
#[derive(Debug, Clone)]
pub struct DeliveryEntry {
    /// The asset (its current file included).
    pub asset: Asset,
    /// The stack's `secure_asset_urls`.
    pub secured: bool,
    /// The stack's `permanent_url_mode` is `redirect` (§13).
    pub redirect: bool,
    /// The stack's master locale.
    pub master_locale: String,
    /// Every file of the asset.
    pub files: Vec<FileMeta>,
}

/// Columns of the files joined to each asset row, prefixed `df_`.
const FILE_COLS: &str = "df.uid AS df_uid, df.sha256 AS df_sha256, df.size AS df_size, \
    df.content_type AS df_content_type, df.filename AS df_filename, df.width AS df_width, \
    df.height AS df_height, df.created_at AS df_created_at";

/// Every file's columns, prefixed `df_`.
const EVERY_FILE: FileColumns = FileColumns {
    sha256: "df_sha256",
    size: "df_size",
    content_type: "df_content_type",
    filename: "df_filename",
    width: "df_width",
    height: "df_height",
    created_at: "df_created_at",
};

fn joined_file(row: &AnyRow) -> sqlx::Result<Option<FileMeta>> {
    file_at(row, row.try_get("df_uid")?, &EVERY_FILE)
}

/// Folds rows (one per file, ordered by asset) into entries.
fn entries(rows: &[AnyRow]) -> sqlx::Result<Vec<DeliveryEntry>> {
    let mut out: Vec<DeliveryEntry> = Vec::new();
    for row in rows {
        let uid: String = row.try_get("uid")?;
        if out.last().is_none_or(|e| e.asset.uid != uid) {
            out.push(DeliveryEntry {
                asset: asset_from_row(row)?,
                secured: flag(row, "s_secure")?,
                redirect: row.try_get::<String, _>("s_mode")? == "redirect",
                master_locale: row.try_get("s_locale")?,
                files: Vec::new(),
            });
        }
        if let (Some(file), Some(entry)) = (joined_file(row)?, out.last_mut()) {
            entry.files.push(file);
        }
    }
    Ok(out)
}

impl Db {
    /// The delivery entries of these assets (file assets only, live or deleted), in uid
    /// order; uids without one are left out. One query on primary keys.
    pub async fn delivery_entries(
        &self,
        asset_uids: &[String],
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        if asset_uids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=asset_uids.len()).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT {ASSET_COLS}, s.secure_asset_urls AS s_secure, s.master_locale AS s_locale, s.permanent_url_mode AS s_mode, \
             {FILE_COLS} FROM assets a JOIN stacks s ON s.api_key = a.api_key \
             LEFT JOIN files f ON f.uid = a.file_uid \
             LEFT JOIN files df ON df.asset_uid = a.uid \
             WHERE a.uid IN ({}) AND a.is_dir = 0 ORDER BY a.uid",
            marks.join(", ")
        );
        let mut q = sqlx::query(&text);
        for uid in asset_uids {
            q = q.bind(uid.as_str());
        }
        entries(&q.fetch_all(&self.read).await?)
    }

    /// Delivery entries of up to `limit` file assets whose uid sorts after `after`, in uid
    /// order (the preload walks the table in batches, so its memory is one batch).
    pub async fn delivery_batch(
        &self,
        after: &str,
        limit: u32,
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSET_COLS}, s.secure_asset_urls AS s_secure, s.master_locale AS s_locale, s.permanent_url_mode AS s_mode, \
             {FILE_COLS} FROM (SELECT * FROM assets WHERE uid > $1 AND is_dir = 0 \
             ORDER BY uid LIMIT {limit}) a JOIN stacks s ON s.api_key = a.api_key \
             LEFT JOIN files f ON f.uid = a.file_uid \
             LEFT JOIN files df ON df.asset_uid = a.uid ORDER BY a.uid"
        ))
        .bind(after)
        .fetch_all(&self.read)
        .await?;
        entries(&rows)
    }
}
