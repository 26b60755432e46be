//! The guest plugins of `plugins/`, built once per test process (`cargo build --target
//! wasm32-wasip2 --release` in that workspace; quick when scripts/test.sh built it already), and
//! the path of each component; and the Python plugins of `plugins/python/`, built with
//! componentize-py.

// benches/plugins.rs includes this file alone and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// `plugins/target/wasm32-wasip2/release`, after building the workspace once.
pub fn built_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["build", "--target", "wasm32-wasip2", "--release", "--quiet"])
            .current_dir(&root)
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("cannot run cargo to build plugins/ (scripts/test.sh installs the wasm32-wasip2 target)");
        assert!(
            out.status.success(),
            "building plugins/ failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        root.join("target/wasm32-wasip2/release")
    })
}

/// The component of the crate `name` (`keyword-filter`, `fixture-spin`).
pub fn wasm(name: &str) -> PathBuf {
    let path = built_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// How plugins/python/*/README.md says to build: the CPython runtime's libc imports WASI sockets,
/// which masthead does not link, so every WASI import is replaced by a trapping stub and the
/// component imports the masthead contract alone.
const BUILD_FLAGS: [&str; 1] = ["--stub-wasi"];

/// The component of the Python plugin `plugins/python/NAME`, built with componentize-py (from
/// the venv of `$MASTHEAD_PYTHON`, which scripts/test.sh fills from
/// tests/interop/requirements.txt) once per test process. The build takes seconds, so the
/// component is kept in `target/python-plugins/NAME-HASH.wasm`, keyed by the hash of the
/// plugin's `.py` files, the contract and componentize-py's version: a second test run reuses
/// it, and the host's cache of compiled components then spares the compile too.
pub fn python(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join("plugins/python").join(name);
    let wit = root.join("wit/v0.1.0");
    // Not `common::interop_tool`: benches/plugins.rs includes this file alone.
    let python = std::env::var_os("MASTHEAD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/interop/.venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test.sh`, which installs tests/interop/requirements.txt \
         (componentize-py included) into tests/interop/.venv and sets MASTHEAD_PYTHON",
        python.display()
    );
    let version = componentize_py(&python, &["--version"]);
    let hash = sources_hash(
        &source,
        &wit,
        &format!("{version} {}", BUILD_FLAGS.join(" ")),
    );
    let out_dir = root.join("target/python-plugins");
    let wasm = out_dir.join(format!("{name}-{}.wasm", &hash[..16]));
    if !wasm.is_file() {
        std::fs::create_dir_all(&out_dir).unwrap();
        // Built beside its final name and renamed into place whole: test processes running at
        // once may build the same plugin.
        let partial = out_dir.join(format!(
            ".{name}-{}.{}.wasm",
            &hash[..16],
            std::process::id()
        ));
        componentize_py(
            &python,
            &[
                "-q",
                "-d",
                wit.to_str().unwrap(),
                "-w",
                "plugin",
                "componentize",
                BUILD_FLAGS[0],
                "-p",
                source.to_str().unwrap(),
                "app",
                "-o",
                partial.to_str().unwrap(),
            ],
        );
        std::fs::rename(&partial, &wasm).unwrap();
    }
    built.insert(name.to_string(), wasm.clone());
    wasm
}

/// Runs componentize-py with `args` through `python` and returns its stdout; fails, saying
/// how to install it, when it is not installed there.
fn componentize_py(python: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(python)
        .args(["-c", "from componentize_py import script; script()"])
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'componentize_py'"),
        "componentize-py is not installed for {}: run `bash scripts/test.sh`, which installs \
         tests/interop/requirements.txt (componentize-py included) into tests/interop/.venv",
        python.display()
    );
    assert!(
        out.status.success(),
        "componentize-py {} failed ({}):\n{stderr}",
        args.join(" "),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// SHA-256 over the plugin's `.py` files (by name and content), the contract and `version`.
fn sources_hash(source: &Path, wit: &Path, version: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    for dir in [source, wit] {
        for entry in
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "py" || e == "wit") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    h.update(version.as_bytes());
    for path in files {
        h.update(path.file_name().unwrap().as_encoded_bytes());
        h.update(std::fs::read(&path).unwrap());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `[[plugin]]` tables the suites share, for [`add_plugins`]: the keyword filter holding what
/// says "casino"...
pub const SPAM_WORDS: &str = r#"
[[plugin]]
name = "spam-words"
path = "{{WASM}}/keyword_filter.wasm"
[plugin.config]
words = ["casino"]
"#;

/// ... the Python plugin holding what is written in capitals...
pub const NO_SHOUTING: &str = r#"
[[plugin]]
name = "no-shouting"
path = "{{PYTHON}}"
"#;

/// ... and the auto-reply answering a question about opening hours.
pub const FAQ: &str = r#"
[[plugin]]
name = "faq"
path = "{{WASM}}/auto_reply.wasm"
grants = ["reply"]
[[plugin.config.rules]]
keywords = ["opening hours"]
reply = "The town hall is open **8:30-17:00**."
"#;

/// Appends `plugins` (`[[plugin]]` tables) to the site.toml at `config`, `{{WASM}}` standing for
/// [`built_dir`] and `{{PYTHON}}` for the no-shouting Python plugin (built only when named).
pub fn add_plugins(config: &Path, plugins: &str) {
    let mut plugins = plugins.replace("{{WASM}}", &built_dir().display().to_string());
    if plugins.contains("{{PYTHON}}") {
        let python = python("no-shouting");
        plugins = plugins.replace("{{PYTHON}}", &python.display().to_string());
    }
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(config, format!("{text}\n{plugins}")).unwrap();
}
