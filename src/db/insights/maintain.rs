//! Link insights' upkeep and export (§17): the roll-up of hourly rows into daily ones with
//! the referrers' trim, and every row of a stack for `perma insights export`.

use sqlx::Row;

use super::Point;
use crate::db::Db;

impl Db {
    /// Folds hourly rows before `before` into daily ones, and keeps the `keep` most
    /// requested referring pages per asset, day and deadness of the finished days (the
    /// week before `referrers_before`; the rest added to the `""` row). One transaction
    /// per stack, each reading only the rows it folds or ranks through the stack's time
    /// indexes; returns the hourly rows folded.
    pub async fn rollup_traffic(
        &self,
        before: i64,
        referrers_before: i64,
        keep: i64,
    ) -> sqlx::Result<u64> {
        let before = before - before.rem_euclid(86_400_000);
        let ref_before = referrers_before - referrers_before.rem_euclid(86_400_000);
        let ref_after = ref_before - 7 * 86_400_000;
        let stacks: Vec<String> = sqlx::query("SELECT api_key FROM stacks")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| r.try_get("api_key"))
            .collect::<sqlx::Result<_>>()?;
        let mut folded = 0;
        for key in &stacks {
            let mut tx = self.write.begin().await?;
            sqlx::query(
                "INSERT INTO traffic_daily (api_key, asset_uid, at, kind, status, requests, bytes) \
                 SELECT api_key, asset_uid, at - (at % 86400000), kind, status, \
                   CAST(SUM(requests) AS BIGINT), CAST(SUM(bytes) AS BIGINT) \
                 FROM traffic_hourly WHERE api_key = $1 AND at < $2 \
                 GROUP BY api_key, asset_uid, at - (at % 86400000), kind, status \
                 ON CONFLICT (api_key, asset_uid, at, kind, status) DO UPDATE SET \
                 requests = traffic_daily.requests + excluded.requests, \
                 bytes = traffic_daily.bytes + excluded.bytes",
            )
            .bind(key)
            .bind(before)
            .execute(&mut *tx)
            .await?;
            folded += sqlx::query("DELETE FROM traffic_hourly WHERE api_key = $1 AND at < $2")
                .bind(key)
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // Referrers past the top `keep` of their asset, day and deadness go into "".
            let ranked = "SELECT api_key, asset_uid, day, dead, referrer, requests, \
                   ROW_NUMBER() OVER (PARTITION BY asset_uid, day, dead \
                     ORDER BY requests DESC, referrer) AS rank \
                 FROM traffic_referrers \
                 WHERE api_key = $1 AND day >= $2 AND day < $3 AND referrer <> ''";
            sqlx::query(&format!(
                "INSERT INTO traffic_referrers (api_key, asset_uid, day, dead, referrer, requests) \
                 SELECT api_key, asset_uid, day, dead, '', CAST(SUM(requests) AS BIGINT) \
                 FROM ({ranked}) r WHERE rank > $4 GROUP BY api_key, asset_uid, day, dead \
                 ON CONFLICT (api_key, asset_uid, day, dead, referrer) DO UPDATE SET \
                 requests = traffic_referrers.requests + excluded.requests"
            ))
            .bind(key)
            .bind(ref_after)
            .bind(ref_before)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "DELETE FROM traffic_referrers WHERE api_key = $1 AND day >= $2 AND day < $3 \
                 AND referrer <> '' AND (api_key, asset_uid, day, dead, referrer) IN \
                 (SELECT api_key, asset_uid, day, dead, referrer FROM ({ranked}) r WHERE rank > $4)"
            ))
            .bind(key)
            .bind(ref_after)
            .bind(ref_before)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(folded)
    }

    /// Every hourly and daily row of a stack over `[from, to)` (for exports), oldest first;
    /// `true` marks an hourly row.
    pub async fn traffic_rows(
        &self,
        api_key: &str,
        from: i64,
        to: i64,
    ) -> sqlx::Result<Vec<(bool, String, Point)>> {
        let rows = sqlx::query(
            "SELECT CAST(1 AS BIGINT) AS hourly, asset_uid, at, kind, status, requests, bytes FROM traffic_hourly \
               WHERE api_key = $1 AND at >= $2 AND at < $3 \
             UNION ALL \
             SELECT CAST(0 AS BIGINT) AS hourly, asset_uid, at, kind, status, requests, bytes FROM traffic_daily \
               WHERE api_key = $1 AND at >= $2 AND at < $3 \
             ORDER BY at, asset_uid, kind, status",
        )
        .bind(api_key)
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("hourly")? == 1,
                    r.try_get("asset_uid")?,
                    Point::read(r)?,
                ))
            })
            .collect()
    }
}
