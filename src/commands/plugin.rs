//! `masthead plugin new|build|test`: scaffold a plugin that builds, build plugins for
//! wasm32-wasip2, and run one on a sample event. Output is for a person.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{PluginAction, PluginArgs, PluginBuildArgs, PluginNewArgs, PluginTestArgs};
use crate::clock::Clock;
use crate::config::{valid_plugin_name, Grant, Plugin, Site};
use crate::plugins::build::Source;
use crate::plugins::{Action, Event, Host, HostOptions, Limits, NoPosts, Rewrite, Verdict};
use crate::store::Store;

/// Runs `masthead plugin ...`.
pub fn run(args: PluginArgs) -> Result<ExitCode, Box<dyn Error>> {
    match args.action {
        PluginAction::New(a) => new(a),
        PluginAction::Build(a) => build(a),
        PluginAction::Test(a) => test(a),
    }
}

// The SDK and the contract travel inside the binary, so `plugin new` works outside masthead's
// own repository too.
const SDK_LIB: &str = include_str!("../../plugins/sdk/src/lib.rs");
const SDK_HOST: &str = include_str!("../../plugins/sdk/src/host.rs");
const SDK_CONFIG: &str = include_str!("../../plugins/sdk/src/config.rs");
const SDK_DOMAINS: &str = include_str!("../../plugins/sdk/src/domains.rs");
const SDK_STANDING: &str = include_str!("../../plugins/sdk/src/standing.rs");
const SDK_PHRASES: &str = include_str!("../../plugins/sdk/src/phrases.rs");
const CONTRACT: &str = include_str!("../../wit/v0.1.0/plugin.wit");

fn new(args: PluginNewArgs) -> Result<ExitCode, Box<dyn Error>> {
    let name = &args.name;
    if !valid_plugin_name(name) {
        return Err(format!(
            "plugin name {name:?} may only contain a-z, 0-9, - and _, starting with a letter"
        )
        .into());
    }
    let root = &args.dir;
    let folder = root.join(name);
    if folder.exists() {
        return Err(format!(
            "{} already exists (pick another name, or remove it)",
            folder.display()
        )
        .into());
    }
    let mut made = Vec::new();
    let workspace = root.join("Cargo.toml");
    if workspace.is_file() {
        let text = std::fs::read_to_string(&workspace)?;
        let Some(i) = text.find("members = [") else {
            return Err(format!(
                "{} has no `members = [` list to add {name} to (add it by hand)",
                workspace.display()
            )
            .into());
        };
        let at = i + "members = [".len();
        let updated = format!("{}\n    \"{name}\",{}", &text[..at], &text[at..]);
        std::fs::write(&workspace, updated)?;
    } else {
        std::fs::create_dir_all(root)?;
        std::fs::write(&workspace, workspace_manifest(name))?;
        made.push(workspace.clone());
    }
    let sdk = root.join("sdk");
    if !sdk.join("Cargo.toml").is_file() {
        write(&sdk.join("Cargo.toml"), SDK_MANIFEST, &mut made)?;
        write(&sdk.join("src/lib.rs"), SDK_LIB, &mut made)?;
        write(&sdk.join("src/host.rs"), SDK_HOST, &mut made)?;
        write(&sdk.join("src/config.rs"), SDK_CONFIG, &mut made)?;
        write(&sdk.join("src/domains.rs"), SDK_DOMAINS, &mut made)?;
        write(&sdk.join("src/standing.rs"), SDK_STANDING, &mut made)?;
        write(&sdk.join("src/phrases.rs"), SDK_PHRASES, &mut made)?;
        write(&sdk.join("wit/v0.1.0/plugin.wit"), CONTRACT, &mut made)?;
    }
    write(
        &folder.join("Cargo.toml"),
        &plugin_manifest(name),
        &mut made,
    )?;
    write(&folder.join("src/lib.rs"), &plugin_source(name), &mut made)?;
    let mut out = String::new();
    for f in &made {
        let _ = writeln!(out, "created {}", f.display());
    }
    let _ = writeln!(
        out,
        "\nnext:\n  masthead plugin build {path}\n  masthead plugin test {path} --event plugins/sdk/events/reply.json\n\nthen add it to site.toml (serve builds and reloads it when its sources change):\n\n[[plugin]]\nname = \"{name}\"\npath = \"{path}\"\n[plugin.config]\nwords = [\"casino\"]",
        path = folder.display()
    );
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str, made: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    made.push(path.to_path_buf());
    Ok(())
}

fn workspace_manifest(name: &str) -> String {
    format!(
        r#"# masthead plugins: each a cdylib built with `masthead plugin build` (wasm32-wasip2).
[workspace]
resolver = "2"
members = [
    "{name}",
    "sdk",
]

[workspace.package]
edition = "2021"
publish = false

[workspace.dependencies]
masthead-plugin = {{ path = "sdk" }}
serde = {{ version = "1", default-features = false, features = ["derive", "std"] }}

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#
    )
}

const SDK_MANIFEST: &str = r#"[package]
name = "masthead-plugin"
version = "0.1.0"
description = "Write masthead moderation plugins in Rust"
edition.workspace = true
publish.workspace = true

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc"] }
serde = { version = "1", default-features = false, features = ["derive", "std"] }
serde_json = { version = "1", default-features = false, features = ["std"] }
"#;

fn plugin_manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition.workspace = true
publish.workspace = true

[lib]
crate-type = ["cdylib"]

[dependencies]
masthead-plugin.workspace = true
serde.workspace = true
"#
    )
}

fn plugin_source(name: &str) -> String {
    format!(
        r#"//! {name}: holds replies and mentions that contain one of the configured words.
//!
//! ```toml
//! [[plugin]]
//! name = "{name}"
//! path = "plugins/{name}"
//! [plugin.config]
//! words = ["casino"]
//! ```

use std::sync::OnceLock;

use masthead_plugin::prelude::*;

#[derive(Deserialize)]
struct Config {{
    words: Vec<String>,
}}

fn words() -> &'static [String] {{
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {{
        let config: Config = host::config();
        config.words.iter().map(|w| w.to_lowercase()).collect()
    }})
}}

struct Plug;

impl Plugin for Plug {{
    fn config_schema() -> Vec<ConfigKey> {{
        vec![ConfigKey::required("words", ConfigType::StringList, "words to hold replies for")]
    }}

    fn on_note(event: NoteEvent) -> NoteDecision {{
        match words().iter().find(|w| masthead_plugin::contains_words(&event.note.text, w)) {{
            Some(w) => NoteDecision::hold(format!("contains {{w:?}}")),
            None => NoteDecision::accept(),
        }}
    }}
}}

masthead_plugin::register!(Plug);
"#
    )
}

fn build(args: PluginBuildArgs) -> Result<ExitCode, Box<dyn Error>> {
    let folders: Vec<PathBuf> = match &args.plugin {
        Some(p) if Path::new(p).is_dir() => vec![PathBuf::from(p)],
        Some(name) => {
            let site = Site::load(&args.config)?.site;
            let plugin = find(&site, name)?;
            if !plugin.is_source() {
                return Err(format!(
                    "plugin {name:?} is the component {} (it has no source folder to build)",
                    plugin.path.display()
                )
                .into());
            }
            vec![plugin.path.clone()]
        }
        None => {
            let site = Site::load(&args.config)?.site;
            site.plugins
                .iter()
                .filter(|p| p.is_source())
                .map(|p| p.path.clone())
                .collect()
        }
    };
    if folders.is_empty() {
        println!("no plugin in site.toml is given by its source folder; nothing to build");
    }
    for dir in folders {
        let source = Source::read(&dir)?;
        println!("building {} ({})", source.package, dir.display());
        let wasm = source.build()?;
        let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        println!("  {} ({} KB)", wasm.display(), size.div_ceil(1024));
    }
    Ok(ExitCode::SUCCESS)
}

fn find<'s>(site: &'s Site, name: &str) -> Result<&'s Plugin, Box<dyn Error>> {
    site.plugins.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = site.plugins.iter().map(|p| p.name.as_str()).collect();
        format!(
            "no [[plugin]] named {name:?} in {} (known: {})",
            site.config_path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
        .into()
    })
}

fn test(args: PluginTestArgs) -> Result<ExitCode, Box<dyn Error>> {
    let text = std::fs::read_to_string(&args.event)
        .map_err(|e| format!("cannot read {}: {e}", args.event.display()))?;
    let event: Event = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a sample event: {e} (see plugins/sdk/events/ for one of each hook)",
            args.event.display()
        )
    })?;
    let given = Path::new(&args.plugin);
    let (plugin, config_path, cache_dir) = if given.exists() {
        let path = given.canonicalize()?;
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("plugin")
            .to_string();
        let plugin = Plugin {
            grants: vec![Grant::Reply],
            line: 0,
            ..Plugin::new(name, path, serde_json::json!({}))
        };
        let cache = std::env::temp_dir().join("masthead-plugin-cache");
        (plugin, args.plugin.clone().into(), cache)
    } else {
        let site = Site::load(&args.config)?.site;
        let plugin = find(&site, &args.plugin)?.clone();
        let cache = HostOptions::for_site(&site).cache_dir;
        (plugin, site.config_path.clone(), cache)
    };
    let options = HostOptions {
        cache_dir,
        limits: Limits::default(),
        seed: Some(0),
        build: true,
    };
    let store = Arc::new(Store::open_in_memory()?);
    let name = plugin.name.clone();
    let granted = plugin.granted(Grant::Reply);
    let (host, problems) = Host::load_plugins(
        std::slice::from_ref(&plugin),
        &config_path,
        store,
        Arc::new(NoPosts),
        Clock::system(),
        options,
    );
    if let Some(p) = problems.first() {
        return Err(p.to_string().into());
    }
    let decision = match host.decide(&name, &event) {
        Ok(d) => d,
        Err(e) => {
            println!("{name} {}: failed: {e}\n(on_error decides: hold for follows, replies and mentions; count for likes and boosts; hold back an outgoing post)", event.hook());
            return Ok(ExitCode::FAILURE);
        }
    };
    let verdict = match &decision.verdict {
        Verdict::Accept => match event {
            Event::Reaction { .. } => "count".to_string(),
            Event::Outgoing { .. } => "publish".to_string(),
            _ => "accept".to_string(),
        },
        v => format!(
            "{}: {}",
            serde_json::to_value(v)
                .ok()
                .and_then(|j| j
                    .get("verdict")
                    .and_then(|s| s.as_str())
                    .map(str::to_string))
                .unwrap_or_default(),
            v.reason().unwrap_or_default()
        ),
    };
    let mut out = format!("{name} {}: {verdict}\n", event.hook());
    for action in &decision.actions {
        let _ = match action {
            Action::Reply(m) if granted => writeln!(out, "  reply: {m}"),
            Action::Reply(m) => {
                writeln!(out, "  reply (refused without grants = [\"reply\"]): {m}")
            }
            Action::Label(l) => writeln!(out, "  label: {l}"),
            Action::Note(n) => writeln!(out, "  note: {n}"),
        };
    }
    for r in &decision.rewrites {
        let _ = match r {
            Rewrite::StripMedia => writeln!(out, "  rewrite: strip media"),
            Rewrite::ContentWarning(w) => writeln!(out, "  rewrite: content warning {w:?}"),
        };
    }
    if let Some(cw) = &decision.content_warning {
        let _ = writeln!(out, "  content warning: {cw}");
    }
    if let Some(md) = &decision.markdown {
        let _ = writeln!(out, "  rewritten to:\n{md}");
    }
    if !decision.add_hashtags.is_empty() {
        let _ = writeln!(out, "  add hashtags: {}", decision.add_hashtags.join(", "));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
