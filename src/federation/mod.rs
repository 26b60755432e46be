//! Federation: everything masthead says to, and hears from, other fediverse servers.
//!
//! Only the outgoing HTTP client lives here so far; URL shapes, wire types, signatures, the inbox
//! and delivery join it as they are written.

pub mod client;
