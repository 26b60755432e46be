//! `[site] publish = "commit"`: the site as committed on a git branch, materialized as a folder
//! that the rest of masthead reads as the site root.
//!
//! This module owns reading git (with gix: the branch's ref, trees and blobs, and the status
//! that tells what is not committed yet) and the exports under `<data_dir>/published/`: one
//! folder per commit, written to a temporary folder and renamed into place, and the link
//! `current` naming the one being served. It knows neither the catalog nor the server: `app`
//! loads site.toml from [`GitSource::current_root`], builds the catalog from there, and asks for
//! a rebuild each time [`follow`] publishes a new commit.
//!
//! Why a link: the site root is fixed for the life of a running app, and media files are read
//! through it. `current` is a symlink renamed over the old one, so a reader sees one commit or
//! the next, never a half-written one; the previous export stays until the next one is in
//! place, so a rebuild that started just before the switch still finds every file it listed.
//!
//! What a commit holds is exported as regular files only: symlinks and submodules in the tree
//! are left out (logged), so nothing committed can point a published path outside the export.

use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::{ConfigError, Loaded, PublishCommit, Site};
use crate::diagnostics::Diagnostic;

pub use gix::ObjectId as CommitId;

/// How often [`follow`] looks at the branch: a ref file changing is cheap to see, and a second
/// keeps "committed -> sent" well under the goal while a watcher hook can wake it early.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Why the committed site could not be read or published.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The site folder is in no git repository.
    #[error("{dir} is not in a git repository (run `git init` there and commit the site, or set publish = \"save\" under [site])")]
    NotARepository {
        /// The site folder.
        dir: PathBuf,
    },
    /// HEAD names no branch and none was configured.
    #[error("HEAD of {repo} is detached, so there is no current branch to publish (check out a branch, or name one with publish_branch = \"main\" under [site])")]
    Detached {
        /// The repository.
        repo: PathBuf,
    },
    /// The branch has no commit.
    #[error("branch {branch} of {repo} has no commit yet (commit the site: git add -A && git commit, or name another branch with publish_branch under [site])")]
    NoBranch {
        /// The short branch name.
        branch: String,
        /// The repository.
        repo: PathBuf,
    },
    /// The commit does not hold the site folder.
    #[error("commit {commit} of branch {branch} has no folder {prefix:?} holding the site (commit the site folder, or publish from the repository that holds it)")]
    NoSiteInCommit {
        /// The commit.
        commit: CommitId,
        /// The short branch name.
        branch: String,
        /// The site folder's path in the repository.
        prefix: String,
    },
    /// gix failed to read the repository.
    #[error("cannot read the git repository {repo}: {what}: {source} (check that `git log` works there)")]
    Git {
        /// The repository.
        repo: PathBuf,
        /// What was being read.
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file of the export could not be written or removed.
    #[error("cannot write the published copy at {path}: {source} (check that masthead may write in its data dir)")]
    Io {
        /// The file or folder.
        path: PathBuf,
        source: io::Error,
    },
}

/// The branch of a git repository that a site is published from, and the exports made of it.
pub struct GitSource {
    repo: gix::ThreadSafeRepository,
    /// Where `repo` is, for messages.
    repo_path: PathBuf,
    /// The branch's full ref name, `refs/heads/<name>`.
    branch: String,
    /// The site folder's path in the repository's tree, `/`-separated; empty for the root.
    prefix: String,
    /// The repository whose working tree holds the site folder (the one read from, unless
    /// `publish_repo` names another), for what is not committed yet.
    worktree: Option<gix::ThreadSafeRepository>,
    /// `<data_dir>/published`.
    published: PathBuf,
    /// Wakes [`follow`] before its next poll (for a watcher of [`GitSource::watch_paths`]).
    wake: Arc<Notify>,
}

impl GitSource {
    /// Finds the repository of `site_dir` (that folder or a parent; or `publish.repo`), and the
    /// branch to publish: `publish.branch`, else the one checked out now. Exports go under
    /// `<data_dir>/published`.
    pub fn open(
        site_dir: &Path,
        publish: &PublishCommit,
        data_dir: &Path,
    ) -> Result<GitSource, GitError> {
        let site_dir = site_dir.canonicalize().map_err(|source| GitError::Io {
            path: site_dir.to_path_buf(),
            source,
        })?;
        let worktree = gix::ThreadSafeRepository::discover(&site_dir).ok();
        let repo = match &publish.repo {
            Some(path) => gix::ThreadSafeRepository::open(path).map_err(|e| GitError::Git {
                repo: path.clone(),
                what: "opening publish_repo".into(),
                source: Box::new(e),
            })?,
            None => worktree.clone().ok_or_else(|| GitError::NotARepository {
                dir: site_dir.clone(),
            })?,
        };
        let repo_path = publish
            .repo
            .clone()
            .unwrap_or_else(|| repo_dir(&repo.to_thread_local()));
        let prefix = match worktree
            .as_ref()
            .and_then(|w| w.work_dir().map(Path::to_path_buf))
        {
            Some(top) => {
                let top = top.canonicalize().unwrap_or(top);
                slash_path(site_dir.strip_prefix(&top).unwrap_or(Path::new("")))
            }
            None => String::new(),
        };
        let branch = match &publish.branch {
            Some(b) => format!("refs/heads/{b}"),
            None => {
                let local = repo.to_thread_local();
                let head = local.head_name().map_err(|e| GitError::Git {
                    repo: repo_path.clone(),
                    what: "reading HEAD".into(),
                    source: Box::new(e),
                })?;
                match head {
                    Some(name) if name.as_bstr().starts_with(b"refs/heads/") => {
                        name.as_bstr().to_string()
                    }
                    _ => return Err(GitError::Detached { repo: repo_path }),
                }
            }
        };
        let source = GitSource {
            repo,
            repo_path,
            branch,
            prefix,
            worktree,
            published: data_dir.join("published"),
            wake: Arc::new(Notify::new()),
        };
        source.current_commit()?;
        Ok(source)
    }

    /// The branch's short name (`main`).
    pub fn branch(&self) -> &str {
        self.branch.trim_start_matches("refs/heads/")
    }

    /// The commit the branch points at now: a ref read, cheap enough to call every second.
    pub fn current_commit(&self) -> Result<CommitId, GitError> {
        let repo = self.repo.to_thread_local();
        let no_branch = || GitError::NoBranch {
            branch: self.branch().to_string(),
            repo: self.repo_path.clone(),
        };
        let mut reference = repo
            .try_find_reference(self.branch.as_str())
            .map_err(|e| self.git("reading the branch", e))?
            .ok_or_else(no_branch)?;
        let id = reference
            .peel_to_id()
            .map_err(|e| self.git("reading the branch", e))?;
        Ok(id.detach())
    }

    /// The files that may announce a move of the branch, for a file watcher: the loose ref,
    /// `packed-refs` and `HEAD` (and, for a bare repository that is pushed to, all its branches).
    /// A watcher that sees one change calls `notify_one` on [`GitSource::wake`].
    pub fn watch_paths(&self) -> Vec<PathBuf> {
        let repo = self.repo.to_thread_local();
        let common = repo.common_dir().to_path_buf();
        let mut paths = vec![
            common.join(&self.branch),
            common.join("packed-refs"),
            repo.git_dir().join("HEAD"),
        ];
        if repo.is_bare() {
            paths.push(common.join("refs/heads"));
        }
        paths
    }

    /// Wakes [`follow`] at once, instead of at its next poll.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The folder served as the site root: the link to the export of the last published commit.
    pub fn current_root(&self) -> PathBuf {
        self.published.join("current")
    }

    /// Writes the files of `commit` below the site folder's path into `into` (created if
    /// missing); returns how many files were written.
    pub fn export_to(&self, commit: CommitId, into: &Path) -> Result<usize, GitError> {
        let repo = self.repo.to_thread_local();
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| self.git(&format!("reading commit {commit}"), e))?;
        let site_tree = if self.prefix.is_empty() {
            tree.id
        } else {
            let entry = tree
                .lookup_entry_by_path(&self.prefix)
                .map_err(|e| self.git(&format!("reading commit {commit}"), e))?;
            match entry {
                Some(e) if e.mode().is_tree() => e.object_id(),
                _ => {
                    return Err(GitError::NoSiteInCommit {
                        commit,
                        branch: self.branch().to_string(),
                        prefix: self.prefix.clone(),
                    })
                }
            }
        };
        let mut files = 0;
        let mut folders = vec![(site_tree, into.to_path_buf())];
        while let Some((id, dir)) = folders.pop() {
            create_dir(&dir)?;
            let tree = repo
                .find_tree(id)
                .map_err(|e| self.git(&format!("reading tree {id}"), e))?;
            for entry in tree.iter() {
                let entry = entry.map_err(|e| self.git(&format!("reading tree {id}"), e))?;
                let Some(name) = safe_name(entry.filename()) else {
                    tracing::warn!(commit = %commit, name = %entry.filename(), "a name in the commit is not a plain file name; left out");
                    continue;
                };
                let path = dir.join(name);
                match entry.mode().kind() {
                    gix::objs::tree::EntryKind::Tree => folders.push((entry.object_id(), path)),
                    gix::objs::tree::EntryKind::Blob
                    | gix::objs::tree::EntryKind::BlobExecutable => {
                        let blob = repo
                            .find_blob(entry.object_id())
                            .map_err(|e| self.git(&format!("reading {}", path.display()), e))?;
                        std::fs::write(&path, &blob.data)
                            .map_err(|source| GitError::Io { path, source })?;
                        files += 1;
                    }
                    kind => {
                        tracing::warn!(commit = %commit, file = %path.display(), kind = ?kind, "symlinks and submodules are not published; left out")
                    }
                }
            }
        }
        Ok(files)
    }

    /// Exports `commit` into `<data_dir>/published/<commit>` (through a temporary folder renamed
    /// into place, so the folder is whole or absent) and returns that folder; an export already
    /// there is reused.
    pub fn export(&self, commit: CommitId) -> Result<PathBuf, GitError> {
        let target = self.published.join(commit.to_string());
        if target.is_dir() {
            return Ok(target);
        }
        create_dir(&self.published)?;
        let tmp = self
            .published
            .join(format!(".tmp-{commit}-{}", std::process::id()));
        remove_all(&tmp)?;
        let files = match self.export_to(commit, &tmp) {
            Ok(files) => files,
            Err(e) => {
                let _ = remove_all(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, &target).map_err(|source| GitError::Io {
            path: target.clone(),
            source,
        })?;
        tracing::debug!(commit = %commit, files, folder = %target.display(), "exported");
        Ok(target)
    }

    /// Exports `commit`, points [`GitSource::current_root`] at it, and removes the exports
    /// older than the one it replaces. Returns the current root.
    pub fn publish(&self, commit: CommitId) -> Result<PathBuf, GitError> {
        self.export(commit)?;
        let current = self.current_root();
        let previous = std::fs::read_link(&current).ok();
        let id = commit.to_string();
        switch_link(&self.published, &id, &current)?;
        let keep = |name: &str| {
            name == "current"
                || name == id
                || previous.as_deref().is_some_and(|p| p == Path::new(name))
        };
        let entries = std::fs::read_dir(&self.published).map_err(|source| GitError::Io {
            path: self.published.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !keep(&name.to_string_lossy()) {
                remove_all(&entry.path())?;
            }
        }
        Ok(current)
    }

    /// The paths below the site folder (relative to the repository's working tree) that differ
    /// from `commit`: modified, staged, deleted or new and not ignored; the data dir is left
    /// out. Empty when the site folder is not a git working tree (a `publish_repo` served from
    /// a folder that is not a clone).
    pub fn uncommitted(&self, commit: CommitId, data_dir: &Path) -> Result<Vec<String>, GitError> {
        let Some(worktree) = &self.worktree else {
            return Ok(Vec::new());
        };
        let repo = worktree.to_thread_local();
        let Some(top) = repo.workdir().map(Path::to_path_buf) else {
            return Ok(Vec::new());
        };
        let top = top.canonicalize().unwrap_or(top);
        let data = data_dir
            .canonicalize()
            .ok()
            .and_then(|d| d.strip_prefix(&top).ok().map(slash_path));
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| GitError::Git {
            repo: top.clone(),
            what: "comparing the working tree with the published commit".into(),
            source: e,
        };
        let mut status = repo
            .status(gix::progress::Discard)
            .map_err(|e| fail(Box::new(e)))?
            .untracked_files(gix::status::UntrackedFiles::Files);
        // Compared with the published commit's tree, which need not be HEAD's (another branch,
        // or a commit made elsewhere and pushed); HEAD's when this clone lacks that commit.
        if let Ok(tree) = repo.find_commit(commit).and_then(|c| c.tree_id()) {
            status = status.head_tree(tree.detach());
        }
        let patterns: Vec<gix::bstr::BString> = if self.prefix.is_empty() {
            Vec::new()
        } else {
            vec![self.prefix.as_str().into()]
        };
        let mut paths = Vec::new();
        for item in status.into_iter(patterns).map_err(|e| fail(Box::new(e)))? {
            let item = item.map_err(|e| fail(Box::new(e)))?;
            let path = item.location().to_string();
            let below =
                |dir: &str| dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"));
            if below(&self.prefix) && !data.as_deref().is_some_and(|d| !d.is_empty() && below(d)) {
                paths.push(path);
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    fn git(&self, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> GitError {
        GitError::Git {
            repo: self.repo_path.clone(),
            what: what.to_string(),
            source: Box::new(e),
        }
    }
}

/// A site as committed: where it is read from, the commit published, and its site.toml.
pub struct Committed {
    pub source: GitSource,
    pub commit: CommitId,
    /// The committed site.toml, its root the export (`data_dir` and `publish` are the working
    /// tree's: they say where and how to publish, so they cannot come from what is published).
    pub loaded: Loaded,
}

/// Why the committed site cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CommittedError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The committed site.toml is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// In commit mode (`working.publish` is `Commit`): opens the repository, publishes the branch's
/// commit into the data dir and loads the site from it. `None` in save mode.
pub fn load_committed(working: &Site) -> Result<Option<Committed>, CommittedError> {
    let crate::config::Publish::Commit(publish) = &working.publish else {
        return Ok(None);
    };
    let source = GitSource::open(&working.root, publish, &working.data_dir)?;
    let commit = source.current_commit()?;
    let root = source.publish(commit)?;
    let loaded = load_exported(working, &root, commit, source.branch())?;
    Ok(Some(Committed {
        source,
        commit,
        loaded,
    }))
}

/// Loads site.toml from the export at `root`, keeping `working`'s `data_dir` and `publish`; the
/// problems of an unusable one are named `site.toml:LINE` and the error says which commit.
pub fn load_exported(
    working: &Site,
    root: &Path,
    commit: CommitId,
    branch: &str,
) -> Result<Loaded, ConfigError> {
    match Site::load(&root.join("site.toml")) {
        Ok(mut loaded) => {
            loaded.site.data_dir = working.data_dir.clone();
            loaded.site.publish = working.publish.clone();
            Ok(loaded)
        }
        Err(e) => Err(ConfigError {
            path: PathBuf::from(format!(
                "site.toml of commit {} on branch {branch}",
                short(commit)
            )),
            problems: e
                .problems
                .into_iter()
                .map(|d: Diagnostic| d.relative_to(root))
                .collect(),
        }),
    }
}

/// The first 7 hex digits of a commit id, as git shows it.
pub fn short(commit: CommitId) -> String {
    commit.to_hex_with_len(7).to_string()
}

/// Until dropped (abort its task): publishes each new commit of the branch and then awaits
/// `published(commit)` (the app's rebuild), looking every [`POLL_EVERY`] or when woken. A failure
/// is logged once and the last published commit keeps being served.
pub async fn follow<F, Fut>(source: Arc<GitSource>, mut served: CommitId, mut published: F)
where
    F: FnMut(CommitId) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut every = tokio::time::interval(POLL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = source.wake();
    let mut last_error = None;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = wake.notified() => {}
        }
        let s = source.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let now = s.current_commit()?;
            if now == served {
                return Ok(None);
            }
            s.publish(now).map(|_| Some(now))
        })
        .await;
        match outcome {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(commit))) => {
                last_error = None;
                tracing::info!(commit = %short(commit), branch = source.branch(), "publishing a new commit");
                served = commit;
                published(commit).await;
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    tracing::error!(error = %text, branch = source.branch(), served = %short(served), "cannot publish the branch; serving the last published commit");
                    last_error = Some(text);
                }
            }
            Err(e) => tracing::error!(error = %e, "the git publishing task failed"),
        }
    }
}

/// Points the symlink `link` (in `dir`) at `target`, atomically: a new link renamed over it.
fn switch_link(dir: &Path, target: &str, link: &Path) -> Result<(), GitError> {
    let tmp = dir.join(".current.tmp");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitError::Io { path, source }
    };
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io(&tmp)(e)),
        _ => {}
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, &tmp).map_err(io(&tmp))?;
    #[cfg(not(unix))]
    return Err(io(&tmp)(io::Error::new(
        io::ErrorKind::Unsupported,
        "publish = \"commit\" needs a Unix system (it serves the commit through a symlink)",
    )));
    std::fs::rename(&tmp, link).map_err(io(link))
}

fn create_dir(dir: &Path) -> Result<(), GitError> {
    std::fs::create_dir_all(dir).map_err(|source| GitError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Removes a file, link or folder; gone already is fine.
fn remove_all(path: &Path) -> Result<(), GitError> {
    let removed = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    removed.map_err(|source| GitError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A tree entry's name when it is one plain path component (git refuses the rest, but a tree
/// made by other tools or by hand can hold anything).
fn safe_name(name: &gix::bstr::BStr) -> Option<PathBuf> {
    let name = std::str::from_utf8(name).ok()?;
    let path = PathBuf::from(name);
    let mut parts = path.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) if name != ".git" && !name.contains('\\') => Some(path),
        _ => None,
    }
}

/// A relative path with `/` between its parts.
fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The folder of a repository a person would name: the working tree, or the bare repository.
fn repo_dir(repo: &gix::Repository) -> PathBuf {
    repo.workdir()
        .unwrap_or_else(|| repo.git_dir())
        .to_path_buf()
}
