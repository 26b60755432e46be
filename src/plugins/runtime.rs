//! The wasmtime side: the one [`Engine`] of the process and its epoch ticker, the on-disk cache
//! of compiled components, the linker (our contract's `host` interface and the few WASI
//! interfaces a guest's `std` imports, nothing more), and a loaded plugin: its prepared instance
//! ([`InstancePre`](wasmtime::component::InstancePre)), a warm instance reused between calls,
//! and every call under an epoch deadline and a memory cap.
//!
//! Limits and why:
//! - Deadline: [`Limits::deadline`] (default 50 ms) per call, of the calling thread's CPU time,
//!   and never more than [`WALL_FACTOR`] times that in wall time; a plugin past either traps
//!   with `Trap::Interrupt`. CPU time, not wall time, because a deadline stops a runaway
//!   plugin, and on a loaded machine a well-behaved call may wait for a core far longer than
//!   it runs: a 1 ms call must not fail because the scheduler ran other threads for 50 ms. The
//!   wall-time ceiling still bounds a call the machine starves, or one that waits in a host
//!   import. Checked on the engine's epoch ticks ([`TICK`]) by [`Budget::update`], which
//!   either extends the deadline by what is left or interrupts. Reading a thread's CPU clock is
//!   a system call (0.3-2 µs, as dear as a whole call of a small plugin), so a call does not
//!   read it up front: the first tick that passes during a call reads it, counting the time
//!   before as CPU time up to one tick. A call that ends within its first tick, nearly every
//!   call, never reads it.
//! - Initialization: a fresh instance is instantiated, then configured (its `config-schema`
//!   export, the one call without side effects, where a plugin reads and checks its
//!   `[plugin.config]`: the Rust SDK does), together under [`Limits::init_deadline`] (default
//!   1 s), before it serves an event. Instantiating runs the component's start functions
//!   (a Python component's interpreter resumes from its snapshot), far dearer than a warm
//!   call, and must not eat a call's 50 ms. So every instance an event meets is warm: the
//!   one made at load, and the ones made after a trap or a recycle.
//! - Memory: [`Limits::memory_bytes`] (default 32 MiB) per instance; growing past it traps.
//! - Answer size: [`MAX_DECISION_BYTES`] of text per decision; more is a bad answer.
//! - A trapped instance is dropped (its state is unknown) and the next call instantiates afresh
//!   from the prepared instance (tens of µs). A warm instance is also replaced every
//!   [`RECYCLE_AFTER`] calls, so memory a plugin leaks is given back.
//!
//! WASI: a guest gets no preopened directory, no environment, no arguments, no sockets and no
//! HTTP (sockets and HTTP are not even linked, so a component importing them fails to load,
//! naming the import). Its clocks read the server's [`Clock`]; its random source is seeded in
//! tests. Its stdout is discarded and its stderr kept (64 KiB) to explain a panic; when stderr
//! says nothing, the last error the plugin logged during the call explains it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::{Config, Engine, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::model::{ConfigKey, Decision, Event, OurPost};
use super::v0_1_0;
use crate::clock::Clock;
use crate::store::{KvFull, Store, StoreError};

/// How often the engine's epoch moves: the resolution of a deadline.
pub const TICK: Duration = Duration::from_millis(5);

/// Text a decision may carry in all (reasons, replies, labels, rewrites).
pub const MAX_DECISION_BYTES: usize = 64 * 1024;

/// Calls served by one warm instance before it is replaced.
pub const RECYCLE_AFTER: u32 = 1000;

/// The longest log line a plugin may write (longer ones are cut).
pub const MAX_LOG_CHARS: usize = 2000;

/// Core instances (and tables) one plugin instance may create.
const MAX_INSTANCES: usize = 256;

/// Guest stderr kept per instance.
const STDERR_BYTES: usize = 64 * 1024;

/// How many times a budget's CPU time may pass in wall time before the call is stopped anyway.
pub const WALL_FACTOR: u32 = 10;

/// Per-instance and per-call limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// CPU time one call may take (and [`WALL_FACTOR`] times it in wall time).
    pub deadline: Duration,
    /// CPU time a fresh instance may take to instantiate and configure itself (and
    /// [`WALL_FACTOR`] times it in wall time).
    pub init_deadline: Duration,
    pub memory_bytes: usize,
    /// Size cap of each plugin's key-value store (keys + values).
    pub kv_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(50),
            // 20 calls' worth: a Python component instantiates and configures in 2-20 ms of a
            // loaded debug build; a start function looping forever is still stopped in a second.
            init_deadline: Duration::from_secs(1),
            memory_bytes: 32 << 20,
            kv_bytes: 1 << 20,
        }
    }
}

/// What a budget is for: it names a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Instantiating and configuring a fresh instance.
    Init,
    /// One call of a hook.
    Call,
}

/// The time one phase may take on its thread, and what it has taken so far.
#[derive(Clone, Copy, Debug)]
struct Budget {
    phase: Phase,
    cpu: Duration,
    wall_start: std::time::Instant,
    /// The thread's CPU clock when the phase started, as the first tick estimated it.
    cpu_start: Option<Duration>,
}

impl Budget {
    /// The epoch deadline a budget starts with: the next tick, where [`Budget::update`] first
    /// reads the CPU clock.
    const FIRST_TICKS: u64 = 1;

    /// A budget of `cpu` starting now, on the calling thread (the one the guest runs on).
    fn start(phase: Phase, cpu: Duration) -> Budget {
        Budget {
            phase,
            cpu,
            wall_start: std::time::Instant::now(),
            cpu_start: None,
        }
    }

    /// At an epoch deadline: interrupt when the CPU time or the wall-time ceiling is spent,
    /// else wait the ticks of what is left of both.
    fn update(&mut self) -> wasmtime::UpdateDeadline {
        let cpu_now = thread_cpu_time();
        let wall_used = self.wall_start.elapsed();
        // The epoch passed the first deadline at most one tick after the start (the ticker's
        // lateness aside): what the thread ran before this first look is at most that.
        let cpu_start = *self
            .cpu_start
            .get_or_insert_with(|| cpu_now.saturating_sub(wall_used.min(TICK)));
        let cpu_used = cpu_now.saturating_sub(cpu_start);
        let wall = self.cpu * WALL_FACTOR;
        if cpu_used >= self.cpu || wall_used >= wall {
            return wasmtime::UpdateDeadline::Interrupt;
        }
        let left = (self.cpu - cpu_used).min(wall - wall_used);
        wasmtime::UpdateDeadline::Continue(ticks(left))
    }

    fn timeout(&self) -> PluginError {
        match self.phase {
            Phase::Init => PluginError::InitTimeout(self.cpu),
            Phase::Call => PluginError::Timeout(self.cpu),
        }
    }
}

/// Whole epoch ticks in `d`, at least one.
fn ticks(d: Duration) -> u64 {
    (d.as_millis() / TICK.as_millis()).max(1) as u64
}

/// The CPU time the calling thread has used.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        // Not expected on a POSIX system; wall time stands in for it.
        return wall_time();
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Without a thread CPU clock, wall time stands in for it.
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    wall_time()
}

/// Time since the first reading, for a thread CPU clock that cannot be read.
fn wall_time() -> Duration {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// The process's engine, made on first use, with its epoch ticker thread.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        // Plugins are synchronous: without component-model-async bookkeeping a call costs
        // ~0.45 µs instead of ~1.2 µs (measured on wasmtime 48).
        config.concurrency_support(false);
        config.epoch_interruption(true);
        config.parallel_compilation(true);
        let engine = Engine::new(&config).expect("the plugin engine's config is valid");
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                ticker.increment_epoch();
            })
            .expect("cannot start the plugin epoch thread");
        engine
    })
}

/// Why a plugin could not be loaded or called.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly component: {message} (build it for wasm32-wasip2: `masthead plugin build`)")]
    NotAComponent { path: PathBuf, message: String },
    #[error("{path} does not export {} (it was not built with the masthead plugin SDK, or for a contract this masthead does not know: {message})", v0_1_0::HOOKS)]
    NoContract { path: PathBuf, message: String },
    #[error("{path} imports {import}, which masthead does not offer (plugins get only the masthead:plugin host interface and the WASI basics std needs; no network, sockets or files)")]
    Import { path: PathBuf, import: String },
    #[error("{path}: {message}")]
    Link { path: PathBuf, message: String },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("timed out after {0:?} starting (instantiating and answering config-schema)")]
    InitTimeout(Duration),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("answer too large: {0} bytes of text (at most {MAX_DECISION_BYTES})")]
    TooLarge(usize),
}

/// What a loaded plugin's instances share.
pub struct PluginInfo {
    pub name: String,
    /// Its version: the Cargo package version of a source folder, else the first 12 hex digits
    /// of the component's SHA-256.
    pub version: String,
    /// `[plugin.config]` as JSON text.
    pub config_json: String,
}

/// Our posts, for `find-post`. The server gives the host one backed by its catalog.
pub trait Posts: Send + Sync {
    fn post(&self, actor: &str, slug: &str) -> Option<OurPost>;
}

/// No posts (`masthead plugin test`, `check`).
pub struct NoPosts;

impl Posts for NoPosts {
    fn post(&self, _: &str, _: &str) -> Option<OurPost> {
        None
    }
}

/// The read-only lookups plugins may make, and the store their key-value data lives in.
pub struct Lookups {
    pub store: Arc<Store>,
    pub posts: Arc<dyn Posts>,
}

impl Lookups {
    pub fn post(&self, actor: &str, slug: &str) -> Option<OurPost> {
        self.posts.post(actor, slug)
    }

    pub fn is_follower(&self, actor: &str, remote: &str) -> bool {
        matches!(
            self.store.follower(actor, remote),
            Ok(Some(f)) if f.state == crate::store::FollowState::Accepted
        )
    }

    pub fn follower_count(&self, actor: &str) -> u32 {
        self.store
            .followers(actor, crate::store::FollowState::Accepted)
            .map(|f| f.len() as u32)
            .unwrap_or(0)
    }
}

/// Everything one instance can reach.
pub struct State {
    pub plugin: Arc<PluginInfo>,
    pub clock: Clock,
    pub lookups: Arc<Lookups>,
    kv_bytes: u64,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stderr: MemoryOutputPipe,
    /// The last error the plugin logged during the current call: it explains a trap when
    /// stderr is silent (a componentize-py plugin's WASI, stderr included, is stubbed out).
    pub last_error: Option<String>,
    /// The time the current phase (initialization or a call) may take.
    budget: Budget,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    pub fn kv_get(&mut self, key: &str) -> Option<Vec<u8>> {
        let got = self
            .lookups
            .store
            .kv_get(&self.plugin.name, key, self.clock.now_ms());
        got.unwrap_or_else(|e| {
            tracing::error!(plugin = %self.plugin.name, error = %e, "plugin key-value read failed");
            None
        })
    }

    pub fn kv_set(&mut self, key: &str, value: &[u8], ttl: Option<u32>) -> Result<(), String> {
        let (now, expires) = self.kv_expiry(ttl);
        kv_written(self.lookups.store.kv_set(
            &self.plugin.name,
            key,
            value,
            expires,
            self.kv_bytes,
            now,
        ))
    }

    pub fn kv_add(&mut self, key: &str, by: i64, ttl: Option<u32>) -> Result<i64, String> {
        let (now, expires) = self.kv_expiry(ttl);
        kv_written(self.lookups.store.kv_add(
            &self.plugin.name,
            key,
            by,
            expires,
            self.kv_bytes,
            now,
        ))
    }

    /// Now, and when a value written now with a time to live of `ttl` seconds expires (unix ms).
    fn kv_expiry(&self, ttl: Option<u32>) -> (i64, Option<i64>) {
        let now = self.clock.now_ms();
        (now, ttl.map(|s| now + i64::from(s) * 1000))
    }

    pub fn kv_delete(&mut self, key: &str) {
        if let Err(e) = self.lookups.store.kv_delete(&self.plugin.name, key) {
            tracing::error!(plugin = %self.plugin.name, error = %e, "plugin key-value delete failed");
        }
    }
}

/// A key-value write's outcome as the plugin sees it: the value, or why the write was refused.
fn kv_written<T>(outcome: Result<Result<T, KvFull>, StoreError>) -> Result<T, String> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(full)) => Err(format!(
            "the key-value store would hold {} bytes, over its cap of {}",
            full.would_hold, full.cap
        )),
        Err(e) => Err(format!("the key-value store failed: {e}")),
    }
}

/// The WASI wall clock, read from the server's [`Clock`].
struct WallClock(Clock);

impl wasmtime_wasi::HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms().max(0) as u64)
    }
}

/// The WASI monotonic clock: nanoseconds of the server's [`Clock`] (which a paused or manual
/// clock in tests moves as it likes; never backwards).
struct MonotonicClock(Clock);

impl wasmtime_wasi::HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        (self.0.now_ms().max(0) as u64) * 1_000_000
    }
}

/// The `HasData` of WASI's io interfaces, which only need the resource table.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

fn table(s: &mut State) -> &mut ResourceTable {
    &mut s.table
}

fn rng(s: &mut State) -> &mut wasmtime_wasi::random::WasiRandomCtx {
    s.wasi.random()
}

/// A linker with the `host` interface of every contract version and the WASI interfaces a Rust
/// or other guest's standard library imports. Not linked, on purpose: `wasi:sockets/*` and
/// `wasi:http/*`.
pub fn linker() -> wasmtime::Result<Linker<State>> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
    use wasmtime_wasi::random::WasiRandom;

    let mut l = Linker::new(engine());
    // Minor and patch versions of an interface link to the nearest we have (wasmtime's semver
    // matching), so guests built against other 0.2.x WASI releases load too.
    v0_1_0::add_to_linker(&mut l)?;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<State, Table>(&mut l, table)?;
    sync::io::poll::add_to_linker::<State, Table>(&mut l, table)?;
    sync::io::streams::add_to_linker::<State, Table>(&mut l, table)?;
    clocks::wall_clock::add_to_linker::<State, WasiClocks>(&mut l, |s| s.clocks())?;
    clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(&mut l, |s| s.clocks())?;
    random::random::add_to_linker::<State, WasiRandom>(&mut l, rng)?;
    random::insecure::add_to_linker::<State, WasiRandom>(&mut l, rng)?;
    random::insecure_seed::add_to_linker::<State, WasiRandom>(&mut l, rng)?;
    // std imports the filesystem; with no preopened directory there is nothing to open.
    filesystem::preopens::add_to_linker::<State, WasiFilesystem>(&mut l, |s| s.filesystem())?;
    sync::filesystem::types::add_to_linker::<State, WasiFilesystem>(&mut l, |s| s.filesystem())?;
    cli::exit::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::environment::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::stdin::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::stdout::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::stderr::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(&mut l, |s| s.cli())?;
    Ok(l)
}

/// The component in `bytes`, compiled, from `cache_dir` when it was compiled before (by this
/// wasmtime build: the file name carries the engine's compatibility hash).
pub fn compile(bytes: &[u8], path: &Path, cache_dir: &Path) -> Result<Component, PluginError> {
    let engine = engine();
    let hash = sha256_hex(bytes);
    let compat = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let cached = cache_dir.join(format!("{hash}-{compat}.cwasm"));
    if cached.is_file() {
        // SAFETY: files in the cache dir are written only by `compile` below, from
        // `Engine::precompile_component` of this same wasmtime build (the name carries the
        // engine's compatibility hash), and renamed into place whole.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(file = %cached.display(), error = %e, "unusable compiled plugin in the cache; compiling again")
            }
        }
    }
    let compiled = engine
        .precompile_component(bytes)
        .map_err(|e| PluginError::NotAComponent {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
    if let Err(e) = write_atomically(cache_dir, &cached, &compiled) {
        tracing::warn!(dir = %cache_dir.display(), error = %e, "cannot cache the compiled plugin");
    }
    // SAFETY: `compiled` was produced just now by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| PluginError::NotAComponent {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    })
}

fn write_atomically(dir: &Path, to: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        to.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, to)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A component prepared against the contract version it was built for: one variant per
/// version in `wit/` (Zed's pattern). A new contract version adds a variant and a module; the
/// older ones stay, so plugins built against them keep loading.
enum Pre {
    V0_1_0(v0_1_0::PluginPre<State>),
}

/// An instance of a [`Pre`].
enum Instance {
    V0_1_0(v0_1_0::Instance),
}

impl Pre {
    /// The versions this host loads, newest first, by the hooks interface a component exports.
    const HOOKS: &[&str] = &[v0_1_0::HOOKS];

    fn new(linker: &Linker<State>, component: &Component, hooks: &str) -> wasmtime::Result<Pre> {
        let pre = linker.instantiate_pre(component)?;
        match hooks {
            v0_1_0::HOOKS => Ok(Pre::V0_1_0(v0_1_0::PluginPre::new(pre)?)),
            other => Err(wasmtime::format_err!("unknown contract {other}")),
        }
    }

    fn instantiate(&self, store: &mut wasmtime::Store<State>) -> wasmtime::Result<Instance> {
        match self {
            Pre::V0_1_0(pre) => v0_1_0::Instance::new(pre, store).map(Instance::V0_1_0),
        }
    }
}

impl Instance {
    fn call(
        &self,
        store: &mut wasmtime::Store<State>,
        event: &Event,
    ) -> wasmtime::Result<Decision> {
        match self {
            Instance::V0_1_0(i) => i.call(store, event),
        }
    }

    fn config_schema(
        &self,
        store: &mut wasmtime::Store<State>,
    ) -> wasmtime::Result<Vec<ConfigKey>> {
        match self {
            Instance::V0_1_0(i) => i.config_schema(store),
        }
    }
}

/// A plugin ready to be called: its prepared instance and a warm instance.
pub struct Runtime {
    pub info: Arc<PluginInfo>,
    pre: Pre,
    lookups: Arc<Lookups>,
    clock: Clock,
    limits: Limits,
    /// Seeds the guest's random source (tests); `None` for the OS's.
    seed: Option<u64>,
    warm: Mutex<Option<Warm>>,
}

struct Warm {
    store: wasmtime::Store<State>,
    instance: Instance,
    calls: u32,
}

impl Warm {
    /// Starts a budget of `cpu` for what runs next in this instance.
    fn budget(&mut self, phase: Phase, cpu: Duration) {
        self.store.data_mut().budget = Budget::start(phase, cpu);
        self.store.set_epoch_deadline(Budget::FIRST_TICKS);
    }
}

impl Runtime {
    /// Prepares `component` (read from `path`) to be called: its imports are resolved now, so a
    /// component that needs something masthead does not offer fails here, naming the import.
    pub fn prepare(
        component: &Component,
        path: &Path,
        info: PluginInfo,
        lookups: Arc<Lookups>,
        clock: Clock,
        limits: Limits,
        seed: Option<u64>,
    ) -> Result<Runtime, PluginError> {
        let engine = engine();
        let ty = component.component_type();
        let hooks = ty
            .exports(engine)
            .find_map(|(name, _)| Pre::HOOKS.iter().find(|h| **h == name).copied());
        let Some(hooks) = hooks else {
            let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
            return Err(PluginError::NoContract {
                path: path.to_path_buf(),
                message: format!(
                    "it exports {}",
                    if exports.is_empty() {
                        "nothing".to_string()
                    } else {
                        exports.join(", ")
                    }
                ),
            });
        };
        let linker = linker().map_err(|e| PluginError::Link {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        // Name the first import we do not offer, rather than wasmtime's generic error.
        for (name, _) in ty.imports(engine) {
            let offered = name.starts_with("masthead:plugin/")
                || [
                    "wasi:io/",
                    "wasi:clocks/",
                    "wasi:random/",
                    "wasi:cli/",
                    "wasi:filesystem/",
                ]
                .iter()
                .any(|p| name.starts_with(p));
            if !offered {
                return Err(PluginError::Import {
                    path: path.to_path_buf(),
                    import: name.to_string(),
                });
            }
        }
        let pre = Pre::new(&linker, component, hooks).map_err(|e| PluginError::Link {
            path: path.to_path_buf(),
            message: format!(
                "{e:#} (the plugin was built against a contract this masthead does not offer)"
            ),
        })?;
        Ok(Runtime {
            info: Arc::new(info),
            pre,
            lookups,
            clock,
            limits,
            seed,
            warm: Mutex::new(None),
        })
    }

    /// A fresh instance, instantiated and configured (see the module doc) under
    /// [`Limits::init_deadline`], and the config schema it answered.
    fn instantiate(&self) -> Result<(Warm, Vec<ConfigKey>), PluginError> {
        let budget = Budget::start(Phase::Init, self.limits.init_deadline);
        let mut wasi = WasiCtx::builder();
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        wasi.stdout(SinkOutputStream)
            .stderr(stderr.clone())
            .wall_clock(WallClock(self.clock.clone()))
            .monotonic_clock(MonotonicClock(self.clock.clone()));
        if let Some(seed) = self.seed {
            let bytes = Sha256::digest(seed.to_le_bytes()).to_vec();
            wasi.secure_random(wasmtime_wasi::Deterministic::new(bytes.clone()))
                .insecure_random(wasmtime_wasi::Deterministic::new(bytes))
                .insecure_random_seed(u128::from(seed));
        }
        let state = State {
            plugin: self.info.clone(),
            clock: self.clock.clone(),
            lookups: self.lookups.clone(),
            kv_bytes: self.limits.kv_bytes,
            wasi: wasi.build(),
            table: ResourceTable::new(),
            // Counts, not sizes: a Rust plugin has a handful of core instances, a Python one
            // (componentize-py: CPython, its libc and its WASI stubs) about a hundred and ten,
            // with a few dozen tables. Memory is what the cap holds.
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .instances(MAX_INSTANCES)
                .tables(MAX_INSTANCES)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
            stderr,
            last_error: None,
            budget,
        };
        let mut store = wasmtime::Store::new(engine(), state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().budget.update()));
        store.set_epoch_deadline(Budget::FIRST_TICKS);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.failure(e, &store))?;
        let schema = instance
            .config_schema(&mut store)
            .map_err(|e| self.failure(e, &store))?;
        let warm = Warm {
            store,
            instance,
            calls: 0,
        };
        Ok((warm, schema))
    }

    /// Runs `f` on a warm instance under the call deadline; a failed call drops the instance.
    fn with_instance<T>(
        &self,
        f: impl FnOnce(&Instance, &mut wasmtime::Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let mut slot = self.warm.lock().unwrap_or_else(|p| p.into_inner());
        let mut warm = match slot.take() {
            Some(w)
                if w.calls < RECYCLE_AFTER
                    && w.store.data().stderr.contents().len() < STDERR_BYTES / 2 =>
            {
                w
            }
            _ => self.instantiate()?.0,
        };
        warm.store.data_mut().last_error = None;
        warm.budget(Phase::Call, self.limits.deadline);
        let out = f(&warm.instance, &mut warm.store);
        match out {
            Ok(v) => {
                warm.calls += 1;
                *slot = Some(warm);
                Ok(v)
            }
            Err(e) => Err(self.failure(e, &warm.store)),
        }
    }

    fn failure(&self, e: wasmtime::Error, store: &wasmtime::Store<State>) -> PluginError {
        if let Some(wasmtime::Trap::Interrupt) = e.downcast_ref::<wasmtime::Trap>() {
            return store.data().budget.timeout();
        }
        // What the guest last wrote to stderr: a Rust panic is `thread '<unnamed>' panicked at
        // FILE:LINE:COL:` then the message, then a hint about backtraces. Else the error it
        // logged last in this call.
        let stderr = store.data().stderr.contents();
        let text = String::from_utf8_lossy(&stderr);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        let mut said = lines[lines.len().saturating_sub(2)..]
            .join(" ")
            .replace("thread '<unnamed>' ", "");
        if said.is_empty() {
            said = store.data().last_error.clone().unwrap_or_default();
        }
        let root = e.root_cause().to_string();
        let mut message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) if root != trap.to_string() => format!("{trap}: {root}"),
            Some(trap) => trap.to_string(),
            None => root,
        };
        if !said.is_empty() {
            message = format!(
                "{message} (the plugin said: {})",
                said.chars().take(500).collect::<String>()
            );
        }
        PluginError::Trap(message)
    }

    /// Calls the hook of `event`.
    pub fn call(&self, event: &Event) -> Result<Decision, PluginError> {
        let d = self.with_instance(|i, s| i.call(s, event))?;
        match d.text_bytes() {
            n if n > MAX_DECISION_BYTES => Err(PluginError::TooLarge(n)),
            _ => Ok(d),
        }
    }

    /// The plugin's config schema, as a fresh instance answers it while it is configured; that
    /// instance becomes the warm one, so the first event meets it ready.
    pub fn config_schema(&self) -> Result<Vec<ConfigKey>, PluginError> {
        let mut slot = self.warm.lock().unwrap_or_else(|p| p.into_inner());
        let (warm, schema) = self.instantiate()?;
        *slot = Some(warm);
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn continues(update: wasmtime::UpdateDeadline) -> Option<u64> {
        match update {
            wasmtime::UpdateDeadline::Continue(ticks) => Some(ticks),
            _ => None,
        }
    }

    /// Runs on this thread for `cpu` of CPU time.
    fn spin(cpu: Duration) {
        let until = thread_cpu_time() + cpu;
        let mut n: u64 = 0;
        while thread_cpu_time() < until {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    /// A call's budget of `cpu` that started `waited` ago.
    fn budget(cpu: Duration, waited: Duration) -> Budget {
        let mut b = Budget::start(Phase::Call, cpu);
        b.wall_start -= waited;
        b
    }

    #[test]
    fn can_extend_a_call_that_waited_for_a_core() {
        // 150 ms passed, past the 100 ms, while the thread ran next to nothing: the scheduler's
        // time, not the plugin's. It is charged one tick, and has the rest.
        let mut b = budget(Duration::from_millis(100), Duration::from_millis(150));
        let left = continues(b.update());
        assert!(matches!(left, Some(17..=19)), "{left:?}");
    }

    #[test]
    fn rejects_a_call_past_its_cpu_time() {
        let mut b = budget(Duration::from_millis(20), Duration::ZERO);
        assert!(continues(b.update()).is_some());
        spin(Duration::from_millis(25));
        assert_eq!(continues(b.update()), None);
    }

    #[test]
    fn rejects_a_call_past_its_wall_time_ceiling() {
        let mut b = budget(Duration::from_millis(20), Duration::from_millis(200));
        assert_eq!(continues(b.update()), None);
    }
}
