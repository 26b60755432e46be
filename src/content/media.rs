//! Images in a post: which local files may be published, sniffing their type and size, and
//! turning the first four images into attachments.
//!
//! This module owns what a post (or a profile) may publish under `/media/`. A local image is
//! published only when it is all of these, checked both on the path as written and on the file
//! it really names (symlinks resolved):
//! - inside a content folder (for a post) or exactly the avatar/header site.toml names;
//! - not hidden: no part of its path below the site root starts with `.` (`.git/`, `.masthead/`,
//!   `.env`);
//! - not under the data directory, wherever `data_dir` points (it holds the database with every
//!   actor's private key);
//! - not site.toml;
//! - a PNG, JPEG, GIF, WebP or AVIF image by its first bytes, whatever its name says. SVG is
//!   refused: it is a document that can carry script.
//!
//! Everything else is reported as an error on the post's line and the post is not published,
//! as a missing image is. This module reads image files but does not parse Markdown (the writer
//! in `super::render` collects [`ImageRef`]s) and does not serve the files (the media map it
//! fills is served by `http`, which can sniff again with [`sniffed_image_type`]).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use url::Url;

use super::front_matter::NOT_PUBLISHED;
use super::render::{RenderContext, Rendered};
use super::Attachment;
use crate::config::Site;
use crate::diagnostics::Diagnostic;
use crate::urls::percent_decode;

/// Mastodon shows at most four attachments (`Status::MEDIA_ATTACHMENTS_LIMIT`).
const MAX_ATTACHMENTS: usize = 4;

/// The image types a local file may have, as the message names them.
const IMAGE_TYPES: &str = "PNG, JPEG, GIF, WebP or AVIF";

/// Bytes read to sniff a file's type: the longest signature (AVIF's `ftyp` box with its brands)
/// fits, and so does an SVG's XML prologue.
const SNIFF_LEN: u64 = 512;

/// Where a site's local images may come from; built once per scan from the site.
#[derive(Clone, Debug)]
pub struct MediaRules {
    root: PathBuf,
    /// Every actor's content folder, relative to `root`, normalized.
    content: Vec<PathBuf>,
    /// As configured: absolute, or relative to the working directory like `root`.
    data_dir: PathBuf,
    config: PathBuf,
}

/// Why a local file may not be published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// Not inside a content folder (or not inside the site, or site.toml itself).
    Outside,
    /// A part of its path starts with `.`.
    Hidden,
    /// Under the data directory.
    DataDir,
    /// Not a file.
    Missing,
    /// The path is allowed but the file it names, symlinks resolved, is not.
    Link,
    /// Not an allowed image type by content.
    NotImage,
    /// An SVG (by content or name).
    Svg,
}

/// Which places a file may be in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A post's image: inside a content folder.
    ContentFolder,
    /// An avatar or header named in site.toml: that file, wherever it is in the site.
    Named,
}

impl MediaRules {
    /// The rules of `site`: its actors' content folders, data directory and config file.
    pub fn for_site(site: &Site) -> Self {
        Self::new(
            &site.root,
            site.actors.iter().map(|a| a.content.as_path()),
            &site.data_dir,
            &site.config_path,
        )
    }

    /// Rules for a site at `root` (`content` relative to it; `data_dir` and `config` as given).
    pub fn new<'a>(
        root: &Path,
        content: impl IntoIterator<Item = &'a Path>,
        data_dir: &Path,
        config: &Path,
    ) -> Self {
        MediaRules {
            root: root.to_path_buf(),
            // A content folder that is the site root itself normalizes to nothing: every path.
            content: content
                .into_iter()
                .map(|c| normalize(c).unwrap_or_default())
                .collect(),
            data_dir: data_dir.to_path_buf(),
            config: config.to_path_buf(),
        }
    }

    /// Rules under which no local image is published (profile text in site.toml has no
    /// content folder of its own).
    pub fn nothing(root: &Path) -> Self {
        MediaRules {
            root: root.to_path_buf(),
            content: Vec::new(),
            data_dir: root.join(".masthead"),
            config: root.join("site.toml"),
        }
    }

    /// The site root on disk.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content folder that holds `source` (relative to the root), as a person would type
    /// it, for the message that says where to put an image.
    fn home_of(&self, source: &Path) -> String {
        self.content
            .iter()
            .filter(|c| source.starts_with(c))
            .max_by_key(|c| c.components().count())
            .or(self.content.first())
            .map(|c| match slash_path(c) {
                s if s.is_empty() => "the site folder".to_string(),
                s => format!("{s}/"),
            })
            .unwrap_or_else(|| "a content folder".to_string())
    }

    /// The data directory relative to the root, when it lies inside the site folder.
    fn data_dir_in_site(&self) -> Option<PathBuf> {
        normalize(self.data_dir.strip_prefix(&self.root).ok()?)
    }

    /// The data directory as a person would look for it.
    fn data_dir_shown(&self) -> String {
        self.data_dir_in_site()
            .map(|d| format!("{}/", slash_path(&d)))
            .unwrap_or_else(|| self.data_dir.display().to_string())
    }

    /// Whether `rel` (relative to the root, normalized) may be published from `place`, and
    /// the file's media type by its content when it may.
    ///
    /// The path as written is checked first, so the message names the rule the author broke;
    /// then the file it names with every symlink resolved, so that no link (from a content
    /// folder into `.masthead/`, say) gets around a rule; then its first bytes.
    fn check(&self, rel: &Path, place: Place) -> Result<&'static str, Refusal> {
        if is_hidden(rel) {
            return Err(Refusal::Hidden);
        }
        if self.data_dir_in_site().is_some_and(|d| rel.starts_with(d)) {
            return Err(Refusal::DataDir);
        }
        if normalize(self.config.strip_prefix(&self.root).unwrap_or(&self.config))
            .is_some_and(|c| c == rel)
        {
            return Err(Refusal::Outside);
        }
        if place == Place::ContentFolder && !self.content.iter().any(|c| rel.starts_with(c)) {
            return Err(Refusal::Outside);
        }
        let file = self.root.join(rel);
        if !file.is_file() {
            return Err(Refusal::Missing);
        }
        let (Ok(real), Ok(root)) = (file.canonicalize(), self.root.canonicalize()) else {
            return Err(Refusal::Missing);
        };
        // A root inside the data dir (`publish = "commit"` serves an export kept there) is
        // not private: what lies outside it is refused just below.
        if self
            .data_dir
            .canonicalize()
            .is_ok_and(|d| real.starts_with(&d) && !root.starts_with(&d))
        {
            return Err(Refusal::DataDir);
        }
        let Ok(real_rel) = real.strip_prefix(&root) else {
            return Err(Refusal::Link);
        };
        let in_content = || {
            self.content.iter().any(|c| {
                root.join(c)
                    .canonicalize()
                    .is_ok_and(|c| real.starts_with(c))
            })
        };
        if is_hidden(real_rel)
            || self.config.canonicalize().is_ok_and(|c| c == real)
            || (place == Place::ContentFolder && !in_content())
        {
            return Err(Refusal::Link);
        }
        sniff(&real)
    }

    /// Why a post's image `dest` (resolved to `rel` when it stays in the site) is refused, as
    /// the line a person reads.
    fn post_message(&self, source: &Path, dest: &str, rel: Option<&Path>, why: Refusal) -> String {
        let home = self.home_of(source);
        let rel = rel.map(slash_path).unwrap_or_default();
        let what = match why {
            Refusal::Outside => format!(
                "is not an image file inside the content folders (put the image under {home} and link it from there)"
            ),
            Refusal::Hidden => format!(
                "is in a hidden folder or file (a name starts with \".\"), which is never published (put the image under {home} with a name that does not start with \".\")"
            ),
            Refusal::DataDir => format!(
                "is in the data directory ({}), which holds the database and keys and is never published (put the image under {home})",
                self.data_dir_shown()
            ),
            Refusal::Missing => format!("not found (looked for {rel}); add the file or fix the path"),
            Refusal::Link => format!(
                "({rel}) is a symbolic link to a file outside the content folders (copy the image into {home} instead of linking to it)"
            ),
            Refusal::NotImage => format!(
                "({rel}) is not a {IMAGE_TYPES} image by its content (convert it to PNG or JPEG, or fix the path)"
            ),
            Refusal::Svg => format!(
                "({rel}) is an SVG, which can carry script and is never published (convert it to PNG)"
            ),
        };
        format!("image \"{dest}\" {what}; {NOT_PUBLISHED}")
    }

    /// Whether an avatar or header at `path` (as site.toml gives it) may be published: the
    /// `/`-separated path and the file when it may, else the line a person reads.
    pub(super) fn profile_image(
        &self,
        handle: &str,
        kind: &str,
        path: &Path,
    ) -> Result<(String, PathBuf), String> {
        let shown = slash_path(path);
        let what = match normalize(path).ok_or(Refusal::Outside).and_then(|rel| {
            self.check(&rel, Place::Named)?;
            Ok(rel)
        }) {
            Ok(rel) => return Ok((slash_path(&rel), self.root.join(&rel))),
            Err(Refusal::Outside) => {
                "is outside the site folder (use a path inside the folder that holds site.toml)"
                    .to_string()
            }
            Err(Refusal::Missing) => "does not exist (add the file or fix the path)".to_string(),
            Err(Refusal::Hidden) => "is in a hidden folder or file (a name starts with \".\"), which is never published (move the image to a folder whose name does not start with \".\")".to_string(),
            Err(Refusal::DataDir) => format!(
                "is in the data directory ({}), which holds the database and keys and is never published (move the image into the actor's content folder)",
                self.data_dir_shown()
            ),
            Err(Refusal::Link) => "is a symbolic link that leads out of the site folder (copy the image into the site folder instead of linking to it)".to_string(),
            Err(Refusal::NotImage | Refusal::Svg) => {
                format!("is not a {IMAGE_TYPES} image by its content (convert it to PNG)")
            }
        };
        Err(format!("actor \"{handle}\": {kind} \"{shown}\" {what}"))
    }

    /// Whether a post's image at `rel` (relative to the root, `/`-separated, as the media map
    /// keys it) may still be published: the file when it may.
    pub(super) fn post_image(&self, rel: &str) -> Option<PathBuf> {
        let rel = normalize(Path::new(rel))?;
        self.check(&rel, Place::ContentFolder).ok()?;
        Some(self.root.join(rel))
    }
}

/// An image found in the Markdown, before it is resolved.
#[derive(Debug)]
pub(super) struct ImageRef {
    pub(super) dest: String,
    /// The image's text (`![this]`), else its title is the alt text.
    pub(super) alt: String,
    pub(super) title: String,
    /// 1-based line in the file, for diagnostics.
    pub(super) line: usize,
}

/// Resolves every image: local files are checked against [`MediaRules`], sniffed and
/// measured; the first four become attachments.
pub(super) fn attach_images(ctx: &RenderContext<'_>, images: Vec<ImageRef>, out: &mut Rendered) {
    let total = images.len();
    for (n, img) in images.into_iter().enumerate() {
        let alt = if img.alt.trim().is_empty() {
            img.title.trim().to_string()
        } else {
            img.alt.trim().to_string()
        };
        let dest = img.dest.trim();
        if n == MAX_ATTACHMENTS {
            out.diagnostics.push(Diagnostic::warning(
                ctx.source,
                Some(img.line),
                format!(
                    "{total} images, but Mastodon shows at most {MAX_ATTACHMENTS}; only the first {MAX_ATTACHMENTS} are attached (remove images or split the post)"
                ),
            ));
        }
        let attach = n < MAX_ATTACHMENTS;
        match Url::parse(dest) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {
                if attach {
                    out.attachments.push(Attachment {
                        media_type: media_type_from_extension(url.path())
                            // Unknown extension: receivers download and sniff the file anyway;
                            // the type only tells them it is worth trying.
                            .unwrap_or("image/jpeg")
                            .to_string(),
                        url: url.to_string(),
                        alt,
                        width: None,
                        height: None,
                    });
                }
                continue;
            }
            Ok(_) => {
                out.diagnostics.push(Diagnostic::warning(
                    ctx.source,
                    Some(img.line),
                    format!(
                        "image \"{dest}\" is neither a file in the site nor an http(s) URL; it is left out (use a file path or an https:// URL)"
                    ),
                ));
                continue;
            }
            Err(_) => {}
        }
        let checked = match resolve_local(ctx.source, dest) {
            Some(rel) => match ctx.media.check(&rel, Place::ContentFolder) {
                Ok(media_type) => Ok((rel, media_type)),
                Err(why) => Err((Some(rel), why)),
            },
            None => Err((None, Refusal::Outside)),
        };
        let (rel, media_type) = match checked {
            Ok(ok) => ok,
            Err((rel, why)) => {
                let msg = ctx
                    .media
                    .post_message(ctx.source, dest, rel.as_deref(), why);
                out.diagnostics
                    .push(Diagnostic::error(ctx.source, Some(img.line), msg));
                continue;
            }
        };
        if !attach {
            continue;
        }
        let file = ctx.media.root().join(&rel);
        let (width, height) = match imagesize::size(&file) {
            Ok(size) => (
                u32::try_from(size.width).ok(),
                u32::try_from(size.height).ok(),
            ),
            Err(_) => (None, None),
        };
        let rel_str = slash_path(&rel);
        out.attachments.push(Attachment {
            url: ctx.urls.media(&rel_str),
            media_type: media_type.to_string(),
            alt,
            width,
            height,
        });
        out.media.push((rel_str, file));
    }
}

/// The path (relative to the site root) a local image reference points at, or `None` when it
/// leaves the site root. `/x.png` is relative to the site root, anything else to the Markdown
/// file; `%20` and friends (`%2e%2e` too) are decoded before `..` is resolved, `?query` and
/// `#fragment` dropped.
fn resolve_local(source: &Path, dest: &str) -> Option<PathBuf> {
    let dest = dest.split(['?', '#']).next().unwrap_or_default();
    let dest = percent_decode(dest).unwrap_or_else(|| dest.to_string());
    let joined = match dest.strip_prefix('/') {
        Some(from_root) => PathBuf::from(from_root),
        None => source.parent().unwrap_or(Path::new("")).join(&dest),
    };
    normalize(&joined)
}

/// Resolves `.` and `..` without touching the disk; `None` when the path climbs above its start
/// or is absolute.
pub(super) fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `a/b/c.png`, whatever the platform's separator.
pub(super) fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// True when a folder or file name on `path` starts with `.` (`.git`, `.masthead`, `.env`).
fn is_hidden(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
}

/// The media type of the image in `file`, by its first bytes, if it is one that may be
/// published.
fn sniff(file: &Path) -> Result<&'static str, Refusal> {
    let mut head = Vec::with_capacity(SNIFF_LEN as usize);
    std::fs::File::open(file)
        .and_then(|f| f.take(SNIFF_LEN).read_to_end(&mut head))
        .map_err(|_| Refusal::Missing)?;
    if let Some(media_type) = sniffed_image_type(&head) {
        return Ok(media_type);
    }
    let svg_name = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg") || e.eq_ignore_ascii_case("svgz"));
    let svg_text = String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .contains("<svg");
    Err(if svg_name || svg_text {
        Refusal::Svg
    } else {
        Refusal::NotImage
    })
}

/// The media type of an image from its first bytes (a few hundred are enough), when it is a
/// PNG, JPEG, GIF, WebP or AVIF: the only types masthead publishes. Anything else, SVG
/// included, is `None`.
///
/// `http` can call this on the bytes it is about to serve, so that a file swapped after the
/// scan (for a database, say) is still not served.
pub fn sniffed_image_type(head: &[u8]) -> Option<&'static str> {
    use imagesize::ImageType as T;
    Some(match imagesize::image_type(head).ok()? {
        T::Png => "image/png",
        T::Jpeg => "image/jpeg",
        T::Gif => "image/gif",
        T::Webp => "image/webp",
        T::Heif(imagesize::Compression::Av1) => "image/avif",
        _ => return None,
    })
}

/// The media type a remote image's file name suggests.
fn media_type_from_extension(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "heic" | "heif" => "image/heic",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::test_support::{
        jpeg_header, messages, png, render_site, render_site_with_data_dir, rendered, write,
        RenderSite,
    };

    const SVG: &str =
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>\n";

    const OUTSIDE: &str = "is not an image file inside the content folders (put the image under content/news/ and link it from there)";
    const HIDDEN: &str = "is in a hidden folder or file (a name starts with \".\"), which is never published (put the image under content/news/ with a name that does not start with \".\")";

    fn attachment(url: &str, media_type: &str, alt: &str, size: Option<(u32, u32)>) -> Attachment {
        Attachment {
            url: url.into(),
            media_type: media_type.into(),
            alt: alt.into(),
            width: size.map(|(w, _)| w),
            height: size.map(|(_, h)| h),
        }
    }

    /// Renders `![x](dest)` and asserts it is refused with `image "dest" {what}`, nothing
    /// attached and nothing published.
    fn assert_refused(s: &RenderSite, dest: &str, what: &str) {
        let r = s.render(&format!("Text\n\n![x]({dest})\n"));
        assert_eq!(
            messages(&r),
            vec![format!(
                "content/news/x.md:3: image \"{dest}\" {what}; this post is not published until it is fixed"
            )],
            "{dest}"
        );
        assert!(r.has_errors(), "{dest}");
        assert!(r.attachments.is_empty(), "{dest}: {:?}", r.attachments);
        assert!(r.media.is_empty(), "{dest}: {:?}", r.media);
    }

    /// A site holding what an attacker would like a post to publish, next to a real image.
    fn site_with_secrets() -> RenderSite {
        let s = render_site();
        s.write(
            ".masthead/masthead.db",
            b"SQLite format 3\0\x10\x00\x01\x01",
        )
        .write(
            "site.toml",
            "[site]\nbase_url = \"https://social.city.example\"\n",
        )
        .write(".git/config", "[core]\n\tbare = false\n")
        .write("content/news/.git/config", "[core]\n\tbare = false\n")
        .write("content/news/.hidden.png", png(1, 1))
        .write("content/news/.drafts/next.png", png(1, 1))
        .write("content/news/notes.png", "just text, renamed\n")
        .write("content/news/logo.svg", SVG)
        .write("content/news/logo-svg.png", SVG)
        .write("static/logo.png", png(1, 1))
        .write("content/news/fine.png", png(2, 2));
        s
    }

    #[test]
    fn rejects_images_that_may_not_be_published() {
        let s = site_with_secrets();
        let not_an_image = |rel: &str| {
            format!("({rel}) is not a PNG, JPEG, GIF, WebP or AVIF image by its content (convert it to PNG or JPEG, or fix the path)")
        };
        let svg = |rel: &str| {
            format!("({rel}) is an SVG, which can carry script and is never published (convert it to PNG)")
        };
        let cases: Vec<(&str, String)> = vec![
            // The database with every actor's private key, however it is spelled.
            ("/.masthead/masthead.db", HIDDEN.into()),
            ("../../.masthead/masthead.db", HIDDEN.into()),
            ("/%2emasthead/masthead.db", HIDDEN.into()),
            // The config, the site's own and a repository's.
            ("/site.toml", OUTSIDE.into()),
            ("../../site.toml", OUTSIDE.into()),
            ("%2e%2e/%2e%2e/site.toml", OUTSIDE.into()),
            ("%2E%2E%2F%2E%2E%2Fsite.toml", OUTSIDE.into()),
            ("/content/news/%2e%2e/%2e%2e/site.toml", OUTSIDE.into()),
            ("site.toml?x=1#y", not_found("content/news/site.toml")),
            ("/.git/config", HIDDEN.into()),
            (".git/config", HIDDEN.into()),
            // Hidden files are hidden even when they are images.
            (".hidden.png", HIDDEN.into()),
            ("./.drafts/next.png", HIDDEN.into()),
            // Outside the site folder, or absolute.
            ("../../../etc/passwd", OUTSIDE.into()),
            ("%2e%2e/%2e%2e/%2e%2e/etc/passwd", OUTSIDE.into()),
            ("/etc/passwd", OUTSIDE.into()),
            ("//etc/passwd", OUTSIDE.into()),
            // A real image, but not in a content folder.
            ("/static/logo.png", OUTSIDE.into()),
            // The name says image, the content does not.
            ("notes.png", not_an_image("content/news/notes.png")),
            // SVG is a document that can run script, whatever its name.
            ("logo.svg", svg("content/news/logo.svg")),
            ("logo-svg.png", svg("content/news/logo-svg.png")),
        ];
        for (dest, what) in &cases {
            assert_refused(&s, dest, what);
        }
        // The real image beside them is still attached.
        let r = s.render_clean("![x](fine.png)\n");
        assert_eq!(r.attachments[0].media_type, "image/png");
        assert_eq!(r.media.len(), 1);
    }

    fn not_found(rel: &str) -> String {
        format!("not found (looked for {rel}); add the file or fix the path")
    }

    #[test]
    fn rejects_images_in_a_data_dir_inside_a_content_folder() {
        // data_dir = "content/news/state": neither hidden nor outside, and still never published,
        // not even a real image put there.
        let s = render_site_with_data_dir("content/news/state");
        s.write("content/news/state/masthead.db", b"SQLite format 3\0")
            .write("content/news/state/chart.png", png(1, 1));
        let what = "is in the data directory (content/news/state/), which holds the database and keys and is never published (put the image under content/news/)";
        assert_refused(&s, "state/masthead.db", what);
        assert_refused(&s, "state/chart.png", what);
        assert_refused(&s, "/content/news/state/chart.png", what);
        assert_refused(&s, "./state/../state/chart.png", what);
    }

    #[cfg(unix)]
    #[test]
    fn rejects_images_that_lead_out_of_the_content_folders_through_a_link() {
        use std::os::unix::fs::symlink;
        let s = site_with_secrets();
        let root = s.dir.path();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.png", png(1, 1));
        write(root, ".git/logo.png", png(1, 1));
        let news = root.join("content/news");
        symlink(outside.path().join("secret.png"), news.join("outside.png")).unwrap();
        symlink(root.join("static/logo.png"), news.join("static.png")).unwrap();
        symlink(root.join("site.toml"), news.join("config.png")).unwrap();
        symlink(root.join(".git/logo.png"), news.join("git.png")).unwrap();
        symlink(root.join(".git"), news.join("repo")).unwrap();
        symlink(root.join(".masthead/masthead.db"), news.join("db.png")).unwrap();
        symlink(root.join(".masthead"), news.join("data")).unwrap();
        // A hard link cannot be told from the file itself: its content gives it away.
        std::fs::hard_link(root.join(".masthead/masthead.db"), news.join("hard.png")).unwrap();
        let link = |rel: &str| {
            format!("({rel}) is a symbolic link to a file outside the content folders (copy the image into content/news/ instead of linking to it)")
        };
        let data = "is in the data directory (.masthead/), which holds the database and keys and is never published (put the image under content/news/)";
        assert_refused(&s, "outside.png", &link("content/news/outside.png"));
        assert_refused(&s, "static.png", &link("content/news/static.png"));
        assert_refused(&s, "config.png", &link("content/news/config.png"));
        assert_refused(&s, "git.png", &link("content/news/git.png"));
        assert_refused(&s, "repo/logo.png", &link("content/news/repo/logo.png"));
        assert_refused(&s, "repo/config", &link("content/news/repo/config"));
        assert_refused(&s, "db.png", data);
        assert_refused(&s, "data/masthead.db", data);
        assert_refused(
            &s,
            "hard.png",
            "(content/news/hard.png) is not a PNG, JPEG, GIF, WebP or AVIF image by its content (convert it to PNG or JPEG, or fix the path)",
        );
    }

    #[cfg(unix)]
    #[test]
    fn can_attach_an_image_linked_from_inside_the_content_folder() {
        let s = render_site();
        s.write("content/news/img/a.png", png(1, 1));
        std::os::unix::fs::symlink(
            s.dir.path().join("content/news/img/a.png"),
            s.dir.path().join("content/news/b.png"),
        )
        .unwrap();
        let r = s.render_clean("![x](b.png)\n");
        assert_eq!(r.media[0].0, "content/news/b.png");
    }

    #[test]
    fn can_attach_every_image_type_by_its_content() {
        let gif = b"GIF89a\x03\x00\x02\x00\x00\x00\x00;".to_vec();
        let webp = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x02\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        let avif = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf".to_vec();
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("a.png", png(1, 1), "image/png"),
            ("b.jpg", jpeg_header(1, 1), "image/jpeg"),
            ("c.gif", gif, "image/gif"),
            ("d.webp", webp, "image/webp"),
            // Named .bin: the content decides.
            ("e.bin", avif, "image/avif"),
        ];
        let s = render_site();
        for (name, bytes, media_type) in cases {
            s.write(&format!("content/news/{name}"), bytes);
            let r = s.render_clean(&format!("![x]({name})\n"));
            assert_eq!(r.attachments[0].media_type, media_type, "{name}");
            assert_eq!(r.media[0].0, format!("content/news/{name}"));
        }
    }

    #[test]
    fn rejects_bytes_that_are_not_a_published_image_type() {
        assert_eq!(sniffed_image_type(&png(1, 1)), Some("image/png"));
        assert_eq!(sniffed_image_type(SVG.as_bytes()), None);
        assert_eq!(sniffed_image_type(b"SQLite format 3\0"), None);
        assert_eq!(sniffed_image_type(b"[site]\nbase_url = \"x\"\n"), None);
        // BMP and TIFF are images, but not ones the fediverse shows.
        assert_eq!(
            sniffed_image_type(b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00"),
            None
        );
        assert_eq!(
            sniffed_image_type(b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00"),
            None
        );
        assert_eq!(sniffed_image_type(b""), None);
    }

    #[test]
    fn can_attach_a_local_png_with_its_dimensions() {
        let s = render_site();
        s.write("content/news/img/chart.png", png(3, 2));
        let r = s.render_clean("Text\n\n![The chart](img/chart.png)\n");
        assert_eq!(r.html, "<p>Text</p>");
        assert_eq!(
            r.attachments,
            vec![attachment(
                "https://social.city.example/media/content/news/img/chart.png",
                "image/png",
                "The chart",
                Some((3, 2))
            )]
        );
        assert_eq!(
            r.media,
            vec![(
                "content/news/img/chart.png".to_string(),
                s.dir.path().join("content/news/img/chart.png")
            )]
        );
    }

    #[test]
    fn can_sniff_a_jpeg_and_resolve_site_root_paths() {
        let s = render_site();
        // Named .png but a JPEG inside: the content decides.
        s.write("content/news/photo one.png", jpeg_header(640, 480));
        let r = s.render_clean("![](/content/news/photo%20one.png \"Harbour\")\n");
        let a = &r.attachments[0];
        assert_eq!(a.media_type, "image/jpeg");
        assert_eq!((a.width, a.height), (Some(640), Some(480)));
        assert_eq!(a.alt, "Harbour");
        assert_eq!(
            a.url,
            "https://social.city.example/media/content/news/photo%20one.png"
        );
    }

    #[test]
    fn can_attach_remote_images_with_type_from_extension() {
        let r = render_site().render_clean("![Logo](https://cdn.example/logo.webp?v=2)\n");
        assert_eq!(r.html, "");
        assert_eq!(
            r.attachments,
            vec![attachment(
                "https://cdn.example/logo.webp?v=2",
                "image/webp",
                "Logo",
                None
            )]
        );
        assert!(r.media.is_empty());
    }

    #[test]
    fn errors_when_an_image_is_missing() {
        // Body starts on line 4 of the file, the image is on its 4th line: line 7.
        let r = render_site().render_at("One\n\nTwo\n![](missing.png)\n", 4);
        assert_eq!(
            messages(&r),
            vec!["content/news/x.md:7: image \"missing.png\" not found (looked for content/news/missing.png); add the file or fix the path; this post is not published until it is fixed"]
        );
        assert!(r.has_errors());
        assert!(r.attachments.is_empty());
    }

    #[test]
    fn can_warn_and_attach_only_four_images() {
        let md: String = (1..=6)
            .map(|i| format!("![{i}](https://cdn.example/{i}.png)\n\n"))
            .collect();
        let r = rendered(&md);
        assert_eq!(r.attachments.len(), 4);
        assert_eq!(r.attachments[3].alt, "4");
        assert!(!r.has_errors());
        assert_eq!(
            messages(&r),
            vec!["content/news/x.md:9: 6 images, but Mastodon shows at most 4; only the first 4 are attached (remove images or split the post)"]
        );
    }
}
