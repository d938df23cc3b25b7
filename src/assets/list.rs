//! Listing assets (§5 `GET /v3/assets`, §6 queries).

use anyhow::Context;

use super::get_folder;
use std::collections::BTreeSet;

use super::MAX_FOLDER_DEPTH;
use crate::db::list::{Column, Filter, ListQuery, Listed, Order, Source, Value};
use crate::db::Db;
use crate::error::Result;
use crate::identity::StackAccess;
use crate::permissions::Action;
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
    let mut q = q;
    if let Some(scope) = readable_scope(db, access, p.folder.as_ref(), p.include_folders).await? {
        q.filter = Filter::All(vec![q.filter, scope]);
    }
    let (page, count) = run(db, &q, p).await?;
    Ok((page.into_iter().map(|l| l.asset).collect(), count))
}

/// What a member whose roles reach only some assets may see of a listing (§14), as a
/// condition the database applies (so pages and counts agree with what is shown): the
/// assets granted one by one, what the granted folders hold (down the tree where the rule
/// propagates), the granted folders themselves and the folders above them (the way to
/// them). `None` when nothing needs hiding: the roles read everything, or the listing is
/// of a folder whose contents they read.
async fn readable_scope(
    db: &Db,
    access: &StackAccess,
    folder: Option<&Option<String>>,
    include_folders: bool,
) -> Result<Option<Filter>> {
    let grants = &access.grants;
    if grants.everywhere(Action::Read) {
        return Ok(None);
    }
    if let Some(Some(f)) = folder {
        let chain = access.ancestors(db, Some(f)).await?;
        if grants.covers(Action::Read, "", false, &chain) {
            return Ok(None);
        }
    }
    let api_key = &access.stack.api_key;
    let (contents, own) = grants.folder_scope(Action::Read);
    let mut parents: BTreeSet<String> = BTreeSet::new();
    for (uid, deep) in &contents {
        parents.insert(uid.clone());
        if !deep {
            continue;
        }
        // The sub-folders of a propagating rule, level by level (at most the folder depth).
        let mut level = vec![uid.clone()];
        for _ in 0..=MAX_FOLDER_DEPTH {
            let mut next = Vec::new();
            for f in &level {
                for child in db.subfolders(api_key, f).await? {
                    if parents.insert(child.clone()) {
                        next.push(child);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
    }
    let mut uids: BTreeSet<String> = grants.asset_scope(Action::Read).into_iter().collect();
    let text = |set: BTreeSet<String>| set.into_iter().map(Value::Text).collect::<Vec<_>>();
    if !include_folders {
        // Without folders, only what the granted folders hold and the assets granted one by
        // one can be listed. A lone folder condition is what the index on (parent,
        // created) answers in order: a member's last page costs what a folder's does.
        return Ok(Some(if uids.is_empty() {
            Filter::In(Column::ParentUid, text(parents))
        } else {
            Filter::Any(vec![
                Filter::In(Column::Uid, text(uids)),
                Filter::In(Column::ParentUid, text(parents)),
            ])
        }));
    }
    uids.extend(own.iter().cloned());
    // The way to what they may read: the folders above each granted folder and asset.
    let mut starts: Vec<Option<String>> = contents.iter().map(|(f, _)| Some(f.clone())).collect();
    starts.extend(own.iter().map(|f| Some(f.clone())));
    for uid in grants.asset_scope(Action::Read) {
        if let Some(a) = db.asset(api_key, &uid).await? {
            starts.push(a.parent_uid);
        }
    }
    for start in starts {
        for f in access.ancestors(db, start.as_deref()).await? {
            uids.insert(f);
        }
    }
    Ok(Some(Filter::Any(vec![
        Filter::In(Column::Uid, text(uids)),
        Filter::In(Column::ParentUid, text(parents)),
    ])))
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
