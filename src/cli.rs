//! The command line: clap derive, one struct per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Publish a folder of Markdown files as fediverse (ActivityPub) accounts.
#[derive(Debug, Parser)]
#[command(name = "masthead", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr (`RUST_LOG` sets the level, e.g. `RUST_LOG=masthead=debug`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new site (site.toml, a first post and an avatar) that `serve` runs as is.
    Init(InitArgs),
    /// Check site.toml and every content file without touching the network.
    Check(CheckArgs),
    /// Serve the site.
    Serve(ServeArgs),
    /// Show the outgoing delivery queue: pending and failed activities per host, the next
    /// attempt and the last error.
    Deliveries(DeliveriesArgs),
    /// Show, per actor, followers, queued, in-flight and failed deliveries, the next retry,
    /// unavailable hosts and how far the last publication got; then what is held back.
    Status(StatusArgs),
    /// List what waits for a person's decision: held replies, mentions and follows, each with
    /// an id, who held it and why.
    Queue(QueueArgs),
    /// Approve queued items by id (r12, f3): a reply shows under its post, a follow is accepted.
    Approve(DecideArgs),
    /// Reject queued items by id: a reply is never shown, a follow gets a Reject and is forgotten.
    Reject(DecideArgs),
    /// List, approve or reject follows waiting for approval (also in `masthead queue`).
    Follows(FollowsArgs),
    /// List replies to a post (or every reply and mention kept).
    Replies(RepliesArgs),
    /// List reports (Flag) sent by other servers.
    Reports(ReportsArgs),
    /// What masthead holds about one remote person, or forget it (data-protection access and
    /// erasure requests).
    People(PeopleArgs),
    /// Send followers an Update of a post (or of every post) whose file did not change, e.g.
    /// after an upgrade of masthead that renders posts differently. A running `serve` sends
    /// what this queues.
    Republish(RepublishArgs),
    /// Show removals waiting for their Delete (a held mass removal, a grace period), and send
    /// the held ones with --confirm.
    Publish(PublishArgs),
    /// Write, build and try WebAssembly plugins.
    Plugin(PluginArgs),
    /// Write a consistent copy of the database (keys, followers, queues, replies) to a file,
    /// while `serve` runs. The copy holds the actors' private keys: it is written mode 0600.
    Backup(BackupArgs),
    /// Put a backup in place of the database (`serve` must be stopped); the database it
    /// replaces is kept beside it.
    Restore(RestoreArgs),
}

/// `masthead backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Site and store (with --data-dir, site.toml is not read).
    #[command(flatten)]
    pub site: SiteArgs,
    /// The file to write; a folder gets a file named `masthead-<UTC time>.db` in it.
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `masthead restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// A file `masthead backup` wrote.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `masthead publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// Send the Deletes of a held mass removal. To keep the posts instead, put their files back
    /// (e.g. switch the branch back): they are served on and nothing is sent.
    #[arg(long)]
    pub confirm: bool,
}

/// `masthead plugin`.
#[derive(Debug, Args)]
pub struct PluginArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: PluginAction,
}

/// `masthead plugin new|build|test`.
#[derive(Debug, Subcommand)]
pub enum PluginAction {
    /// Create a plugin source folder (Rust, with the masthead plugin SDK) that builds as is.
    New(PluginNewArgs),
    /// Build plugins for wasm32-wasip2 (release): one by its name in site.toml, or every plugin
    /// site.toml gives by its source folder.
    Build(PluginBuildArgs),
    /// Run a plugin on a sample event and print its decision and actions.
    Test(PluginTestArgs),
}

/// `masthead plugin new`.
#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The plugin's name (a-z, 0-9, - and _): its folder and crate.
    pub name: String,
    /// The folder to create it in (as a subfolder).
    #[arg(long, default_value = "plugins")]
    pub dir: PathBuf,
}

/// `masthead plugin build`.
#[derive(Debug, Args)]
pub struct PluginBuildArgs {
    /// The site config.
    #[arg(long, default_value = "site.toml")]
    pub config: PathBuf,
    /// A plugin's name in site.toml, or a plugin source folder; without it, every plugin
    /// site.toml gives by its source folder.
    pub plugin: Option<String>,
}

/// `masthead plugin test`.
#[derive(Debug, Args)]
pub struct PluginTestArgs {
    /// The site config (for the plugin's name, path and config).
    #[arg(long, default_value = "site.toml")]
    pub config: PathBuf,
    /// A plugin's name in site.toml, a .wasm component or a plugin source folder (those two
    /// run with an empty config).
    pub plugin: String,
    /// The sample event, as JSON (samples for every hook ship in plugins/sdk/events/).
    #[arg(long, value_name = "FILE.json")]
    pub event: PathBuf,
}

/// Where an operator command finds the site and its store.
#[derive(Debug, Args)]
pub struct SiteArgs {
    /// The site config.
    #[arg(long, default_value = "site.toml")]
    pub config: PathBuf,
    /// Where the database lives, overriding `site.data_dir`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `masthead queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// Also list hidden and rejected replies (they can still be approved).
    #[arg(long)]
    pub all: bool,
}

/// `masthead approve` and `masthead reject`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// Ids as `masthead queue` lists them (r12, f3).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

/// `masthead follows`.
#[derive(Debug, Args)]
pub struct FollowsArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: FollowsAction,
}

/// `masthead follows pending|approve|reject`.
#[derive(Debug, Subcommand)]
pub enum FollowsAction {
    /// List follows waiting for approval.
    Pending(FollowsFilter),
    /// Approve a pending follow: an Accept is queued for the follower.
    Approve(FollowAnswerArgs),
    /// Reject a pending follow: a Reject is queued and the follow forgotten.
    Reject(FollowAnswerArgs),
}

/// Which actor's follows to list.
#[derive(Debug, Args)]
pub struct FollowsFilter {
    /// Only follows of this handle.
    #[arg(long, value_name = "HANDLE")]
    pub actor: Option<String>,
}

/// One pending follow.
#[derive(Debug, Args)]
pub struct FollowAnswerArgs {
    /// The handle followed (needed only when the follower waits on several actors).
    #[arg(long, value_name = "HANDLE")]
    pub actor: Option<String>,
    /// The follower's actor id (URL), as `masthead follows pending` lists it.
    pub follower: String,
}

/// `masthead replies`.
#[derive(Debug, Args)]
pub struct RepliesArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// The post: handle/slug (news/hello) or its URL. Without it, every reply and mention.
    pub post: Option<String>,
}

/// `masthead republish`.
#[derive(Debug, Args)]
pub struct RepublishArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// The post: handle/slug (news/hello) or its URL.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub post: Option<String>,
    /// Every post of every actor.
    #[arg(long)]
    pub all: bool,
}

/// `masthead reports`.
#[derive(Debug, Args)]
pub struct ReportsArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
}

/// `masthead people`.
#[derive(Debug, Args)]
pub struct PeopleArgs {
    /// The site config.
    #[arg(long, default_value = "site.toml", global = true)]
    pub config: PathBuf,
    /// Where the database lives, overriding `site.data_dir`.
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: PeopleAction,
}

/// `masthead people show|forget`.
#[derive(Debug, Subcommand)]
pub enum PeopleAction {
    /// Print everything stored about a person: follows, replies and mentions, likes and boosts,
    /// reports, their cached actor document, deliveries to them, activities they sent. Read-only.
    Show(PeopleShowArgs),
    /// Erase everything stored about a person, in one transaction; their follows get a Reject.
    /// Without --yes, prints what would be erased and changes nothing.
    Forget(PeopleForgetArgs),
}

/// `masthead people show`.
#[derive(Debug, Args)]
pub struct PeopleShowArgs {
    /// The person: their actor id (a URL), or @user@host when their actor document is cached.
    #[arg(value_name = "ACTOR")]
    pub actor: String,
    /// Write one JSON document (to hand to the person) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `masthead people forget`.
#[derive(Debug, Args)]
pub struct PeopleForgetArgs {
    /// The person: their actor id (a URL), or @user@host when their actor document is cached.
    #[arg(value_name = "ACTOR")]
    pub actor: String,
    /// Erase it (without it, only say what would be erased).
    #[arg(long)]
    pub yes: bool,
}

/// `masthead init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create the site in (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// `masthead check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The site config.
    #[arg(long, default_value = "site.toml")]
    pub config: PathBuf,
}

/// `masthead serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The site config.
    #[arg(long, default_value = "site.toml")]
    pub config: PathBuf,
    /// Address to listen on, overriding `site.listen` (e.g. 0.0.0.0:8080).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Where the database and keys live, overriding `site.data_dir` (default `.masthead/`
    /// beside site.toml).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key); without it masthead speaks
    /// plain HTTP and expects a TLS-terminating proxy in front.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// `masthead deliveries`.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
}

/// `masthead status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Site and store.
    #[command(flatten)]
    pub site: SiteArgs,
    /// Redraw every second (with a progress bar while a publication goes out) until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
}
