//! Listing assets (§5 `GET /v3/assets`, §6 queries).

use super::get_folder;
use crate::db::Db;
use crate::error::Result;
use crate::identity::StackAccess;
use crate::query::Query;
use crate::records::Asset;

/// Which assets a list call wants by kind (`/assets`, `/assets/images`, `/assets/videos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Everything.
    #[default]
    All,
    /// `image/*`.
    Images,
    /// `video/*`.
    Videos,
}

/// Parameters of `GET /v3/assets` (§5), parsed.
#[derive(Debug, Default)]
pub struct ListParams {
    /// Rows to skip.
    pub skip: usize,
    /// Rows to return (1–100).
    pub limit: usize,
    /// Sort field and direction (`true` = ascending).
    pub sort: Option<(String, bool)>,
    /// `query` document.
    pub query: Option<Query>,
    /// `folder`: `Some(None)` = `cs_root`.
    pub folder: Option<Option<String>>,
    /// Include folders in the list.
    pub include_folders: bool,
    /// Only assets published to this environment (name).
    pub environment: Option<String>,
    /// Images or videos only.
    pub kind: Kind,
}

/// Lists assets (§5, §6). Returns the page and the total that matched.
pub async fn list(db: &Db, access: &StackAccess, p: &ListParams) -> Result<(Vec<Asset>, usize)> {
    access.require_read()?;
    let api_key = &access.stack.api_key;
    let mut all = match &p.folder {
        Some(Some(f)) => {
            get_folder(db, api_key, f).await?;
            db.children(api_key, Some(f)).await?
        }
        Some(None) => db.children(api_key, None).await?,
        None => db.live_assets(api_key).await?,
    };
    let published: Option<Vec<String>> = match &p.environment {
        None => None,
        Some(env) => {
            let pubs = db.publications(api_key).await?;
            Some(
                pubs.into_iter()
                    .filter(|(_, ps)| {
                        ps.iter()
                            .any(|x| &x.environment == env || &x.environment_uid == env)
                    })
                    .map(|(uid, _)| uid)
                    .collect(),
            )
        }
    };
    all.retain(|a| {
        (p.include_folders || !a.is_dir)
            && match p.kind {
                Kind::All => true,
                Kind::Images => a
                    .file
                    .as_ref()
                    .is_some_and(|f| f.content_type.starts_with("image/")),
                Kind::Videos => a
                    .file
                    .as_ref()
                    .is_some_and(|f| f.content_type.starts_with("video/")),
            }
            && published.as_ref().is_none_or(|ps| ps.contains(&a.uid))
            && p.query.as_ref().is_none_or(|q| q.matches(a))
    });
    let (field, asc) = p
        .sort
        .clone()
        .unwrap_or_else(|| ("created_at".to_owned(), false));
    all.sort_by(|a, b| {
        let ord = crate::query::compare_field(a, b, &field).then_with(|| a.uid.cmp(&b.uid));
        if asc {
            ord
        } else {
            ord.reverse()
        }
    });
    let total = all.len();
    let page = all.into_iter().skip(p.skip).take(p.limit).collect();
    Ok((page, total))
}
