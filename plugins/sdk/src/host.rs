//! What the host offers: the log, this plugin's config, its key-value store, the clock, and
//! read-only lookups of our posts and followers.

use std::sync::OnceLock;

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
/// Parse once per instance (in a [`FromConfig`]): the config does not change under a running
/// instance; a change reloads the plugin.
pub fn config<T: DeserializeOwned>() -> T {
    let json = imports::config();
    match serde_json::from_str(&json) {
        Ok(config) => config,
        Err(e) => mismatch(e),
    }
}

fn mismatch(why: impl std::fmt::Display) -> ! {
    panic!("[plugin.config] does not match the plugin's config type: {why}")
}

/// What a plugin makes from its `[plugin.config]` once per instance (its rules, word lists,
/// limits) and reads on every call after: `static RULES: FromConfig<Vec<Rule>> =
/// FromConfig::new();`.
pub struct FromConfig<T>(OnceLock<T>);

impl<T> FromConfig<T> {
    pub const fn new() -> Self {
        FromConfig(OnceLock::new())
    }

    /// The value, made the first time by `make` from the config read into `C` (see [`config`]).
    pub fn get<C: DeserializeOwned>(&self, make: impl FnOnce(C) -> T) -> &T {
        self.0.get_or_init(|| make(config()))
    }
}

impl<S: crate::config::Settings> FromConfig<S> {
    /// The plugin's settings, parsed the first time. [`crate::config::check`] has refused a bad
    /// value at load, so a parse failing here panics.
    pub fn settings(&self) -> &S {
        self.get(|table| S::parse(table).unwrap_or_else(|e| panic!("{e}")))
    }
}

impl<R> Default for FromConfig<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> FromConfig<Vec<R>> {
    /// The list of tables `[[plugin.config.KEY]]`, made the first time: each table read into `C`
    /// and made a rule by `make`, in order (`None` leaves it out, e.g. a rule with nothing to
    /// say). `KEY` is required: the schema says so, and its absence panics as [`config`] does.
    pub fn list<C: DeserializeOwned>(&self, key: &str, make: impl FnMut(C) -> Option<R>) -> &[R] {
        self.get(|mut table: serde_json::Map<String, serde_json::Value>| {
            let items = table
                .remove(key)
                .unwrap_or_else(|| mismatch(format!("missing field `{key}`")));
            let items: Vec<C> = serde_json::from_value(items).unwrap_or_else(|e| mismatch(e));
            items.into_iter().filter_map(make).collect()
        })
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
