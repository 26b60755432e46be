//! `masthead init`: a new site folder that loads and serves as it is.
//!
//! This module owns the starting files: a commented `site.toml` set up for this machine, one
//! actor with a welcome post and an avatar. It never overwrites anything; it does not start the
//! server or create keys (that happens on first `serve`).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The one actor a new site starts with.
const HANDLE: &str = "news";
/// The avatar's side, in pixels: Mastodon shows avatars at 46-120 px, so 64 is small but sharp.
const AVATAR_SIZE: u32 = 64;
/// The avatar's colour: a calm blue that reads on light and dark themes.
const AVATAR_RGB: [u8; 3] = [0x2b, 0x6c, 0xb0];

/// Why `init` wrote nothing, or stopped part way.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file init would write is already there; nothing was written.
    #[error(
        "cannot create a site: {} already exists and init never overwrites it (edit the existing site, or run `masthead init NEW_FOLDER`)",
        .path.display()
    )]
    Exists {
        /// The file that is in the way.
        path: PathBuf,
    },
    /// A folder or file could not be written.
    #[error("cannot write {}: {error} (check that the folder is writable)", .path.display())]
    Write {
        /// The folder or file.
        path: PathBuf,
        /// What the system said. Not a `#[source]`: it is already in the message.
        error: io::Error,
    },
}

/// Creates a site in `dir` (made if missing): `site.toml`, `content/news/welcome.md` and
/// `content/news/avatar.png`. Returns the files written, in that order.
///
/// Checks every file first, so an existing one means nothing is written at all.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let actor_dir = dir.join("content").join(HANDLE);
    let config = dir.join("site.toml");
    let welcome = actor_dir.join("welcome.md");
    let avatar = actor_dir.join("avatar.png");
    for path in [&config, &welcome, &avatar] {
        if path.exists() {
            return Err(InitError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(&actor_dir).map_err(|error| InitError::Write {
        path: actor_dir.clone(),
        error,
    })?;
    let name = display_name(dir);
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    write_new(&config, site_toml(&name).as_bytes())?;
    write_new(&welcome, welcome_md(&name, &date.to_string()).as_bytes())?;
    write_new(&avatar, &solid_png(AVATAR_SIZE, AVATAR_RGB))?;
    Ok(vec![config, welcome, avatar])
}

/// Writes `bytes` to a file that must not exist yet (checked again here, against a race).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes));
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(InitError::Exists {
            path: path.to_path_buf(),
        }),
        Err(error) => Err(InitError::Write {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// The actor's display name, from the folder name: `city-hall` becomes `City Hall`.
fn display_name(dir: &Path) -> String {
    let folder = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let words: Vec<String> = folder
        .split(|c: char| c == '-' || c == '_' || c == '.' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect();
    let name = words.join(" ");
    if name.is_empty() {
        "News".to_string()
    } else {
        // site.toml allows 100 characters.
        name.chars().take(100).collect()
    }
}

/// `text` as a TOML basic string, quotes included.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn site_toml(name: &str) -> String {
    let quoted_name = toml_string(name);
    let summary = toml_string(&format!("News from {name}, published with masthead."));
    format!(
        r#"# masthead site. Each [[actor]] is a fediverse account; its posts are the Markdown files
# in its content folder. `masthead check` lists every problem in this file at once.

[site]
# The address people and servers reach masthead at. http works on this machine only: for
# production, switch to your https address (e.g. https://social.example.org) and delete [dev].
base_url = "http://127.0.0.1:8080"
listen = "127.0.0.1:8080"
language = "en"

[[actor]]
# Followed as @news@your.domain: a-z, 0-9 and _ only.
handle = "{HANDLE}"
name = {quoted_name}
type = "Organization"
summary = {summary}
avatar = "content/{HANDLE}/avatar.png"
content = "content/{HANDLE}"
fields = [
  {{ name = "Website", value = "https://example.org" }},
]

[dev]
# Accept the http base_url above. Never in production.
allow_http = true
"#
    )
}

fn welcome_md(name: &str, date: &str) -> String {
    format!(
        r#"+++
title = "Welcome"
date = {date}
tags = ["welcome"]
+++

This is the first post of {name} on the fediverse. Edit this file, or add more Markdown files
next to it: each one becomes a post that followers see in their timeline. #masthead
"#
    )
}

/// A `size`×`size` PNG of one colour: 8-bit RGB, not interlaced, the pixels in stored
/// (uncompressed) deflate blocks. 12 kB for 64×64, and no compressor to depend on or trust.
fn solid_png(size: u32, rgb: [u8; 3]) -> Vec<u8> {
    let side = size as usize;
    // Each row: filter type 0 (None), then the pixels.
    let row: Vec<u8> = std::iter::once(0).chain(rgb.repeat(side)).collect();
    let pixels = row.repeat(side);
    let mut header = Vec::with_capacity(13);
    header.extend(size.to_be_bytes());
    header.extend(size.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    header.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    push_chunk(&mut png, b"IHDR", &header);
    push_chunk(&mut png, b"IDAT", &zlib_stored(&pixels));
    push_chunk(&mut png, b"IEND", &[]);
    png
}

/// A PNG chunk: length, type, data, CRC-32 of type and data.
fn push_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("a chunk under 4 GiB");
    png.extend(len.to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    png.extend(crc32(kind.iter().chain(data)).to_be_bytes());
}

/// A zlib stream of stored deflate blocks (RFC 1950/1951), at most 65535 bytes each.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes CMF*256+FLG a multiple of 31.
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(usize::from(u16::MAX)).collect()
    };
    let last = blocks.len() - 1;
    for (i, block) in blocks.into_iter().enumerate() {
        // BFINAL on the last block, BTYPE 00 (stored); the rest of the byte is padding.
        out.push(u8::from(i == last));
        let len = u16::try_from(block.len()).expect("blocks are at most 65535 bytes");
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend(adler32(data).to_be_bytes());
    out
}

/// CRC-32 as PNG uses it (ISO 3309, reflected, polynomial 0xEDB88320), bit by bit: the
/// scaffold writes one small image, so a lookup table would be wasted code.
fn crc32<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Adler-32, zlib's checksum of the uncompressed data.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % MOD;
        b = (b + a) % MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Site;

    #[test]
    fn can_init_a_site_that_loads_without_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("city-hall");
        let written = init(&dir).unwrap();
        assert_eq!(
            written,
            [
                dir.join("site.toml"),
                dir.join("content/news/welcome.md"),
                dir.join("content/news/avatar.png"),
            ]
        );
        let loaded = Site::load(&dir.join("site.toml")).unwrap();
        let warnings: Vec<String> = loaded
            .warnings
            .into_iter()
            .map(|w| w.relative_to(&dir).to_string())
            .collect();
        assert_eq!(
            warnings,
            ["site.toml:25: [dev] allow_http = true: an http base_url is accepted, and other servers will not federate with it (remove it in production)"]
        );
        let site = loaded.site;
        assert_eq!(site.domain, "127.0.0.1:8080");
        let news = site.actor("news").unwrap();
        assert_eq!(news.name, "City Hall");
        assert_eq!(news.fields.len(), 1);
        let avatar = imagesize::size(site.root.join(news.avatar.as_ref().unwrap())).unwrap();
        assert_eq!((avatar.width, avatar.height), (64, 64));
        let welcome = std::fs::read_to_string(dir.join("content/news/welcome.md")).unwrap();
        assert!(welcome.starts_with("+++\ntitle = \"Welcome\"\ndate = 20"));
        assert!(welcome.contains(" #masthead\n"));
    }

    #[test]
    fn refuses_to_overwrite_a_site() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("site.toml"), "# mine\n").unwrap();
        let err = init(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot create a site: {} already exists and init never overwrites it (edit the existing site, or run `masthead init NEW_FOLDER`)",
                dir.path().join("site.toml").display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("site.toml")).unwrap(),
            "# mine\n"
        );
        assert!(!dir.path().join("content").exists());
    }

    #[test]
    fn writes_nothing_when_a_content_file_is_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
        std::fs::write(dir.path().join("content/news/avatar.png"), b"mine").unwrap();
        let err = init(dir.path()).unwrap_err();
        assert!(matches!(err, InitError::Exists { path } if path.ends_with("avatar.png")));
        assert!(!dir.path().join("site.toml").exists());
        assert!(!dir.path().join("content/news/welcome.md").exists());
    }

    #[test]
    fn can_name_the_actor_from_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        for (folder, name) in [
            ("city-hall", "City Hall"),
            ("musée_d_orsay", "Musée D Orsay"),
            ("x", "X"),
        ] {
            let dir = tmp.path().join(folder);
            std::fs::create_dir(&dir).unwrap();
            assert_eq!(display_name(&dir), name);
        }
    }

    #[test]
    fn can_quote_any_name_for_toml() {
        let text = site_toml("Say \"hi\" \\ now");
        let value: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            value["actor"][0]["name"].as_str(),
            Some("Say \"hi\" \\ now")
        );
    }

    #[test]
    fn can_checksum_like_zlib_and_png() {
        // Known values: Adler-32 of "Wikipedia" and the CRC every PNG's IEND chunk carries.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn can_write_a_png_that_decoders_read() {
        let png = solid_png(64, [1, 2, 3]);
        let size = imagesize::blob_size(&png).unwrap();
        assert_eq!((size.width, size.height), (64, 64));
        assert_eq!(&png[png.len() - 12..], b"\0\0\0\0IEND\xAE\x42\x60\x82");
        // One stored block: 64 rows of a filter byte and 64 RGB pixels.
        let idat = &png[8 + 25..];
        assert_eq!(&idat[4..8], b"IDAT");
        assert_eq!(&idat[8..11], [0x78, 0x01, 0x01]);
        assert_eq!(u16::from_le_bytes([idat[11], idat[12]]), 64 * 193);
    }

    #[test]
    fn can_split_long_data_into_stored_blocks() {
        let data = vec![7u8; 70_000];
        let z = zlib_stored(&data);
        assert_eq!(z[2], 0, "first block is not final");
        assert_eq!(u16::from_le_bytes([z[3], z[4]]), u16::MAX);
        let second = 2 + 5 + usize::from(u16::MAX);
        assert_eq!(z[second], 1, "second block is final");
        assert_eq!(
            u16::from_le_bytes([z[second + 1], z[second + 2]]),
            (70_000 - 65_535) as u16
        );
        assert_eq!(z.len(), 2 + 5 * 2 + 70_000 + 4);
    }
}
