//! The one-way arrows between masthead's rooms (ARCHITECTURE.md), checked by reading the
//! `crate::` paths each file of `src/` names. A new import that runs an arrow backwards fails
//! here with the file, the line and the rule it breaks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which rooms a room may reach into.
enum May {
    /// Only these top-level modules (besides itself).
    Only(&'static [&'static str]),
    /// Anything but these.
    Not(&'static [&'static str]),
}

/// The rules, room by room: a file or folder under `src/`, and what it may import.
const RULES: &[(&str, May, &str)] = &[
    ("clock.rs", May::Only(&[]), "the clock depends on nothing"),
    ("rate.rs", May::Only(&[]), "a token bucket depends on nothing"),
    (
        "diagnostics.rs",
        May::Only(&[]),
        "diagnostics depend on nothing",
    ),
    (
        "live.rs",
        May::Only(&[]),
        "a swappable value depends on nothing",
    ),
    (
        "git_source.rs",
        May::Only(&["config", "diagnostics"]),
        "reading git knows the config and nothing of what is published",
    ),
    (
        "store",
        May::Only(&["clock"]),
        "the store depends on nothing above it (convert rows at the edge)",
    ),
    (
        "config",
        May::Only(&["diagnostics"]),
        "config is read by everyone and reads no one",
    ),
    (
        "open_files.rs",
        May::Only(&["config"]),
        "the process's open-file limit knows only the limits it is raised for",
    ),
    (
        "urls.rs",
        May::Only(&["config"]),
        "URL shapes belong to the site",
    ),
    (
        "content",
        May::Only(&["config", "diagnostics", "urls"]),
        "content knows nothing of the store, federation or HTTP",
    ),
    (
        "moderation",
        May::Only(&["config", "diagnostics", "clock"]),
        "what moderation judges knows no protocol and no store",
    ),
    (
        "catalog.rs",
        May::Only(&[
            "config",
            "content",
            "diagnostics",
            "store",
            "urls",
            "clock",
            "moderation",
        ]),
        "the catalog is built from content and the store, and hands our posts to review as moderation's plain data",
    ),
    (
        "federation",
        May::Not(&["http", "app", "commands", "admin"]),
        "federation never reaches up into HTTP or the wiring",
    ),
    (
        "plugins",
        May::Not(&["federation", "http", "app", "commands", "admin"]),
        "the plugin host sees moderation's events and the store, never the protocol",
    ),
    (
        "http",
        May::Not(&["app", "commands", "admin"]),
        "HTTP is handed its handles; it does not reach the wiring",
    ),
];

/// Files that may import `app` (it wires everything; nothing below it may know it).
const MAY_IMPORT_APP: &[&str] = &["app.rs", "lib.rs", "main.rs", "commands"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line names through `crate::` (`crate::a::b`, `crate::{a, b::c}`).
fn crate_modules(line: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        // `super::crate::` never occurs; `$crate::` in macros is not ours.
        let before = &rest[..i];
        rest = &rest[i + "crate::".len()..];
        if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The room of a file: its top-level module (`store` for `src/store/x.rs`, `app.rs` for
/// `src/app.rs`).
fn room_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.to_string()
}

fn module_name(room: &str) -> &str {
    room.strip_suffix(".rs").unwrap_or(room)
}

/// Every `crate::` import of every file, as (file, line number, module). Comments are skipped,
/// and so is test code at the end of a file (`#[cfg(test)]` onwards): tests may build fixtures
/// from any room.
fn imports() -> Vec<(PathBuf, usize, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap().to_path_buf();
        let text = std::fs::read_to_string(&file).unwrap();
        if text.starts_with("//! Test support") || rel.ends_with("test_support.rs") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            for module in crate_modules(code) {
                out.push((rel.clone(), n + 1, module));
            }
        }
    }
    out
}

#[test]
fn rooms_import_only_downward() {
    let mut broken: Vec<String> = Vec::new();
    for (file, line, module) in imports() {
        let before = broken.len();
        let room = room_of(&file);
        if module == module_name(&room) {
            continue;
        }
        for (rule_room, may, why) in RULES {
            if module_name(&room) != module_name(rule_room) {
                continue;
            }
            let allowed = match may {
                May::Only(list) => list.contains(&module.as_str()),
                May::Not(list) => !list.contains(&module.as_str()),
            };
            if !allowed {
                broken.push(format!(
                    "src/{}:{line}: imports crate::{module}, but {why}",
                    file.display()
                ));
            }
        }
        if module == "app"
            && broken.len() == before
            && !MAY_IMPORT_APP.contains(&room.as_str())
            && !MAY_IMPORT_APP.contains(&module_name(&room))
        {
            broken.push(format!(
                "src/{}:{line}: imports crate::app, but only app.rs wires the house (pass the handles the code needs instead)",
                file.display()
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "{} arrows run the wrong way:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn can_read_the_imports_of_a_line() {
    let names = |l: &str| crate_modules(l).into_iter().collect::<Vec<_>>();
    assert_eq!(names("use crate::store::{Store, StoreError};"), ["store"]);
    assert_eq!(
        names("use crate::{config::Site, urls::Urls};"),
        ["config", "urls"]
    );
    assert_eq!(names("let x = crate::clock::now_ms();"), ["clock"]);
    assert_eq!(
        names("macro_rules! m { () => { $crate::x } }"),
        Vec::<String>::new()
    );
    assert_eq!(names("use super::render;"), Vec::<String>::new());
}

#[test]
fn every_rule_names_a_room_that_exists() {
    for (room, _, _) in RULES {
        let name = module_name(room);
        let exists = src().join(name).exists() || src().join(format!("{name}.rs")).exists();
        assert!(exists, "rule for src/{room}, which does not exist");
    }
}

/// ARCHITECTURE.md's "Every module" table names each file of `src/`, so a newcomer finds every
/// room's parts there; a new file without its line fails here.
#[test]
fn architecture_md_names_every_module() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let table = doc
        .split("## Every module")
        .nth(1)
        .expect("ARCHITECTURE.md has an \"Every module\" section");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let missing: Vec<String> = files
        .iter()
        .map(|path| {
            path.strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|rel| !table.contains(&format!("| `{rel}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's \"Every module\" table lacks a line for: {missing:?}"
    );
}
