//! `masthead init`: create a new site and say what was created and what to run next.

use std::error::Error;
use std::process::ExitCode;

use crate::cli::InitArgs;
use crate::scaffold;

/// Creates the site in `args.dir`.
pub fn run(args: InitArgs) -> Result<ExitCode, Box<dyn Error>> {
    for file in scaffold::init(&args.dir)? {
        println!("created {}", file.display());
    }
    println!(
        "next: masthead serve --config {}",
        args.dir.join("site.toml").display()
    );
    Ok(ExitCode::SUCCESS)
}
