//! `peers` sections (HAProxy 2.6 configuration manual, section 3.5): the
//! processes that share stick tables, which of them is this one, and
//! where it listens for the others.

use std::net::SocketAddr;

use super::Location;

/// A `peers NAME` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersSection {
    pub name: String,
    pub location: Location,
    /// `disabled`: the section is read and checked, nothing connects.
    pub disabled: bool,
    /// Every `peer`/`server` line, the local one included, in file order.
    pub peers: Vec<Peer>,
    /// Where the local peer accepts the others: the local `peer` line's
    /// address, or the section's `bind` line.
    pub bind: Option<SocketAddr>,
}

/// A `peer NAME ADDR:PORT` (or `server NAME [ADDR:PORT]`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `None` only for a local peer given by a `server` line without an
    /// address (the section's `bind` line has it).
    pub addr: Option<SocketAddr>,
    /// It is this process (its name is the local peer name: `-L`,
    /// `localpeer`, or the host name).
    pub local: bool,
    pub location: Location,
}

impl PeersSection {
    /// The remote peers this process connects to.
    pub fn remotes(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter().filter(|p| !p.local)
    }

    /// The local peer, if the section names this process.
    pub fn local(&self) -> Option<&Peer> {
        self.peers.iter().find(|p| p.local)
    }
}
