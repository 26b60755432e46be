//! Everything ActivityPub: wire documents, signatures, the outbox, delivery, and
//! talking to other servers.
//!
//! Storage rows and content posts are converted to wire JSON here, at the edge; nothing outside
//! this module builds ActivityStreams documents or sends a request to another server. Each
//! worker here is given the handles it uses (`delivery::Outgoing`, `outbox::Publisher`,
//! `addressing::Addressing`, `inbox::Inbox`), never the app; nothing here knows HTTP serving.

pub mod addressing;
pub mod client;
pub mod comments;
pub mod delivery;
pub mod discovery;
pub mod fetch;
pub mod inbox;
pub mod intents;
pub mod objects;
pub mod outbox;
pub mod profiles;
pub mod signatures;
