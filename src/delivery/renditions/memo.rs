//! Maps of short lists kept within a byte budget: the fast path's memo of raw rendition
//! queries per source, and the rendition queries seen per permanent URL. Anyone can send
//! new query strings, so what they hold is counted in bytes (the strings with their keys
//! and a fixed overhead per entry), and past the budget the map starts over: the entries
//! are hints that the database or a parse recreates.

use std::collections::HashMap;

/// Bytes charged per key and per item besides their strings (map slot, list, pointers).
const OVERHEAD: usize = 64;

/// Lists of items by key, within a byte budget.
#[derive(Debug)]
pub struct Bounded<T> {
    map: HashMap<String, Vec<T>>,
    bytes: usize,
    budget: usize,
    per_key: usize,
}

impl<T> Bounded<T> {
    /// An empty map that holds at most `budget` bytes and `per_key` items per key.
    pub fn new(budget: usize, per_key: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            bytes: 0,
            budget,
            per_key,
        }
    }

    /// The items of `key`.
    pub fn get(&self, key: &str) -> Option<&[T]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Adds `item` (of `size` bytes besides the fixed overhead) to `key`'s list unless the
    /// list is full; first drops the items `stale` says are gone, and starts over when the
    /// budget would be passed.
    pub fn add(&mut self, key: &str, item: T, size: usize, stale: impl Fn(&T) -> bool) {
        let cost = size + OVERHEAD;
        let fresh_key = key.len() + OVERHEAD;
        if fresh_key + cost > self.budget {
            return;
        }
        let key_cost = if self.map.contains_key(key) {
            0
        } else {
            fresh_key
        };
        if self.bytes + key_cost + cost > self.budget {
            self.map.clear();
            self.bytes = 0;
        }
        if !self.map.contains_key(key) {
            self.bytes += fresh_key;
        }
        let list = self.map.entry(key.to_owned()).or_default();
        // Dropped items keep their charge until the map starts over: an upper bound.
        list.retain(|i| !stale(i));
        if list.len() < self.per_key {
            list.push(item);
            self.bytes += cost;
        }
    }

    /// The bytes charged so far.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_budget_whatever_arrives() {
        let mut m: Bounded<String> = Bounded::new(64 << 10, 4);
        for i in 0..100_000 {
            let q = format!("width={i}&format=webp&{}", "x".repeat(i % 300));
            m.add(&format!("{:064}", i % 5000), q.clone(), q.len(), |_| false);
            assert!(m.bytes() <= 64 << 10, "{} bytes after {i}", m.bytes());
        }
    }

    #[test]
    fn keeps_at_most_per_key_items_and_drops_stale_ones() {
        let mut m: Bounded<u32> = Bounded::new(1 << 20, 3);
        for i in 0..10 {
            m.add("k", i, 4, |_| false);
        }
        assert_eq!(m.get("k"), Some(&[0, 1, 2][..]));
        m.add("k", 7, 4, |i| *i == 1);
        assert_eq!(m.get("k"), Some(&[0, 2, 7][..]));
        assert_eq!(m.get("other"), None);
    }
}
