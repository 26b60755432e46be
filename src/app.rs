//! Wiring and lifecycle: config -> store -> catalog (-> outbox) -> plugins -> delivery workers ->
//! HTTP, with one shutdown signal.
//!
//! [`App`] holds every shared handle (the validated site, its URLs, the store, the actor keys,
//! the current [`Catalog`] snapshot, the clock every queue is scheduled by, the wakes) and is the
//! only place that knows them all: each worker and the HTTP server get just the handles they use
//! ([`Outgoing`], [`Publisher`], [`Addressing`], [`http::State`], [`Inbox`]), so nothing imports
//! this module. The first build of the catalog happens here; every later one runs on the single
//! rebuild task ([`Rebuilds`]), which swaps in the snapshot and hands what changed to
//! [`outbox::publish_pending`] and profile changes to [`profiles::publish_profile_changes`].
//! `serve` builds the app, logs what the scan found, binds the listener, watches the site's files
//! ([`Running::watch`]: a content change signals a rebuild with the dirty paths, a site.toml or
//! block-list change reloads the config with [`App::reload_config`], a plugin's component or
//! sources reload that plugin with [`App::reload_plugins`]) and runs until Ctrl-C or
//! SIGTERM; tests call [`start`] with a listener of their own on port 0, and `watch` when they
//! edit files the way a person does.
//!
//! A reload swaps the config whole ([`Live`]): the HTTP handlers, the inbox worker and the
//! delivery workers take the current value for each request or job, so no connection is dropped
//! and none sees two configs. Keys that only a restart can change (`base_url`, `domain`,
//! `listen`, `data_dir`, `html_base_url`, `[dev]`) keep their running values, with a warning.
//! [`Running::stop`] stops in order: the watcher, HTTP (no new work) with the inbox and
//! addressing workers, then the delivery workers (sends in flight finish or are handed back to
//! the queue), then the store closes with the last `App` (the rebuild thread ends when the last
//! [`Rebuilds`] goes).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::catalog::outgoing::{Review, Reviewed};
use crate::catalog::rebuild::{Dirty, Rebuilds, Rebuilt, Retry, RETRY_FIRST};
use crate::catalog::{Catalog, SharedCatalog};
use crate::clock::Clock;
use crate::config::{ConfigError, Site};
use crate::content::watch::{Batch, Kind, Mode, WatchConfig, WatchError, Watcher};
use crate::diagnostics::Diagnostic;
use crate::federation::addressing::{self, Addressing};
use crate::federation::delivery::{self, Deliverer, DeliveryConfig, Outgoing, Workers};
use crate::federation::fetch::Fetcher;
use crate::federation::inbox::Inbox;
use crate::federation::outbox::{self, Publisher};
use crate::federation::profiles::{self, Served};
use crate::http;
use crate::live::Live;
use crate::moderation::{Blocks, OutgoingPost};
use crate::plugins::{self, HostOptions};
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
    /// `masthead republish` was asked for something it cannot do.
    #[error("cannot republish: {0}")]
    Republish(String),
    /// The site's files cannot be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
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
        source: std::io::Error,
    },
    /// `publish = "commit"`: the branch could not be read or published.
    #[error(transparent)]
    Git(#[from] crate::git_source::GitError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another server running there? pass --listen HOST:PORT)")]
    Bind {
        /// The address.
        addr: String,
        source: std::io::Error,
    },
}

/// A running site's handles, of which each part of the server is given the few it uses. Tests
/// reach the store and the wake of the delivery workers directly; the rest through methods.
pub struct App {
    /// The validated config, swapped when site.toml is edited.
    site: Live<Site>,
    pub urls: Urls,
    pub store: Arc<Store>,
    /// The time every queue is scheduled by (manual or paused in tests).
    pub clock: Clock,
    /// Wakes the delivery workers when rows are queued (they also poll, so a missed wake only
    /// delays, never loses, a delivery). Call `notify_one`, which is kept until they wait.
    pub delivery_wake: Arc<Notify>,
    keys: Live<ActorKeys>,
    catalog: SharedCatalog,
    inbox: Live<Inbox>,
    http: Live<http::State>,
    /// Wakes the addressing worker when a publication waits for its mentions or reply to be
    /// resolved (it also polls).
    addressing_wake: Arc<Notify>,
    /// Signed GETs of remote actors and objects, as the instance actor.
    fetcher: Arc<Fetcher>,
    rebuilds: Rebuilds,
    /// The WebAssembly plugins of `[[plugin]]` (none configured: an empty host, which loads
    /// what a reloaded site.toml adds).
    plugins: Arc<plugins::Host>,
    /// One reload at a time (the watcher's, and a caller's).
    reloading: Mutex<()>,
    /// Paths watched besides the site's own (plugin files), kept across reloads.
    also_watched: Mutex<Vec<(PathBuf, Kind)>>,
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
        let moderation = Blocks::from_config(&site.moderation)?;
        let fetcher = Fetcher::new(
            &site,
            &urls.instance_key_id(),
            keys.instance(),
            clock.clone(),
        )?;
        let site = Arc::new(site);
        let store = Arc::new(store);
        // Plugins first: they review the posts of the first build (their lookups read the
        // catalog, empty until then).
        let catalog = SharedCatalog::default();
        let delivery_wake = Arc::new(Notify::new());
        let fetcher = Arc::new(fetcher);
        let plugins = {
            let posts = Arc::new(CatalogPosts {
                catalog: catalog.clone(),
                urls: urls.clone(),
            });
            let options = HostOptions::for_site(&site);
            let (host, problems) = plugins::Host::load_plugins(
                &site.plugins,
                &site.config_path,
                store.clone(),
                posts,
                clock.clone(),
                options,
            );
            log_relative(problems, &site.root);
            Arc::new(host)
        };
        let review: Arc<dyn Review> = Arc::new(PluginReview(plugins.clone()));
        let (built, report) =
            Catalog::build_with(&site, &urls, &store, now(&clock), review.as_ref())?;
        catalog.replace(built);
        let inbox = Inbox {
            site: site.clone(),
            urls: urls.clone(),
            store: store.clone(),
            catalog: catalog.clone(),
            clock: clock.clone(),
            fetcher: fetcher.clone(),
            moderation: Arc::new(moderation),
            plugins: Some(plugins.clone()),
            wake: Arc::new(Notify::new()),
            delivery_wake: delivery_wake.clone(),
            rates: Default::default(),
            comments_lock: Default::default(),
        };
        let keys = Arc::new(keys);
        let inbox = Arc::new(inbox);
        let http = http::State {
            site: site.clone(),
            urls: urls.clone(),
            store: store.clone(),
            keys: keys.clone(),
            catalog: catalog.clone(),
            inbox: inbox.clone(),
            fetcher: fetcher.clone(),
            clock: clock.clone(),
            lookups: Default::default(),
        };
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
        let site = Live::from_arc(site);
        let keys = Live::from_arc(keys);
        let retry = {
            let (store, recorder) = (store.clone(), store.clone());
            Retry {
                clock: clock.clone(),
                first: RETRY_FIRST,
                pending: Box::new(move || {
                    Ok(store
                        .held_posts()?
                        .into_iter()
                        .filter(|h| h.failed)
                        .map(|h| h.source)
                        .collect())
                }),
                scheduled: Box::new(move |next| recorder.schedule_held_reviews(next)),
            }
        };
        let rebuilds = Rebuilds::spawn_retrying(
            rebuild_task(publisher.clone(), site.clone(), keys.clone(), review),
            Some(retry),
        )
        .map_err(AppError::Rebuild)?;
        let app = App {
            site,
            urls,
            store,
            keys,
            catalog,
            delivery_wake,
            clock,
            inbox: Live::from_arc(inbox),
            http: Live::new(http),
            addressing_wake: publisher.addressing_wake,
            fetcher,
            rebuilds,
            plugins,
            reloading: Mutex::new(()),
            also_watched: Mutex::new(Vec::new()),
        };
        Ok((app, report))
    }

    /// The config running now.
    pub fn site(&self) -> Arc<Site> {
        self.site.current()
    }

    /// Reads site.toml again and, when it is valid, runs with it from now on: actors added or
    /// removed, profiles, `[moderation]` and the block list, without dropping a connection. Keys
    /// only a restart can change keep their running values (with a warning). When site.toml is
    /// invalid, every problem is logged with its line and the last good config keeps running.
    /// Returns whether the new config was taken; the caller asks for a rebuild, which serves
    /// the new actors and profiles and tells followers of profile changes.
    pub fn reload_config(&self) -> bool {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.site();
        let loaded = match Site::load(&old.config_path) {
            Ok(loaded) => loaded,
            Err(e) => {
                let problems = log_relative(e.problems, &old.root);
                tracing::error!(config = %old.config_path.display(), problems = problems.len(), "site.toml is invalid: still running with the last good one (fix it and save again)");
                return false;
            }
        };
        log_relative(loaded.warnings, &old.root);
        let site = Arc::new(keep_restart_only(&old, loaded.site));
        // Plugins added, removed or reconfigured (a failing one keeps its previous version);
        // the caller's rebuild reviews every post with them.
        self.reload_plugins_only(&site);
        let taken = (|| -> Result<(), AppError> {
            let moderation = Arc::new(Blocks::from_config(&site.moderation)?);
            let keys = Arc::new(ActorKeys::load(
                &self.store,
                site.actors.iter().map(|a| a.handle.as_str()),
            )?);
            let inbox = self.inbox.current();
            let inbox = Arc::new(Inbox {
                site: site.clone(),
                urls: self.urls.clone(),
                store: self.store.clone(),
                catalog: self.catalog.clone(),
                clock: self.clock.clone(),
                fetcher: self.fetcher.clone(),
                moderation,
                plugins: Some(self.plugins.clone()),
                wake: inbox.wake.clone(),
                delivery_wake: self.delivery_wake.clone(),
                // A host's allowance and the comments writer outlive a reload.
                rates: inbox.rates.clone(),
                comments_lock: inbox.comments_lock.clone(),
            });
            self.keys.replace(keys.clone());
            self.http.replace(Arc::new(http::State {
                site: site.clone(),
                urls: self.urls.clone(),
                store: self.store.clone(),
                keys,
                catalog: self.catalog.clone(),
                inbox: inbox.clone(),
                fetcher: self.fetcher.clone(),
                clock: self.clock.clone(),
                // A client's allowance outlives a reload.
                lookups: self.http.current().lookups.clone(),
            }));
            self.inbox.replace(inbox);
            self.site.replace(site.clone());
            Ok(())
        })();
        match taken {
            Ok(()) => {
                tracing::info!(config = %site.config_path.display(), actors = site.actors.len(), "site.toml reloaded");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot use the edited site.toml: still running with the last good one");
                false
            }
        }
    }

    /// The paths `serve` watches for `site`: each actor's content folder and profile images,
    /// site.toml, the block list, and each plugin's component or source folder.
    pub fn watch_paths(site: &Site) -> Vec<(PathBuf, Kind)> {
        let mut paths = vec![(site.config_path.clone(), Kind::Config)];
        for actor in &site.actors {
            paths.push((site.root.join(&actor.content), Kind::Content));
            for image in [&actor.avatar, &actor.header].into_iter().flatten() {
                paths.push((site.root.join(image), Kind::Content));
            }
        }
        if let Some(csv) = &site.moderation.blocklist_csv {
            paths.push((site.root.join(csv), Kind::Blocklist));
        }
        for plugin in &site.plugins {
            if plugin.is_source() {
                // Its sources, not its target dir (a build would wake the watcher again).
                for part in ["Cargo.toml", "src", "wit"] {
                    let path = plugin.path.join(part);
                    if path.exists() {
                        paths.push((path, Kind::Plugin));
                    }
                }
            } else {
                paths.push((plugin.path.clone(), Kind::Plugin));
            }
        }
        paths
    }

    /// What a batch of file changes means: site.toml or the block list changed -> reload, then
    /// rebuild everything; content changed -> rebuild with the dirty paths. Returns the paths to
    /// watch from now on when the config changed.
    fn on_files_changed(&self, batch: &Batch) -> Option<Vec<(PathBuf, Kind)>> {
        let reloaded =
            (batch.touches(Kind::Config) || batch.touches(Kind::Blocklist)) && self.reload_config();
        let site = self.site();
        if reloaded || batch.rescan {
            self.rebuilds.signal_dirty(Dirty::All);
        } else if batch.touches(Kind::Content) {
            let paths = batch
                .of_kind(Kind::Content)
                .into_iter()
                .map(|p| relative_to_root(&site.root, p))
                .collect();
            self.rebuilds.signal_dirty(Dirty::Paths(paths));
        }
        if batch.touches(Kind::Plugin) && !reloaded {
            // A plugin's component or sources changed: rebuilt (from sources) and reloaded;
            // a broken one is reported and the previous one keeps running.
            self.reload_plugins(&site);
        }
        reloaded.then(|| self.watched(&site))
    }

    /// [`App::watch_paths`] of `site` and the paths registered with [`Running::watch_also`].
    fn watched(&self, site: &Site) -> Vec<(PathBuf, Kind)> {
        let mut paths = App::watch_paths(site);
        paths.extend(
            self.also_watched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        paths
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
            client: delivery::client_for(&self.site()),
            clock: self.clock.clone(),
            wake: self.delivery_wake.clone(),
        };
        Deliverer::new(out, config)
    }

    /// The addressing worker reads only keys a restart changes (the domain, `[dev]`), so it
    /// keeps the config it started with.
    fn addressing(&self) -> Addressing {
        Addressing {
            site: self.site(),
            store: self.store.clone(),
            fetcher: self.fetcher.clone(),
            clock: self.clock.clone(),
            catalog: self.catalog.clone(),
            wake: self.addressing_wake.clone(),
            rebuilds: self.rebuilds.clone(),
        }
    }

    /// The plugin host (empty when site.toml configures no plugin).
    pub fn plugins(&self) -> &Arc<plugins::Host> {
        &self.plugins
    }

    /// Reloads the plugins whose component, sources or config changed, from `site` (site.toml
    /// as it is now). A plugin that fails to load is reported (and logged) and the previous one
    /// keeps running. Call it from a blocking context: a source folder may be rebuilt.
    /// A full rebuild follows, so that every post is reviewed by the plugins as they are now (a
    /// post a plugin no longer vetoes is published).
    pub fn reload_plugins(&self, site: &Site) -> Vec<Diagnostic> {
        let problems = self.reload_plugins_only(site);
        self.rebuilds.signal_dirty(Dirty::All);
        problems
    }

    fn reload_plugins_only(&self, site: &Site) -> Vec<Diagnostic> {
        log_relative(self.plugins.reload(site), &site.root)
    }

    /// The keypair of an actor (configured now or once).
    pub fn key(&self, handle: &str) -> Option<KeyPair> {
        self.keys.current().actor(handle).cloned()
    }

    /// The instance actor's keypair.
    pub fn instance_key(&self) -> KeyPair {
        self.keys.current().instance().clone()
    }
}

/// The plugins' `on-outgoing` hook as the catalog's review of our posts.
struct PluginReview(Arc<plugins::Host>);

impl Review for PluginReview {
    fn active(&self) -> bool {
        !self.0.is_empty()
    }

    fn review(&self, post: OutgoingPost) -> Reviewed {
        let decision = self.0.outgoing(&post);
        Reviewed {
            veto: decision
                .veto
                .map(|reason| (decision.by.last().cloned().unwrap_or_default(), reason)),
            failed: decision.failed,
            by: decision.by,
            post: decision.post,
        }
    }
}

/// Our published posts, for plugins' `find-post`, read from the current catalog.
struct CatalogPosts {
    catalog: SharedCatalog,
    urls: Urls,
}

impl plugins::Posts for CatalogPosts {
    fn post(&self, actor: &str, slug: &str) -> Option<plugins::OurPost> {
        let catalog = self.catalog.current();
        let rec = catalog.public_post(actor, slug)?;
        let p = &rec.post;
        Some(plugins::OurPost {
            actor: actor.to_string(),
            slug: slug.to_string(),
            url: self
                .urls
                .post_url(actor, slug, &p.page_path, p.more().url.as_deref()),
            title: p.title.as_deref().map(str::to_string),
            text: plugins::read_html(&rec.html()).0,
            hashtags: p.tags.iter().map(|t| t.to_string()).collect(),
        })
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
    watcher: Option<Watcher>,
}

impl Running {
    /// Watches the site's files from now on (`debounce` from `[site] watch_debounce_ms`):
    /// saved posts and media are published, site.toml and the block list reloaded. Returns how
    /// changes are learnt of (native events, or polling when those cannot be used).
    pub fn watch(&mut self) -> Result<Mode, AppError> {
        let site = self.app.site();
        let mut config = WatchConfig::new(site.watch_debounce);
        config.ignore = vec![site.data_dir.clone()];
        let app = Arc::downgrade(&self.app);
        let watcher = Watcher::start(self.app.watched(&site), config, move |batch| {
            app.upgrade()?.on_files_changed(&batch)
        })?;
        let mode = watcher.mode();
        tracing::info!(mode = ?mode, debounce_ms = site.watch_debounce.as_millis() as u64, "watching the site's files");
        self.watcher = Some(watcher);
        Ok(mode)
    }

    /// Watches `path` too from now on (a plugin's files), across site.toml reloads.
    pub fn watch_also(&self, path: PathBuf, kind: Kind) -> Result<(), AppError> {
        self.app
            .also_watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((path.clone(), kind));
        if let Some(w) = &self.watcher {
            w.add(path, kind)?;
        }
        Ok(())
    }

    /// Stops watching files, then accepting, and lets open requests finish (the inbox worker
    /// finishes the job in hand), then stops the delivery workers, and waits for all of them.
    pub async fn stop(mut self) {
        drop(self.watcher.take());
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
    let delivery = DeliveryConfig::for_limits(&app.site().limits);
    start_with(app, listener, tls, delivery)
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
    let metrics_listener = match &app.site().metrics_listen {
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
            actors: app.site().actors.iter().map(|a| a.handle.clone()).collect(),
            clock: app.clock.clone(),
        };
        tokio::spawn(http::metrics::serve(
            Arc::new(metrics),
            listener,
            rx.clone(),
        ))
    });
    let http = tokio::spawn(http::serve(app.http.clone(), listener, tls, rx.clone()));
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
        app.site().limits.clone(),
        rx.clone(),
    ));
    // Scheduled posts and removals whose grace period ends are due by the clock: a rebuild
    // publishes them (their due times are in the store and the snapshot, so restarts keep them).
    let timer = tokio::spawn(crate::catalog::run_timer(
        app.catalog.clone(),
        app.store.clone(),
        app.clock.clone(),
        app.rebuilds.clone(),
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
        let _ = timer.await;
    });
    Ok(Running {
        addr,
        metrics_addr,
        app,
        shutdown,
        task,
        workers,
        watcher: None,
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

/// The clock's now as a time.
fn now(clock: &Clock) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp_millis(clock.now_ms()).unwrap_or_else(Utc::now)
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

/// `diagnostics` with their files relative to the site `root`, logged.
fn log_relative(diagnostics: Vec<Diagnostic>, root: &Path) -> Vec<Diagnostic> {
    let diagnostics: Vec<Diagnostic> = diagnostics
        .into_iter()
        .map(|d| d.relative_to(root))
        .collect();
    log_diagnostics(&diagnostics);
    diagnostics
}

/// `masthead serve`: runs until Ctrl-C or SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<(), AppError> {
    let loaded = Site::load(&opts.config)?;
    let mut site = loaded.site;
    log_relative(loaded.warnings, &site.root);
    if let Some(dir) = opts.data_dir {
        site.data_dir = dir;
    }
    let listen = opts.listen.unwrap_or_else(|| site.listen.clone());
    crate::open_files::raise_for(&site.limits);
    // One serving process per data dir: the delivery workers release leases left by a dead
    // process at start, which is only safe when no other process can hold one.
    let _lock = lock_data_dir(&site.data_dir)?;
    // [livegit] publish = "commit": serve the branch's commit, exported into the data dir.
    let committed = committed_site(&mut site)?;
    let (app, report) = App::open(site)?;
    log_diagnostics(&app.catalog().diagnostics);
    for handle in held_actor_removals(&app.site(), &app.store)? {
        tracing::warn!(actor = %handle, "actor removed from site.toml: it answers 410, and its Delete is held until `masthead publish --confirm`; put the [[actor]] back to undo");
    }
    tracing::info!(
        posts = report.records.len(),
        changed = report.changes.len(),
        data_dir = %app.site().data_dir.display(),
        "content scanned"
    );
    // Not held while serving: a row per post (0.7 MiB of a 10,000-post site's idle memory).
    drop(report);
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
    let mut running =
        start_with_tls(Arc::new(app), listener, tls).map_err(|source| AppError::Bind {
            addr: listen.clone(),
            source,
        })?;
    running.watch()?;
    tracing::info!(addr = %running.addr, base_url = %running.app.site().base_url, "serving");
    // [livegit] publish = "commit": publish each new commit of the branch.
    let following = committed.map(|(source, commit)| follow_commits(&running.app, source, commit));
    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(following) = following {
        following.abort();
    }
    running.stop().await;
    Ok(())
}

/// For `masthead publish --confirm`: queues the `Delete` of every actor removed from site.toml
/// that has followers (held until now: a Delete makes every server drop the actor's followers),
/// signed with the actor's kept key. Works while `serve` runs, whose delivery workers send the
/// rows. Returns each actor and the rows queued.
pub fn confirm_actor_removals(
    config: &Path,
    data_dir: Option<PathBuf>,
) -> Result<Vec<(String, usize)>, AppError> {
    let (site, store) = admin_open(config, data_dir)?;
    let urls = Urls::new(&site);
    let p = Publisher {
        site: Arc::new(site),
        urls,
        store: Arc::new(store),
        clock: Clock::system(),
        catalog: SharedCatalog::default(),
        delivery_wake: Arc::new(Notify::new()),
        addressing_wake: Arc::new(Notify::new()),
    };
    Ok(profiles::delete_removed_actors(&p)?)
}

/// Actors removed from site.toml whose `Delete` waits for `masthead publish --confirm`, for
/// `masthead status` and the log.
pub fn held_actor_removals(site: &Site, store: &Store) -> Result<Vec<String>, StoreError> {
    profiles::removed_actors(site, &Urls::new(site), store)
}

fn admin_open(config: &Path, data_dir: Option<PathBuf>) -> Result<(Site, Store), AppError> {
    crate::admin::open(config, data_dir).map_err(|e| match e {
        crate::admin::AdminError::Config(e) => AppError::Config(e),
        crate::admin::AdminError::Store(e) => AppError::Store(e),
        other => AppError::Republish(other.to_string()),
    })
}

/// One post [`republish`] queued an `Update` of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Republished {
    pub actor: String,
    pub slug: String,
    /// Inboxes the Update is queued for.
    pub inboxes: usize,
}

/// `masthead republish`: queues an `Update` of `post` (`handle/slug` or its URL), or of every
/// post when `None`, built from the content as it renders now, whether or not its file
/// changed. Reads the content as `serve` does (which records any change it finds, for `serve`
/// to publish); works while `serve` runs, whose delivery workers send the rows.
pub fn republish(
    config: &Path,
    data_dir: Option<PathBuf>,
    post: Option<&str>,
) -> Result<Vec<Republished>, AppError> {
    let (site, store) = admin_open(config, data_dir)?;
    let wanted = match post {
        Some(p) => Some(
            crate::admin::parse_post(&site, p).map_err(|e| AppError::Republish(e.to_string()))?,
        ),
        None => None,
    };
    let urls = Urls::new(&site);
    let store = Arc::new(store);
    // The plugins review the posts as `serve` has them reviewed (else their changes would read
    // as edits, and a post they hold back would be sent).
    let catalog = SharedCatalog::default();
    let (host, problems) = plugins::Host::load_plugins(
        &site.plugins,
        &site.config_path,
        store.clone(),
        Arc::new(CatalogPosts {
            catalog: catalog.clone(),
            urls: urls.clone(),
        }),
        Clock::system(),
        HostOptions::for_site(&site),
    );
    log_diagnostics(&problems);
    let review = PluginReview(Arc::new(host));
    let (built, _) = Catalog::build_with(&site, &urls, &store, Utc::now(), &review)?;
    catalog.replace(built);
    let snapshot = catalog.current();
    let targets: Vec<(String, String)> = match wanted {
        Some((actor, slug)) => {
            if !snapshot
                .posts_of(&actor)
                .iter()
                .any(|r| *r.post.slug == *slug)
            {
                return Err(AppError::Republish(format!(
                    "{actor}/{slug} is not published (a draft, `federate = false`, or no such post; `masthead check` lists the posts)"
                )));
            }
            vec![(actor, slug)]
        }
        None => site
            .actors
            .iter()
            .flat_map(|a| snapshot.posts_of(&a.handle).iter().rev())
            .map(|r| (r.post.actor.to_string(), r.post.slug.to_string()))
            .collect(),
    };
    let p = Publisher {
        site: Arc::new(site),
        urls,
        store,
        clock: Clock::system(),
        catalog: catalog.clone(),
        delivery_wake: Arc::new(Notify::new()),
        addressing_wake: Arc::new(Notify::new()),
    };
    let mut done = Vec::new();
    for (actor, slug) in targets {
        let change = crate::store::PostChange::Updated {
            actor: actor.clone(),
            slug: slug.clone(),
        };
        let inboxes = outbox::publish(&p, &snapshot, &change, None)?;
        done.push(Republished {
            actor,
            slug,
            inboxes,
        });
    }
    Ok(done)
}

/// What one rebuild does: build the catalog from the config of the moment, swap it in, queue
/// what followers are owed for posts, then for profiles that changed since the last rebuild.
fn rebuild_task(
    base: Publisher,
    site: Live<Site>,
    keys: Live<ActorKeys>,
    review: Arc<dyn Review>,
) -> impl FnMut(&Dirty) -> Result<SyncReport, StoreError> + Send + 'static {
    let mut last_site = site.current();
    move |dirty| {
        tracing::debug!(dirty = ?dirty, "rebuilding the catalog");
        let p = Publisher {
            site: site.current(),
            ..base.clone()
        };
        let before = p.catalog.current();
        let now = now(&p.clock);
        // Only the dirty files are read again while the config is the one the last build used;
        // a new config (or "everything") reads the whole site.
        let (catalog, report) = match dirty {
            Dirty::Paths(paths) if Arc::ptr_eq(&last_site, &p.site) => Catalog::build_changed_with(
                &p.site,
                &p.urls,
                &p.store,
                now,
                &before,
                paths,
                review.as_ref(),
            )?,
            _ => Catalog::build_with(&p.site, &p.urls, &p.store, now, review.as_ref())?,
        };
        p.catalog.replace(catalog);
        let mut queued = outbox::publish_pending(&p)?;
        let after = p.catalog.current();
        queued += profiles::publish_profile_changes(
            &p,
            &keys.current(),
            &Served {
                site: &last_site,
                catalog: &before,
            },
            &Served {
                site: &p.site,
                catalog: &after,
            },
        )?;
        if queued > 0 {
            p.delivery_wake.notify_one();
        }
        last_site = p.site.clone();
        Ok(report)
    }
}

/// The config `new` with the running values of the keys only a restart can change, warning
/// about each that was edited.
fn keep_restart_only(old: &Site, mut new: Site) -> Site {
    let mut edited = Vec::new();
    if new.base_url != old.base_url {
        edited.push("site.base_url");
    }
    if new.domain != old.domain {
        edited.push("site.domain");
    }
    if new.listen != old.listen {
        edited.push("site.listen");
    }
    if new.html_base_url != old.html_base_url {
        edited.push("site.html_base_url");
    }
    if new.dev != old.dev {
        edited.push("[dev]");
    }
    for key in edited {
        tracing::warn!(key, "this site.toml key takes effect at the next restart; the running value is kept until then");
    }
    new.base_url = old.base_url.clone();
    new.domain = old.domain.clone();
    new.listen = old.listen.clone();
    new.html_base_url = old.html_base_url.clone();
    new.dev = old.dev.clone();
    // `serve --data-dir` may have set it; the store stays where it was opened.
    new.data_dir = old.data_dir.clone();
    new
}

/// `path` relative to the site root when it is under it (as `Post::source` is).
fn relative_to_root(root: &Path, path: PathBuf) -> PathBuf {
    match path.strip_prefix(root) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => path,
    }
}
// [livegit] publish = "commit" ---------------------------------------------------------------

/// In commit mode, replaces `site` by the site as committed (its root the export of the branch's
/// commit, `data_dir` unchanged) and returns where it comes from; `None` in save mode.
pub fn committed_site(
    site: &mut Site,
) -> Result<
    Option<(
        Arc<crate::git_source::GitSource>,
        crate::git_source::CommitId,
    )>,
    AppError,
> {
    use crate::git_source::{self, CommittedError};
    let committed = match git_source::load_committed(site) {
        Ok(Some(committed)) => committed,
        Ok(None) => return Ok(None),
        Err(CommittedError::Git(e)) => return Err(e.into()),
        Err(CommittedError::Config(e)) => return Err(e.into()),
    };
    log_diagnostics(&committed.loaded.warnings);
    tracing::info!(
        branch = committed.source.branch(),
        commit = %git_source::short(committed.commit),
        root = %committed.loaded.site.root.display(),
        "publishing what is committed"
    );
    *site = committed.loaded.site;
    Ok(Some((Arc::new(committed.source), committed.commit)))
}

/// Publishes each new commit of the branch `source` follows, from `served` on: exports it and
/// rebuilds the catalog from it. Runs until the returned task is aborted.
pub fn follow_commits(
    app: &Arc<App>,
    source: Arc<crate::git_source::GitSource>,
    served: crate::git_source::CommitId,
) -> JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(crate::git_source::follow(source, served, move |_| {
        let rebuilt = app.rebuild();
        async move {
            match rebuilt.await {
                Ok(report) => tracing::info!(
                    changed = report.changes.len(),
                    "rebuilt from the new commit"
                ),
                Err(e) => tracing::error!(error = %e, "cannot rebuild from the new commit"),
            }
        }
    }))
}

// ---------------------------------------------------------------------------------------------

/// Takes `<data_dir>/serve.lock` for as long as the returned file lives (the OS drops the lock
/// when the process dies, however it dies): `serve` holds it while it runs, `masthead restore`
/// while it replaces the database.
pub fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, AppError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn site(dir: &Path, text: &str) -> Site {
        std::fs::create_dir_all(dir.join("content/news")).unwrap();
        let path = dir.join("site.toml");
        Site::parse(&path, text).unwrap().site
    }

    #[test]
    fn can_keep_the_keys_only_a_restart_changes() {
        let dir = tempfile::tempdir().unwrap();
        let old = site(
            dir.path(),
            "[site]\nbase_url = \"https://a.example\"\n\n[[actor]]\nhandle = \"news\"\nname = \"A\"\n",
        );
        let new = site(
            dir.path(),
            "[site]\nbase_url = \"https://b.example\"\nlisten = \"0.0.0.0:9000\"\ndata_dir = \"elsewhere\"\nwatch_debounce_ms = 50\n\n[[actor]]\nhandle = \"news\"\nname = \"B\"\n\n[dev]\nallow_private_addresses = true\n",
        );
        let kept = keep_restart_only(&old, new);
        assert_eq!(kept.base_url, old.base_url);
        assert_eq!(kept.domain, "a.example");
        assert_eq!(kept.listen, old.listen);
        assert_eq!(kept.data_dir, old.data_dir);
        assert_eq!(kept.dev, old.dev);
        // What a reload is for is taken.
        assert_eq!(kept.actors[0].name, "B");
        assert_eq!(kept.watch_debounce, std::time::Duration::from_millis(50));
    }

    #[test]
    fn can_name_dirty_paths_relative_to_the_site_root() {
        let root = Path::new("/srv/site");
        assert_eq!(
            relative_to_root(root, root.join("content/news/a.md")),
            PathBuf::from("content/news/a.md")
        );
        assert_eq!(
            relative_to_root(root, PathBuf::from("/elsewhere/b.md")),
            PathBuf::from("/elsewhere/b.md")
        );
    }
}
