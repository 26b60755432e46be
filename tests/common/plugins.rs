//! The guest plugins of `plugins/`, built once per test process (`cargo build --target
//! wasm32-wasip2 --release` in that workspace; quick when scripts/test.sh built it already), and
//! the path of each component.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
