//! Reading link insights (§17): one asset's series and referring pages, and for a stack
//! the most requested assets, the assets nobody asks for, and the dead links. Ranges are
//! checked here (422 with the field that is wrong); stack-wide lists need read access to
//! every asset of the stack, an asset's own insights read access to that asset (§14).

use super::{referrer, DAY_MS, HOUR_MS};
use crate::db::insights::{AssetState, Point, Total, Unused};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::permissions::Action;
use crate::time::{now_ms, parse_iso8601};

/// The longest range one answer covers.
pub const MAX_RANGE_DAYS: i64 = 366;
/// The longest range of an hourly series.
pub const MAX_HOURLY_DAYS: i64 = 31;
/// The default range: the last 30 days.
pub const DEFAULT_DAYS: i64 = 30;

/// A range of time, `[from, to)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start (inclusive).
    pub from: i64,
    /// End (exclusive).
    pub to: i64,
}

/// Periods of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One point per hour (ranges up to [`MAX_HOURLY_DAYS`]).
    Hour,
    /// One point per day.
    Day,
}

fn instant(field: &str, v: &str) -> Result<i64> {
    parse_iso8601(v).ok_or_else(|| {
        Error::field(
            field,
            "must be a date (2026-12-01) or an ISO-8601 instant (2026-12-01T10:00:00Z)",
        )
    })
}

impl Range {
    /// `from` and `to` as given (ISO-8601 dates or instants); by default the
    /// [`DEFAULT_DAYS`] up to now. 422 when `from` is not before `to` or the range is longer
    /// than [`MAX_RANGE_DAYS`].
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Range> {
        let to = match to {
            Some(v) => instant("to", v)?,
            None => now_ms(),
        };
        let from = match from {
            Some(v) => instant("from", v)?,
            None => to - DEFAULT_DAYS * DAY_MS,
        };
        if from >= to {
            return Err(Error::field("from", "must be before to"));
        }
        if to - from > MAX_RANGE_DAYS * DAY_MS {
            return Err(Error::field(
                "to",
                format!("must be at most {MAX_RANGE_DAYS} days after from"),
            ));
        }
        Ok(Range { from, to })
    }
}

impl Granularity {
    /// `hour` or `day` (the default); 422 otherwise, or for hours over more than
    /// [`MAX_HOURLY_DAYS`].
    pub fn parse(v: Option<&str>, range: Range) -> Result<Granularity> {
        match v.unwrap_or("day") {
            "day" => Ok(Granularity::Day),
            "hour" if range.to - range.from <= MAX_HOURLY_DAYS * DAY_MS => Ok(Granularity::Hour),
            "hour" => Err(Error::field(
                "granularity",
                format!("hour covers at most {MAX_HOURLY_DAYS} days; ask for day"),
            )),
            _ => Err(Error::field("granularity", "must be hour or day")),
        }
    }

    /// The period in ms.
    pub fn ms(self) -> i64 {
        match self {
            Granularity::Hour => HOUR_MS,
            Granularity::Day => DAY_MS,
        }
    }
}

/// Refuses unless the actor may read every asset of the stack (stack-wide lists name
/// assets the actor would otherwise not see).
fn require_stack_wide(access: &StackAccess) -> Result<()> {
    access.require_read()?;
    if access.grants.everywhere(Action::Read) {
        return Ok(());
    }
    Err(Error::Forbidden(
        "Stack-wide insights need read access to every asset of the stack; ask an Admin for a role that allows it.".into(),
    ))
}

async fn require_asset(db: &Db, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_read()?;
    let asset = db
        .asset(&access.stack.api_key, uid)
        .await?
        .filter(|a| !a.is_dir)
        .ok_or(Error::NotFound("Asset"))?;
    access.require(db, Action::Read, &asset).await
}

/// An asset's requests and bytes over `range`, per period, URL kind and status class,
/// oldest first (periods without requests are absent).
pub async fn series(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    range: Range,
    granularity: Granularity,
) -> Result<Vec<Point>> {
    require_asset(db, access, uid).await?;
    Ok(db
        .asset_series(
            &access.stack.api_key,
            uid,
            range.from,
            range.to,
            granularity == Granularity::Day,
        )
        .await?)
}

/// Referring pages with their requests, most first, and how many pages there are.
#[derive(Debug, Clone, Default)]
pub struct Referrers {
    /// `(page, requests)`; the page `""` is every page past the kept top N.
    pub pages: Vec<(String, i64)>,
    /// Pages in the range, in all.
    pub count: i64,
    /// `(site, requests)` over every page of the range, most first.
    pub sites: Vec<(String, i64)>,
}

/// Sites are summed over at most this many pages.
const SITE_PAGES: i64 = 10_000;

fn sites(pages: &[(String, i64)]) -> Vec<(String, i64)> {
    let mut by: std::collections::HashMap<&str, i64> = Default::default();
    for (page, n) in pages {
        *by.entry(if page.is_empty() {
            ""
        } else {
            referrer::site(page)
        })
        .or_default() += n;
    }
    let mut out: Vec<(String, i64)> = by.into_iter().map(|(s, n)| (s.to_owned(), n)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// An asset's referring pages over `range` (answers that served it, not dead links),
/// paged, and its referring sites.
pub async fn asset_referrers(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    range: Range,
    skip: i64,
    limit: i64,
) -> Result<Referrers> {
    require_asset(db, access, uid).await?;
    let key = &access.stack.api_key;
    let (pages, count) = db
        .referrers(key, Some(uid), range.from, range.to, false, skip, limit)
        .await?;
    let (all, _) = db
        .referrers(key, Some(uid), range.from, range.to, false, 0, SITE_PAGES)
        .await?;
    Ok(Referrers {
        pages,
        count,
        sites: sites(&all),
    })
}

/// One of the most requested assets, with what it is now.
#[derive(Debug, Clone)]
pub struct Top {
    /// Requests and bytes served (200, 206, 304).
    pub total: Total,
    /// The asset now (`None`: not an asset of the stack any more).
    pub asset: Option<AssetState>,
}

/// The stack's most requested assets over `range` (answers that served them), paged.
pub async fn top(
    db: &Db,
    access: &StackAccess,
    range: Range,
    skip: i64,
    limit: i64,
) -> Result<Vec<Top>> {
    ranked(db, access, range, &["ok", "not_modified"], (skip, limit)).await
}

/// The stack's assets most requested over `range` with answers of `statuses`, paged, each
/// with what it is now.
async fn ranked(
    db: &Db,
    access: &StackAccess,
    range: Range,
    statuses: &[&str],
    (skip, limit): (i64, i64),
) -> Result<Vec<Top>> {
    require_stack_wide(access)?;
    let key = &access.stack.api_key;
    let totals = db
        .top_assets(key, range.from, range.to, statuses, skip, limit)
        .await?;
    let uids: Vec<String> = totals.iter().map(|t| t.asset_uid.clone()).collect();
    let mut states: std::collections::HashMap<String, AssetState> = db
        .asset_states(key, &uids)
        .await?
        .into_iter()
        .map(|s| (s.uid.clone(), s))
        .collect();
    Ok(totals
        .into_iter()
        .map(|total| Top {
            asset: states.remove(&total.asset_uid),
            total,
        })
        .collect())
}

/// The stack's assets not requested since `since` (candidates to clean up), paged, and
/// with `count` how many there are.
pub async fn unused(
    db: &Db,
    access: &StackAccess,
    since: Option<&str>,
    (skip, limit): (i64, i64),
    count: bool,
) -> Result<(Vec<Unused>, Option<i64>)> {
    require_stack_wide(access)?;
    let since = match since {
        Some(v) => instant("since", v)?,
        None => now_ms() - DEFAULT_DAYS * DAY_MS,
    };
    if since > now_ms() {
        return Err(Error::field("since", "must not be in the future"));
    }
    Ok(db
        .unused_assets(&access.stack.api_key, since, skip, limit, count)
        .await?)
}

/// A dead link: an asset requested and answered 404 or 410.
#[derive(Debug, Clone)]
pub struct DeadLink {
    /// Dead requests over the range (bytes are those of the error answers).
    pub total: Total,
    /// The asset now: `trashed`, `deleted`, or `live` (then it was asked for where it is
    /// not published, or of a version that is gone); `None` when it never was an asset of
    /// the stack.
    pub asset: Option<AssetState>,
    /// The pages that asked for it, most first (at most [`DEAD_PAGES`]).
    pub pages: Vec<(String, i64)>,
}

/// Pages listed with each dead link.
pub const DEAD_PAGES: usize = 10;

/// The stack's dead links over `range`, most requested first, paged.
pub async fn dead_links(
    db: &Db,
    access: &StackAccess,
    range: Range,
    skip: i64,
    limit: i64,
) -> Result<Vec<DeadLink>> {
    let ranked = ranked(db, access, range, &["not_found", "gone"], (skip, limit)).await?;
    let uids: Vec<String> = ranked.iter().map(|t| t.total.asset_uid.clone()).collect();
    let pages = db
        .dead_referrers(
            &access.stack.api_key,
            &uids,
            range.from,
            range.to,
            DEAD_PAGES,
        )
        .await?;
    Ok(ranked
        .into_iter()
        .map(|Top { total, asset }| DeadLink {
            asset,
            pages: pages
                .iter()
                .filter(|(u, _, _)| *u == total.asset_uid)
                .map(|(_, p, n)| (p.clone(), *n))
                .collect(),
            total,
        })
        .collect())
}
