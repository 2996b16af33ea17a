//! Listening sockets: one SO_REUSEPORT socket per bind per worker, made by
//! the main thread before the workers start (so a bind error stops start-up
//! with its address), so the kernel spreads connections across workers by
//! hash. A `bind` on port 0 is resolved once: the first socket's port is
//! reused by the others.

use std::io;
use std::net::SocketAddr;

use crate::base::ids::FrontendId;
use crate::config::{Bind, DEFAULT_BACKLOG};
use crate::host::{self, SocketSpec};

/// A listener for one worker, and the frontend it feeds.
#[derive(Debug)]
pub(crate) struct Listener {
    pub socket: mio::net::TcpListener,
    pub frontend: FrontendId,
    pub addr: SocketAddr,
    pub accept_proxy: bool,
    pub backlog: i32,
}

impl Listener {
    /// Stops listening without closing (SIGTTOU, as HAProxy): the socket
    /// leaves the port's SO_REUSEPORT group, so new clients go to another
    /// process on the port, or are refused; clients still in the backlog
    /// are reset.
    pub(crate) fn pause(&self) -> io::Result<()> {
        socket2::SockRef::from(&self.socket).shutdown(std::net::Shutdown::Read)
    }

    /// Listens again on the same socket (SIGTTIN).
    pub(crate) fn resume(&self) -> io::Result<()> {
        socket2::SockRef::from(&self.socket).listen(self.backlog)
    }
}

#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub frontend: String,
    pub source: io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frontend '{}': cannot bind {}: {}",
            self.frontend, self.addr, self.source
        )
    }
}

/// One listening socket. It is bound by `host` (by the privileged parent
/// in a process that gave up root), then made non-blocking and listening
/// here.
fn open(bind: &Bind, addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let sock = host::listen_socket(&SocketSpec {
        addr,
        v6only: bind.v6only,
        v4v6: bind.v4v6,
    })?;
    sock.set_nonblocking(true)?;
    sock.listen(bind.backlog.unwrap_or(DEFAULT_BACKLOG))?;
    Ok(mio::net::TcpListener::from_std(sock.into()))
}

/// Opens `workers` sockets for `bind`; returns them and the address really bound.
pub(crate) fn open_bind(
    bind: &Bind,
    frontend: FrontendId,
    frontend_name: &str,
    workers: usize,
) -> Result<Vec<Listener>, BindError> {
    let mut addr = bind.addr;
    let mut out = Vec::with_capacity(workers);
    for _ in 0..workers {
        let socket = open(bind, addr).map_err(|source| BindError {
            addr,
            frontend: frontend_name.to_string(),
            source,
        })?;
        if addr.port() == 0 {
            addr = socket.local_addr().map_err(|source| BindError {
                addr,
                frontend: frontend_name.to_string(),
                source,
            })?;
        }
        out.push(Listener {
            socket,
            frontend,
            addr,
            accept_proxy: bind.accept_proxy,
            backlog: bind.backlog.unwrap_or(DEFAULT_BACKLOG),
        });
    }
    Ok(out)
}
