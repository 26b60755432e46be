//! `[dev]`: switches for local development and tests. This file owns the table and the warning
//! each switch gives when it is on; what the switches change is up to the code that reads them.

use serde::Deserialize;
use toml::Spanned;

use super::validate::Checker;

/// `[dev]`: switches for local development and tests.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Dev {
    /// Allow an `http://` base_url.
    pub allow_http: bool,
    /// Allow outgoing requests to loopback and private addresses.
    pub allow_private_addresses: bool,
}

/// The keys `[dev]` accepts.
pub(super) const DEV_KEYS: &[&str] = &["allow_http", "allow_private_addresses"];

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDev {
    allow_http: Option<Spanned<bool>>,
    allow_private_addresses: Option<Spanned<bool>>,
}

impl Checker<'_> {
    /// The switches, with a warning for each one that is on: none belongs in production.
    pub(super) fn dev(&mut self, raw: RawDev) -> Dev {
        Dev {
            allow_http: self.switch(
                raw.allow_http,
                "[dev] allow_http = true: an http base_url is accepted, and other servers will not federate with it (remove it in production)",
            ),
            allow_private_addresses: self.switch(
                raw.allow_private_addresses,
                "[dev] allow_private_addresses = true: outgoing requests may reach loopback and private addresses (remove it in production)",
            ),
        }
    }

    fn switch(&mut self, raw: Option<Spanned<bool>>, warning: &str) -> bool {
        let on = raw.as_ref().is_some_and(|v| *v.get_ref());
        if on {
            self.warning(raw.map(|v| v.span()), warning);
        }
        on
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn warns_about_each_switch_that_is_on() {
        let http = GOOD.replace("https://", "http://");
        // (site.toml, the one warning it gives)
        let cases = [
            (
                format!("{http}\n[dev]\nallow_http = true\n"),
                "site.toml:8: [dev] allow_http = true: an http base_url is accepted, and other servers will not federate with it (remove it in production)",
            ),
            (
                format!("{GOOD}\n[dev]\nallow_private_addresses = true\n"),
                "site.toml:8: [dev] allow_private_addresses = true: outgoing requests may reach loopback and private addresses (remove it in production)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(warnings(&text), [want], "{text}");
        }
    }
}
