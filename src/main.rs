//! The `masthead` binary: parse the command line, start tracing, dispatch into the library, and
//! turn the outcome into an exit code. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use masthead::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` narrates its life at info; the other commands print for a person and log only
    // what went wrong.
    let level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_tracing(cli.log_format, level);
    match run(cli.command) {
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

fn run(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Init(args) => {
            for file in masthead::scaffold::init(&args.dir)? {
                println!("created {}", file.display());
            }
            println!(
                "next: masthead serve --config {}",
                args.dir.join("site.toml").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let report = masthead::check::run(&args.config);
            println!("{report}");
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Deliveries(args) => {
            let report = masthead::federation::delivery::queue_report(
                &args.site.config,
                args.site.data_dir.as_deref(),
            )?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Follows(args) => {
            use masthead::cli::FollowsAction;
            use masthead::federation::inbox::FollowAnswer;
            let (site, store) = masthead::admin::open(&args.site.config, args.site.data_dir)?;
            match args.action {
                FollowsAction::Pending(f) => {
                    let list = masthead::admin::pending_follows(&site, &store, f.actor.as_deref())?;
                    print!("{}", masthead::admin::print_follows(&list));
                }
                FollowsAction::Approve(a) => {
                    let f = masthead::admin::answer_follow(
                        &site,
                        &store,
                        a.actor.as_deref(),
                        &a.follower,
                        FollowAnswer::Accept,
                    )?;
                    println!(
                        "approved: {} now follows {} (Accept queued)",
                        f.follower, f.actor
                    );
                }
                FollowsAction::Reject(a) => {
                    let f = masthead::admin::answer_follow(
                        &site,
                        &store,
                        a.actor.as_deref(),
                        &a.follower,
                        FollowAnswer::Reject,
                    )?;
                    println!(
                        "rejected: {} does not follow {} (Reject queued)",
                        f.follower, f.actor
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replies(args) => {
            let (site, store) = masthead::admin::open(&args.site.config, args.site.data_dir)?;
            let list = masthead::admin::replies(&site, &store, args.post.as_deref())?;
            print!("{}", masthead::admin::print_replies(&list));
            Ok(ExitCode::SUCCESS)
        }
        Command::Reports(args) => {
            let (_, store) = masthead::admin::open(&args.site.config, args.site.data_dir)?;
            print!(
                "{}",
                masthead::admin::print_reports(&masthead::admin::reports(&store)?)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let opts = masthead::app::ServeOptions {
                config: args.config,
                listen: args.listen,
                data_dir: args.data_dir,
                tls: args.tls_cert.zip(args.tls_key),
            };
            match runtime.block_on(masthead::app::serve(opts)) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(masthead::app::AppError::Config(e)) => {
                    eprintln!("error: {e}");
                    for p in &e.problems {
                        eprintln!("  - {p}");
                    }
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
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
