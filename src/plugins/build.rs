//! A plugin given by its source folder: where its component is built to, whether that is older
//! than its sources, and building it (`cargo build --target wasm32-wasip2 --release` in the
//! folder). Used by `serve` (which builds what is missing or stale) and `masthead plugin build`;
//! `check` only asks [`Source::stale`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Why a plugin folder could not be read or built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("cannot run cargo in {dir}: {source} (install Rust from https://rustup.rs, then `rustup target add wasm32-wasip2`)")]
    Spawn {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("building {dir} failed:\n{output}\n(fix the plugin, then run `cargo build --target wasm32-wasip2 --release` in {dir})")]
    Failed { dir: PathBuf, output: String },
    #[error("building {dir} made no {wasm} (is the crate a `cdylib`?)")]
    NoOutput { dir: PathBuf, wasm: PathBuf },
}

/// A plugin source folder.
#[derive(Clone, Debug)]
pub struct Source {
    pub dir: PathBuf,
    /// The crate's name.
    pub package: String,
    /// The crate's version.
    pub version: Option<String>,
    /// Where `cargo build --target wasm32-wasip2 --release` puts the component.
    pub wasm: PathBuf,
}

impl Source {
    /// Reads the folder's Cargo.toml and finds its target dir: that of the nearest enclosing
    /// Cargo workspace, else the folder's own `target/` (`CARGO_TARGET_DIR` overrides both).
    pub fn read(dir: &Path) -> Result<Source, BuildError> {
        let manifest = dir.join("Cargo.toml");
        let bad = |message: String| BuildError::Manifest {
            path: manifest.clone(),
            message,
        };
        let text = std::fs::read_to_string(&manifest).map_err(|e| bad(e.to_string()))?;
        let doc: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
        let package = doc
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| bad("no [package] name (a plugin is one crate)".to_string()))?
            .to_string();
        let version = doc
            .get("package")
            .and_then(|p| p.get("version"))
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) => PathBuf::from(t),
            None => workspace_root(dir).join("target"),
        };
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        Ok(Source {
            dir: dir.to_path_buf(),
            package,
            version,
            wasm,
        })
    }

    /// Whether the component is missing or older than a source: Cargo.toml, or a file under
    /// `src/` or `wit/`.
    pub fn stale(&self) -> bool {
        let Some(built) = modified(&self.wasm) else {
            return true;
        };
        let mut newest = modified(&self.dir.join("Cargo.toml"));
        for sub in ["src", "wit"] {
            newest = newest.max(newest_in(&self.dir.join(sub)));
        }
        newest.is_some_and(|n| n > built)
    }

    /// Builds the component (release, wasm32-wasip2).
    pub fn build(&self) -> Result<PathBuf, BuildError> {
        let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--target", TARGET, "--release", "--quiet"])
            .current_dir(&self.dir)
            .output()
            .map_err(|source| BuildError::Spawn {
                dir: self.dir.clone(),
                source,
            })?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            return Err(BuildError::Failed {
                dir: self.dir.clone(),
                output: tail,
            });
        }
        if !self.wasm.is_file() {
            return Err(BuildError::NoOutput {
                dir: self.dir.clone(),
                wasm: self.wasm.clone(),
            });
        }
        Ok(self.wasm.clone())
    }
}

/// The folder of the nearest Cargo.toml at or above `dir` that declares a `[workspace]`, else
/// `dir`.
fn workspace_root(dir: &Path) -> PathBuf {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    for d in dir.ancestors() {
        let manifest = d.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            if text.lines().any(|l| l.trim() == "[workspace]") {
                return d.to_path_buf();
            }
        }
    }
    dir
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest_in(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_in(&path)
        } else {
            modified(&path)
        };
        newest = newest.max(t);
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_find_a_plugins_component_in_its_workspace_target() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::write(ws.join("Cargo.toml"), "[workspace]\nmembers = [\"kw\"]\n").unwrap();
        std::fs::create_dir_all(ws.join("kw/src")).unwrap();
        std::fs::write(
            ws.join("kw/Cargo.toml"),
            "[package]\nname = \"keyword-filter\"\nversion = \"0.3.0\"\n",
        )
        .unwrap();
        std::fs::write(ws.join("kw/src/lib.rs"), "").unwrap();
        let s = Source::read(&ws.join("kw")).unwrap();
        assert_eq!(s.package, "keyword-filter");
        assert_eq!(s.version.as_deref(), Some("0.3.0"));
        let root = ws.canonicalize().unwrap();
        if std::env::var_os("CARGO_TARGET_DIR").is_none() {
            assert_eq!(
                s.wasm,
                root.join("target/wasm32-wasip2/release/keyword_filter.wasm")
            );
        }
        assert!(s.stale());
        std::fs::create_dir_all(s.wasm.parent().unwrap()).unwrap();
        std::fs::write(&s.wasm, b"").unwrap();
        assert!(!s.stale());
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        let f = std::fs::File::options()
            .write(true)
            .open(ws.join("kw/src/lib.rs"))
            .unwrap();
        f.set_modified(later).unwrap();
        assert!(s.stale());
    }
}
