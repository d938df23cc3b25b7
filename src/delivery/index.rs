//! The bounded map behind the delivery index (STYLE rule 14: caches have budgets): asset
//! entries by key within a byte budget, evicting cold entries with the CLOCK algorithm
//! (second chance), and a bounded set of keys known to name no deliverable asset.
//!
//! Entries live in a vector (so the clock hand can sweep them) with a map from key to
//! slot. Every use of an entry sets its reference bit (an atomic in the entry, written only
//! when it is not already set, also by the delivery workers' own references); the hand
//! clears bits as it passes and evicts the first entry it finds unreferenced. New entries
//! start unreferenced, so one that is never asked for again is the first to go. Hot
//! entries survive, cold ones go; there is no clear-all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::entry::HotAsset;

/// Most keys remembered as missing; past that the set starts over (only misses are lost,
/// and each costs one indexed query).
const MAX_MISSING: usize = 100_000;

struct Slot {
    key: u64,
    entry: Arc<HotAsset>,
    bytes: u32,
}

/// Asset entries within a byte budget, and known misses.
pub(super) struct Index {
    slots: Vec<Slot>,
    by_key: HashMap<u64, usize>,
    missing: HashSet<u64>,
    hand: usize,
    bytes: usize,
    budget: usize,
    evictions: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("entries", &self.slots.len())
            .field("missing", &self.missing.len())
            .field("bytes", &self.bytes)
            .field("budget", &self.budget)
            .finish()
    }
}

/// Bytes a slot costs beyond its entry, at worst: the slot in a vector that grows by
/// doubling (up to twice its length), and the map's key, index and control byte in a table
/// that also doubles and is at most 7/8 full (up to 17 × 8/7 × 2 bytes).
const SLOT_OVERHEAD: usize = 2 * std::mem::size_of::<Slot>() + 40;

impl Index {
    /// An empty index that keeps entries up to `budget` bytes.
    pub(super) fn new(budget: usize) -> Self {
        Index {
            slots: Vec::new(),
            by_key: HashMap::new(),
            missing: HashSet::new(),
            hand: 0,
            bytes: 0,
            budget,
            evictions: 0,
        }
    }

    /// The entry for `key`, marked as recently used.
    pub(super) fn get(&self, key: u64) -> Option<&Arc<HotAsset>> {
        let slot = &self.slots[*self.by_key.get(&key)?];
        slot.entry.touch();
        Some(&slot.entry)
    }

    /// The entry for `key`, without marking it used (the first use after a load is not a
    /// second use).
    pub(super) fn peek(&self, key: u64) -> Option<&Arc<HotAsset>> {
        Some(&self.slots[*self.by_key.get(&key)?].entry)
    }

    /// Whether `key` is known to name nothing deliverable.
    pub(super) fn is_missing(&self, key: u64) -> bool {
        self.missing.contains(&key)
    }

    /// Remembers that `key` names nothing deliverable.
    pub(super) fn set_missing(&mut self, key: u64) {
        if self.missing.len() >= MAX_MISSING {
            self.missing.clear();
        }
        self.missing.insert(key);
    }

    /// The budget in bytes.
    pub(super) fn budget(&self) -> usize {
        self.budget
    }

    /// Entries evicted so far.
    pub(super) fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Whether another entry of `bytes` fits without evicting anything.
    pub(super) fn has_room(&self, bytes: usize) -> bool {
        self.bytes + bytes + SLOT_OVERHEAD <= self.budget
    }

    /// Stores an entry, evicting cold ones to stay within the budget (never the new one).
    /// The new entry takes the first evicted entry's slot, just behind the clock hand, so
    /// it gets a whole turn of the clock to be asked for again. An entry larger than the
    /// whole budget is not kept.
    pub(super) fn insert(&mut self, key: u64, entry: Arc<HotAsset>) {
        let bytes = entry.heap_bytes() + SLOT_OVERHEAD;
        if bytes > self.budget {
            return;
        }
        let Ok(slot_bytes) = u32::try_from(bytes) else {
            return;
        };
        self.remove(key);
        let mut new = Some(Slot {
            key,
            entry,
            bytes: slot_bytes,
        });
        while self.bytes + new.as_ref().map_or(0, |s| s.bytes as usize) > self.budget {
            let Some(i) = self.victim(key) else { break };
            self.evictions += 1;
            let old = self.slots[i].key;
            self.by_key.remove(&old);
            match new.take() {
                Some(slot) => {
                    self.bytes -= self.slots[i].bytes as usize;
                    self.bytes += slot.bytes as usize;
                    self.slots[i] = slot;
                    self.by_key.insert(key, i);
                    self.hand = i + 1;
                }
                None => self.take(i),
            }
        }
        if let Some(slot) = new {
            self.by_key.insert(key, self.slots.len());
            self.bytes += slot.bytes as usize;
            self.slots.push(slot);
        }
    }

    /// Drops the entry and any miss for `key`.
    pub(super) fn remove(&mut self, key: u64) {
        self.missing.remove(&key);
        if let Some(i) = self.by_key.remove(&key) {
            self.take(i);
        }
    }

    /// Drops everything.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.by_key.clear();
        self.missing.clear();
        self.hand = 0;
        self.bytes = 0;
    }

    /// Entries kept.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Bytes accounted to the entries kept.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Advances the clock hand to the first unreferenced entry other than `keep`'s
    /// (clearing bits on the way) and returns its slot; `None` when there is no other.
    fn victim(&mut self, keep: u64) -> Option<usize> {
        // `keep` is in at most one slot.
        if self.slots.is_empty() || (self.slots.len() == 1 && self.slots[0].key == keep) {
            return None;
        }
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let slot = &self.slots[self.hand];
            if slot.key == keep || slot.entry.take_reference() {
                self.hand += 1;
                continue;
            }
            return Some(self.hand);
        }
    }

    /// Removes slot `i` (its key is already out of `by_key`), moving the last slot there.
    fn take(&mut self, i: usize) {
        let slot = self.slots.swap_remove(i);
        self.bytes -= slot.bytes as usize;
        if let Some(moved) = self.slots.get(i) {
            self.by_key.insert(moved.key, i);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::db::DeliveryEntry;

    fn entry() -> Arc<HotAsset> {
        entry_for("blt00000000000000ff", "slug")
    }

    /// An entry of asset `uid` with the permanent slug `slug` and no file.
    pub(in crate::delivery) fn entry_for(uid: &str, slug: &str) -> Arc<HotAsset> {
        Arc::new(HotAsset::new(&DeliveryEntry {
            uid: uid.into(),
            api_key: "blt0123456789abcdef".into(),
            permanent_slug: Some(slug.into()),
            deleted: false,
            file_uid: None,
            secured: false,
            redirect: false,
            master_locale: "en-us".into(),
            files: Vec::new(),
        }))
    }

    #[test]
    fn stays_within_budget_and_keeps_what_is_used() {
        let one = entry().heap_bytes() + SLOT_OVERHEAD;
        let mut index = Index::new(one * 10);
        for k in 0..10 {
            index.insert(k, entry());
        }
        assert_eq!(index.len(), 10);
        // Keys 0..5 are in use; inserting 5 more evicts exactly the 5 cold ones.
        for k in 0..5 {
            assert!(index.get(k).is_some());
        }
        for k in 10..15 {
            index.insert(k, entry());
        }
        assert_eq!(index.len(), 10);
        assert!(index.bytes() <= one * 10);
        for k in 0..5 {
            assert!(index.get(k).is_some(), "hot key {k} evicted");
        }
        for k in 5..10 {
            assert!(index.get(k).is_none(), "cold key {k} kept");
        }
        for k in 10..15 {
            assert!(index.get(k).is_some());
        }
        // Removal keeps the map and the slots in step.
        index.remove(12);
        assert!(index.get(12).is_none() && index.get(14).is_some());
        assert_eq!(index.len(), 9);
    }

    #[test]
    fn misses_are_bounded_and_forgotten_on_insert() {
        let mut index = Index::new(1 << 20);
        for k in 0..(MAX_MISSING as u64 + 10) {
            index.set_missing(k);
        }
        assert!(index.missing.len() <= MAX_MISSING);
        index.set_missing(7);
        index.insert(7, entry());
        assert!(!index.is_missing(7) && index.get(7).is_some());
    }
}
