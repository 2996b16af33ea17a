//! What the announce thread publishes about each `announce` section, for
//! the runtime API (`show announce`): whether the link is up (the routing
//! daemon announces the VIP) and why not. Nothing on the data path
//! touches it.

use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    /// The device's carrier is on: the route is announced.
    pub up: bool,
    /// Why the link is down (`None` while up).
    pub why: Option<String>,
    /// The last change (or the start).
    pub since: Instant,
    /// Changes of `up` since start.
    pub changes: u64,
}

impl Status {
    pub(crate) fn new() -> Status {
        Status {
            up: false,
            why: Some("starting".into()),
            since: Instant::now(),
            changes: 0,
        }
    }
}
