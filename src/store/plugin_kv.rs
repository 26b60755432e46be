//! `plugin_kv` and `plugin_marks`: what plugins keep. Each plugin has its own key-value
//! namespace (rate limits, counters, "already answered"), capped in size by the caller; and the
//! labels and notes plugins attach to the items they judged, for the operator.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};

/// A write refused because the plugin's store would pass its cap.
#[derive(Debug, PartialEq, Eq)]
pub struct KvFull {
    /// Bytes (keys + values) the store would hold.
    pub would_hold: u64,
    pub cap: u64,
}

/// A label or a note a plugin attached to an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginMark {
    pub plugin: String,
    /// `label` or `note`.
    pub kind: String,
    pub text: String,
}

impl Store {
    /// The live value of `plugin`'s `key` at `now_ms`.
    pub fn kv_get(
        &self,
        plugin: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.query_opt(
            "SELECT value FROM plugin_kv
             WHERE plugin = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
            (plugin, key, now_ms),
            |r| r.get(0),
        )
    }

    /// Sets `plugin`'s `key`, expiring at `expires_at` (unix ms) when given, unless the plugin's
    /// live keys and values would then pass `cap` bytes.
    pub fn kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
        cap: u64,
        now_ms: i64,
    ) -> Result<Result<(), KvFull>, StoreError> {
        self.transaction(|tx| {
            put_within(tx, cap, now_ms, plugin, key, value, expires_at).map_err(self.err())
        })
    }

    /// Adds `by` to the integer under `plugin`'s `key` (absent, expired or not an integer counts
    /// as 0) and returns the sum. A new key expires at `expires_at`; a live one keeps its expiry.
    pub fn kv_add(
        &self,
        plugin: &str,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
        cap: u64,
        now_ms: i64,
    ) -> Result<Result<i64, KvFull>, StoreError> {
        self.transaction(|tx| {
            let current: Option<(Vec<u8>, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT value, expires_at FROM plugin_kv
                     WHERE plugin = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                )
                .and_then(|mut s| {
                    s.query_row((plugin, key, now_ms), |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(self.err())?;
            let (value, expiry) = match current {
                Some((bytes, expiry)) => {
                    let n = std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0);
                    (n.saturating_add(by), expiry)
                }
                None => (by, expires_at),
            };
            let text = value.to_string();
            let put = put_within(tx, cap, now_ms, plugin, key, text.as_bytes(), expiry);
            Ok(put.map_err(self.err())?.map(|()| value))
        })
    }

    /// Removes `plugin`'s `key`.
    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM plugin_kv WHERE plugin = ?1 AND key = ?2",
            (plugin, key),
        )?;
        Ok(())
    }

    /// Attaches a label or note (`kind`) from `plugin` to `item`; a repeat is kept once.
    pub fn add_plugin_mark(
        &self,
        item: &str,
        plugin: &str,
        kind: &str,
        text: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR IGNORE INTO plugin_marks (item, plugin, kind, text, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            (item, plugin, kind, text, now_ms),
        )?;
        Ok(())
    }

    /// The labels and notes attached to `item`, oldest first.
    pub fn plugin_marks(&self, item: &str) -> Result<Vec<PluginMark>, StoreError> {
        self.query_all(
            "SELECT plugin, kind, text FROM plugin_marks WHERE item = ?1 ORDER BY created_at, rowid",
            [item],
            |r| from_row!(r => PluginMark { plugin, kind, text }),
        )
    }
}

/// Writes `plugin`'s `key` in `tx`, unless the plugin's live keys and values at `now_ms` would
/// then pass `cap` bytes.
fn put_within(
    tx: &rusqlite::Transaction<'_>,
    cap: u64,
    now_ms: i64,
    plugin: &str,
    key: &str,
    value: &[u8],
    expires_at: Option<i64>,
) -> rusqlite::Result<Result<(), KvFull>> {
    let held = live_size_without(tx, plugin, key, now_ms)?;
    let would_hold = held + (key.len() + value.len()) as u64;
    if would_hold > cap {
        return Ok(Err(KvFull { would_hold, cap }));
    }
    tx.prepare_cached(
        "INSERT INTO plugin_kv (plugin, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (plugin, key) DO UPDATE SET value = ?3, expires_at = ?4",
    )?
    .execute((plugin, key, value, expires_at))?;
    Ok(Ok(()))
}

/// Bytes held by `plugin`'s live keys other than `key`, after dropping its expired ones.
fn live_size_without(
    tx: &rusqlite::Transaction<'_>,
    plugin: &str,
    key: &str,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    tx.prepare_cached(
        "DELETE FROM plugin_kv WHERE plugin = ?1 AND expires_at IS NOT NULL AND expires_at <= ?2",
    )?
    .execute((plugin, now_ms))?;
    tx.prepare_cached(
        "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0) FROM plugin_kv
         WHERE plugin = ?1 AND key <> ?2",
    )?
    .query_row((plugin, key), |r| r.get::<_, i64>(0))
    .map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_000_000_000;

    #[test]
    fn can_keep_expire_and_cap_each_plugins_keys() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.kv_set("a", "k", b"v", None, 100, T0).unwrap(), Ok(()));
        assert_eq!(store.kv_get("a", "k", T0).unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.kv_get("b", "k", T0).unwrap(), None);
        store
            .kv_set("a", "t", b"x", Some(T0 + 1000), 100, T0)
            .unwrap()
            .unwrap();
        assert_eq!(
            store.kv_get("a", "t", T0 + 999).unwrap(),
            Some(b"x".to_vec())
        );
        assert_eq!(store.kv_get("a", "t", T0 + 1000).unwrap(), None);
        // 2 bytes held ("k" + "v"); 99 more would pass 100.
        let full = store
            .kv_set("a", "big", &[0; 96], None, 100, T0 + 2000)
            .unwrap();
        assert_eq!(
            full,
            Err(KvFull {
                would_hold: 101,
                cap: 100
            })
        );
        // Rewriting a key counts its new size only.
        store
            .kv_set("a", "k", &[1; 90], None, 100, T0)
            .unwrap()
            .unwrap();
        store.kv_delete("a", "k").unwrap();
        assert_eq!(store.kv_get("a", "k", T0).unwrap(), None);
    }

    #[test]
    fn can_count_with_an_expiry_set_once() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(
            store
                .kv_add("a", "n", 1, Some(T0 + 60_000), 100, T0)
                .unwrap(),
            Ok(1)
        );
        assert_eq!(
            store
                .kv_add("a", "n", 2, Some(T0 + 120_000), 100, T0 + 1)
                .unwrap(),
            Ok(3)
        );
        // The first expiry holds: the window does not slide.
        assert_eq!(
            store
                .kv_add("a", "n", 1, Some(T0 + 120_000), 100, T0 + 60_000)
                .unwrap(),
            Ok(1)
        );
    }

    #[test]
    fn can_mark_an_item_once_per_text() {
        let store = Store::open_in_memory().unwrap();
        store
            .add_plugin_mark("https://r.example/n/1", "kw", "label", "spam", T0)
            .unwrap();
        store
            .add_plugin_mark("https://r.example/n/1", "kw", "label", "spam", T0)
            .unwrap();
        store
            .add_plugin_mark("https://r.example/n/1", "kw", "note", "check", T0)
            .unwrap();
        let marks = store.plugin_marks("https://r.example/n/1").unwrap();
        assert_eq!(marks.len(), 2);
        assert_eq!(marks[0].text, "spam");
    }
}
