//! `masthead serve`: build the runtime and run the server until it is told to stop. A site.toml
//! that cannot be used is listed problem by problem; the server's wiring lives in `app`.

use std::error::Error;
use std::process::ExitCode;

use crate::app::{self, AppError, ServeOptions};
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
    match runtime.block_on(app::serve(opts)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(AppError::Config(e)) => {
            eprintln!("error: {e}");
            for p in &e.problems {
                eprintln!("  - {p}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
