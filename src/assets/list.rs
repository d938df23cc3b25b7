//! Listing assets (§5 `GET /v3/assets`, §6 queries).

use anyhow::Context;

use super::get_folder;
use crate::db::list::{Column, Filter, ListQuery, Listed, Order, Source};
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
    pub skip: u64,
    /// Rows to return (1–100).
    pub limit: u64,
    /// Sort column and direction (`true` = ascending); default: newest first.
    pub sort: Option<(Column, bool)>,
    /// `ignore_case`: text sort keys compare with ASCII case folded.
    pub ignore_case: bool,
    /// `query` document.
    pub query: Option<Query>,
    /// `folder`: `Some(None)` = `cs_root`.
    pub folder: Option<Option<String>>,
    /// Include folders in the list.
    pub include_folders: bool,
    /// Only assets published to this environment (name or uid).
    pub environment: Option<String>,
    /// Images or videos only.
    pub kind: Kind,
    /// Count every match (`include_count`).
    pub count: bool,
}

/// Lists assets (§5, §6): the page, and the number of matches when asked for.
pub async fn list(
    db: &Db,
    access: &StackAccess,
    p: &ListParams,
) -> Result<(Vec<Asset>, Option<u64>)> {
    access.require_read()?;
    let api_key = &access.stack.api_key;
    if let Some(Some(f)) = &p.folder {
        get_folder(db, api_key, f).await?;
    }
    let q = list_query(
        Source::Assets,
        api_key,
        p,
        match p.kind {
            Kind::All => None,
            Kind::Images => Some("image/".into()),
            Kind::Videos => Some("video/".into()),
        },
    );
    let (page, count) = run(db, &q, p).await?;
    Ok((page.into_iter().map(|l| l.asset).collect(), count))
}

/// The [`ListQuery`] of a list call over `source`.
pub(super) fn list_query(
    source: Source,
    api_key: &str,
    p: &ListParams,
    type_prefix: Option<String>,
) -> ListQuery {
    let filter = match &p.query {
        Some(q) => q.filter().0,
        None => Filter::True,
    };
    let (column, ascending) = p.sort.unwrap_or((Column::CreatedAt, false));
    ListQuery {
        source,
        api_key: api_key.to_owned(),
        folder: p.folder.clone(),
        include_folders: p.include_folders,
        type_prefix,
        environment: p.environment.clone(),
        filter,
        order: Order {
            column,
            ascending,
            ignore_case: p.ignore_case,
        },
    }
}

/// Runs a listing: the page, and the number of matches when asked for. The database
/// filters, orders, skips and counts on its indexes; only a regex that it can merely
/// narrow (to an indexed literal prefix, or not at all) is completed here, reading rows in
/// order and stopping as soon as the page is full (or, with a count, at the end).
pub(super) async fn run(
    db: &Db,
    q: &ListQuery,
    p: &ListParams,
) -> Result<(Vec<Listed>, Option<u64>)> {
    let exact = p.query.as_ref().is_none_or(|q| q.filter().1);
    if exact {
        let page = db
            .list_page(q, p.skip, p.limit)
            .await
            .context("listing a page of assets")?;
        let count = if p.count {
            Some(db.list_count(q).await.context("counting assets")?)
        } else {
            None
        };
        return Ok((page, count));
    }
    let query = p.query.as_ref();
    let metadata = query.is_some_and(Query::reads_metadata);
    let (mut page, mut matched) = (Vec::new(), 0u64);
    db.list_scan(q, metadata, |l, values| {
        if query.is_none_or(|q| q.matches(&l.asset, values)) {
            if matched >= p.skip && (page.len() as u64) < p.limit {
                page.push(l);
            }
            matched += 1;
        }
        p.count || (page.len() as u64) < p.limit
    })
    .await
    .context("scanning assets for a regex")?;
    Ok((page, p.count.then_some(matched)))
}
