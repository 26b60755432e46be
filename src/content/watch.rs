//! Watching the files a site is made of, and telling which of them changed, in batches.
//!
//! This module owns turning the file system's events into [`Batch`]es of dirty paths: which
//! paths are watched ([`Watcher::set`], [`Watcher::add`], each with a [`Kind`]), which events
//! are noise (an editor's temp, swap and backup files), how a burst of events becomes one batch
//! (debounced), and what happens when native watching cannot be used (polling). It does not read
//! the files or decide what a change means: an event is only a hint of where to look ("treat
//! events as dirty paths, not as facts"), and the caller re-reads what is there when the batch
//! arrives. It knows nothing of the store, federation or the catalog.
//!
//! How saving looks from here, and why each is safe:
//! - **Write in place** (VS Code, nano, `echo >`): modify events on the file itself.
//! - **Atomic rename** (vim's `backupcopy=no`, JetBrains' "safe write", most GUI editors): a temp
//!   file is written (`4913`, `post.md___jb_tmp___`, `.goutputstream-XXXX`), renamed over the
//!   post, and a backup may be kept (`post.md~`, `post.md___jb_old___`). The temp names are
//!   ignored; the rename's target is the post, which is dirty. A file registered by name
//!   (site.toml, a block list) is watched through its folder, so the watch survives its inode
//!   being replaced.
//! - **Swap and lock files** (`.post.md.swp`, `.#post.md`, `#post.md#`, `.post.md.kate-swp`)
//!   are ignored, like every hidden file the content scan skips.
//! - **`git checkout` / `git pull` / a branch switch** rewrite hundreds of files in a few
//!   milliseconds: the debounce waits until events stop for `debounce` (at most [`MAX_WAIT`]
//!   per batch, so a folder that never goes quiet still publishes), and they arrive as one batch.
//! - **A file that vanishes during the debounce** is still dirty: the reader finds it gone.
//! - **A folder renamed or removed**: the folder's path is dirty (everything under it), and the
//!   watch of a registered folder is set up again when it comes back.
//! - **The kernel's queue overflowed** (inotify's `IN_Q_OVERFLOW`): events were lost, so the
//!   batch says [`Batch::rescan`] and the caller re-reads everything.
//! - **Native watching unavailable** (the inotify watch limit, `fs.inotify.max_user_watches`, or
//!   a network file system, where the kernel sees no remote changes): the watcher polls every
//!   [`POLL_EVERY`] instead, and says so in the log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode};

/// How often files are compared when native watching cannot be used.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// The longest one batch waits for events to go quiet, so that a folder written to without
/// pause (a long `rsync`) still publishes what it has every few seconds.
pub const MAX_WAIT: Duration = Duration::from_secs(3);

/// What a watched path is to the site; a batch says which kind each dirty path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A content folder (posts and their media) or a profile image.
    Content,
    /// site.toml.
    Config,
    /// The moderation block list.
    Blocklist,
    /// A plugin's files.
    Plugin,
}

/// The paths that changed while the events settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Events were lost (the kernel's queue overflowed, or watching switched to polling):
    /// re-read everything.
    pub rescan: bool,
    /// Each dirty path (a file, possibly gone, or a folder: everything under it) and its kind.
    pub paths: BTreeMap<PathBuf, Kind>,
}

impl Batch {
    /// Whether something of `kind` is dirty (always, when everything must be re-read).
    pub fn touches(&self, kind: Kind) -> bool {
        self.rescan || self.paths.values().any(|k| *k == kind)
    }

    /// The dirty paths of `kind`.
    pub fn of_kind(&self, kind: Kind) -> BTreeSet<PathBuf> {
        self.paths
            .iter()
            .filter(|(_, k)| **k == kind)
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// How the watcher learns of changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The kernel tells it (inotify, FSEvents, kqueue, ReadDirectoryChanges).
    Native,
    /// It compares the files every [`POLL_EVERY`].
    Polling,
}

/// How to watch.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// How long events must stop before a batch goes out.
    pub debounce: Duration,
    /// Paths never reported (the data dir, whose database changes all the time).
    pub ignore: Vec<PathBuf>,
    /// Poll instead of asking the kernel.
    pub force_polling: bool,
    /// How often to poll when polling.
    pub poll_every: Duration,
}

impl WatchConfig {
    /// Native watching, `debounce`, nothing ignored.
    pub fn new(debounce: Duration) -> WatchConfig {
        WatchConfig {
            debounce,
            ignore: Vec::new(),
            force_polling: false,
            poll_every: POLL_EVERY,
        }
    }
}

/// The watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Neither native watching nor polling could be set up.
    #[error(
        "cannot watch {path}: {source} (check that the folder exists and masthead may read it)"
    )]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    /// The watcher thread could not be started.
    #[error("cannot start the file watcher: {0}")]
    Thread(std::io::Error),
}

/// One registered path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registered {
    path: PathBuf,
    kind: Kind,
    /// A folder whose whole tree is watched (else a single file or folder, by name).
    tree: bool,
}

enum Msg {
    Event(notify::Result<notify::Event>),
    Stop,
}

struct Forward(mpsc::Sender<Msg>);

impl notify::EventHandler for Forward {
    fn handle_event(&mut self, event: notify::Result<notify::Event>) {
        let _ = self.0.send(Msg::Event(event));
    }
}

/// What the watcher thread and its handle share.
struct Inner {
    registered: Vec<Registered>,
    /// The folders watched now, and how.
    watched: BTreeMap<PathBuf, RecursiveMode>,
    backend: Box<dyn notify::Watcher + Send>,
    mode: Mode,
    config: WatchConfig,
    tx: mpsc::Sender<Msg>,
}

/// Watches registered paths and hands each settled batch of changes to a callback, on a thread
/// of its own; stops when dropped.
pub struct Watcher {
    inner: Arc<Mutex<Inner>>,
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching `paths` (a folder is watched with everything under it; a file by name,
    /// through its folder), calling `on_batch` with each settled batch. When `on_batch` returns
    /// paths (site.toml now names other folders), exactly those are watched from then on.
    pub fn start<F>(
        paths: Vec<(PathBuf, Kind)>,
        config: WatchConfig,
        on_batch: F,
    ) -> Result<Watcher, WatchError>
    where
        F: FnMut(Batch) -> Option<Vec<(PathBuf, Kind)>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let registered = register(paths);
        let network = registered
            .iter()
            .filter(|r| r.tree)
            .find_map(|r| network_file_system(&r.path).map(|fs| (r.path.clone(), fs)));
        let (backend, mode) = match network {
            _ if config.force_polling => (poller(&tx, &config)?, Mode::Polling),
            Some((path, fs)) => {
                tracing::warn!(path = %path.display(), file_system = fs, every_ms = config.poll_every.as_millis() as u64, "this folder is on a network file system, whose changes the kernel does not report: polling for changes");
                (poller(&tx, &config)?, Mode::Polling)
            }
            None => match notify::recommended_watcher(Forward(tx.clone())) {
                Ok(w) => (Box::new(w) as Box<dyn notify::Watcher + Send>, Mode::Native),
                Err(e) => {
                    tracing::warn!(error = %e, every_ms = config.poll_every.as_millis() as u64, "native file watching is unavailable: polling for changes");
                    (poller(&tx, &config)?, Mode::Polling)
                }
            },
        };
        let mut inner = Inner {
            registered,
            watched: BTreeMap::new(),
            backend,
            mode,
            config,
            tx: tx.clone(),
        };
        inner.sync_watches()?;
        let debounce = inner.config.debounce;
        let inner = Arc::new(Mutex::new(inner));
        let thread = std::thread::Builder::new()
            .name("file-watcher".into())
            .spawn({
                let inner = inner.clone();
                move || run(&inner, &rx, debounce, on_batch)
            })
            .map_err(WatchError::Thread)?;
        Ok(Watcher {
            inner,
            tx,
            thread: Some(thread),
        })
    }

    /// Adds `path` with `kind` to what is watched; changes made after this returns are seen.
    pub fn add(&self, path: PathBuf, kind: Kind) -> Result<(), WatchError> {
        let mut inner = lock(&self.inner);
        let mut paths: Vec<(PathBuf, Kind)> = inner
            .registered
            .iter()
            .map(|r| (r.path.clone(), r.kind))
            .collect();
        paths.push((path, kind));
        inner.registered = register(paths);
        inner.sync_watches()
    }

    /// Watches exactly `paths` from now on (after site.toml named other folders).
    pub fn set(&self, paths: Vec<(PathBuf, Kind)>) -> Result<(), WatchError> {
        let mut inner = lock(&self.inner);
        inner.registered = register(paths);
        inner.sync_watches()
    }

    /// How changes are learnt of now.
    pub fn mode(&self) -> Mode {
        lock(&self.inner).mode
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

fn poller(
    tx: &mpsc::Sender<Msg>,
    config: &WatchConfig,
) -> Result<Box<dyn notify::Watcher + Send>, WatchError> {
    let c = notify::Config::default().with_poll_interval(config.poll_every);
    notify::PollWatcher::new(Forward(tx.clone()), c)
        .map(|w| Box::new(w) as Box<dyn notify::Watcher + Send>)
        .map_err(|source| WatchError::Watch {
            path: PathBuf::new(),
            source,
        })
}

/// The registrations of `paths`: an existing folder is a tree, anything else a name. Later
/// registrations of the same path win.
fn register(paths: Vec<(PathBuf, Kind)>) -> Vec<Registered> {
    let mut by_path: BTreeMap<PathBuf, Kind> = BTreeMap::new();
    for (path, kind) in paths {
        by_path.insert(path, kind);
    }
    by_path
        .into_iter()
        .map(|(path, kind)| Registered {
            tree: path.is_dir() || (kind == Kind::Content && path.extension().is_none()),
            path,
            kind,
        })
        .collect()
}

impl Inner {
    /// The folders to watch for the registrations: each tree (unless inside another tree), and
    /// the folder holding each registered path (so that a file replaced by a rename, or a folder
    /// removed and made again, is seen).
    fn wanted(&self) -> BTreeMap<PathBuf, RecursiveMode> {
        let trees: Vec<&Path> = self
            .registered
            .iter()
            .filter(|r| r.tree && r.path.is_dir())
            .map(|r| r.path.as_path())
            .collect();
        let covered =
            |p: &Path, me: Option<&Path>| trees.iter().any(|t| Some(*t) != me && p.starts_with(t));
        let mut out = BTreeMap::new();
        for t in &trees {
            if !covered(t, Some(t)) {
                out.insert(t.to_path_buf(), RecursiveMode::Recursive);
            }
        }
        for r in &self.registered {
            if let Some(parent) = r.path.parent().filter(|p| p.is_dir()) {
                if !covered(parent, None) {
                    out.entry(parent.to_path_buf())
                        .or_insert(RecursiveMode::NonRecursive);
                }
            }
        }
        out
    }

    /// Brings the watches in line with the registrations, and re-watches `again` (trees whose
    /// folder was removed, renamed or made since they were watched).
    fn sync(&mut self, again: &BTreeSet<PathBuf>) -> Result<(), notify::Error> {
        let wanted = self.wanted();
        let stale: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|(p, m)| wanted.get(*p) != Some(m) || again.contains(*p))
            .map(|(p, _)| p.clone())
            .collect();
        for p in stale {
            // A folder that is gone took its watch with it: nothing to undo then.
            let _ = self.backend.unwatch(&p);
            self.watched.remove(&p);
        }
        for (p, mode) in wanted {
            if self.watched.contains_key(&p) {
                continue;
            }
            match self.backend.watch(&p, mode) {
                Ok(()) => {
                    self.watched.insert(p, mode);
                }
                // Gone again already: the next event about it brings it back.
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {}
                Err(e) if is_io_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// [`Inner::sync`], falling back to polling when the kernel runs out of watches.
    fn sync_watches(&mut self) -> Result<(), WatchError> {
        self.sync_again(&BTreeSet::new())
    }

    fn sync_again(&mut self, again: &BTreeSet<PathBuf>) -> Result<(), WatchError> {
        match self.sync(again) {
            Ok(()) => Ok(()),
            Err(e) if self.mode == Mode::Native && out_of_watches(&e) => {
                tracing::warn!(error = %e, every_ms = self.config.poll_every.as_millis() as u64, "the kernel's limit of file watches is reached (raise fs.inotify.max_user_watches): polling for changes instead");
                self.poll_instead()
            }
            Err(source) => Err(WatchError::Watch {
                path: source.paths.first().cloned().unwrap_or_default(),
                source,
            }),
        }
    }

    /// Drops the native watches and polls every watched folder instead.
    fn poll_instead(&mut self) -> Result<(), WatchError> {
        self.backend = poller(&self.tx, &self.config)?;
        self.mode = Mode::Polling;
        self.watched.clear();
        self.sync(&BTreeSet::new())
            .map_err(|source| WatchError::Watch {
                path: source.paths.first().cloned().unwrap_or_default(),
                source,
            })
    }

    /// The kind of an event's `path`, or `None` when it is noise or not ours.
    fn classify(&self, path: &Path) -> Option<Kind> {
        if self.config.ignore.iter().any(|i| path.starts_with(i)) {
            return None;
        }
        // The closest registration wins (a profile image inside a content folder).
        self.registered
            .iter()
            .filter_map(|r| {
                if path == r.path {
                    return Some((r.path.components().count(), r.kind));
                }
                let below = path.strip_prefix(&r.path).ok().filter(|_| r.tree)?;
                (!below.components().any(|c| is_noise(c)))
                    .then(|| (r.path.components().count(), r.kind))
            })
            .max_by_key(|(depth, _)| *depth)
            .map(|(_, kind)| kind)
    }
}

/// A file name an editor or the system writes beside the real one, never a post: hidden files
/// (vim's `.post.md.swp`, Emacs' `.#post.md` lock, Kate's `.post.md.kate-swp`, gedit's
/// `.goutputstream-*`, `.git`, `.DS_Store`), backups (`post.md~`), Emacs' autosave `#post.md#`,
/// vim's write test `4913` (and 5036, 5159... when it is taken), JetBrains' safe-write
/// `___jb_tmp___`/`___jb_old___`, `*.tmp`, `*.swp`/`*.swx`, Chrome's `*.crswap`.
fn is_noise(c: Component<'_>) -> bool {
    let Component::Normal(name) = c else {
        return false;
    };
    let name = name.to_string_lossy();
    let vim_test = name
        .parse::<u32>()
        .is_ok_and(|n| n >= 4913 && (n - 4913) % 123 == 0);
    name.starts_with('.')
        || name.ends_with('~')
        || (name.starts_with('#') && name.ends_with('#'))
        || vim_test
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
        || [".tmp", ".swp", ".swx", ".swo", ".crswap", ".kate-swp"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn is_io_not_found(e: &notify::Error) -> bool {
    matches!(&e.kind, notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
}

/// The kernel's limit of watches (inotify's ENOSPC) or of open files (EMFILE) is reached.
fn out_of_watches(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => matches!(io.raw_os_error(), Some(24 | 28)),
        _ => false,
    }
}

/// The name of the network file system `path` is on, when it is one (Linux only; elsewhere
/// native watching is tried and its failure falls back to polling).
#[cfg(target_os = "linux")]
fn network_file_system(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `stat` a buffer of the right type.
    if unsafe { libc::statfs(c.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    // Magic numbers from linux/magic.h and statfs(2).
    #[allow(clippy::unnecessary_cast)]
    match stat.f_type as i64 {
        0x6969 => Some("nfs"),
        0x517B => Some("smb"),
        0xFF53_4D42 => Some("cifs"),
        0xFE53_4D42 => Some("smb2"),
        0x6573_5546 => Some("fuse"),
        0x0102_1997 => Some("9p"),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn network_file_system(_path: &Path) -> Option<&'static str> {
    None
}

/// The watcher thread: gathers events into a batch until they stop for `debounce`, then hands
/// it to `on_batch`.
fn run<F: FnMut(Batch) -> Option<Vec<(PathBuf, Kind)>>>(
    inner: &Mutex<Inner>,
    rx: &mpsc::Receiver<Msg>,
    debounce: Duration,
    mut on_batch: F,
) {
    let mut batch = Batch::default();
    // When the batch started, and when its last event came.
    let mut window: Option<(Instant, Instant)> = None;
    loop {
        let msg = match window {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some((first, last)) => {
                let due = (last + debounce).min(first + MAX_WAIT);
                rx.recv_timeout(due.saturating_duration_since(Instant::now()))
            }
        };
        let noted = match msg {
            Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Ok(Msg::Event(Ok(event))) => note(&lock(inner), &event, &mut batch),
            Ok(Msg::Event(Err(e))) => {
                let mut inner = lock(inner);
                if inner.mode == Mode::Native && out_of_watches(&e) {
                    // A new folder could not be watched: poll everything, and look everywhere
                    // once since changes in that folder went unseen.
                    tracing::warn!(error = %e, every_ms = inner.config.poll_every.as_millis() as u64, "the kernel's limit of file watches is reached (raise fs.inotify.max_user_watches): polling for changes instead");
                    if let Err(e) = inner.poll_instead() {
                        tracing::error!(error = %e, "cannot fall back to polling");
                    }
                    batch.rescan = true;
                    true
                } else {
                    tracing::warn!(error = %e, "file watcher error");
                    false
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                window = None;
                let out = std::mem::take(&mut batch);
                let mut guard = lock(inner);
                // A registered folder that was itself created, removed or renamed is watched
                // again (its old watch, if any, followed the old inode).
                let again: BTreeSet<PathBuf> = guard
                    .registered
                    .iter()
                    .filter(|r| out.rescan || out.paths.contains_key(&r.path))
                    .map(|r| r.path.clone())
                    .collect();
                if !again.is_empty() {
                    for r in guard.registered.iter_mut() {
                        if again.contains(&r.path) && r.path.is_dir() {
                            r.tree = true;
                        }
                    }
                    if let Err(e) = guard.sync_again(&again) {
                        tracing::error!(error = %e, "cannot watch a folder again");
                    }
                }
                drop(guard);
                if out.rescan || !out.paths.is_empty() {
                    tracing::debug!(
                        paths = out.paths.len(),
                        rescan = out.rescan,
                        "files changed"
                    );
                    if let Some(paths) = on_batch(out) {
                        let mut inner = lock(inner);
                        inner.registered = register(paths);
                        if let Err(e) = inner.sync_watches() {
                            tracing::error!(error = %e, "cannot watch a newly configured path");
                        }
                    }
                }
                continue;
            }
        };
        if noted {
            let now = Instant::now();
            window = Some(window.map_or((now, now), |(first, _)| (first, now)));
        }
    }
}

/// Adds what `event` says is dirty to `batch`; whether it added anything.
fn note(inner: &Inner, event: &notify::Event, batch: &mut Batch) -> bool {
    if event.need_rescan() {
        tracing::warn!("the kernel's file event queue overflowed: re-reading every file");
        batch.rescan = true;
        return true;
    }
    // Reading a file (open, close without writing, access) changes nothing.
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    let mut added = false;
    for path in &event.paths {
        if let Some(kind) = inner.classify(path) {
            batch.paths.insert(path.clone(), kind);
            added = true;
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn noise(name: &str) -> bool {
        is_noise(Component::Normal(name.as_ref()))
    }

    #[test]
    fn can_tell_editor_noise_from_posts() {
        for name in [
            ".post.md.swp",
            ".post.md.swx",
            "post.md~",
            ".#post.md",
            "#post.md#",
            "4913",
            "5036",
            "post.md.tmp",
            ".post.md.kate-swp",
            "post.md___jb_tmp___",
            "post.md___jb_old___",
            ".goutputstream-AB12CD",
            ".git",
            "post.md.crswap",
        ] {
            assert!(noise(name), "{name} is noise");
        }
        for name in [
            "post.md",
            "2026-11-20-budget.markdown",
            "photo.png",
            "4914",
            "2026",
        ] {
            assert!(!noise(name), "{name} is not noise");
        }
    }

    #[test]
    fn can_ask_for_a_rescan_on_overflow_and_ignore_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::channel();
        let inner = Inner {
            registered: register(vec![(dir.path().to_path_buf(), Kind::Content)]),
            watched: BTreeMap::new(),
            backend: poller(&tx, &WatchConfig::new(Duration::ZERO)).unwrap(),
            mode: Mode::Polling,
            config: WatchConfig::new(Duration::ZERO),
            tx,
        };
        let mut batch = Batch::default();
        let read = notify::Event::new(EventKind::Access(notify::event::AccessKind::Any))
            .add_path(dir.path().join("a.md"));
        assert!(!note(&inner, &read, &mut batch));
        assert_eq!(batch, Batch::default());
        let overflow = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(note(&inner, &overflow, &mut batch));
        assert!(batch.rescan && batch.touches(Kind::Config) && batch.touches(Kind::Content));
    }

    /// A kernel that has run out of watches (inotify's ENOSPC).
    struct Exhausted;

    impl notify::Watcher for Exhausted {
        fn new<F: notify::EventHandler>(_: F, _: notify::Config) -> notify::Result<Self> {
            Ok(Exhausted)
        }
        fn watch(&mut self, path: &Path, _: RecursiveMode) -> notify::Result<()> {
            Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch).add_path(path.into()))
        }
        fn unwatch(&mut self, _: &Path) -> notify::Result<()> {
            Ok(())
        }
        fn kind() -> notify::WatcherKind {
            notify::WatcherKind::Inotify
        }
    }

    #[test]
    fn can_fall_back_to_polling_when_the_kernel_runs_out_of_watches() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::channel();
        let mut inner = Inner {
            registered: register(vec![(dir.path().to_path_buf(), Kind::Content)]),
            watched: BTreeMap::new(),
            backend: Box::new(Exhausted),
            mode: Mode::Native,
            config: WatchConfig::new(Duration::ZERO),
            tx,
        };
        inner.sync_watches().unwrap();
        assert_eq!(inner.mode, Mode::Polling);
        assert_eq!(
            inner.watched.get(dir.path()),
            Some(&RecursiveMode::Recursive)
        );
    }

    /// A batch collector and a watcher over a temp site with `content/news` and `site.toml`.
    struct Rig {
        dir: tempfile::TempDir,
        rx: mpsc::Receiver<Batch>,
        watcher: Watcher,
    }

    fn rig(force_polling: bool) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("content/news")).unwrap();
        fs::create_dir_all(dir.path().join(".masthead")).unwrap();
        fs::write(dir.path().join("site.toml"), "[site]\n").unwrap();
        let (tx, rx) = mpsc::channel();
        let mut config = WatchConfig::new(Duration::from_millis(100));
        config.ignore = vec![dir.path().join(".masthead")];
        config.force_polling = force_polling;
        config.poll_every = Duration::from_millis(100);
        let watcher = Watcher::start(
            vec![
                (dir.path().join("content/news"), Kind::Content),
                (dir.path().join("site.toml"), Kind::Config),
            ],
            config,
            move |b| {
                let _ = tx.send(b);
                None
            },
        )
        .unwrap();
        Rig { dir, rx, watcher }
    }

    impl Rig {
        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        /// The next batch (at most 10 s away).
        fn next(&self) -> Batch {
            self.rx
                .recv_timeout(Duration::from_secs(10))
                .expect("a batch within 10 s")
        }

        /// Asserts that no batch comes within a few debounce periods.
        fn assert_quiet(&self) {
            if let Ok(b) = self.rx.recv_timeout(Duration::from_millis(600)) {
                panic!("unexpected batch {b:?}");
            }
        }

        fn paths(&self, batch: &Batch) -> Vec<(String, Kind)> {
            batch
                .paths
                .iter()
                .map(|(p, k)| {
                    let rel = p.strip_prefix(self.dir.path()).unwrap();
                    (rel.to_string_lossy().into_owned(), *k)
                })
                .collect()
        }
    }

    #[test]
    fn can_report_an_atomic_rename_save_as_one_dirty_post_ignoring_the_temp_file() {
        let r = rig(false);
        assert_eq!(r.watcher.mode(), Mode::Native);
        fs::write(r.path("content/news/post.md"), "one").unwrap();
        assert_eq!(
            r.paths(&r.next()),
            [("content/news/post.md".into(), Kind::Content)]
        );
        // vim: write test file 4913, remove it, write a swap file, write beside and rename over.
        fs::write(r.path("content/news/4913"), "").unwrap();
        fs::remove_file(r.path("content/news/4913")).unwrap();
        fs::write(r.path("content/news/.post.md.swp"), "swap").unwrap();
        fs::write(r.path("content/news/post.md~"), "one").unwrap();
        fs::write(r.path("content/news/post.md___jb_tmp___"), "two").unwrap();
        fs::rename(
            r.path("content/news/post.md___jb_tmp___"),
            r.path("content/news/post.md"),
        )
        .unwrap();
        let batch = r.next();
        assert_eq!(
            r.paths(&batch),
            [("content/news/post.md".into(), Kind::Content)]
        );
        assert!(!batch.rescan);
        // Swap files alone never make a batch.
        fs::write(r.path("content/news/.post.md.swp"), "swap again").unwrap();
        fs::write(r.path("content/news/.#post.md"), "lock").unwrap();
        r.assert_quiet();
    }

    #[test]
    fn can_batch_a_burst_of_hundreds_of_files_and_see_a_file_replaced_by_rename() {
        let r = rig(false);
        for i in 0..300 {
            fs::write(r.path(&format!("content/news/p{i}.md")), "x").unwrap();
        }
        let batch = r.next();
        assert_eq!(batch.paths.len(), 300, "{:?}", batch.paths.keys().take(3));
        r.assert_quiet();
        // site.toml replaced by a rename (its inode changes) is seen, and seen again.
        for round in 0..2 {
            fs::write(r.path("site.toml.tmp"), format!("[site]\n# {round}\n")).unwrap();
            fs::rename(r.path("site.toml.tmp"), r.path("site.toml")).unwrap();
            assert_eq!(r.paths(&r.next()), [("site.toml".into(), Kind::Config)]);
        }
        // Writes in the data dir are not ours.
        fs::write(r.path(".masthead/masthead.db"), "x").unwrap();
        r.assert_quiet();
    }

    #[test]
    fn can_follow_a_content_folder_that_is_removed_and_made_again() {
        let r = rig(false);
        fs::write(r.path("content/news/a.md"), "a").unwrap();
        r.next();
        fs::rename(r.path("content/news"), r.path("content/old")).unwrap();
        let batch = r.next();
        assert!(
            batch.paths.contains_key(&r.path("content/news")),
            "{batch:?}"
        );
        fs::create_dir_all(r.path("content/news/sub")).unwrap();
        r.next();
        fs::write(r.path("content/news/sub/b.md"), "b").unwrap();
        let batch = r.next();
        assert!(
            batch.paths.contains_key(&r.path("content/news/sub/b.md")),
            "{batch:?}"
        );
        // The renamed-away folder is no longer ours.
        fs::write(r.path("content/old/c.md"), "c").unwrap();
        r.assert_quiet();
    }

    #[test]
    fn can_poll_when_asked_and_add_a_path_later() {
        let r = rig(true);
        assert_eq!(r.watcher.mode(), Mode::Polling);
        fs::write(r.path("content/news/a.md"), "a").unwrap();
        let batch = r.next();
        assert!(
            batch.paths.contains_key(&r.path("content/news/a.md")),
            "{batch:?}"
        );
        fs::create_dir_all(r.path("plugins")).unwrap();
        r.watcher
            .add(r.path("plugins/filter.wasm"), Kind::Plugin)
            .unwrap();
        fs::write(r.path("plugins/filter.wasm"), "wasm").unwrap();
        let batch = r.next();
        assert_eq!(
            r.paths(&batch),
            [("plugins/filter.wasm".into(), Kind::Plugin)]
        );
    }
}
