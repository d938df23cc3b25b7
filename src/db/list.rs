//! Listing assets in SQL (§5 `GET /v3/assets`, §6): one query builder for both backends.
//! Filters, order, `skip`/`limit` and counts run in the database on indexed columns
//! (migration 0002: the current file's name, type and size on `assets`, tags in
//! `asset_tags`, partial indexes over live assets), so a page costs about the same in a
//! stack of 100 assets and of 1,000,000 (STYLE rule 14).
//!
//! The domain translates its query document into a [`Filter`]; the SQL text is made here
//! and nowhere else. A filter may be a superset of what the caller wants (a regex narrowed
//! to its literal prefix); the caller then reads rows with [`Db::list_scan`] and keeps
//! the exact matches.

use sqlx::Row;

use super::assets::{asset_from_row, ASSET_COLS};
use super::metadata::values::StoredValue;
use super::publishing::publication;
use super::Db;
use crate::records::{Asset, Publication};

mod sql;

use sql::{bind_all, Sql};

/// A queryable property of an asset (§6 fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `uid`.
    Uid,
    /// `title` (files only).
    Title,
    /// `name` (folders only).
    Name,
    /// Current file name (files only).
    Filename,
    /// Current content type (folders: the folder type).
    ContentType,
    /// Containing folder (absent at the root).
    ParentUid,
    /// Folder?
    IsDir,
    /// Current file size (files only).
    FileSize,
    /// Creation time (ms).
    CreatedAt,
    /// Last change (ms).
    UpdatedAt,
    /// `_version`.
    Version,
    /// Any one of the tags.
    Tag,
    /// A text value of metadata (only inside [`Filter::Metadata`]).
    MetadataText,
    /// A number value of metadata (only inside [`Filter::Metadata`]).
    MetadataNumber,
}

impl Column {
    /// A text column, whose sort can ignore case.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Column::Uid
                | Column::Title
                | Column::Name
                | Column::Filename
                | Column::ContentType
                | Column::ParentUid
        )
    }

    /// SQL of the value, and of "the asset has this field" (§6: absent fields).
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Column::Uid => ("a.uid", "1 = 1"),
            Column::Title => ("a.title", "a.is_dir = 0"),
            Column::Name => ("a.title", "a.is_dir = 1"),
            Column::Filename => ("a.filename", "a.filename IS NOT NULL"),
            Column::ContentType => ("a.content_type", "1 = 1"),
            Column::ParentUid => ("a.parent_uid", "a.parent_uid IS NOT NULL"),
            Column::IsDir => ("a.is_dir", "1 = 1"),
            Column::FileSize => ("a.file_size", "a.file_size IS NOT NULL"),
            Column::CreatedAt => ("a.created_at", "1 = 1"),
            Column::UpdatedAt => ("a.updated_at", "1 = 1"),
            Column::Version => ("a.version", "1 = 1"),
            Column::Tag => ("t.tag", "a.tags <> '[]'"),
            Column::MetadataText => ("v.text_value", "v.text_value IS NOT NULL"),
            Column::MetadataNumber => ("v.num_value", "v.num_value IS NOT NULL"),
        }
    }
}

/// A literal compared with a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// Integer (also booleans: 0/1).
    Int(i64),
    /// A number with a fraction.
    Float(f64),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=`.
    Eq,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A condition on assets, as SQL can answer it.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every asset.
    True,
    /// No asset.
    False,
    /// All of these.
    All(Vec<Filter>),
    /// Any of these.
    Any(Vec<Filter>),
    /// Not this.
    Not(Box<Filter>),
    /// The asset has the field (for [`Column::Tag`]: at least one tag).
    Present(Column),
    /// The field is present and compares so (tags: some tag does).
    Compare(Column, Cmp, Value),
    /// The field is present and equals one of these (tags: some tag does).
    In(Column, Vec<Value>),
    /// The field is present and starts with this text; `fold`: ASCII case-insensitively
    /// (an index on `lower(column)` serves it).
    Prefix {
        /// The column (text columns and tags).
        column: Column,
        /// The literal prefix.
        prefix: String,
        /// Compare `lower(column)` with a lowercase ASCII prefix.
        fold: bool,
    },
    /// Some metadata value of the asset, for this extension at this path, satisfies `value`
    /// (a condition on [`Column::MetadataText`] / [`Column::MetadataNumber`]; [`Filter::True`]:
    /// there is a value). For a published listing, metadata as published there.
    Metadata {
        /// The extension the metadata belongs to.
        extension_uid: String,
        /// The leaf's path in the metadata (keys joined by `.`).
        path: String,
        /// The condition on the value.
        value: Box<Filter>,
    },
}

/// Order of a listing.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    /// Sort key (ties broken by uid in the same direction).
    pub column: Column,
    /// Ascending?
    pub ascending: bool,
    /// Compare text keys with ASCII case folded (`ignore_case=true`, a perma addition to
    /// §6): `lower()` of the key, which both backends index.
    pub ignore_case: bool,
}

/// Which rows a listing reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The stack's assets as they are now (management API, §5).
    Assets,
    /// What is published to an environment (§12): each asset as its published version,
    /// in the first of `locales` it is published in (a fallback chain, or one locale).
    Published {
        /// Environment uid.
        environment_uid: String,
        /// Locale codes, most wanted first.
        locales: Vec<String>,
    },
}

/// An asset in a listing; for [`Source::Published`], with its publication.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The asset (for a published listing: as its published version).
    pub asset: Asset,
    /// The publication it was listed through.
    pub publication: Option<Publication>,
}

/// What to list: the stack, the scope, the filter and the order.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Current assets or a published view.
    pub source: Source,
    /// Stack.
    pub api_key: String,
    /// Only direct children of this folder (`Some(None)`: the root).
    pub folder: Option<Option<String>>,
    /// Include folders.
    pub include_folders: bool,
    /// Only assets whose content type starts with this (`image/`, `video/`).
    pub type_prefix: Option<String>,
    /// Only assets published to this environment (name or uid).
    pub environment: Option<String>,
    /// The condition.
    pub filter: Filter,
    /// The order.
    pub order: Order,
}

impl Db {
    /// One page of a listing: the assets in order, `skip` rows skipped. The page's uids
    /// come from the indexes alone; only its rows are read in full.
    pub async fn list_page(
        &self,
        q: &ListQuery,
        skip: u64,
        limit: u64,
    ) -> sqlx::Result<Vec<Listed>> {
        let s = Sql::from_where(q);
        let text = format!(
            "SELECT a.uid {} ORDER BY {} LIMIT {limit} OFFSET {skip}",
            s.text,
            Sql::order_by(q)
        );
        let uids: Vec<String> = bind_all(sqlx::query(&text), &s.binds)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<sqlx::Result<_>>()?;
        self.listed_by_uid(&q.source, &uids).await
    }

    /// How many assets a listing has in all.
    pub async fn list_count(&self, q: &ListQuery) -> sqlx::Result<u64> {
        if let Some(n) = self.kept_count(q).await? {
            return Ok(n);
        }
        let s = Sql::from_where(q);
        let text = format!("SELECT COUNT(*) {}", s.text);
        let n: i64 = bind_all(sqlx::query(&text), &s.binds)
            .fetch_one(&self.read)
            .await?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    }

    /// The count of a listing with no condition but its folder (the library's own total,
    /// the count of one folder) from the totals the schema keeps per folder (schema v9,
    /// `asset_counts`): a few rows instead of an index scan of the whole stack, so the
    /// common `include_count` costs the same at any size. `None` when the listing has a
    /// condition the totals do not hold (a query, a kind, an environment, a published view).
    async fn kept_count(&self, q: &ListQuery) -> sqlx::Result<Option<u64>> {
        if q.source != Source::Assets
            || q.filter != Filter::True
            || q.type_prefix.is_some()
            || q.environment.is_some()
        {
            return Ok(None);
        }
        let mut sql = String::from(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM asset_counts WHERE api_key = $1",
        );
        if !q.include_folders {
            sql.push_str(" AND is_dir = 0");
        }
        let parent = q.folder.as_ref().map(|f| f.as_deref().unwrap_or(""));
        if parent.is_some() {
            sql.push_str(" AND parent_key = $2");
        }
        let mut query = sqlx::query(&sql).bind(q.api_key.as_str());
        if let Some(p) = parent {
            query = query.bind(p);
        }
        let n: i64 = query.fetch_one(&self.read).await?.try_get(0)?;
        Ok(Some(n.max(0) as u64))
    }

    /// Visits every asset of a listing in order until `visit` returns false: for filters
    /// the database can only narrow down, which the caller completes row by row. The order
    /// comes from the indexes (uids only, in growing windows, so a scan that stops early
    /// reads little and a long one is not quadratic); full rows are read 200 at a time.
    /// One connection at a time, never two. With `metadata`, each asset comes with its
    /// metadata values (for a published listing: as published there, in the row's locale).
    pub async fn list_scan(
        &self,
        q: &ListQuery,
        metadata: bool,
        mut visit: impl FnMut(Listed, &[StoredValue]) -> bool + Send,
    ) -> sqlx::Result<()> {
        let s = Sql::from_where(q);
        let order = Sql::order_by(q);
        let (mut offset, mut window) = (0u64, 200u64);
        loop {
            let text = format!(
                "SELECT a.uid {} ORDER BY {order} LIMIT {window} OFFSET {offset}",
                s.text
            );
            let uids: Vec<String> = bind_all(sqlx::query(&text), &s.binds)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<sqlx::Result<_>>()?;
            for chunk in uids.chunks(200) {
                let values = if metadata {
                    let scope = match &q.source {
                        Source::Assets => "",
                        Source::Published {
                            environment_uid, ..
                        } => environment_uid.as_str(),
                    };
                    let of: Vec<&str> = chunk.iter().map(String::as_str).collect();
                    self.metadata_values_of(&q.api_key, scope, &of).await?
                } else {
                    Vec::new()
                };
                for a in self.listed_by_uid(&q.source, chunk).await? {
                    let locale = a.publication.as_ref().map(|p| p.locale.as_str());
                    let mine: Vec<StoredValue> = values
                        .iter()
                        .filter(|v| {
                            v.entity_uid == a.asset.uid && locale.is_none_or(|l| v.locale == l)
                        })
                        .cloned()
                        .collect();
                    if !visit(a, &mine) {
                        return Ok(());
                    }
                }
            }
            if (uids.len() as u64) < window {
                return Ok(());
            }
            offset += window;
            window = (window * 2).min(50_000);
        }
    }

    /// Full rows of these assets, in the order given (for a published listing: the row
    /// of each in the first locale of the chain it is published in).
    async fn listed_by_uid(&self, source: &Source, uids: &[String]) -> sqlx::Result<Vec<Listed>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let ps: Vec<String> = (1..=uids.len()).map(|i| format!("${i}")).collect();
        let mut found: Vec<Listed> = match source {
            Source::Assets => {
                let text = format!(
                    "SELECT {ASSET_COLS} FROM assets a LEFT JOIN files f ON f.uid = a.file_uid \
                     WHERE a.uid IN ({})",
                    ps.join(", ")
                );
                let mut q = sqlx::query(&text);
                for u in uids {
                    q = q.bind(u.as_str());
                }
                q.fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(Listed {
                            asset: asset_from_row(r)?,
                            publication: None,
                        })
                    })
                    .collect::<sqlx::Result<_>>()?
            }
            Source::Published {
                environment_uid,
                locales,
            } => {
                let n = uids.len();
                // Every column of the primary key (environment, locale, uid), so that the
                // rows are found by it, also where the planner has no skip scan.
                let ls: Vec<String> = (0..locales.len())
                    .map(|i| format!("${}", n + 2 + i))
                    .collect();
                let text = format!(
                    "SELECT {ASSET_COLS}, a.environment_uid, a.locale, a.published_by, \
                     a.published_at, e.name AS environment_name FROM published_assets a \
                     JOIN environments e ON e.uid = a.environment_uid \
                     LEFT JOIN files f ON f.uid = a.file_uid \
                     WHERE a.environment_uid = ${} AND a.locale IN ({}) AND a.uid IN ({})",
                    n + 1,
                    ls.join(", "),
                    ps.join(", "),
                );
                let mut q = sqlx::query(&text);
                for u in uids {
                    q = q.bind(u.as_str());
                }
                q = q.bind(environment_uid.as_str());
                for l in locales {
                    q = q.bind(l.as_str());
                }
                let rows = q.fetch_all(&self.read).await?;
                let rank = |l: &str| locales.iter().position(|x| x == l).unwrap_or(usize::MAX);
                let mut best: Vec<(usize, Listed)> = Vec::new();
                for r in &rows {
                    let locale: String = r.try_get("locale")?;
                    let rk = rank(&locale);
                    if rk == usize::MAX {
                        continue;
                    }
                    let listed = Listed {
                        asset: asset_from_row(r)?,
                        publication: Some(publication(r)?),
                    };
                    match best
                        .iter_mut()
                        .find(|(_, l)| l.asset.uid == listed.asset.uid)
                    {
                        Some(slot) if slot.0 > rk => *slot = (rk, listed),
                        Some(_) => {}
                        None => best.push((rk, listed)),
                    }
                }
                best.into_iter().map(|(_, l)| l).collect()
            }
        };
        let pos = |uid: &str| uids.iter().position(|u| u == uid).unwrap_or(usize::MAX);
        found.sort_by_key(|l| pos(&l.asset.uid));
        Ok(found)
    }
}
