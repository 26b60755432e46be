//! `masthead reports`: the reports (Flag) other servers sent, printed for the operator.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use super::listing;
use crate::admin;
use crate::cli::ReportsArgs;
use crate::federation::fetch::plain_text;
use crate::store::Report;

/// Prints every report, newest first.
pub fn run(args: ReportsArgs) -> Result<ExitCode, Box<dyn Error>> {
    let (_, store) = admin::open(&args.site.config, args.site.data_dir)?;
    print!("{}", print_reports(&admin::reports(&store)?));
    Ok(ExitCode::SUCCESS)
}

/// Reports: when and from whom, what about, and what the reporter wrote. Everything but our own
/// timestamp came from another server, so it is printed as [`plain_text`] (no terminal escapes).
fn print_reports(reports: &[Report]) -> String {
    listing(reports, "no reports", |out, r| {
        writeln!(out, "{}  from {}", r.received_at, plain_text(&r.reporter))?;
        for o in &r.objects {
            writeln!(out, "  about {}", plain_text(o))?;
        }
        if let Some(c) = r.content.as_deref().filter(|c| !c.is_empty()) {
            writeln!(out, "  \"{}\"", plain_text(c))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report `https://r.example/flag/1` received at 2026-11-20 10:00 UTC.
    fn report(reporter: &str, object: &str, content: &str) -> Report {
        Report {
            id: "https://r.example/flag/1".into(),
            reporter: reporter.into(),
            objects: vec![object.into()],
            content: Some(content.into()),
            received_at: "2026-11-20T10:00:00+00:00".into(),
        }
    }

    #[test]
    fn can_print_reports_for_a_person() {
        let report = report(
            "https://r.example/actor",
            "https://s.example/users/news",
            "spam",
        );
        assert_eq!(
            print_reports(&[report]),
            "2026-11-20T10:00:00+00:00  from https://r.example/actor\n  about https://s.example/users/news\n  \"spam\"\n"
        );
        assert_eq!(print_reports(&[]), "no reports\n");
    }

    #[test]
    fn rejects_terminal_escapes_from_other_servers() {
        let report = report(
            "https://r.example/actor\u{1b}[2J",
            "https://s.example/\u{9b}31m",
            "\u{1b}]0;owned\u{7}spam\r\nmore\u{202e}",
        );
        assert_eq!(
            print_reports(&[report]),
            "2026-11-20T10:00:00+00:00  from https://r.example/actor[2J\n  about https://s.example/31m\n  \"]0;ownedspam  more\"\n"
        );
    }
}
