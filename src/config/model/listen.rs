//! Where a `bind` listens: a TCP address or a UNIX socket ([`BindAddr`]),
//! and the mode and owner of a UNIX socket file ([`UnixPerms`]). The
//! network layer makes the sockets; nothing here touches one.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What a `bind` listens on: a TCP address, a UNIX socket file
/// (`unix@PATH` or a path, after the `unix-bind` prefix), or a name in
/// Linux's abstract namespace (`abns@NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
    Abns(String),
}

impl BindAddr {
    /// The TCP address, `None` for a UNIX socket.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            BindAddr::Tcp(a) => Some(*a),
            _ => None,
        }
    }
}

impl std::fmt::Display for BindAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindAddr::Tcp(a) => write!(f, "{a}"),
            BindAddr::Unix(p) => write!(f, "unix@{}", p.display()),
            BindAddr::Abns(n) => write!(f, "abns@{n}"),
        }
    }
}

/// `bind ... mode/user/uid/group/gid`, after the `unix-bind` defaults:
/// the permissions and owner of a UNIX socket file (ignored on other
/// binds, as in HAProxy); the type the host layer makes the file with.
pub use crate::host::UnixPerms;
