//! Images in a post: resolving a local path inside the site folder, sniffing the file's type
//! and size, and turning the first four images into attachments.
//!
//! This module owns where an image may live (inside the site folder, symlinks included), what
//! is reported when it is missing or outside, and what an attachment says about it. It reads
//! image files but does not parse Markdown (the writer in `super::render` collects
//! [`ImageRef`]s) and does not serve the files (the media map it fills is served by `http`).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use url::Url;

use super::front_matter::NOT_PUBLISHED;
use super::render::{RenderContext, Rendered};
use super::Attachment;
use crate::diagnostics::Diagnostic;
use crate::urls::percent_decode;

/// Mastodon shows at most four attachments (`Status::MEDIA_ATTACHMENTS_LIMIT`).
const MAX_ATTACHMENTS: usize = 4;

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

/// Resolves every image: local files are checked, sniffed and measured; the first four become
/// attachments.
pub(super) fn attach_images(ctx: &RenderContext<'_>, images: Vec<ImageRef>, out: &mut Rendered) {
    let total = images.len();
    for (n, img) in images.into_iter().enumerate() {
        let error = |msg: String| Diagnostic::error(ctx.source, Some(img.line), msg);
        let alt = if img.alt.trim().is_empty() {
            img.title.trim().to_string()
        } else {
            img.alt.trim().to_string()
        };
        let dest = img.dest.trim();
        let outside = || {
            error(format!(
                "image \"{dest}\" is outside the site folder; images must live inside it (move the image into the site folder or fix the path); {NOT_PUBLISHED}"
            ))
        };
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
        let Some(rel) = resolve_local(ctx.source, dest) else {
            out.diagnostics.push(outside());
            continue;
        };
        let rel_str = slash_path(&rel);
        let file = ctx.site_root.join(&rel);
        if !file.is_file() {
            out.diagnostics.push(error(format!(
                "image \"{dest}\" not found (looked for {rel_str}); add the file or fix the path; {NOT_PUBLISHED}"
            )));
            continue;
        }
        // A symlink inside the folder may still point out of it.
        let inside = match (file.canonicalize(), ctx.site_root.canonicalize()) {
            (Ok(f), Ok(root)) => f.starts_with(root),
            _ => false,
        };
        if !inside {
            out.diagnostics.push(outside());
            continue;
        }
        if !attach {
            continue;
        }
        let (width, height) = match imagesize::size(&file) {
            Ok(size) => (
                u32::try_from(size.width).ok(),
                u32::try_from(size.height).ok(),
            ),
            Err(_) => (None, None),
        };
        let media_type = sniff_media_type(&file)
            .or_else(|| media_type_from_extension(&rel_str))
            .unwrap_or("application/octet-stream");
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
/// file; `%20` and friends are decoded, `?query` and `#fragment` dropped.
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

/// The media type of an image file, from its first bytes.
fn sniff_media_type(file: &Path) -> Option<&'static str> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(file)
        .ok()?
        .take(64)
        .read_to_end(&mut head)
        .ok()?;
    use imagesize::ImageType as T;
    Some(match imagesize::image_type(&head).ok()? {
        T::Png => "image/png",
        T::Jpeg => "image/jpeg",
        T::Gif => "image/gif",
        T::Webp => "image/webp",
        T::Bmp => "image/bmp",
        T::Tiff => "image/tiff",
        T::Ico => "image/x-icon",
        T::Heif(imagesize::Compression::Av1) => "image/avif",
        T::Heif(_) => "image/heic",
        _ => return None,
    })
}

/// The media type an image's file name suggests.
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
    use crate::content::test_support::{jpeg_header, messages, png, render_site, rendered, write};

    fn attachment(url: &str, media_type: &str, alt: &str, size: Option<(u32, u32)>) -> Attachment {
        Attachment {
            url: url.into(),
            media_type: media_type.into(),
            alt: alt.into(),
            width: size.map(|(w, _)| w),
            height: size.map(|(_, h)| h),
        }
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
        s.write("static/photo one.png", jpeg_header(640, 480));
        let r = s.render_clean("![](/static/photo%20one.png \"Harbour\")\n");
        let a = &r.attachments[0];
        assert_eq!(a.media_type, "image/jpeg");
        assert_eq!((a.width, a.height), (Some(640), Some(480)));
        assert_eq!(a.alt, "Harbour");
        assert_eq!(
            a.url,
            "https://social.city.example/media/static/photo%20one.png"
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
    fn rejects_images_that_escape_the_site_folder() {
        let r = rendered("![x](../../../etc/passwd)\n");
        assert_eq!(
            r.diagnostics[0].to_string(),
            "content/news/x.md:1: image \"../../../etc/passwd\" is outside the site folder; images must live inside it (move the image into the site folder or fix the path); this post is not published until it is fixed"
        );
        assert!(r.has_errors());
    }

    #[cfg(unix)]
    #[test]
    fn rejects_images_symlinked_out_of_the_site_folder() {
        let s = render_site();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.png", png(1, 1));
        std::fs::create_dir_all(s.dir.path().join("content/news")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.png"),
            s.dir.path().join("content/news/link.png"),
        )
        .unwrap();
        let r = s.render("![x](link.png)\n");
        assert!(r.has_errors());
        assert!(r.diagnostics[0].message.contains("outside the site folder"));
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
