//! Helpers for the content tests: real image bytes, a temporary site to render post bodies in,
//! and a plain post for tests elsewhere.

use std::path::Path;

use url::Url;

use super::render::{render, RenderContext, Rendered};
use super::MediaRules;
use crate::urls::Urls;

/// A valid grayscale PNG of `width` x `height` pixels (stored, uncompressed zlib data).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grayscale, no interlace
                                              // Each row: filter byte 0, then one gray byte per pixel.
    let raw: Vec<u8> = (0..height)
        .flat_map(|_| std::iter::once(0u8).chain(std::iter::repeat_n(0x80, width as usize)))
        .collect();
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The start of a baseline JPEG (SOI, JFIF APP0, SOF0) declaring `width` x `height`: enough
/// for type sniffing and size reading, not a decodable picture.
pub fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8];
    out.extend_from_slice(&[0xff, 0xe0, 0x00, 0x10]);
    out.extend_from_slice(b"JFIF\0");
    out.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);
    out.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// Writes `bytes` to `root/rel`, creating folders.
pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// A temporary site folder on `https://social.city.example`, rendering bodies as the post
/// `content/news/x.md` at `https://social.city.example/@news/x`. Its one content folder is
/// `content/news`, its data directory `.masthead`, its config `site.toml`.
pub struct RenderSite {
    pub dir: tempfile::TempDir,
    urls: Urls,
    media: MediaRules,
}

pub fn render_site() -> RenderSite {
    render_site_with_data_dir(".masthead")
}

/// A [`render_site`] whose data directory is `data_dir`, relative to the site folder.
pub fn render_site_with_data_dir(data_dir: &str) -> RenderSite {
    let base = Url::parse("https://social.city.example").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let media = MediaRules::new(
        dir.path(),
        [Path::new("content/news")],
        &dir.path().join(data_dir),
        &dir.path().join("site.toml"),
    );
    RenderSite {
        dir,
        urls: Urls::from_parts(&base, None),
        media,
    }
}

impl RenderSite {
    /// Writes `bytes` to `rel` inside the site folder.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Self {
        write(self.dir.path(), rel, bytes);
        self
    }

    /// Renders `md` as a body that starts on line `body_line` of the file.
    pub fn render_at(&self, md: &str, body_line: usize) -> Rendered {
        render(
            md,
            &RenderContext {
                urls: &self.urls,
                media: &self.media,
                source: Path::new("content/news/x.md"),
                body_line,
                post_url: "https://social.city.example/@news/x",
            },
        )
    }

    pub fn render(&self, md: &str) -> Rendered {
        self.render_at(md, 1)
    }

    /// Renders `md`, which must render without a diagnostic.
    pub fn render_clean(&self, md: &str) -> Rendered {
        let r = self.render(md);
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        r
    }

    pub fn html(&self, md: &str) -> String {
        self.render_clean(md).html
    }
}

/// `md` rendered in an empty site.
pub fn rendered(md: &str) -> Rendered {
    render_site().render(md)
}

/// `md` rendered in an empty site, without a diagnostic, as HTML.
pub fn html(md: &str) -> String {
    render_site().html(md)
}

/// The diagnostics of a rendering as the lines a person reads.
pub fn messages(r: &Rendered) -> Vec<String> {
    r.diagnostics.iter().map(ToString::to_string).collect()
}

/// A plain public Note-shaped post `actor`/`slug` with one paragraph, for tests elsewhere.
pub fn post(actor: &str, slug: &str) -> super::Post {
    super::Post {
        actor: actor.into(),
        slug: slug.into(),
        source: std::path::PathBuf::from(format!("content/{actor}/{slug}.md")).into(),
        hash: super::Hash([1; 32]),
        source_hash: super::Hash([2; 32]),
        title: None,
        date: None,
        tags: Box::default(),
        page_path: format!("{actor}/{slug}/").into(),
        html: "<p>hi</p>".into(),
        text_len: 2,
        visibility: super::Visibility::Public,
        object_type: None,
        draft: false,
        sensitive: false,
        pinned: false,
        federate: true,
        more: None,
    }
}
