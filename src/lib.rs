//! masthead: publish a folder of Markdown files as ActivityPub actors.
//!
//! The library holds the whole server so that `tests/` can drive it in-process; `main.rs` only
//! parses the command line and dispatches here.
//!
//! - [`config`]: site.toml, strict and validated at once.
//! - [`content`]: the content folder, front matter, Markdown to fediverse HTML.
//! - [`store`]: the embedded SQLite store (keys, post index).
//! - [`catalog`]: the snapshot of what is published, rebuilt from content + store.
//! - [`federation`]: URL shapes, wire documents, signatures, outgoing HTTP.
//! - [`http`]: the server and its route table.
//! - [`live`]: a value swapped whole while the server runs (the config after a site.toml edit).
//! - [`moderation`]: built-in domain and actor blocks, and the verdict on inbox events.
//! - [`plugins`]: the WebAssembly plugin host: moderation rules and reply handling as components.
//! - [`app`]: wiring and lifecycle.
//! - [`admin`]: the operator's commands about follows, replies and reports.
//! - [`cli`]: the command line, one struct of flags per subcommand.
//! - [`commands`]: one file per subcommand: runs it and prints what a person reads.
//! - [`scaffold`]: the files `masthead init` creates.
//! - [`diagnostics`]: a problem in a site's file, shaped `file:line: what (what to do)`.
//! - [`git_source`]: `publish = "commit"`: the site as committed on a git branch.

// The test support shared with `tests/common` by path names the crate as the tests do.
#[cfg(test)]
extern crate self as masthead;

pub mod admin;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod content;
pub mod diagnostics;
pub mod federation;
pub mod git_source;
pub mod http;
pub mod live;
pub mod moderation;
pub mod open_files;
pub mod plugins;
pub mod rate;
pub mod scaffold;
pub mod store;
pub mod urls;
