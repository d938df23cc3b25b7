//! Signed URLs of an asset (§13): which URL, for how long, with which parameters. The
//! signature itself is `signing`'s.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::signing;
use crate::time::now_ms;

/// Which URL of an asset to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// The permanent URL (needs one).
    Permanent,
    /// The current version URL.
    Version,
}

/// A signed URL (path and query) of an asset, valid for `expires_in` seconds, with
/// `params` (§11 transform parameters, or `environment`/`locale`) covered by the
/// signature; and when it expires (Unix seconds).
pub async fn signed_url(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    expires_in: i64,
    kind: UrlKind,
    params: &str,
) -> Result<(String, i64)> {
    access.require_read()?;
    if !(1..=signing::MAX_EXPIRES_IN).contains(&expires_in) {
        return Err(Error::field(
            "expires_in",
            format!("must be 1 to {} seconds", signing::MAX_EXPIRES_IN),
        ));
    }
    let params = params.trim_start_matches('?');
    if params
        .split('&')
        .any(|p| matches!(p.split('=').next(), Some("expires" | "signature")))
    {
        return Err(Error::field(
            "params",
            "may not contain expires or signature",
        ));
    }
    crate::images::Transform::parse(params)?;
    let api_key = &access.stack.api_key;
    let asset = db
        .asset(api_key, uid)
        .await?
        .filter(|a| !a.is_dir)
        .ok_or(Error::NotFound("Asset"))?;
    if asset.deleted_at.is_some() {
        return Err(Error::Gone);
    }
    access
        .require(db, crate::permissions::Action::Read, &asset)
        .await?;
    let path = match kind {
        UrlKind::Permanent => {
            let slug = asset.permanent_slug.as_deref().ok_or_else(|| {
                Error::field("url_kind", "permanent: this asset has no permanent URL yet")
            })?;
            crate::records::permanent_path(api_key, uid, slug)
        }
        UrlKind::Version => {
            let file = asset.file.as_ref().ok_or(Error::NotFound("Asset"))?;
            crate::records::version_path(api_key, uid, file)
        }
    };
    let expires = now_ms() / 1000 + expires_in;
    let key = signing::current_key(db, api_key).await?;
    Ok((signing::signed_path(&key, &path, params, expires), expires))
}
