//! A bounded in-memory copy of rows read often and written rarely (a signer's cached actor, a
//! host's delivery health), in front of the table that stays the truth.
//!
//! Only the [`Store`](super::Store) methods that write those tables touch a cache, in the same
//! call as their write, after it returned: a caller cannot forget to. A read that began before a
//! write and ends after it does not keep what it read (each write moves a generation that the
//! read compares), so a value written is the one the next read sees. The copies are of this
//! process's writes: `masthead serve` is the only process that writes those tables while it runs
//! (commands read them, or write other tables).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Values by key, at most `max_entries` of them and about `max_bytes` (as the caller measures
/// them); past either, entries are forgotten (any of them) until the new one fits.
pub(super) struct ReadCache<V> {
    inner: Mutex<Inner<V>>,
    max_entries: usize,
    max_bytes: usize,
}

struct Inner<V> {
    entries: HashMap<String, (V, usize)>,
    bytes: usize,
    /// Moved by every write, so that a read racing one does not keep its (older) value.
    generation: u64,
}

impl<V: Clone> ReadCache<V> {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> ReadCache<V> {
        ReadCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                bytes: 0,
                generation: 0,
            }),
            max_entries,
            max_bytes,
        }
    }

    /// A cache that keeps nothing (a read-only store, which sees other processes' writes).
    pub(super) fn off() -> ReadCache<V> {
        ReadCache::new(0, 0)
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `key`: the copy kept, or `load`ed (and kept, unless a write came meanwhile,
    /// or it weighs more than the whole cache). `size` is a value's weight in bytes.
    pub(super) fn get_or_load<E>(
        &self,
        key: &str,
        size: impl FnOnce(&V) -> usize,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let generation = {
            let inner = self.lock();
            if let Some((value, _)) = inner.entries.get(key) {
                return Ok(value.clone());
            }
            inner.generation
        };
        let value = load()?;
        let weight = size(&value) + key.len();
        if self.max_entries == 0 || weight > self.max_bytes {
            return Ok(value);
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return Ok(value);
        }
        while !inner.entries.is_empty()
            && (inner.entries.len() >= self.max_entries || inner.bytes + weight > self.max_bytes)
        {
            let Some(any) = inner.entries.keys().next().cloned() else {
                break;
            };
            if let Some((_, w)) = inner.entries.remove(&any) {
                inner.bytes -= w;
            }
        }
        inner.bytes += weight;
        if let Some((_, old)) = inner
            .entries
            .insert(key.to_string(), (value.clone(), weight))
        {
            inner.bytes -= old;
        }
        Ok(value)
    }

    /// `key` was written: its copy goes, and reads under way keep nothing.
    pub(super) fn forget(&self, key: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some((_, w)) = inner.entries.remove(key) {
            inner.bytes -= w;
        }
    }

    /// Rows were written that the caller cannot name: every copy goes.
    pub(super) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.bytes = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(v: &str) -> impl FnOnce() -> Result<String, ()> + '_ {
        move || Ok(v.to_string())
    }

    #[test]
    fn can_keep_a_value_until_it_is_written() {
        let c = ReadCache::<String>::new(8, 1024);
        assert_eq!(c.get_or_load("a", String::len, load("one")).unwrap(), "one");
        // Kept: the loader is not asked again.
        assert_eq!(c.get_or_load("a", String::len, load("two")).unwrap(), "one");
        c.forget("a");
        assert_eq!(c.get_or_load("a", String::len, load("two")).unwrap(), "two");
        c.forget_all();
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn rejects_a_value_read_while_a_write_came() {
        let c = ReadCache::<String>::new(8, 1024);
        let got = c.get_or_load("a", String::len, || {
            // A write lands between the read and its keeping.
            c.forget("a");
            Ok::<_, ()>("old".to_string())
        });
        assert_eq!(got.unwrap(), "old");
        assert_eq!(c.get_or_load("a", String::len, load("new")).unwrap(), "new");
    }

    #[test]
    fn can_stay_within_its_entries_and_bytes() {
        let c = ReadCache::<String>::new(3, 1024);
        for k in ["a", "b", "c", "d", "e"] {
            c.get_or_load(k, String::len, load("v")).unwrap();
        }
        assert_eq!(c.len(), 3);
        let c = ReadCache::<String>::new(100, 20);
        for k in ["a", "b", "c", "d", "e"] {
            c.get_or_load(k, String::len, load("123456789")).unwrap();
        }
        assert!(c.lock().bytes <= 20 && c.len() == 2, "{}", c.lock().bytes);
        // Heavier than the whole cache: read, not kept.
        c.get_or_load("big", String::len, load(&"x".repeat(50)))
            .unwrap();
        assert!(!c.lock().entries.contains_key("big"));
        let off = ReadCache::<String>::off();
        off.get_or_load("a", String::len, load("v")).unwrap();
        assert_eq!(off.len(), 0);
    }
}
