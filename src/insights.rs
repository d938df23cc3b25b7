//! Link insights (§17): every delivery answer counted per asset, URL kind, status class
//! and hour, with the referring page, so that an author can see where a file is linked
//! from, whether anyone still asks for it, and which gone assets are still requested.
//!
//! Counting is the delivery writers' work and must cost them next to nothing: each
//! thread adds to its own shard of [`Tally`] (a lock no other thread takes, except the
//! flusher once per interval, which swaps the shard's map for an empty one), with no
//! allocation once an asset has been counted in the interval. The flusher
//! ([`Tally::flush`], every `insights_flush_seconds`) adds the counts to the database:
//! hourly rows and referrers are upserted as increments, so several processes on one
//! PostgreSQL add up, and a crash loses at most one interval. [`rollup`] folds hourly rows
//! older than [`HOURLY_DAYS`] into daily ones and keeps the top referrers per asset and
//! day.

pub mod read;
pub mod referrer;
mod tally;

pub use tally::Tally;

use crate::db::Db;

/// Hourly rows are kept this many days, then rolled up into daily ones.
pub const HOURLY_DAYS: i64 = 30;
/// An hour and a day, in ms.
pub const HOUR_MS: i64 = 3_600_000;
/// A day in ms.
pub const DAY_MS: i64 = 86_400_000;

/// Which URL answered (§2, §11, §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// An immutable version URL.
    Version = 0,
    /// A permanent URL.
    Permanent = 1,
    /// A rendition (§11) through either URL.
    Rendition = 2,
    /// The Content Delivery API's asset (§12).
    Cda = 3,
}

/// The names of [`Kind`] as stored and answered.
pub const KINDS: [&str; 4] = ["version", "permanent", "rendition", "cda"];

impl Kind {
    /// Its stored name.
    pub fn name(self) -> &'static str {
        KINDS[self as usize]
    }
}

/// The status classes counted: what an author acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// 200 and 206: bytes served.
    Ok = 0,
    /// 304: a cache asked whether its copy is current.
    NotModified = 1,
    /// 404: no such asset (deleted for good, or not published where asked).
    NotFound = 2,
    /// 410: the asset is in the trash (or its version is gone).
    Gone = 3,
    /// Anything else (precondition and range failures, credentials, errors).
    Other = 4,
}

/// The names of [`Status`] as stored and answered.
pub const STATUSES: [&str; 5] = ["ok", "not_modified", "not_found", "gone", "other"];

impl Status {
    /// The class of an HTTP status.
    pub fn of(code: u16) -> Status {
        match code {
            200 | 206 => Status::Ok,
            304 => Status::NotModified,
            404 => Status::NotFound,
            410 => Status::Gone,
            _ => Status::Other,
        }
    }

    /// Its stored name.
    pub fn name(self) -> &'static str {
        STATUSES[self as usize]
    }

    /// A dead link: the asset is asked for but not there.
    pub fn dead(self) -> bool {
        matches!(self, Status::NotFound | Status::Gone)
    }
}

/// One answer to count.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    /// The stack.
    pub api_key: &'a str,
    /// The asset.
    pub asset_uid: &'a str,
    /// Which URL.
    pub kind: Kind,
    /// The answer's status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The request's `Referer`, as sent.
    pub referer: Option<&'a str>,
}

/// The roll-up (§17): hourly rows older than [`HOURLY_DAYS`] become daily ones, and each
/// asset keeps its `keep` most requested referring pages per finished day (the rest are
/// counted as others). Linear in the rows it folds; returns the hourly rows folded.
pub async fn rollup(db: &Db, now: i64, keep: u64) -> anyhow::Result<u64> {
    Ok(db
        .rollup_traffic(now - HOURLY_DAYS * DAY_MS, now, keep as i64)
        .await?)
}

/// A stack's counts over `range` as CSV (RFC 4180): `period,start,asset_uid,kind,status,
/// requests,bytes`, one row per asset, hour (or day, past [`HOURLY_DAYS`]), URL kind and
/// status class, oldest first.
pub async fn export(db: &Db, api_key: &str, range: read::Range) -> anyhow::Result<String> {
    let rows = db.traffic_rows(api_key, range.from, range.to).await?;
    let mut out = String::from("period,start,asset_uid,kind,status,requests,bytes\r\n");
    for (hourly, asset_uid, r) in rows {
        let period = if hourly { "hour" } else { "day" };
        out.push_str(&format!(
            "{period},{},{},{},{},{},{}\r\n",
            crate::time::iso8601(r.at),
            asset_uid,
            r.kind,
            r.status,
            r.requests,
            r.bytes
        ));
    }
    Ok(out)
}
