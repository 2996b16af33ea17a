//! Listening sockets: one SO_REUSEPORT socket per bind per worker, made by
//! the main thread before the workers start (so a bind error stops start-up
//! with its address), so the kernel spreads connections across workers by
//! hash. A `bind` on port 0 is resolved once: the first socket's port is
//! reused by the others. The bind's socket options are set here, or, for
//! those needed before bind(2) (`interface`, `transparent`), by
//! `host::listen_socket`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

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
    /// `mss -N`: each accepted connection's MSS is lowered by N.
    pub lower_mss: Option<u32>,
}

/// How long TCP_DEFER_ACCEPT waits for a silent client (HAProxy: 1 s;
/// the kernel counts it in SYN-ACK retransmits, so it is at least that).
const DEFER_ACCEPT_SECS: i32 = 1;

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
/// in a process that gave up root), then tuned, made non-blocking and
/// listening here.
fn open(bind: &Bind, addr: SocketAddr, reuseport: bool) -> io::Result<mio::net::TcpListener> {
    let o = &bind.options;
    let sock = host::listen_socket(&SocketSpec {
        addr,
        v6only: bind.v6only,
        v4v6: bind.v4v6,
        interface: o.interface.clone(),
        transparent: o.transparent,
        reuseport,
    })
    .map_err(|e| explain(e, bind))?;
    sock.set_nonblocking(true)?;
    let backlog = bind.backlog.unwrap_or(DEFAULT_BACKLOG);
    // HAProxy only warns when these fail: the socket still serves.
    let warn = |what: &str, r: io::Result<()>| {
        if let Err(e) = r {
            log::warn!("bind {addr}: cannot set {what}: {e}");
        }
    };
    if let Some(mss) = o.mss.and_then(|m| u32::try_from(m).ok()) {
        warn("the MSS", sock.set_tcp_mss(mss));
    }
    if o.defer_accept {
        let r = crate::sys::set_defer_accept(sock.as_fd(), DEFER_ACCEPT_SECS);
        warn("TCP_DEFER_ACCEPT", r);
    }
    if o.tfo {
        // HAProxy gives the listen backlog as the Fast Open queue length.
        warn(
            "TCP_FASTOPEN",
            crate::sys::set_fastopen(sock.as_fd(), backlog),
        );
    }
    sock.listen(backlog)?;
    if o.smart_accept {
        warn("TCP_QUICKACK", sock.set_tcp_quickack(false));
    }
    Ok(mio::net::TcpListener::from_std(sock.into()))
}

/// Names the bind option an error most likely comes from.
fn explain(e: io::Error, bind: &Bind) -> io::Error {
    let o = &bind.options;
    let why = match (e.raw_os_error(), &o.interface) {
        (Some(libc::ENODEV), Some(name)) => format!("interface '{name}'"),
        (Some(libc::EPERM), _) if o.transparent => "transparent".to_string(),
        (Some(libc::EPERM), Some(name)) => format!("interface '{name}'"),
        _ => return e,
    };
    io::Error::new(e.kind(), format!("{why}: {e}"))
}

/// Opens `workers` sockets for `bind`; returns them and the address really
/// bound. Without `reuseport` (`noreuseport`) there is one socket, and each
/// worker gets a copy of its descriptor.
pub(crate) fn open_bind(
    bind: &Bind,
    frontend: FrontendId,
    frontend_name: &str,
    workers: usize,
    reuseport: bool,
) -> Result<Vec<Listener>, BindError> {
    let mut addr = bind.addr;
    let mut out: Vec<Listener> = Vec::with_capacity(workers);
    for _ in 0..workers {
        let opened = match out.first() {
            Some(first) if !reuseport => socket2::SockRef::from(&first.socket)
                .try_clone()
                .map(|s| mio::net::TcpListener::from_std(s.into())),
            _ => open(bind, addr, reuseport),
        };
        let socket = opened.map_err(|source| BindError {
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
            lower_mss: bind.options.mss.filter(|m| *m < 0).map(i32::unsigned_abs),
        });
    }
    Ok(out)
}
