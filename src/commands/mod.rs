//! The subcommands, one file each: take the command's flags from [`crate::cli`], call into the
//! library, and print what a person reads (results, next steps, the list of problems).
//!
//! The work itself lives in the domain modules (`scaffold`, `config`, `admin`, `app`,
//! `catalog`, `store`); `main` only parses the command line and calls [`run`].

pub mod backup;
pub mod check;
pub mod deliveries;
pub mod follows;
pub mod init;
pub mod people;
pub mod plugin;
pub mod publish;
pub mod queue;
pub mod replies;
pub mod reports;
pub mod republish;
pub mod serve;
pub mod status;

use std::error::Error;
use std::fmt;
use std::process::ExitCode;

use crate::admin::AdminError;
use crate::app::AppError;
use crate::cli::Command;
use crate::config::ConfigError;

/// Runs `command`: the exit code when it ran to its end, the error when it could not. A
/// site.toml that cannot be used is listed problem by problem, whichever command read it.
pub fn run(command: Command) -> Result<ExitCode, Box<dyn Error>> {
    match dispatch(command) {
        Err(e) => match config_error(e.as_ref()) {
            Some(config) => {
                eprintln!("error: {config}");
                for p in &config.problems {
                    eprintln!("  - {p}");
                }
                Ok(ExitCode::FAILURE)
            }
            None => Err(e),
        },
        ok => ok,
    }
}

/// The site.toml error behind `e`, as the commands' errors carry it.
fn config_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a ConfigError> {
    match (
        e.downcast_ref::<ConfigError>(),
        e.downcast_ref::<AppError>(),
        e.downcast_ref::<AdminError>(),
    ) {
        (Some(config), _, _)
        | (_, Some(AppError::Config(config)), _)
        | (_, _, Some(AdminError::Config(config))) => Some(config),
        _ => None,
    }
}

fn dispatch(command: Command) -> Result<ExitCode, Box<dyn Error>> {
    match command {
        Command::Init(args) => init::run(args),
        Command::Check(args) => check::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Deliveries(args) => deliveries::run(args),
        Command::Queue(args) => queue::list(args),
        Command::Approve(args) => queue::decide(args, crate::admin::Decision::Approve),
        Command::Reject(args) => queue::decide(args, crate::admin::Decision::Reject),
        Command::Status(args) => status::run(args),
        Command::Follows(args) => follows::run(args),
        Command::Replies(args) => replies::run(args),
        Command::Reports(args) => reports::run(args),
        Command::People(args) => people::run(args),
        Command::Republish(args) => republish::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
    }
}

/// `items` for a person, each written by `write`, or the line `none` when there are none.
fn listing<T>(items: &[T], none: &str, write: impl Fn(&mut String, &T) -> fmt::Result) -> String {
    if items.is_empty() {
        return format!("{none}\n");
    }
    let mut out = String::new();
    for item in items {
        // Writing to a String cannot fail.
        let _ = write(&mut out, item);
    }
    out
}

/// `n` and what it counts, `one` or `many` as `n` asks: `1 follower`, `2 followers`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Sanitized HTML as one line of text.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let text = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
