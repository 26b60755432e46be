//! `masthead serve`: build the runtime and run the server until it is told to stop; the server's
//! wiring lives in `app`.

use std::error::Error;
use std::process::ExitCode;

use crate::app::{self, ServeOptions};
use crate::cli::ServeArgs;

/// Serves the site until shutdown.
pub fn run(args: ServeArgs) -> Result<ExitCode, Box<dyn Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let opts = ServeOptions {
        config: args.config,
        listen: args.listen,
        data_dir: args.data_dir,
        tls: args.tls_cert.zip(args.tls_key),
    };
    // A site.toml that cannot be used is listed by `commands::run`.
    runtime.block_on(app::serve(opts))?;
    Ok(ExitCode::SUCCESS)
}
