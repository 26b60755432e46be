//! The `masthead` binary: parse the command line, start tracing, dispatch into the library, and
//! turn the outcome into an exit code. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use masthead::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc, not glibc's malloc: a catalog build frees most of what it allocated among the
/// posts it keeps, and glibc's heap keeps the pages those holes share with live data (a
/// 10,000-post site idled with 20 MiB of heap for 11 MiB of live allocations); mimalloc keeps
/// blocks of a size together and gives back each page that empties (16 MiB of anonymous memory
/// in all). Built without transparent huge pages (the `no_thp` feature), which would make every
/// touched 2 MiB resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3.3's `mi_option_purge_delay` (libmimalloc-sys is pinned: the number is its enum's).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Freed pages go back to the OS at once: mimalloc otherwise purges them only when it is next
    // called past the delay, which an idle server never does (it sat at 39 MiB instead of 16).
    // SAFETY: setting an option takes no pointers; mimalloc reads the option at each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    // `serve` narrates its life at info; the other commands print for a person and log only
    // what went wrong.
    let level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_tracing(cli.log_format, level);
    match masthead::commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(e.as_ref());
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
