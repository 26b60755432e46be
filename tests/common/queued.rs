//! Recording an activity in the inbox queue as if it had arrived signed (draft-cavage), without
//! a request: a job a crash left queued, or a burst already waiting when the workers start.
//! Shared by the integration tests (`common::queued`) and the inbox worker's unit tests
//! (`src/federation/inbox/worker.rs` includes this file by path), so both queue one way.

use masthead::store::{NewInboxActivity, Store};
use serde_json::Value;

/// Queues `activity` (its `id`, `actor` and `type` read from it) for the shared inbox, arrived
/// at `at_ms`; panics unless it was new.
pub fn record_verified(store: &Store, activity: &Value, at_ms: i64) {
    let recorded = store.record_inbox_activity(
        &NewInboxActivity {
            id: activity["id"].as_str().unwrap(),
            signer: activity["actor"].as_str().unwrap(),
            recipient: None,
            kind: activity["type"].as_str().unwrap(),
            body: &activity.to_string(),
            signature: "draft-cavage-12",
        },
        at_ms,
    );
    assert!(recorded.unwrap(), "{} was queued before", activity["id"]);
}
