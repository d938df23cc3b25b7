//! Queries for link insights (§17): counts added as increments (several processes add
//! up), read per asset or per stack over hourly rows (the last 30 days) and daily ones
//! (older), and the daily roll-up.

use sqlx::Row;

use super::Db;

mod maintain;

/// Requests and bytes of one asset, hour (or day), URL kind and status class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The stack.
    pub api_key: String,
    /// The asset.
    pub asset_uid: String,
    /// The hour (or day), kind, status and counts.
    pub point: Point,
}

/// Requests from one referring page to one asset on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRow {
    /// The stack.
    pub api_key: String,
    /// The asset.
    pub asset_uid: String,
    /// Start of the day, ms.
    pub day: i64,
    /// Whether the answers were dead links (404, 410).
    pub dead: bool,
    /// The page (`scheme://host/path`), or `""` for the others.
    pub referrer: String,
    /// Requests.
    pub requests: i64,
}

/// One point of a series: a period, URL kind and status class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Start of the period, ms.
    pub at: i64,
    /// URL kind.
    pub kind: String,
    /// Status class.
    pub status: String,
    /// Requests.
    pub requests: i64,
    /// Bytes.
    pub bytes: i64,
}

impl Point {
    /// A row's `at`, `kind`, `status`, `requests` and `bytes`.
    fn read(r: &sqlx::any::AnyRow) -> sqlx::Result<Point> {
        Ok(Point {
            at: r.try_get("at")?,
            kind: r.try_get("kind")?,
            status: r.try_get("status")?,
            requests: r.try_get("requests")?,
            bytes: r.try_get("bytes")?,
        })
    }
}

/// An asset's totals over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    /// The asset.
    pub asset_uid: String,
    /// Requests.
    pub requests: i64,
    /// Bytes.
    pub bytes: i64,
    /// Start of the last hour (or day) it was requested in, ms.
    pub last_at: i64,
}

/// What became of an asset that is still requested, as stored now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetState {
    /// The asset.
    pub uid: String,
    /// Title.
    pub title: String,
    /// `live`, `trashed` or `deleted`.
    pub state: &'static str,
    /// Its permanent slug, if any.
    pub slug: Option<String>,
    /// Its current file uid and filename (for the version URL), if any.
    pub file: Option<(String, String)>,
}

/// An asset of the stack with no request since a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    /// The asset.
    pub uid: String,
    /// Title.
    pub title: String,
    /// Filename.
    pub filename: String,
    /// Size in bytes.
    pub file_size: i64,
    /// When it was created (ms).
    pub created_at: i64,
}

/// Rows per multi-row insert (7 columns: 3,500 parameters, within both backends' limits).
const ROWS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, …`: `n` placeholders.
fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hourly rows are kept this long (`insights::HOURLY_DAYS`); older ones are daily.
const HOURLY_MS: i64 = 30 * 86_400_000;

/// The rows over `[from, to)` (`$2`, `$3`) of the stack `$1`, as one relation `t` with the
/// day's start as `at` when `daily`. The daily table holds only days before the start of
/// the day 30 days ago (the roll-up's cut-off): a range that starts later reads the hourly
/// table alone, in index order.
fn union(daily: bool, from: i64) -> String {
    let at = if daily {
        "(at - (at % 86400000))"
    } else {
        "at"
    };
    let range = "WHERE api_key = $1 AND at >= $2 AND at < $3";
    let hourly = format!(
        "SELECT api_key, asset_uid, {at} AS at, kind, status, requests, bytes FROM traffic_hourly {range}"
    );
    let month_ago = crate::time::now_ms() - HOURLY_MS;
    if from >= month_ago - month_ago.rem_euclid(86_400_000) {
        return format!("({hourly}) t");
    }
    format!(
        "({hourly} UNION ALL SELECT api_key, asset_uid, at, kind, status, requests, bytes \
         FROM traffic_daily {range}) t"
    )
}

impl Db {
    /// Adds counts and referrers, as increments, in one transaction.
    pub async fn add_traffic(&self, cells: &[Cell], refs: &[RefRow]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        // Many rows per statement (each key once: the caller merged them), so that a flush
        // of many assets costs few statements.
        for chunk in cells.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO traffic_hourly (api_key, asset_uid, at, kind, status, requests, bytes) \
                 VALUES {} ON CONFLICT (api_key, asset_uid, at, kind, status) DO UPDATE SET \
                 requests = traffic_hourly.requests + excluded.requests, \
                 bytes = traffic_hourly.bytes + excluded.bytes",
                self.backend.rows("(?, ?, ?, ?, ?, ?, ?)", chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q
                    .bind(&c.api_key)
                    .bind(&c.asset_uid)
                    .bind(c.point.at)
                    .bind(&c.point.kind)
                    .bind(&c.point.status)
                    .bind(c.point.requests)
                    .bind(c.point.bytes);
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in refs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO traffic_referrers (api_key, asset_uid, day, dead, referrer, requests) \
                 VALUES {} ON CONFLICT (api_key, asset_uid, day, dead, referrer) DO UPDATE SET \
                 requests = traffic_referrers.requests + excluded.requests",
                self.backend.rows("(?, ?, ?, ?, ?, ?)", chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(&r.api_key)
                    .bind(&r.asset_uid)
                    .bind(r.day)
                    .bind(r.dead as i64)
                    .bind(&r.referrer)
                    .bind(r.requests);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Which of `uids` are assets of the stack (live, in the trash, or deleted for good:
    /// a tombstone stays).
    pub async fn known_assets(&self, api_key: &str, uids: &[String]) -> sqlx::Result<Vec<String>> {
        let mut known = Vec::new();
        for chunk in uids.chunks(200) {
            let sql = format!(
                "SELECT uid FROM assets WHERE api_key = $1 AND uid IN ({})",
                marks(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(api_key);
            for u in chunk {
                q = q.bind(u);
            }
            for r in q.fetch_all(&self.read).await? {
                known.push(r.try_get("uid")?);
            }
        }
        Ok(known)
    }

    /// Which of `api_keys` are stacks whose `insights` setting is on (a deleted stack is
    /// not one).
    pub async fn stacks_counting(&self, api_keys: &[&str]) -> sqlx::Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in api_keys.chunks(200) {
            let sql = format!(
                "SELECT api_key FROM stacks WHERE insights = 1 AND api_key IN ({})",
                marks(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(*k);
            }
            for r in q.fetch_all(&self.read).await? {
                out.push(r.try_get("api_key")?);
            }
        }
        Ok(out)
    }

    /// An asset's series over `[from, to)`, per hour or per day, oldest first.
    pub async fn asset_series(
        &self,
        api_key: &str,
        asset_uid: &str,
        from: i64,
        to: i64,
        daily: bool,
    ) -> sqlx::Result<Vec<Point>> {
        let rows = sqlx::query(&format!(
            "SELECT at, kind, status, CAST(SUM(requests) AS BIGINT) AS requests, \
             CAST(SUM(bytes) AS BIGINT) AS bytes FROM {} WHERE asset_uid = $4 \
             GROUP BY at, kind, status ORDER BY at, kind, status",
            union(daily, from)
        ))
        .bind(api_key)
        .bind(from)
        .bind(to)
        .bind(asset_uid)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(Point::read).collect()
    }

    /// Referring pages of one asset (or of every asset, `None`) over the days in
    /// `[from, to)`, most requests first, paged; `dead` picks the answers that were dead
    /// links. The `""` page (the others) is included.
    #[allow(clippy::too_many_arguments)]
    pub async fn referrers(
        &self,
        api_key: &str,
        asset_uid: Option<&str>,
        from: i64,
        to: i64,
        dead: bool,
        skip: i64,
        limit: i64,
    ) -> sqlx::Result<(Vec<(String, i64)>, i64)> {
        let scope = if asset_uid.is_some() {
            "AND asset_uid = $5"
        } else {
            ""
        };
        let (lim, off) = if asset_uid.is_some() {
            ("$6", "$7")
        } else {
            ("$5", "$6")
        };
        let from_day = from - from.rem_euclid(86_400_000);
        let base = format!(
            "FROM traffic_referrers WHERE api_key = $1 AND day >= $2 AND day < $3 AND dead = $4 {scope}"
        );
        let sql = format!(
            "SELECT referrer, CAST(SUM(requests) AS BIGINT) AS requests {base} \
             GROUP BY referrer ORDER BY requests DESC, referrer LIMIT {lim} OFFSET {off}"
        );
        let mut q = sqlx::query(&sql)
            .bind(api_key)
            .bind(from_day)
            .bind(to)
            .bind(dead as i64);
        if let Some(a) = asset_uid {
            q = q.bind(a);
        }
        let rows = q.bind(limit).bind(skip).fetch_all(&self.read).await?;
        let sql = format!("SELECT COUNT(DISTINCT referrer) AS n {base}");
        let mut q = sqlx::query(&sql)
            .bind(api_key)
            .bind(from_day)
            .bind(to)
            .bind(dead as i64);
        if let Some(a) = asset_uid {
            q = q.bind(a);
        }
        let count: i64 = q.fetch_one(&self.read).await?.try_get("n")?;
        let pages = rows
            .iter()
            .map(|r| Ok((r.try_get("referrer")?, r.try_get("requests")?)))
            .collect::<sqlx::Result<_>>()?;
        Ok((pages, count))
    }

    /// The stack's assets by requests over `[from, to)` in the given status classes, most
    /// first, paged.
    pub async fn top_assets(
        &self,
        api_key: &str,
        from: i64,
        to: i64,
        statuses: &[&str],
        skip: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<Total>> {
        let list = statuses
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT asset_uid, CAST(SUM(requests) AS BIGINT) AS requests, \
             CAST(SUM(bytes) AS BIGINT) AS bytes, MAX(at) AS last_at FROM {} \
             WHERE status IN ({list}) GROUP BY asset_uid \
             ORDER BY requests DESC, asset_uid LIMIT $4 OFFSET $5",
            union(false, from)
        ))
        .bind(api_key)
        .bind(from)
        .bind(to)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Total {
                    asset_uid: r.try_get("asset_uid")?,
                    requests: r.try_get("requests")?,
                    bytes: r.try_get("bytes")?,
                    last_at: r.try_get("last_at")?,
                })
            })
            .collect()
    }

    /// What the given assets are now (absent uids were never assets of the stack).
    pub async fn asset_states(
        &self,
        api_key: &str,
        uids: &[String],
    ) -> sqlx::Result<Vec<AssetState>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(200) {
            let sql = format!(
                "SELECT uid, title, deleted_at, purged_at, permanent_slug, file_uid, filename \
                 FROM assets WHERE api_key = $1 AND is_dir = 0 AND uid IN ({})",
                marks(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(api_key);
            for u in chunk {
                q = q.bind(u);
            }
            for r in q.fetch_all(&self.read).await? {
                let deleted: Option<i64> = r.try_get("deleted_at")?;
                let purged: Option<i64> = r.try_get("purged_at")?;
                let file: Option<String> = r.try_get("file_uid")?;
                let filename: Option<String> = r.try_get("filename")?;
                out.push(AssetState {
                    uid: r.try_get("uid")?,
                    title: r.try_get("title")?,
                    state: match (deleted, purged) {
                        (_, Some(_)) => "deleted",
                        (Some(_), None) => "trashed",
                        (None, None) => "live",
                    },
                    slug: r.try_get("permanent_slug")?,
                    file: file.zip(filename),
                });
            }
        }
        Ok(out)
    }

    /// The pages that asked for each of `uids` with dead answers over the days in
    /// `[from, to)`: `(asset_uid, page, requests)`, each asset's most requested first, at
    /// most `per_asset` per asset.
    pub async fn dead_referrers(
        &self,
        api_key: &str,
        uids: &[String],
        from: i64,
        to: i64,
        per_asset: usize,
    ) -> sqlx::Result<Vec<(String, String, i64)>> {
        let from_day = from - from.rem_euclid(86_400_000);
        let mut out: Vec<(String, String, i64)> = Vec::new();
        for chunk in uids.chunks(200) {
            let sql = format!(
                "SELECT asset_uid, referrer, CAST(SUM(requests) AS BIGINT) AS requests \
                 FROM traffic_referrers WHERE api_key = $1 AND day >= $2 AND day < $3 \
                 AND dead = 1 AND asset_uid IN ({}) GROUP BY asset_uid, referrer \
                 ORDER BY asset_uid, requests DESC, referrer",
                marks(4, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(api_key).bind(from_day).bind(to);
            for u in chunk {
                q = q.bind(u);
            }
            for r in q.fetch_all(&self.read).await? {
                let uid: String = r.try_get("asset_uid")?;
                let kept = out.iter().rev().take_while(|(u, _, _)| *u == uid).count();
                if kept < per_asset {
                    out.push((uid, r.try_get("referrer")?, r.try_get("requests")?));
                }
            }
        }
        Ok(out)
    }

    /// The stack's live assets with no request (of any kind and status) since `since`,
    /// oldest first, paged; with `count`, how many there are. A page walks the stack's
    /// assets by age and costs what it skips over; the count walks them all.
    pub async fn unused_assets(
        &self,
        api_key: &str,
        since: i64,
        skip: i64,
        limit: i64,
        count: bool,
    ) -> sqlx::Result<(Vec<Unused>, Option<i64>)> {
        let base = "FROM assets a WHERE a.api_key = $1 AND a.is_dir = 0 AND a.deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM traffic_hourly t WHERE t.api_key = a.api_key \
               AND t.asset_uid = a.uid AND t.at >= $2) \
             AND NOT EXISTS (SELECT 1 FROM traffic_daily t WHERE t.api_key = a.api_key \
               AND t.asset_uid = a.uid AND t.at >= $2)";
        let rows = sqlx::query(&format!(
            "SELECT a.uid, a.title, a.filename, a.file_size, a.created_at {base} \
             ORDER BY a.created_at, a.uid LIMIT $3 OFFSET $4"
        ))
        .bind(api_key)
        .bind(since)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?;
        let count = if count {
            let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {base}"))
                .bind(api_key)
                .bind(since)
                .fetch_one(&self.read)
                .await?
                .try_get("n")?;
            Some(n)
        } else {
            None
        };
        let list = rows
            .iter()
            .map(|r| {
                Ok(Unused {
                    uid: r.try_get("uid")?,
                    title: r.try_get("title")?,
                    filename: r
                        .try_get::<Option<String>, _>("filename")?
                        .unwrap_or_default(),
                    file_size: r.try_get::<Option<i64>, _>("file_size")?.unwrap_or(0),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok((list, count))
    }
}
