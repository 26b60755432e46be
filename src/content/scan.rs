//! Walking each actor's content folder and turning its Markdown files into [`Post`]s.
//!
//! This module owns which files are posts (`.md`/`.markdown`, not hidden, not Hugo's `_index.md`
//! section files), the order they are read in (sorted paths, so a scan is deterministic), how
//! each post gets its slug and page path, the render cache check, and the media map. Rendering
//! itself is in [`super::render`], front matter in [`super::front_matter`].
//!
//! The cache is asked before anything is parsed: the hash covers every input of the rendering
//! that is not the file's path (which the cache is keyed by), so a restart over unchanged content
//! renders nothing. It does not cover the bytes of images a post embeds: replacing an image with
//! one of another size keeps the old width/height until the post itself changes. A second hash,
//! [`source_hash`], covers the file's text alone: it tells an author's edit (an Update for
//! followers) from masthead rendering differently (nothing to send).
//!
//! [`scan`] reads everything; [`scan_paths`] reads only the files below a few changed paths
//! (the watcher's dirty paths, placed by [`locate`]), with the same rules, so that a save costs
//! the same in a site of ten posts or ten thousand.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::front_matter::{self, PostDate, NOT_PUBLISHED};
use super::inline::hashtag_name;
use super::media::{normalize, slash_path};
use super::render::{self, RenderContext};
use super::{Hash, Library, MediaRules, More, Post};
use crate::config::{Actor, Site};
use crate::diagnostics::Diagnostic;
use crate::urls::percent_decode;
use crate::urls::Urls;

/// Bumped whenever the rendering changes in a way that should redo every cached post. Bumping it
/// re-renders, but sends followers nothing: only a change of a post's source does.
pub const RENDER_VERSION: &str = "masthead-render-2";

/// Reads every actor's content folder into a [`Library`].
///
/// `cache(source, hash)` is asked first for each file (`source` relative to the site root);
/// a post it returns is used as is, without parsing or rendering.
pub fn scan(site: &Site, urls: &Urls, cache: &dyn Fn(&Path, &str) -> Option<Post>) -> Library {
    let mut lib = Library::default();
    let config_file = relative_to(&site.config_path, &site.root);
    let rules = MediaRules::for_site(site);
    let actor_dirs = actor_dirs(site);
    for (i, actor) in site.actors.iter().enumerate() {
        for (kind, path) in [("avatar", &actor.avatar), ("header", &actor.header)] {
            if let Some(path) = path {
                match rules.profile_image(&actor.handle, kind, path) {
                    Ok((rel, file)) => {
                        lib.media.insert(rel.clone(), file.clone());
                        lib.profile_media.insert(rel, file);
                    }
                    Err(msg) => lib
                        .diagnostics
                        .push(Diagnostic::error(&config_file, None, msg)),
                }
            }
        }
        let dir = site.root.join(&actor.content);
        let Some(top) = actor_dirs[i].clone().filter(|_| dir.is_dir()) else {
            lib.diagnostics.push(Diagnostic::warning(
                &config_file,
                None,
                format!(
                    "actor \"{}\": content folder \"{}\" does not exist, so it has no posts (create it or set `content` for this actor)",
                    actor.handle,
                    actor.content.display()
                ),
            ));
            continue;
        };
        let mut files = Vec::new();
        walk(
            &dir,
            &top,
            &others(&actor_dirs, i),
            &mut HashSet::new(),
            &mut files,
        );
        read_posts(site, urls, &rules, actor, &dir, files, cache, &mut lib);
    }
    lib.posts
        .sort_by(|a, b| (&a.actor, &a.source).cmp(&(&b.actor, &b.source)));
    lib
}

/// Where a changed path lies, for [`scan_paths`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// In an actor's content folder: the file or folder as a post's `source` spells it
    /// (relative to the site root).
    Content(PathBuf),
    /// A folder holding an actor's content folder (`content/` renamed or removed): everything
    /// must be read again.
    AboveContent,
    /// Outside every content folder, canonical (site.toml, media, anything else).
    Elsewhere(PathBuf),
}

/// Places `path` (absolute, or relative to the site root; it may no longer exist).
pub fn locate(site: &Site, path: &Path) -> Place {
    let abs = if path.is_relative() {
        site.root.join(path)
    } else {
        path.to_path_buf()
    };
    let canon = canonical_lossy(&abs);
    let dirs = actor_dirs(site);
    let inside = site
        .actors
        .iter()
        .zip(&dirs)
        .filter_map(|(actor, dir)| {
            let rest = canon.strip_prefix(dir.as_ref()?).ok()?;
            Some((
                dir.as_ref()?.components().count(),
                actor,
                rest.to_path_buf(),
            ))
        })
        .max_by_key(|(depth, _, _)| *depth);
    if let Some((_, actor, rest)) = inside {
        let file = site.root.join(&actor.content).join(rest);
        return Place::Content(relative_to(&clean(&file), &site.root));
    }
    if dirs.iter().flatten().any(|d| d.starts_with(&canon)) {
        return Place::AboveContent;
    }
    Place::Elsewhere(canon)
}

/// Reads the posts below each of `sources` (as [`locate`] gives them: a file, or a folder for
/// everything below it) with the rules of [`scan`]. A source that no longer exists reads as
/// nothing. Profile images are not read: they are the site's, not a post's.
pub fn scan_paths(
    site: &Site,
    urls: &Urls,
    sources: &[PathBuf],
    cache: &dyn Fn(&Path, &str) -> Option<Post>,
) -> Library {
    let mut lib = Library::default();
    let rules = MediaRules::for_site(site);
    let dirs = actor_dirs(site);
    let mut files: Vec<BTreeSet<PathBuf>> = vec![BTreeSet::new(); site.actors.len()];
    for source in sources {
        let path = site.root.join(source);
        let Some((i, top, rest)) = owner(site, &dirs, &path) else {
            continue;
        };
        // Hidden entries are never posts (editors' swap files, `.git`).
        if rest
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            let mut found = Vec::new();
            walk(
                &path,
                top,
                &others(&dirs, i),
                &mut HashSet::new(),
                &mut found,
            );
            files[i].extend(found);
        } else if path.is_file()
            && path
                .file_name()
                .is_some_and(|n| is_post_file(&n.to_string_lossy()))
        {
            files[i].insert(path);
        }
    }
    for (i, actor) in site.actors.iter().enumerate() {
        let found: Vec<PathBuf> = std::mem::take(&mut files[i]).into_iter().collect();
        if !found.is_empty() {
            let dir = site.root.join(&actor.content);
            read_posts(site, urls, &rules, actor, &dir, found, cache, &mut lib);
        }
    }
    lib.posts
        .sort_by(|a, b| (&a.actor, &a.source).cmp(&(&b.actor, &b.source)));
    lib
}

/// The canonical content folder of each actor, in config order (`None` when it does not exist).
fn actor_dirs(site: &Site) -> Vec<Option<PathBuf>> {
    site.actors
        .iter()
        .map(|a| site.root.join(&a.content).canonicalize().ok())
        .collect()
}

/// The other actors' folders, which belong to them even when nested in actor `i`'s.
fn others(dirs: &[Option<PathBuf>], i: usize) -> Vec<PathBuf> {
    dirs.iter()
        .enumerate()
        .filter(|(j, d)| *j != i && d.is_some() && *d != &dirs[i])
        .filter_map(|(_, d)| d.clone())
        .collect()
}

/// The actor whose content folder holds `path` (the innermost one), its canonical folder and
/// the rest of the path below it.
fn owner<'d>(
    site: &Site,
    dirs: &'d [Option<PathBuf>],
    path: &Path,
) -> Option<(usize, &'d Path, PathBuf)> {
    let canon = canonical_lossy(path);
    (0..site.actors.len())
        .filter_map(|i| {
            let top = dirs[i].as_deref()?;
            let rest = canon.strip_prefix(top).ok()?;
            Some((i, top, rest.to_path_buf()))
        })
        .max_by_key(|(_, top, _)| top.components().count())
}

/// `path` made canonical as far as it exists, the rest appended as written (a removed file or
/// folder has no canonical form of its own).
fn canonical_lossy(path: &Path) -> PathBuf {
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    let mut base = path;
    loop {
        if let Ok(c) = base.canonicalize() {
            return rest.iter().rev().fold(c, |p, part| p.join(part));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                base = parent;
            }
            _ => return clean(path),
        }
    }
}

/// `path` without `.` components and with each `..` taken back.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Reads `files` (sorted) of `actor` into `lib`; of two posts with the same slug only the first
/// is published.
#[allow(clippy::too_many_arguments)]
fn read_posts(
    site: &Site,
    urls: &Urls,
    rules: &MediaRules,
    actor: &Actor,
    dir: &Path,
    files: Vec<PathBuf>,
    cache: &dyn Fn(&Path, &str) -> Option<Post>,
    lib: &mut Library,
) {
    // The slugs seen, as hashes: a copy of each slug and path held until the last file was read
    // would sit between the posts' own small allocations and leave the allocator's pages of
    // those sizes half empty once freed (PERFORMANCE.md, "Memory figures"). A hit is checked
    // against this actor's posts read so far.
    let start = lib.posts.len();
    let mut slugs: HashSet<u64> = HashSet::with_capacity(files.len());
    let state = std::hash::RandomState::new();
    let slug_hash = |slug: &str| std::hash::BuildHasher::hash_one(&state, slug);
    for file in files {
        let source = relative_to(&file, &site.root);
        let Some(post) = read_post(site, urls, rules, actor, dir, &file, &source, cache, lib)
        else {
            continue;
        };
        let first = match slugs.insert(slug_hash(&post.slug)) {
            true => None,
            false => lib.posts[start..]
                .iter()
                .find(|p| p.slug == post.slug)
                .map(|p| p.source.to_path_buf()),
        };
        if let Some(first) = first {
            lib.diagnostics.push(Diagnostic::warning(
                &source,
                Some(1),
                format!(
                    "slug \"{}\" is also used by {}; only the first is published (set a different `slug` in front matter)",
                    post.slug,
                    slash_path(&first)
                ),
            ));
            lib.media_of.remove(&source);
            continue;
        }
        lib.posts.push(post);
    }
}

/// One file to a post, from the cache or by rendering; `None` (with a diagnostic) when it
/// cannot be published.
#[allow(clippy::too_many_arguments)]
fn read_post(
    site: &Site,
    urls: &Urls,
    rules: &MediaRules,
    actor: &Actor,
    actor_dir: &Path,
    file: &Path,
    source: &Path,
    cache: &dyn Fn(&Path, &str) -> Option<Post>,
    lib: &mut Library,
) -> Option<Post> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            lib.diagnostics.push(Diagnostic::error(
                source,
                None,
                format!("cannot read the file: {e}; {NOT_PUBLISHED}"),
            ));
            return None;
        }
    };
    let hash = content_hash(site, &actor.handle, &bytes);
    let source_hash = source_hash(&bytes);
    if let Some(mut post) = cache(source, &hash.to_hex()) {
        // The cached post's images must still be publishable (present, and still an image
        // where images may be); if one is not, the post is rendered again, which reports it.
        if let Some(media) = cached_media(rules, urls, &post) {
            lib.media.extend(media.iter().cloned());
            if !media.is_empty() {
                lib.media_of.insert(source.to_path_buf(), media);
            }
            post.source_hash = source_hash;
            return Some(post);
        }
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        lib.diagnostics.push(Diagnostic::error(
            source,
            None,
            format!("not UTF-8 text (save the file as UTF-8); {NOT_PUBLISHED}"),
        ));
        return None;
    };
    let doc = match front_matter::parse(source, text) {
        Ok(doc) => doc,
        Err(d) => {
            lib.diagnostics.push(d);
            return None;
        }
    };
    let fm = doc.front;
    let date = fm.date.or_else(|| jekyll_date(source));
    let slug = derive_slug(fm.slug.as_deref(), source);
    let page_path = page_path(
        site,
        actor_dir,
        file,
        fm.slug.as_ref().map(|_| slug.as_str()),
    );
    let post_url = urls.post_url(&actor.handle, &slug, &page_path, fm.url.as_deref());
    let rendered = render::render(
        doc.body,
        &RenderContext {
            urls,
            media: rules,
            source,
            body_line: doc.body_line,
            post_url: &post_url,
        },
    );
    let failed = rendered.has_errors();
    lib.diagnostics.extend(rendered.diagnostics);
    if failed {
        return None;
    }
    lib.media.extend(rendered.media.iter().cloned());
    if !rendered.media.is_empty() {
        lib.media_of
            .insert(source.to_path_buf(), rendered.media.into_iter().collect());
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in fm
        .tags
        .iter()
        .filter_map(|t| hashtag_name(t))
        .chain(rendered.tags)
    {
        if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            tags.push(tag);
        }
    }
    Some(Post {
        actor: actor.handle.as_str().into(),
        slug: slug.into_boxed_str(),
        source: source.into(),
        hash,
        source_hash,
        title: fm.title.map(String::into_boxed_str),
        date: date.map(|d| d.resolve(site.timezone)),
        tags: tags.into_iter().map(String::into_boxed_str).collect(),
        page_path: page_path.into_boxed_str(),
        html: rendered.html.into_boxed_str(),
        text_len: Post::text_len_of(rendered.text_len),
        visibility: fm.visibility,
        object_type: fm.object_type,
        draft: fm.draft,
        sensitive: fm.sensitive,
        pinned: fm.pinned,
        federate: fm.federate,
        more: More {
            day_end: date.and_then(|d| d.day_end(site.timezone)),
            updated: fm.updated.map(|d| d.resolve(site.timezone)),
            summary: fm.summary,
            lang: fm.lang,
            aliases: fm.aliases,
            content_warning: fm.content_warning,
            in_reply_to: fm.in_reply_to,
            url: fm.url,
            attachments: rendered.attachments,
            mentions: rendered.mentions,
        }
        .boxed(),
    })
}

/// SHA-256 over everything a rendering depends on besides the file's path. Each part is
/// length-prefixed so that no two different inputs hash the same bytes.
pub fn content_hash(site: &Site, handle: &str, bytes: &[u8]) -> Hash {
    let html_base = site
        .html_base_url
        .as_ref()
        .map(|u| u.as_str())
        .unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        RENDER_VERSION.as_bytes(),
        site.base_url.as_str().as_bytes(),
        html_base.as_bytes(),
        // Dates without an offset are read in it.
        site.timezone.name().as_bytes(),
        handle.as_bytes(),
        bytes,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Hash(h.finalize().into())
}

/// SHA-256 over a post file's text read as words: each run of whitespace counts as one
/// separator, and whitespace at either end (and a byte order mark) counts as nothing. So
/// re-wrapping a paragraph, trailing spaces, CRLF line ends or blank lines change nothing; any
/// other change to the front matter or the body does.
pub fn source_hash(bytes: &[u8]) -> Hash {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut h = Sha256::new();
    for word in bytes
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
    {
        h.update((word.len() as u64).to_le_bytes());
        h.update(word);
    }
    Hash(h.finalize().into())
}

/// The local files a cached post's attachments point at, or `None` when one may no longer be
/// published (gone, replaced by something that is not an image, or ruled out since the post
/// was cached by an older masthead).
fn cached_media(rules: &MediaRules, urls: &Urls, post: &Post) -> Option<Vec<(String, PathBuf)>> {
    let prefix = format!("{}/media/", urls.base());
    let mut out = Vec::new();
    for a in &post.more().attachments {
        let Some(encoded) = a.url.strip_prefix(&prefix) else {
            continue;
        };
        let rel: Vec<String> = encoded
            .split('/')
            .map(|s| percent_decode(s).unwrap_or_else(|| s.to_string()))
            .collect();
        let rel = slash_path(&normalize(Path::new(&rel.join("/")))?);
        let file = rules.post_image(&rel)?;
        out.push((rel, file));
    }
    Some(out)
}

/// Collects the post files below `dir`, sorted. Hidden entries are skipped, and symlinks are
/// followed only when they point inside `top` (the actor's folder, canonical); `visited` stops
/// symlink loops, `others` keeps other actors' folders out.
fn walk(
    dir: &Path,
    top: &Path,
    others: &[PathBuf],
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) {
    let Ok(canonical) = dir.canonicalize() else {
        return;
    };
    if !visited.insert(canonical) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let meta = if meta.file_type().is_symlink() {
            match (path.canonicalize(), std::fs::metadata(&path)) {
                (Ok(target), Ok(m)) if target.starts_with(top) => m,
                _ => continue,
            }
        } else {
            meta
        };
        if meta.is_dir() {
            let is_other = path.canonicalize().is_ok_and(|c| others.contains(&c));
            if !is_other {
                walk(&path, top, others, visited, out);
            }
        } else if meta.is_file() && is_post_file(&name) {
            out.push(path);
        }
    }
}

/// `.md` and `.markdown` files, except `_index.md` (a Hugo/Zola section page, not a post).
fn is_post_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some((stem, ext)) = lower.rsplit_once('.') else {
        return false;
    };
    matches!(ext, "md" | "markdown") && stem != "_index"
}

/// The name a file gives its post: its stem, or its folder's name for `index.md` (a Hugo page
/// bundle).
fn file_stem(source: &Path) -> String {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.eq_ignore_ascii_case("index") {
        if let Some(folder) = source.parent().and_then(Path::file_name) {
            return folder.to_string_lossy().into_owned();
        }
    }
    stem
}

/// The length of a Jekyll `YYYY-MM-DD-` prefix at the start of `name`, if it has one.
fn date_prefix_len(name: &str) -> Option<usize> {
    let b = name.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let ok = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'-');
    ok.then_some(11)
}

/// The day in a Jekyll file name (`2026-11-20-budget.md`), when there is one: Jekyll dates
/// posts that way when front matter names no date.
fn jekyll_date(source: &Path) -> Option<PostDate> {
    let stem = file_stem(source);
    date_prefix_len(&stem)?;
    chrono::NaiveDate::parse_from_str(stem.get(..10)?, "%Y-%m-%d")
        .ok()
        .map(PostDate::Day)
}

/// The post's slug: front matter `slug`, else the file's stem without a Jekyll date prefix;
/// lowercased ASCII letters and digits, anything else a single `-`. Slugs are part of post ids,
/// which other servers compare byte for byte, so they stay ASCII.
pub fn derive_slug(front_matter_slug: Option<&str>, source: &Path) -> String {
    let raw = match front_matter_slug {
        Some(s) => s.to_string(),
        None => {
            let stem = file_stem(source);
            match date_prefix_len(&stem) {
                Some(n) => stem[n..].to_string(),
                None => stem,
            }
        }
    };
    let slug = slugify(&raw);
    if !slug.is_empty() {
        return slug;
    }
    // Nothing ASCII to keep (a title in another script): the path still names it stably.
    let digest = Sha256::digest(slash_path(source).as_bytes());
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("post-{short}")
}

/// Lowercase ASCII alphanumerics, every other run of characters one `-`, none at the ends.
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The post's path on a static site: relative to the site's `content/` folder when the actor's
/// folder is inside it (as Hugo and Zola lay sites out), else relative to the actor's folder;
/// without extension or a final `index`, with `slug` in place of the file's name, ending in `/`.
fn page_path(site: &Site, actor_dir: &Path, file: &Path, slug: Option<&str>) -> String {
    let content_root = site.root.join("content");
    let rel = if actor_dir.starts_with(&content_root) {
        file.strip_prefix(&content_root)
    } else {
        file.strip_prefix(actor_dir)
    }
    .unwrap_or(file);
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.rsplit_once('.').map_or(last.as_str(), |(s, _)| s);
        if !stem.eq_ignore_ascii_case("index") {
            parts.push(stem.to_string());
        }
    }
    if let Some(slug) = slug {
        match parts.last_mut() {
            Some(last) => *last = slug.to_string(),
            None => parts.push(slug.to_string()),
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("{}/", parts.join("/"))
}

/// `path` relative to `root` when inside it, else as given.
fn relative_to(path: &Path, root: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::content::test_support::{png, write};

    struct TestSite {
        dir: tempfile::TempDir,
    }

    fn site_with(config: &str) -> TestSite {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "site.toml", config);
        // site.toml validation requires every actor's content folder to exist.
        std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
        TestSite { dir }
    }

    fn site() -> TestSite {
        site_with(
            "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"news\"\n",
        )
    }

    impl TestSite {
        fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
            write(self.dir.path(), rel, text);
            self
        }

        fn site(&self) -> Site {
            Site::load(&self.dir.path().join("site.toml")).unwrap().site
        }

        fn scan_with(&self, cache: &dyn Fn(&Path, &str) -> Option<Post>) -> Library {
            let site = self.site();
            scan(&site, &Urls::new(&site), cache)
        }

        fn scan(&self) -> Library {
            self.scan_with(&|_, _| None)
        }

        /// Loads site.toml (which checks it), lets `change` alter the site folder, then scans.
        fn scan_after(&self, change: impl FnOnce(&Path)) -> Library {
            let site = self.site();
            change(self.dir.path());
            scan(&site, &Urls::new(&site), &|_, _| None)
        }
    }

    /// A site whose one post, `content/news/x.md`, holds `text`, scanned.
    fn site_with_post(text: &str) -> Library {
        let s = site();
        s.write("content/news/x.md", text);
        s.scan()
    }

    fn messages(lib: &Library) -> Vec<String> {
        lib.diagnostics.iter().map(ToString::to_string).collect()
    }

    fn post<'a>(lib: &'a Library, slug: &str) -> &'a Post {
        lib.posts
            .iter()
            .find(|p| *p.slug == *slug)
            .unwrap_or_else(|| panic!("no post {slug} in {:?}", lib.posts))
    }

    const FM: &str = "+++\ntitle = \"t\"\n+++\n";

    #[test]
    fn can_scan_posts_in_sorted_order_skipping_what_is_not_a_post() {
        let s = site();
        s.write("content/news/2026/budget.md", format!("{FM}Budget"))
            .write("content/news/harbour/index.md", format!("{FM}Bundle"))
            .write("content/news/a.markdown", format!("{FM}A"))
            .write("content/news/_index.md", "+++\ntitle = \"Section\"\n+++\n")
            .write("content/news/.hidden.md", format!("{FM}x"))
            .write("content/news/.git/x.md", format!("{FM}x"))
            .write("content/news/notes.txt", "not a post")
            .write("content/news/harbour/photo.md.bak", "x");
        let lib = s.scan();
        assert!(lib.diagnostics.is_empty(), "{:?}", messages(&lib));
        let got: Vec<(&str, &str, &str)> = lib
            .posts
            .iter()
            .map(|p| (p.source.to_str().unwrap(), &*p.slug, &*p.page_path))
            .collect();
        assert_eq!(
            got,
            vec![
                ("content/news/2026/budget.md", "budget", "news/2026/budget/"),
                ("content/news/a.markdown", "a", "news/a/"),
                ("content/news/harbour/index.md", "harbour", "news/harbour/"),
            ]
        );
        let p = post(&lib, "budget");
        assert_eq!(&*p.actor, "news");
        assert_eq!(&*p.html, "<p>Budget</p>");
        assert_eq!(p.text_len, 6);
        assert!(p.federate);
    }

    #[test]
    fn can_derive_slugs_from_front_matter_and_file_names() {
        let s = site();
        s.write("content/news/2026-11-20-Budget Vote!.md", format!("{FM}x"))
            .write(
                "content/news/2026/old-name.md",
                "+++\nslug = \"New Name\"\n+++\nx",
            )
            .write("content/news/東京.md", format!("{FM}x"));
        let lib = s.scan();
        assert!(lib.diagnostics.is_empty(), "{:?}", messages(&lib));
        let jekyll = post(&lib, "budget-vote");
        assert_eq!(&*jekyll.page_path, "news/2026-11-20-Budget Vote!/");
        assert_eq!(
            jekyll.date,
            Some(
                chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
                    .unwrap()
                    .into()
            )
        );
        assert_eq!(&*post(&lib, "new-name").page_path, "news/2026/new-name/");
        assert!(lib
            .posts
            .iter()
            .any(|p| p.slug.starts_with("post-") && p.slug.len() == 13));
    }

    #[test]
    fn can_slugify() {
        assert_eq!(slugify("  Hello, World -- 2026 "), "hello-world-2026");
        assert_eq!(slugify("ÉTÉ"), "t");
        assert_eq!(slugify("---"), "");
        assert_eq!(
            derive_slug(None, Path::new("content/news/2026-01-02-x.md")),
            "x"
        );
        assert_eq!(
            derive_slug(None, Path::new("content/news/2026-01-02-y/index.md")),
            "y"
        );
        assert_eq!(
            derive_slug(Some("2026-01-02-z"), Path::new("a.md")),
            "2026-01-02-z"
        );
    }

    #[test]
    fn can_warn_about_duplicate_slugs_and_keep_the_first() {
        let s = site();
        s.write("content/news/a.md", "+++\nslug = \"x\"\n+++\nfirst")
            .write("content/news/b.md", "+++\nslug = \"x\"\n+++\nsecond");
        let lib = s.scan();
        assert_eq!(
            messages(&lib),
            vec!["content/news/b.md:1: slug \"x\" is also used by content/news/a.md; only the first is published (set a different `slug` in front matter)"]
        );
        assert!(!lib.diagnostics[0].is_error());
        assert_eq!(lib.posts.len(), 1);
        assert_eq!(&*lib.posts[0].html, "<p>first</p>");
    }

    #[test]
    fn errors_when_a_post_has_no_front_matter_and_serves_the_rest() {
        let s = site();
        s.write("content/news/x.md", "# Just Markdown\n")
            .write("content/news/y.md", format!("{FM}fine"));
        let lib = s.scan();
        assert_eq!(
            messages(&lib),
            vec!["content/news/x.md:1: no front matter: a post starts with +++ (TOML) or --- (YAML) on its first line; this post is not published until it is fixed"]
        );
        assert!(lib.diagnostics[0].is_error());
        assert_eq!(lib.posts.len(), 1);
    }

    #[test]
    fn errors_when_an_image_is_missing_and_skips_the_post() {
        let lib = site_with_post(
            "+++\ntitle = \"t\"\ndate = 2026-11-20\n+++\nOne\n\nTwo\n![](missing.png)\n",
        );
        assert_eq!(
            messages(&lib),
            vec!["content/news/x.md:8: image \"missing.png\" not found (looked for content/news/missing.png); add the file or fix the path; this post is not published until it is fixed"]
        );
        assert!(lib.posts.is_empty());
    }

    #[test]
    fn can_keep_drafts_flagged() {
        let s = site();
        s.write("content/news/d.md", "---\ndraft: true\n---\nwip");
        let lib = s.scan();
        assert!(post(&lib, "d").draft);
    }

    #[test]
    fn can_register_post_images_and_profile_images_as_media() {
        let s = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"news\"\navatar = \"img/avatar.png\"\nheader = \"img/header.png\"\n",
        );
        s.write("img/avatar.png", png(4, 4))
            .write("img/header.png", png(8, 2))
            .write(
                "content/news/p/index.md",
                format!("{FM}![Harbour](harbour.png)"),
            )
            .write("content/news/p/harbour.png", png(5, 3));
        let lib = s.scan();
        assert!(lib.diagnostics.is_empty(), "{:?}", messages(&lib));
        let root = s.site().root;
        assert_eq!(
            lib.media,
            BTreeMap::from([
                (
                    "content/news/p/harbour.png".to_string(),
                    root.join("content/news/p/harbour.png")
                ),
                ("img/avatar.png".to_string(), root.join("img/avatar.png")),
                ("img/header.png".to_string(), root.join("img/header.png")),
            ])
        );
        let a = &post(&lib, "p").more().attachments[0];
        assert_eq!(
            a.url,
            "https://social.city.example/media/content/news/p/harbour.png"
        );
        assert_eq!((a.width, a.height), (Some(5), Some(3)));
    }

    #[test]
    fn errors_when_an_avatar_disappears_after_the_config_was_checked() {
        // site.toml validation refuses a missing avatar; the scan catches one removed since.
        let s = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"news\"\navatar = \"img/x.png\"\n",
        );
        s.write("img/x.png", png(1, 1));
        let lib = s.scan_after(|root| std::fs::remove_file(root.join("img/x.png")).unwrap());
        assert_eq!(
            messages(&lib),
            vec!["site.toml: actor \"news\": avatar \"img/x.png\" does not exist (add the file or fix the path)"]
        );
    }

    #[test]
    fn rejects_profile_images_that_may_not_be_published() {
        // site.toml validation sees a .png inside the site folder; the scan looks closer.
        let s = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\ndata_dir = \"state\"\n\n[[actor]]\nhandle = \"news\"\navatar = \".git/avatar.png\"\nheader = \"img/header.png\"\n\n[[actor]]\nhandle = \"press\"\ncontent = \"content/news\"\navatar = \"state/avatar.png\"\n",
        );
        s.write(".git/avatar.png", png(1, 1))
            .write("img/header.png", "not an image\n")
            .write("state/avatar.png", png(1, 1));
        let lib = s.scan();
        assert_eq!(
            messages(&lib),
            vec![
                "site.toml: actor \"news\": avatar \".git/avatar.png\" is in a hidden folder or file (a name starts with \".\"), which is never published (move the image to a folder whose name does not start with \".\")",
                "site.toml: actor \"news\": header \"img/header.png\" is not a PNG, JPEG, GIF, WebP or AVIF image by its content (convert it to PNG)",
                "site.toml: actor \"press\": avatar \"state/avatar.png\" is in the data directory (state/), which holds the database and keys and is never published (move the image into the actor's content folder)",
            ]
        );
        assert!(lib.diagnostics.iter().all(Diagnostic::is_error));
        assert!(lib.media.is_empty(), "{:?}", lib.media);
    }

    #[cfg(unix)]
    #[test]
    fn rejects_a_profile_image_linked_out_of_the_site_folder() {
        let s = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"news\"\navatar = \"img/avatar.png\"\n",
        );
        s.write("img/avatar.png", png(1, 1));
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.png", png(1, 1));
        let lib = s.scan_after(|root| {
            std::fs::remove_file(root.join("img/avatar.png")).unwrap();
            std::os::unix::fs::symlink(
                outside.path().join("secret.png"),
                root.join("img/avatar.png"),
            )
            .unwrap();
        });
        assert_eq!(
            messages(&lib),
            vec!["site.toml: actor \"news\": avatar \"img/avatar.png\" is a symbolic link that leads out of the site folder (copy the image into the site folder instead of linking to it)"]
        );
        assert!(lib.media.is_empty());
    }

    /// Scans `s` with every post read from the cache as `cached`: nothing is published, no
    /// media file is served, and `message` says why.
    fn refuses_with_cached(s: &TestSite, cached: &Post, message: &str) {
        let lib = s.scan_with(&|_, _| Some(cached.clone()));
        assert!(lib.posts.is_empty());
        assert!(lib.media.is_empty(), "{:?}", lib.media);
        assert_eq!(messages(&lib), vec![message]);
    }

    #[test]
    fn rejects_a_cached_post_whose_image_may_no_longer_be_published() {
        let s = site();
        s.write("content/news/x.md", format!("{FM}![a](a.png)"))
            .write("content/news/a.png", png(1, 1));
        let cached = s.scan().posts[0].clone();
        // The image is replaced by something that is not one after the post was cached.
        s.write("content/news/a.png", "SQLite format 3\0");
        refuses_with_cached(&s, &cached, "content/news/x.md:4: image \"a.png\" (content/news/a.png) is not a PNG, JPEG, GIF, WebP or AVIF image by its content (convert it to PNG or JPEG, or fix the path); this post is not published until it is fixed");
    }

    #[test]
    fn rejects_a_cached_post_that_an_older_masthead_let_publish_the_database() {
        // Rendered and cached before media were checked: the cache must not bring it back.
        let s = site();
        s.write(
            "content/news/x.md",
            format!("{FM}![k](/.masthead/masthead.db)"),
        )
        .write(".masthead/masthead.db", "SQLite format 3\0");
        let mut cached = post(&site_with_post("+++\nslug = \"x\"\n+++\nx"), "x").clone();
        cached.more_mut().attachments = vec![crate::content::Attachment {
            url: "https://social.city.example/media/.masthead/masthead.db".into(),
            media_type: "application/octet-stream".into(),
            alt: "k".into(),
            width: None,
            height: None,
        }];
        refuses_with_cached(&s, &cached, "content/news/x.md:4: image \"/.masthead/masthead.db\" is in a hidden folder or file (a name starts with \".\"), which is never published (put the image under content/news/ with a name that does not start with \".\"); this post is not published until it is fixed");
    }

    #[test]
    fn can_warn_when_an_actors_content_folder_disappears() {
        let lib =
            site().scan_after(|root| std::fs::remove_dir_all(root.join("content/news")).unwrap());
        assert_eq!(
            messages(&lib),
            vec!["site.toml: actor \"news\": content folder \"content/news\" does not exist, so it has no posts (create it or set `content` for this actor)"]
        );
    }

    #[test]
    fn can_put_front_matter_tags_before_inline_ones() {
        let lib = site_with_post(
            "+++\ntags = [\"Budget\", \"open source\"]\n[taxonomies]\ntags = [\"city\"]\n+++\n#budget #Harbour #City\n",
        );
        assert_eq!(
            post(&lib, "x").tags,
            ["Budget", "opensource", "city", "Harbour"]
                .map(Box::from)
                .into()
        );
    }

    #[test]
    fn can_reuse_a_cached_post_without_rendering_it() {
        let s = site();
        // Rendering this file would fail (the image is missing); the cache hit must skip that.
        s.write(
            "content/news/x.md",
            "+++\ntitle = \"t\"\n+++\n![](missing.png)\n",
        );
        let sentinel = Post {
            html: "<p>from the cache</p>".into(),
            ..post(&site_with_post("+++\nslug = \"x\"\n+++\nx"), "x").clone()
        };
        let asked = Cell::new(0);
        let expected_hash = content_hash(
            &s.site(),
            "news",
            &std::fs::read(s.dir.path().join("content/news/x.md")).unwrap(),
        );
        let lib = s.scan_with(&|source, hash| {
            asked.set(asked.get() + 1);
            assert_eq!(source, Path::new("content/news/x.md"));
            assert_eq!(hash, expected_hash.to_hex());
            Some(sentinel.clone())
        });
        assert_eq!(asked.get(), 1);
        assert!(lib.diagnostics.is_empty(), "{:?}", messages(&lib));
        // The source hash is the file's, whatever the cache holds.
        let bytes = std::fs::read(s.dir.path().join("content/news/x.md")).unwrap();
        let expected = Post {
            source_hash: source_hash(&bytes),
            ..sentinel
        };
        assert_eq!(lib.posts, vec![expected]);
    }

    #[test]
    fn can_render_again_when_a_cached_posts_image_is_gone() {
        let s = site();
        s.write("content/news/x.md", format!("{FM}![a](a.png)"))
            .write("content/news/a.png", png(1, 1));
        let first = s.scan();
        let cached = first.posts[0].clone();
        assert_eq!(first.media.len(), 1);
        let hit = s.scan_with(&|_, _| Some(cached.clone()));
        assert_eq!(hit.media, first.media);
        std::fs::remove_file(s.dir.path().join("content/news/a.png")).unwrap();
        let miss = s.scan_with(&|_, _| Some(cached.clone()));
        assert!(miss.posts.is_empty());
        assert!(miss.diagnostics[0].message.contains("not found"));
    }

    #[test]
    fn can_hash_everything_the_rendering_depends_on() {
        let a = site().site();
        let b = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\nhtml_base_url = \"https://city.example\"\n\n[[actor]]\nhandle = \"news\"\n",
        )
        .site();
        let h = content_hash(&a, "news", b"x");
        assert_eq!(h.to_hex().len(), 64);
        assert_eq!(h, content_hash(&a, "news", b"x"));
        assert_ne!(h, content_hash(&a, "news", b"y"));
        assert_ne!(h, content_hash(&a, "blog", b"x"));
        assert_ne!(h, content_hash(&b, "news", b"x"));
    }

    #[test]
    fn can_resolve_links_against_the_static_site_page() {
        let s = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\nhtml_base_url = \"https://city.example\"\n\n[[actor]]\nhandle = \"news\"\n",
        );
        s.write(
            "content/news/2026/budget.md",
            format!("{FM}[prev](../../2025/budget/)"),
        );
        let lib = s.scan();
        assert_eq!(&*post(&lib, "budget").html,
            "<p><a href=\"https://city.example/news/2025/budget/\" rel=\"nofollow noopener\">prev</a></p>"
        );
    }

    #[test]
    fn can_keep_nested_actor_folders_apart() {
        let s = site_with(
            "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"city\"\ncontent = \"content\"\n\n[[actor]]\nhandle = \"news\"\n",
        );
        s.write("content/about.md", format!("{FM}about"))
            .write("content/news/budget.md", format!("{FM}budget"));
        let lib = s.scan();
        let got: Vec<(&str, &str)> = lib.posts.iter().map(|p| (&*p.actor, &*p.slug)).collect();
        assert_eq!(got, vec![("city", "about"), ("news", "budget")]);
        // The actor folder is `content/` itself: page paths are still relative to it.
        assert_eq!(&*post(&lib, "about").page_path, "about/");
    }

    #[cfg(unix)]
    #[test]
    fn rejects_symlinks_out_of_the_content_folder() {
        let s = site();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.md", format!("{FM}secret"));
        write(outside.path(), "dir/also.md", format!("{FM}also"));
        s.write("content/news/real.md", format!("{FM}real"));
        let news = s.dir.path().join("content/news");
        std::os::unix::fs::symlink(outside.path().join("secret.md"), news.join("secret.md"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path().join("dir"), news.join("dir")).unwrap();
        std::os::unix::fs::symlink(news.join("real.md"), news.join("alias.md")).unwrap();
        std::os::unix::fs::symlink(&news, news.join("loop")).unwrap();
        let lib = s.scan();
        let slugs: Vec<&str> = lib.posts.iter().map(|p| &*p.slug).collect();
        // `alias.md` points inside the folder and is followed; it has its own slug.
        assert_eq!(slugs, vec!["alias", "real"]);
    }
}
