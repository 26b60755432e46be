//! The WebAssembly plugin host: loads the `[[plugin]]`s of site.toml as wasmtime components,
//! asks them about each inbox event (and each outgoing post), and combines their answers.
//!
//! This module owns the plugin side of moderation; the rest of the server sees one narrow API:
//! [`Host::judge`] (an [`InboxEvent`] in, a [`Judgement`] out), [`Host::outgoing`] (a post in,
//! an [`OutgoingDecision`] out), [`Host::reload`] and [`Host::check`]. It reads moderation's
//! events, the store (for what a rule needs to know about a remote actor, and for each plugin's
//! key-value data), the config and the clock; never the protocol (federation) or HTTP. What a
//! judgement leads to (a Reject sent, a reply stored as held, an auto-reply queued) is decided
//! by the inbox, which applies it.
//!
//! Rooms: [`model`] (the host's own event and decision types), `v0_1_0` (the contract
//! `masthead:plugin@0.1.0` and its conversions), `runtime` (engine, cache, limits, calls),
//! `events` (an inbox event as plugins see it), `chain` (combining the plugins' answers),
//! `schema` (`[plugin.config]` against a plugin's schema), [`build`] (source folders to
//! components).
//!
//! # Chain semantics
//! Plugins run per actor in config order, after the built-in blocks. For a reply or mention the
//! first reject wins and stops the chain; otherwise the strongest verdict holds, `hide` over
//! `hold` over `accept`, and every hold reason, label and note accumulates. Actions run only
//! after the final verdict: nothing for a rejected item, labels and notes otherwise, and an
//! auto-reply only for an accepted one (never for an item a person has yet to see). A plugin in
//! `mode = "shadow"` runs, and what it would have decided is logged, not applied. A reply
//! action of a plugin without `grants = ["reply"]` is refused and logged. A trap, a timeout or a
//! bad answer applies the plugin's `on_error`; without one: hold follows, replies and mentions,
//! count likes and boosts, hold an outgoing post back.

pub mod build;
mod chain;
mod events;
pub mod model;
mod runtime;
mod schema;
mod v0_1_0;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

pub use chain::{Judgement, OutgoingDecision};
pub use events::read_html;
pub use model::{Action, Decision, Event, OurPost, OutgoingPost, Rewrite, Verdict, Visibility};
pub use runtime::{engine, Limits, NoPosts, PluginError, Posts, TICK};

use crate::clock::Clock;
use crate::config::{Plugin as PluginConfig, Site};
use crate::diagnostics::Diagnostic;
use crate::moderation::InboxEvent;
use crate::store::Store;

use runtime::{Lookups, PluginInfo, Runtime};

/// How the host loads and runs plugins.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Compiled components, by content hash.
    pub cache_dir: PathBuf,
    pub limits: Limits,
    /// Seeds every guest's random source (tests); `None` for the OS's.
    pub seed: Option<u64>,
    /// Build a plugin given by its source folder when its `.wasm` is missing or older than its
    /// sources (`serve`); `check` builds nothing.
    pub build: bool,
}

impl HostOptions {
    /// The defaults for `site`: compiled components in `<data_dir>/plugin-cache`, or in
    /// `$MASTHEAD_PLUGIN_CACHE` when set (the tests share one cache there).
    pub fn for_site(site: &Site) -> HostOptions {
        let cache_dir = std::env::var_os("MASTHEAD_PLUGIN_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| site.data_dir.join("plugin-cache"));
        HostOptions {
            cache_dir,
            limits: Limits::default(),
            seed: None,
            build: true,
        }
    }
}

/// One configured plugin and what runs it.
struct Slot {
    config: PluginConfig,
    /// `None` when it never loaded: every call then applies its `on_error`.
    runtime: Option<Arc<Runtime>>,
    /// Why it is not loaded, or why its last reload failed.
    problem: Option<String>,
    /// What was loaded: the component's path and modification time, to notice a change.
    loaded_from: Option<(PathBuf, Option<SystemTime>)>,
}

/// The plugin host of one site.
pub struct Host {
    lookups: Arc<Lookups>,
    clock: Clock,
    options: HostOptions,
    /// site.toml, for the problems found in `[plugin.config]`.
    config_path: PathBuf,
    slots: RwLock<Vec<Arc<Slot>>>,
}

/// What loading a plugin found: its runtime, or the problem as a person reads it.
struct Outcome {
    runtime: Result<Runtime, String>,
    diagnostics: Vec<Diagnostic>,
    from: Option<(PathBuf, Option<SystemTime>)>,
}

impl Host {
    /// Loads `plugins` (a site's `plugins`), configured in `config_path`. A plugin that cannot be
    /// loaded is reported in the returned diagnostics and kept as failing: its `on_error` applies
    /// to every event it would judge.
    pub fn load_plugins(
        plugins: &[PluginConfig],
        config_path: &Path,
        store: Arc<Store>,
        posts: Arc<dyn Posts>,
        clock: Clock,
        options: HostOptions,
    ) -> (Host, Vec<Diagnostic>) {
        let host = Host {
            lookups: Arc::new(Lookups { store, posts }),
            clock,
            options,
            config_path: config_path.to_path_buf(),
            slots: RwLock::new(Vec::new()),
        };
        let mut diagnostics = Vec::new();
        let mut slots = Vec::new();
        for config in plugins {
            let outcome = host.load_one(config);
            diagnostics.extend(outcome.diagnostics);
            let (runtime, problem) = match outcome.runtime {
                Ok(r) => {
                    tracing::info!(plugin = %config.name, version = %r.info.version, mode = ?config.mode, "plugin loaded");
                    (Some(Arc::new(r)), None)
                }
                Err(problem) => (None, Some(problem)),
            };
            slots.push(Arc::new(Slot {
                config: config.clone(),
                runtime,
                problem,
                loaded_from: outcome.from,
            }));
        }
        *host.slots.write().unwrap_or_else(|p| p.into_inner()) = slots;
        (host, diagnostics)
    }

    /// Whether any plugin is configured.
    pub fn is_empty(&self) -> bool {
        self.slots().is_empty()
    }

    fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks every plugin of `site` without building anything or changing what runs: each is
    /// loaded, checked against the contract and its config checked against its schema. An
    /// unbuilt source folder is reported with the command that builds it.
    pub fn check(site: &Site, cache_dir: &Path) -> Vec<Diagnostic> {
        let options = HostOptions {
            cache_dir: cache_dir.to_path_buf(),
            limits: Limits::default(),
            seed: Some(0),
            build: false,
        };
        let store = match Store::open_in_memory() {
            Ok(s) => Arc::new(s),
            Err(e) => return vec![Diagnostic::error(&site.config_path, None, e.to_string())],
        };
        let (_, diagnostics) = Host::load_plugins(
            &site.plugins,
            &site.config_path,
            store,
            Arc::new(NoPosts),
            Clock::system(),
            options,
        );
        diagnostics
    }

    /// Loads one plugin: builds its source folder when asked to and needed, compiles (or reads
    /// from the cache), links, and checks its config against its schema.
    fn load_one(&self, config: &PluginConfig) -> Outcome {
        let name = &config.name;
        let line = Some(config.line);
        let error = |message: String| Outcome {
            runtime: Err(message.clone()),
            diagnostics: vec![Diagnostic::error(
                &self.config_path,
                line,
                format!("plugin {name:?}: {message}"),
            )],
            from: None,
        };
        let (wasm, version) = if config.is_source() {
            let source = match build::Source::read(&config.path) {
                Ok(s) => s,
                Err(e) => return error(e.to_string()),
            };
            if source.stale() {
                if !self.options.build {
                    let root = self.config_path.parent().unwrap_or(Path::new(""));
                    let shown = config.path.strip_prefix(root).unwrap_or(&config.path);
                    let shown = shown.strip_prefix(".").unwrap_or(shown);
                    let message = format!(
                        "{} is not built{} (build it with `masthead plugin build {name}`; `serve` builds it too)",
                        shown.display(),
                        if source.wasm.is_file() { " since its sources changed" } else { " yet" }
                    );
                    let d = Diagnostic::warning(
                        &self.config_path,
                        line,
                        format!("plugin {name:?}: {message}"),
                    );
                    return Outcome {
                        runtime: Err(message),
                        diagnostics: vec![d],
                        from: None,
                    };
                }
                tracing::info!(plugin = %name, dir = %config.path.display(), "building plugin");
                if let Err(e) = source.build() {
                    return error(e.to_string());
                }
            }
            (source.wasm.clone(), source.version.clone())
        } else {
            (config.path.clone(), None)
        };
        let bytes = match std::fs::read(&wasm) {
            Ok(b) => b,
            Err(e) => return error(format!("cannot read {}: {e}", wasm.display())),
        };
        let mtime = std::fs::metadata(&wasm).and_then(|m| m.modified()).ok();
        let component = match runtime::compile(&bytes, &wasm, &self.options.cache_dir) {
            Ok(c) => c,
            Err(e) => return error(e.to_string()),
        };
        let info = PluginInfo {
            name: name.clone(),
            version: version.unwrap_or_else(|| runtime::sha256_hex(&bytes)[..12].to_string()),
            config_json: config.config.to_string(),
        };
        let runtime = match Runtime::prepare(
            &component,
            &wasm,
            info,
            self.lookups.clone(),
            self.clock.clone(),
            self.options.limits,
            self.options.seed,
        ) {
            Ok(r) => r,
            Err(e) => return error(e.to_string()),
        };
        let schema = match runtime.config_schema() {
            Ok(s) => s,
            Err(e) => {
                if let Some(why) = refused_config(&e.to_string()) {
                    let message = format!("[plugin.config]: {why}");
                    return Outcome {
                        runtime: Err(message.clone()),
                        diagnostics: vec![Diagnostic::error(
                            &self.config_path,
                            config.config_line.or(line),
                            format!("plugin {name:?}: {message}"),
                        )],
                        from: None,
                    };
                }
                return error(format!(
                    "{}@{}: config-schema failed: {e}",
                    name, runtime.info.version
                ));
            }
        };
        let problems = schema::check(config, &schema);
        if !problems.is_empty() {
            let first = problems[0].1.clone();
            return Outcome {
                runtime: Err(format!(
                    "[plugin.config] does not match the plugin's schema: {first}"
                )),
                diagnostics: problems
                    .into_iter()
                    .map(|(l, m)| {
                        Diagnostic::error(
                            &self.config_path,
                            l.or(line),
                            format!("plugin {name:?}: {m}"),
                        )
                    })
                    .collect(),
                from: None,
            };
        }
        Outcome {
            runtime: Ok(runtime),
            diagnostics: Vec::new(),
            from: Some((wasm, mtime)),
        }
    }

    /// Reloads the plugins of `site` whose component, sources or config changed (a source folder
    /// is rebuilt when `build` is on). A plugin that fails to load is reported and the previous
    /// one keeps running. Plugins added to or removed from site.toml
    /// are added or removed. Returns the problems found.
    pub fn reload(&self, site: &Site) -> Vec<Diagnostic> {
        let old = self.slots();
        let mut diagnostics = Vec::new();
        let mut slots = Vec::new();
        for config in &site.plugins {
            let previous = old.iter().find(|s| s.config.name == config.name);
            if let Some(prev) = previous {
                if prev.config == *config && !self.changed_on_disk(prev) {
                    slots.push(prev.clone());
                    continue;
                }
            }
            let outcome = self.load_one(config);
            diagnostics.extend(outcome.diagnostics);
            match (outcome.runtime, previous) {
                (Ok(r), _) => {
                    tracing::info!(plugin = %config.name, version = %r.info.version, "plugin reloaded");
                    slots.push(Arc::new(Slot {
                        config: config.clone(),
                        runtime: Some(Arc::new(r)),
                        problem: None,
                        loaded_from: outcome.from,
                    }));
                }
                (Err(problem), Some(prev)) if prev.runtime.is_some() => {
                    tracing::error!(plugin = %config.name, problem = %problem, "plugin reload failed; the previous version keeps running");
                    slots.push(Arc::new(Slot {
                        config: prev.config.clone(),
                        runtime: prev.runtime.clone(),
                        problem: Some(problem),
                        loaded_from: prev.loaded_from.clone(),
                    }));
                }
                (Err(problem), _) => {
                    tracing::error!(plugin = %config.name, problem = %problem, "plugin cannot be loaded; its on_error applies");
                    slots.push(Arc::new(Slot {
                        config: config.clone(),
                        runtime: None,
                        problem: Some(problem),
                        loaded_from: None,
                    }));
                }
            }
        }
        *self.slots.write().unwrap_or_else(|p| p.into_inner()) = slots;
        diagnostics
    }

    /// Whether the component a slot was loaded from, or its plugin's sources, changed since.
    fn changed_on_disk(&self, slot: &Slot) -> bool {
        let Some((wasm, mtime)) = &slot.loaded_from else {
            return true;
        };
        if slot.config.is_source() {
            if let Ok(source) = build::Source::read(&slot.config.path) {
                if source.stale() {
                    return true;
                }
            }
        }
        std::fs::metadata(wasm).and_then(|m| m.modified()).ok() != *mtime
    }

    /// The problems of plugins not running as configured (not loaded, or their last reload
    /// failed), by name, for `status`.
    pub fn problems(&self) -> Vec<(String, String)> {
        self.slots()
            .iter()
            .filter_map(|s| s.problem.clone().map(|p| (s.config.name.clone(), p)))
            .collect()
    }

    /// The plugins' verdict on `event`, read with the store's knowledge of its actor. Events no
    /// plugin hook is about (an unfollow, a delete, an update of a profile) are accepted.
    pub fn judge(&self, event: &InboxEvent) -> Judgement {
        let slots = self.slots();
        if slots.is_empty() {
            return Judgement::accept();
        }
        let Some(event) = events::for_plugins(event, &self.lookups, &self.clock) else {
            return Judgement::accept();
        };
        chain::judge(&slots, &event)
    }

    /// What the plugin `name` alone answers to `event` (`masthead plugin test`): its decision,
    /// or why it failed (before its `on_error` applies).
    pub fn decide(&self, name: &str, event: &Event) -> Result<Decision, String> {
        let slots = self.slots();
        let slot = slots
            .iter()
            .find(|s| s.config.name == name)
            .ok_or_else(|| format!("no plugin {name:?}"))?;
        let rt = slot
            .runtime
            .as_ref()
            .ok_or_else(|| slot.problem.clone().unwrap_or_default())?;
        rt.call(event)
            .map_err(|e| format!("{name}@{}: {e}", rt.info.version))
    }

    /// The plugins' verdict on an [`Event`] built by the caller (`masthead plugin test`).
    pub fn judge_event(&self, event: &Event) -> Judgement {
        match event {
            Event::Outgoing { post } => Judgement::from_outgoing(self.outgoing(post)),
            _ => chain::judge(&self.slots(), event),
        }
    }

    /// The plugins' decision on one of our posts before it is published: each plugin sees the
    /// post as the ones before it changed it; the first veto holds it back.
    pub fn outgoing(&self, post: &OutgoingPost) -> OutgoingDecision {
        chain::outgoing(&self.slots(), post)
    }
}

/// What a plugin said when it refused its config's values: a plugin checks what its schema
/// cannot say (one of a few words, a number in a range) while the host asks for its schema, and
/// refuses by trapping after writing `[plugin.config]: why` to stderr (the Rust SDK's
/// `Plugin::check_config` does). `trap` is the trap as the runtime reports it, ending with
/// `(the plugin said: ...)`.
fn refused_config(trap: &str) -> Option<&str> {
    const MARK: &str = "[plugin.config]: ";
    let at = trap.rfind(MARK)?;
    let why = &trap[at + MARK.len()..];
    Some(why.strip_suffix(')').unwrap_or(why).trim())
}
