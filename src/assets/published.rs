//! The Content Delivery API for assets (§12): what a website reads with a delivery token.
//! Assets published to an environment are listed by the same query builder as the
//! management list, over `published_assets` (each asset as its published version), so a
//! page costs the same here as there.

use super::list::{list_query, run, ListParams};
use crate::db::list::{Listed, Source};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::DeliveryAccess;

/// The published assets of the reader's environment and locale (§12 `GET /v3/assets`):
/// the page, and the number of matches when asked for.
pub async fn list_published(
    db: &Db,
    access: &DeliveryAccess,
    p: &ListParams,
) -> Result<(Vec<Listed>, Option<u64>)> {
    let source = Source::Published {
        environment_uid: access.environment.uid.clone(),
        locales: access.locales.clone(),
    };
    let mut q = list_query(source, &access.stack.api_key, p, None);
    // Folders are never published; `environment` named the reader's environment.
    q.include_folders = false;
    q.environment = None;
    run(db, &q, p).await
}

/// One published asset (§12 `GET /v3/assets/{uid}`); with `version`, only if that is the
/// published version. 404 when it is not published there.
pub async fn fetch_published(
    db: &Db,
    access: &DeliveryAccess,
    uid: &str,
    version: Option<i64>,
) -> Result<Listed> {
    let p = ListParams {
        limit: 1,
        ..ListParams::default()
    };
    let mut q = list_query(
        Source::Published {
            environment_uid: access.environment.uid.clone(),
            locales: access.locales.clone(),
        },
        &access.stack.api_key,
        &p,
        None,
    );
    q.filter = crate::db::list::Filter::Compare(
        crate::db::list::Column::Uid,
        crate::db::list::Cmp::Eq,
        crate::db::list::Value::Text(uid.to_owned()),
    );
    let not_published = || Error::NotFound("Asset");
    let found = db
        .list_page(&q, 0, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_published)?;
    if version.is_some_and(|v| v != found.asset.version) {
        return Err(not_published());
    }
    Ok(found)
}
