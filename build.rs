//! Link options of the `masthead` binary; nothing is generated.
//!
//! On Linux with glibc the binary is linked with packed relative relocations (`DT_RELR`, glibc
//! 2.36 and later): a position-independent executable's 2.2 MiB table of relative relocations
//! becomes 33 KiB, and the loader no longer reads those pages at every start, so a running
//! server's resident memory is 3 MiB smaller (`scripts/bench.sh memory`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
