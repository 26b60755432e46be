//! masthead: publish a folder of Markdown files as ActivityPub actors.
//!
//! The library holds the whole server so that `tests/` can drive it in-process; `main.rs` only
//! parses the command line and dispatches here.

pub mod config;
pub mod content;
pub mod diagnostics;
pub mod federation;
pub mod scaffold;
