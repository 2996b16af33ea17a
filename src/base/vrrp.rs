//! What the VRRP thread publishes about each instance, for the runtime API
//! (`show vrrp`): the state machine's state and a [`Status`] that the
//! thread writes under a lock after each turn of its loop. Nothing on the
//! data path touches it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Not started yet (RFC: Initialize).
    Init,
    Backup,
    Master,
    Fault,
    /// After a clean stop (RFC: back to Initialize).
    Stopped,
}

impl State {
    /// The name logs, `show vrrp` and notify scripts use (keepalived's).
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stopped => "STOP",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The last state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    pub at: Instant,
    pub from: State,
    pub to: State,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub state: State,
    pub priority: u8,
    /// The interface's primary IPv4 address (adverts' source).
    pub local_ip: Option<Ipv4Addr>,
    /// The master and its priority, as far as this router knows.
    pub master: Option<(Ipv4Addr, u8)>,
    /// The master's advertisement interval (learnt from its adverts).
    pub master_adver_interval: Duration,
    /// Whether the VIPs are on the interface (added by this process).
    pub holds_vips: bool,
    /// Why the instance is in FAULT.
    pub fault: Option<String>,
    pub transitions: u64,
    pub last_transition: Option<Transition>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// Received packets refused (TTL, version, checksum, addresses, peer).
    pub dropped: u64,
}

impl Status {
    pub(crate) fn new(priority: u8) -> Status {
        Status {
            state: State::Init,
            priority,
            local_ip: None,
            master: None,
            master_adver_interval: Duration::ZERO,
            holds_vips: false,
            fault: None,
            transitions: 0,
            last_transition: None,
            adverts_sent: 0,
            adverts_received: 0,
            dropped: 0,
        }
    }
}
