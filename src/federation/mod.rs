//! Federation: everything masthead says to and hears from other ActivityPub servers.
//!
//! So far this holds HTTP signatures (signing our requests, verifying theirs); actors, the inbox,
//! the outbox, delivery and fetching join it as they are written.

pub mod signatures;
