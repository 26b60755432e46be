//! What the host offers: the log, this plugin's config, its key-value store, the clock, and
//! read-only lookups of our posts and followers.

use serde::de::DeserializeOwned;

use crate::bindings::masthead::plugin::host as imports;
use crate::{Level, OurPost};

/// Writes a line to the server's log, tagged with the plugin's name and version.
pub fn log(level: Level, message: &str) {
    imports::log(level, message);
}

/// The plugin's `[plugin.config]` table read into `T`. masthead has checked the keys against
/// [`crate::Plugin::config_schema`] before loading the plugin, so a mismatch here is a bug in the
/// plugin: it panics, which the host reports and answers with the plugin's `on_error` policy.
/// Parse once per instance (e.g. in a `OnceLock`): the config does not change under a running
/// instance; a change reloads the plugin.
pub fn config<T: DeserializeOwned>() -> T {
    let json = imports::config();
    match serde_json::from_str(&json) {
        Ok(config) => config,
        Err(e) => panic!("[plugin.config] does not match the plugin's config type: {e}"),
    }
}

/// The plugin's `[plugin.config]` table read into `T`, or why it does not fit: for
/// [`crate::Plugin::check_config`], which reports the error instead of panicking.
pub fn try_config<T: DeserializeOwned>() -> Result<T, String> {
    serde_json::from_str(&imports::config()).map_err(|e| e.to_string())
}

/// The value under `key`, unless absent or expired.
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    imports::kv_get(key)
}

/// Stores `value` under `key`, for `ttl_seconds` when given. Fails when the plugin's store would
/// grow past its size cap.
pub fn kv_set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), String> {
    imports::kv_set(key, value, ttl_seconds)
}

/// Adds `by` to the counter under `key` and returns the new value (a new key lives
/// `ttl_seconds` when given).
pub fn kv_add(key: &str, by: i64, ttl_seconds: Option<u32>) -> Result<i64, String> {
    imports::kv_add(key, by, ttl_seconds)
}

/// Removes `key`.
pub fn kv_delete(key: &str) {
    imports::kv_delete(key)
}

/// Now, in Unix milliseconds, by the server's clock.
pub fn now_ms() -> i64 {
    imports::now_ms()
}

/// One of our published posts.
pub fn find_post(actor: &str, slug: &str) -> Option<OurPost> {
    imports::find_post(actor, slug)
}

/// Whether `remote` (an actor id) follows our actor `actor`.
pub fn is_follower(actor: &str, remote: &str) -> bool {
    imports::is_follower(actor, remote)
}

/// How many accounts follow our actor `actor`.
pub fn follower_count(actor: &str) -> u32 {
    imports::follower_count(actor)
}
