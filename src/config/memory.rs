//! The memory budget (docs/operations.md, "Memory"): what perma's caches may hold together
//! (`PERMA_MEMORY_BYTES`), divided between them. The delivery index and the body cache
//! follow the setting; the smaller caches have fixed bounds, which are counted here so that
//! the sum of every budget is the setting.

use anyhow::bail;

use super::Config;

const MIB: u64 = 1 << 20;

/// SQLite's page caches: 8 MiB for each delivery thread's reader
/// (`db::direct::CACHE_KIB`, about four threads), the writer's
/// ([`crate::db::WRITER_CACHE_KIB`]) and 2 MiB for each pooled reader (eight).
pub const SQLITE_BYTES: u64 = 4 * crate::db::direct::CACHE_KIB as u64 * 1024
    + crate::db::WRITER_CACHE_KIB as u64 * 1024
    + 8 * 2 * MIB;
/// Link insights' counts between flushes: the assets held, at about 190 bytes each (an
/// entry of 48 bytes and its control byte in maps that grow by doubling, the maps being
/// filled again while the last ones are written, and the flush's sorted references and
/// batch of rows).
pub const INSIGHTS_BYTES: u64 = 64 * MIB;
/// Assets link insights holds between flushes at most (within [`INSIGHTS_BYTES`]).
pub const INSIGHTS_HELD: usize = 340_000;
/// Stored renditions remembered in memory (about 250 bytes each).
pub const RENDITION_ENTRIES: usize = 100_000;
/// The fast path's memo of raw rendition queries.
pub const MEMO_BYTES: usize = 16 << 20;
/// The rendition queries noted per permanent URL (for purges).
pub const PERMANENT_QUERY_BYTES: usize = 8 << 20;
/// Index entries a delivery worker keeps references to (the entries it is asked for
/// repeatedly); one evicted from the index lives on until the worker lets it go.
pub const WORKER_ENTRIES: usize = 4096;
/// Answer heads a delivery worker keeps with those entries, in bytes.
pub const WORKER_HEAD_BYTES: usize = 512 * 1024;
/// The delivery workers' own references and heads: about four workers, each with
/// [`WORKER_HEAD_BYTES`] and [`WORKER_ENTRIES`] entries of about 350 bytes.
pub const WORKER_BYTES: u64 = 4 * (WORKER_HEAD_BYTES as u64 + WORKER_ENTRIES as u64 * 350);
/// The smallest index budget the plan leaves.
const MIN_INDEX: u64 = 16 * MIB;

/// The fixed parts, for the operator's view (`perma config check`) and the docs.
pub fn fixed_parts() -> [(&'static str, u64); 6] {
    [
        ("delivery workers' kept entries and heads", WORKER_BYTES),
        ("SQLite page caches", SQLITE_BYTES),
        ("link insights between flushes", INSIGHTS_BYTES),
        ("rendition lookups", RENDITION_ENTRIES as u64 * 256),
        ("rendition query memo", MEMO_BYTES as u64),
        (
            "rendition queries per permanent URL",
            PERMANENT_QUERY_BYTES as u64,
        ),
    ]
}

/// How the memory budget is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The delivery index (`PERMA_INDEX_BYTES`, else what the others leave).
    pub index: u64,
    /// Small files' bytes kept in memory: an eighth of the budget.
    pub bodies: u64,
    /// The fixed parts together.
    pub fixed: u64,
}

impl Config {
    /// Divides `memory_bytes`: an eighth for small files' bytes, the fixed parts, and the
    /// rest for the delivery index. An explicit `index_bytes` that does not fit is an error
    /// naming both settings.
    pub fn memory_plan(&self) -> anyhow::Result<MemoryPlan> {
        let total = self.memory_bytes;
        let bodies = total / 8;
        let fixed: u64 = fixed_parts().iter().map(|(_, b)| b).sum();
        let left = total.saturating_sub(bodies + fixed);
        let index = match self.index_bytes {
            Some(i) if i > left => bail!(
                "PERMA_INDEX_BYTES ({i}) does not fit in PERMA_MEMORY_BYTES ({total}): the \
                 other caches take {} bytes; raise PERMA_MEMORY_BYTES to at least {} or lower \
                 PERMA_INDEX_BYTES",
                bodies + fixed,
                (i + fixed) * 8 / 7 + 1
            ),
            Some(i) => i,
            None if left < MIN_INDEX => bail!(
                "PERMA_MEMORY_BYTES ({total}) leaves {left} bytes for the delivery index; \
                 give at least {} bytes",
                (MIN_INDEX + fixed) * 8 / 7 + 1
            ),
            None => left,
        };
        Ok(MemoryPlan {
            index,
            bodies,
            fixed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_add_up_to_the_setting() {
        let c = Config::default();
        let p = c.memory_plan().unwrap();
        assert_eq!(p.index + p.bodies + p.fixed, c.memory_bytes);
        assert_eq!(p.bodies, 64 * MIB);
        // The default leaves the index about 270 MiB (some 800,000 assets).
        assert!(p.index > 250 * MIB && p.index < 290 * MIB, "{}", p.index);
    }

    #[test]
    fn an_index_budget_must_fit() {
        let mut c = Config {
            index_bytes: Some(100 * MIB),
            ..Config::default()
        };
        let p = c.memory_plan().unwrap();
        assert_eq!(p.index, 100 * MIB);
        assert!(p.index + p.bodies + p.fixed <= c.memory_bytes);
        c.index_bytes = Some(1 << 30);
        let e = c.memory_plan().unwrap_err().to_string();
        assert!(
            e.contains("PERMA_INDEX_BYTES") && e.contains("PERMA_MEMORY_BYTES"),
            "{e}"
        );
        // The size it names is enough.
        let need: u64 = e
            .split("at least ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        c.memory_bytes = need;
        assert!(c.memory_plan().is_ok());
        c.index_bytes = None;
        c.memory_bytes = 64 * MIB;
        assert!(c.memory_plan().is_err());
    }
}
