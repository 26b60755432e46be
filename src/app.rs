//! Wiring and lifecycle: config -> store -> catalog (-> outbox) -> delivery workers -> HTTP, with
//! one shutdown signal.
//!
//! [`App`] holds every shared handle (the validated site, its URLs, the store, the actor keys,
//! the current [`Catalog`] snapshot, the clock every queue is scheduled by, the wakes) and is the
//! only place that knows them all: each worker and the HTTP server get just the handles they use
//! ([`Outgoing`], [`Publisher`], [`Addressing`], [`http::State`], [`Inbox`]), so nothing imports
//! this module. The first build of the catalog happens here; every later one runs on the single
//! rebuild task ([`Rebuilds`]), which swaps in the snapshot and hands what changed to
//! [`outbox::publish_pending`]. `serve` builds the app, logs what the scan found, binds the
//! listener and runs until Ctrl-C or SIGTERM; tests call [`start`] with a listener of their own
//! on port 0.
//! [`Running::stop`] stops in order: HTTP (no new work) with the inbox and addressing workers,
//! then the delivery workers (sends in flight finish or are handed back to the queue), then the
//! store closes with the last `App` (the rebuild thread ends when the last [`Rebuilds`] goes).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::catalog::rebuild::{Rebuilds, Rebuilt};
use crate::catalog::{Catalog, SharedCatalog};
use crate::clock::Clock;
use crate::config::{ConfigError, Site};
use crate::diagnostics::Diagnostic;
use crate::federation::addressing::{self, Addressing};
use crate::federation::delivery::{self, Deliverer, DeliveryConfig, Outgoing, Workers};
use crate::federation::fetch::Fetcher;
use crate::federation::inbox::Inbox;
use crate::federation::outbox::{self, Publisher};
use crate::http;
use crate::moderation::Blocks;
use crate::store::{ActorKeys, KeyPair, Store, StoreError, SyncReport};
use crate::urls::Urls;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// site.toml is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] http::tls::TlsError),
    /// The block list is unusable.
    #[error(transparent)]
    Moderation(#[from] crate::moderation::ModerationError),
    /// The instance key cannot sign.
    #[error("instance key: {0}")]
    InstanceKey(#[from] crate::federation::signatures::SignatureError),
    /// The catalog rebuild thread could not be started.
    #[error("cannot start the catalog rebuild task: {0}")]
    Rebuild(std::io::Error),
    /// Another `masthead serve` holds the data dir.
    #[error("another masthead serve is using {dir} (stop it first, or give this one its own --data-dir)")]
    Locked {
        /// The data dir.
        dir: PathBuf,
    },
    /// The data dir could not be created or locked.
    #[error("cannot lock the data dir {dir}: {source} (check that masthead may write there)")]
    Lock {
        /// The data dir.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another server running there? pass --listen HOST:PORT)")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A running site's handles, of which each part of the server is given the few it uses. Tests
/// reach the store and the wake of the delivery workers directly; the rest through methods.
pub struct App {
    /// The validated config.
    pub site: Arc<Site>,
    pub urls: Urls,
    pub store: Arc<Store>,
    /// The time every queue is scheduled by (manual or paused in tests).
    pub clock: Clock,
    /// Wakes the delivery workers when rows are queued (they also poll, so a missed wake only
    /// delays, never loses, a delivery). Call `notify_one`, which is kept until they wait.
    pub delivery_wake: Arc<Notify>,
    keys: Arc<ActorKeys>,
    catalog: SharedCatalog,
    inbox: Arc<Inbox>,
    /// Wakes the addressing worker when a publication waits for its mentions or reply to be
    /// resolved (it also polls).
    addressing_wake: Arc<Notify>,
    /// Signed GETs of remote actors and objects, as the instance actor.
    fetcher: Arc<Fetcher>,
    rebuilds: Rebuilds,
}

impl App {
    /// Opens the store in the site's data dir, loads or makes the keys, and builds the catalog.
    pub fn open(site: Site) -> Result<(App, SyncReport), AppError> {
        let store = Store::open(&site.data_dir)?;
        App::with_store(site, store)
    }

    /// Like [`App::open`] with a store of the caller's.
    pub fn with_store(site: Site, store: Store) -> Result<(App, SyncReport), AppError> {
        App::with_clock(site, store, Clock::system())
    }

    /// Like [`App::with_store`], scheduling every queue by `clock`.
    pub fn with_clock(
        site: Site,
        store: Store,
        clock: Clock,
    ) -> Result<(App, SyncReport), AppError> {
        let urls = Urls::new(&site);
        let keys = ActorKeys::load(&store, site.actors.iter().map(|a| a.handle.as_str()))?;
        let (catalog, report) = Catalog::build(&site, &urls, &store, Utc::now())?;
        let moderation = Blocks::from_config(&site.moderation)?;
        let fetcher = Fetcher::new(
            &site,
            &urls.instance_key_id(),
            keys.instance(),
            clock.clone(),
        )?;
        let site = Arc::new(site);
        let store = Arc::new(store);
        let catalog = SharedCatalog::new(catalog);
        let delivery_wake = Arc::new(Notify::new());
        let moderation = Arc::new(moderation);
        let fetcher = Arc::new(fetcher);
        let inbox = Arc::new(Inbox {
            site: site.clone(),
            urls: urls.clone(),
            store: store.clone(),
            catalog: catalog.clone(),
            clock: clock.clone(),
            fetcher: fetcher.clone(),
            moderation,
            wake: Arc::new(Notify::new()),
            delivery_wake: delivery_wake.clone(),
            rates: Default::default(),
            comments_lock: Default::default(),
        });
        let publisher = Publisher {
            site: site.clone(),
            urls: urls.clone(),
            store: store.clone(),
            clock: clock.clone(),
            catalog: catalog.clone(),
            delivery_wake: delivery_wake.clone(),
            addressing_wake: Arc::new(Notify::new()),
        };
        outbox::publish_pending(&publisher)?;
        let rebuilds = Rebuilds::spawn({
            let publisher = publisher.clone();
            move || {
                let p = &publisher;
                let (catalog, report) = Catalog::build(&p.site, &p.urls, &p.store, Utc::now())?;
                p.catalog.replace(catalog);
                outbox::publish_pending(p)?;
                Ok(report)
            }
        })
        .map_err(AppError::Rebuild)?;
        let app = App {
            site,
            urls,
            store,
            keys: Arc::new(keys),
            catalog,
            delivery_wake,
            clock,
            inbox,
            addressing_wake: publisher.addressing_wake,
            fetcher,
            rebuilds,
        };
        Ok((app, report))
    }

    /// The current snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.current()
    }

    /// Asks the rebuild task to rescan the content, swap in the new snapshot and queue what
    /// changed for followers; resolves when a rebuild that started after this call is done.
    pub fn rebuild(&self) -> impl std::future::Future<Output = Rebuilt> + Send + 'static {
        self.rebuilds.request()
    }

    /// A deliverer of the outgoing queue with the site's client.
    pub fn deliverer(&self, config: DeliveryConfig) -> Deliverer {
        let out = Outgoing {
            store: self.store.clone(),
            keys: self.keys.clone(),
            urls: self.urls.clone(),
            client: delivery::client_for(&self.site),
            clock: self.clock.clone(),
            wake: self.delivery_wake.clone(),
        };
        Deliverer::new(out, config)
    }

    fn addressing(&self) -> Addressing {
        Addressing {
            site: self.site.clone(),
            store: self.store.clone(),
            fetcher: self.fetcher.clone(),
            clock: self.clock.clone(),
            catalog: self.catalog.clone(),
            wake: self.addressing_wake.clone(),
            rebuilds: self.rebuilds.clone(),
        }
    }

    fn http_state(&self) -> http::State {
        http::State {
            site: self.site.clone(),
            urls: self.urls.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            catalog: self.catalog.clone(),
            inbox: self.inbox.clone(),
        }
    }

    /// The keypair of a configured actor.
    pub fn key(&self, handle: &str) -> Option<&KeyPair> {
        self.keys.actor(handle)
    }

    /// The instance actor's keypair.
    pub fn instance_key(&self) -> &KeyPair {
        self.keys.instance()
    }
}

/// Options of `masthead serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// site.toml.
    pub config: PathBuf,
    /// Overrides `site.listen`.
    pub listen: Option<String>,
    /// Overrides `site.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain and key (else plain HTTP behind a proxy).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A server running in the background.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where `/metrics` answers, when `[site] metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// The shared state.
    pub app: Arc<App>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    workers: Workers,
}

impl Running {
    /// Stops accepting and lets open requests finish (the inbox worker finishes the job in hand),
    /// then stops the delivery workers, and waits for all of them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.workers.stop().await;
    }
}

/// Starts serving `app` on `listener` in the background (plain HTTP).
pub fn start(app: Arc<App>, listener: TcpListener) -> std::io::Result<Running> {
    start_with_tls(app, listener, None)
}

/// Starts serving `app` on `listener` in the background, over TLS when `tls` is given.
pub fn start_with_tls(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    start_with(app, listener, tls, DeliveryConfig::default())
}

/// Starts the delivery workers with `delivery`, then serving `app` on `listener`.
pub fn start_with(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    delivery: DeliveryConfig,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    // Bound before anything starts, so a bad metrics_listen stops the start cleanly.
    let metrics_listener = match &app.site.metrics_listen {
        Some(at) => Some(bind_metrics(at)?),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let workers = Workers::spawn(app.deliverer(delivery));
    let (shutdown, rx) = watch::channel(false);
    let metrics = metrics_listener.map(|listener| {
        let metrics = http::metrics::Metrics {
            store: app.store.clone(),
            actors: app.site.actors.iter().map(|a| a.handle.clone()).collect(),
            clock: app.clock.clone(),
        };
        tokio::spawn(http::metrics::serve(
            Arc::new(metrics),
            listener,
            rx.clone(),
        ))
    });
    let http = tokio::spawn(http::serve(
        Arc::new(app.http_state()),
        listener,
        tls,
        rx.clone(),
    ));
    // The inbox worker starts with the server, so activities a crash left queued are processed
    // now; on shutdown it finishes the job in hand and stops.
    let inbox = tokio::spawn(crate::federation::inbox::run_worker(
        app.inbox.clone(),
        rx.clone(),
    ));
    // Likewise the addressing worker: publications a crash left waiting for their mentions and
    // replies to be resolved go out now; on shutdown a resolution in flight is abandoned and
    // its publication waits for the next start.
    let addressing = tokio::spawn(addressing::run_worker(
        Arc::new(app.addressing()),
        rx.clone(),
    ));
    let prune = tokio::spawn(prune_stored(
        app.store.clone(),
        app.clock.clone(),
        app.site.limits.clone(),
        rx,
    ));
    let task = tokio::spawn(async move {
        let _ = http.await;
        let _ = inbox.await;
        let _ = addressing.await;
        let _ = prune.await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
    });
    Ok(Running {
        addr,
        metrics_addr,
        app,
        shutdown,
        task,
        workers,
    })
}

/// How often what other servers left here is pruned to `[limits]` (and once at start).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Until shutdown, prunes processed inbox rows older than `inbox_retention_days` and caps cached
/// actors and reports per host, at start and every [`PRUNE_EVERY`].
async fn prune_stored(
    store: Arc<Store>,
    clock: Clock,
    limits: crate::config::Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return,
        }
        let kept_ms = i64::from(limits.inbox_retention_days) * 86_400_000;
        let pruned = (
            store.prune_inbox_activities(clock.now_ms().saturating_sub(kept_ms)),
            store.prune_remote_actors(limits.remote_actors_per_host),
            store.prune_reports(limits.reports_per_host_per_day),
        );
        match pruned {
            (Ok(inbox), Ok(actors), Ok(reports)) => {
                tracing::debug!(inbox, actors, reports, "pruned what other servers left")
            }
            (inbox, actors, reports) => {
                for e in [inbox.err(), actors.err(), reports.err()]
                    .into_iter()
                    .flatten()
                {
                    tracing::error!(error = %e, "pruning the store failed");
                }
            }
        }
    }
}

/// Binds `[site] metrics_listen`; the error names the key.
fn bind_metrics(at: &str) -> std::io::Result<TcpListener> {
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("site.metrics_listen {at}: {e}"));
    let listener = std::net::TcpListener::bind(at).map_err(named)?;
    listener.set_nonblocking(true).map_err(named)?;
    TcpListener::from_std(listener).map_err(named)
}

/// Logs every diagnostic once, at the level its severity calls for.
pub fn log_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        if d.is_error() {
            tracing::error!(file = %d.file.display(), line = d.line, "{}", d.message);
        } else {
            tracing::warn!(file = %d.file.display(), line = d.line, "{}", d.message);
        }
    }
}

/// `masthead serve`: runs until Ctrl-C or SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<(), AppError> {
    let loaded = Site::load(&opts.config)?;
    let mut site = loaded.site;
    let root = site.root.clone();
    log_diagnostics(
        &loaded
            .warnings
            .into_iter()
            .map(|d| d.relative_to(&root))
            .collect::<Vec<_>>(),
    );
    if let Some(dir) = opts.data_dir {
        site.data_dir = dir;
    }
    let listen = opts.listen.unwrap_or_else(|| site.listen.clone());
    // One serving process per data dir: the delivery workers release leases left by a dead
    // process at start, which is only safe when no other process can hold one.
    let _lock = lock_data_dir(&site.data_dir)?;
    let (app, report) = App::open(site)?;
    let catalog = app.catalog();
    log_diagnostics(&catalog.diagnostics);
    tracing::info!(
        posts = report.records.len(),
        changed = report.changes.len(),
        data_dir = %app.site.data_dir.display(),
        "content scanned"
    );
    let tls = match &opts.tls {
        Some((cert, key)) => Some(http::tls::server_config(cert, key)?),
        None => None,
    };
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|source| AppError::Bind {
            addr: listen.clone(),
            source,
        })?;
    let running =
        start_with_tls(Arc::new(app), listener, tls).map_err(|source| AppError::Bind {
            addr: listen.clone(),
            source,
        })?;
    tracing::info!(addr = %running.addr, base_url = %running.app.site.base_url, "serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

/// Takes `<data_dir>/serve.lock` for as long as the returned file lives (the OS drops the lock
/// when the process dies, however it dies).
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, AppError> {
    let fail = |source| AppError::Lock {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("serve.lock"))
        .map_err(fail)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AppError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(fail(e)),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
