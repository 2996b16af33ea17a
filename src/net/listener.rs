//! Listening sockets: one SO_REUSEPORT socket per bind per worker, made by
//! the main thread before the workers start (so a bind error stops start-up
//! with its address), so the kernel spreads connections across workers by
//! hash. A `bind` on port 0 is resolved once: the first socket's port is
//! reused by the others. The bind's socket options are set here, or, for
//! those needed before bind(2) (`interface`, `transparent`), by
//! `host::listen_socket`.
//!
//! A UNIX bind (`unix@PATH`, `abns@NAME`) has one socket, shared by the
//! workers as with `noreuseport` (SO_REUSEPORT means nothing there); its
//! file is made by `host::unix_listen_socket`. A UNIX client is handed to
//! the session as a [`mio::net::TcpStream`] holding the UNIX descriptor:
//! reads, writes, shutdown and splice(2) are the same calls on both, and
//! the session never asks a client socket for its addresses (the worker
//! gives them), so the copy path has one stream type.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use crate::base::ids::FrontendId;
use mio::net::{TcpListener, TcpStream, UnixListener};

use crate::config::{Bind, BindAddr, DEFAULT_BACKLOG};
use crate::host::{self, SocketSpec, UnixSpec};

/// A listening socket of either family.
#[derive(Debug)]
pub(crate) enum ListenSocket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl ListenSocket {
    /// A client, and its address (`None`: a UNIX client, which has none
    /// HAProxy shows).
    pub(crate) fn accept(&self) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        match self {
            ListenSocket::Tcp(l) => l.accept().map(|(s, a)| (s, Some(a))),
            ListenSocket::Unix(l) => {
                let (s, _) = l.accept()?;
                Ok((TcpStream::from(std::os::fd::OwnedFd::from(s)), None))
            }
        }
    }

    fn try_clone(&self) -> io::Result<ListenSocket> {
        let fd = socket2::SockRef::from(self).try_clone()?;
        Ok(match self {
            ListenSocket::Tcp(_) => ListenSocket::Tcp(TcpListener::from_std(fd.into())),
            ListenSocket::Unix(_) => ListenSocket::Unix(UnixListener::from_std(fd.into())),
        })
    }
}

impl AsFd for ListenSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            ListenSocket::Tcp(l) => l.as_fd(),
            ListenSocket::Unix(l) => l.as_fd(),
        }
    }
}

impl mio::event::Source for ListenSocket {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => l.register(r, t, i),
            ListenSocket::Unix(l) => l.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => l.reregister(r, t, i),
            ListenSocket::Unix(l) => l.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => l.deregister(r),
            ListenSocket::Unix(l) => l.deregister(r),
        }
    }
}

/// A listener for one worker, and the frontend it feeds.
#[derive(Debug)]
pub(crate) struct Listener {
    pub socket: ListenSocket,
    pub frontend: FrontendId,
    /// The address bound (a port 0 resolved).
    pub addr: BindAddr,
    /// The bind's number in its frontend (HAProxy's listener id: what
    /// `%cp` and `%fp` show for a UNIX client).
    pub luid: u32,
    pub accept_proxy: bool,
    pub backlog: i32,
    /// `mss -N`: each accepted connection's MSS is lowered by N.
    pub lower_mss: Option<u32>,
    /// TCP_NODELAY is set on the listening socket, so every accepted
    /// socket has it already (Linux copies it at accept): no setsockopt
    /// per connection.
    pub nodelay: bool,
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
    pub addr: BindAddr,
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
fn open(bind: &Bind, addr: &BindAddr, reuseport: bool) -> io::Result<ListenSocket> {
    let addr = match addr {
        BindAddr::Tcp(a) => *a,
        unix => return open_unix(bind, unix),
    };
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
    // Inherited by the accepted sockets (`Listener::nodelay`).
    warn("TCP_NODELAY", sock.set_tcp_nodelay(true));
    Ok(ListenSocket::Tcp(TcpListener::from_std(sock.into())))
}

/// A UNIX listening socket; the TCP options of the line do not apply
/// (HAProxy ignores them there too).
fn open_unix(bind: &Bind, addr: &BindAddr) -> io::Result<ListenSocket> {
    let place = match addr {
        BindAddr::Unix(path) => host::UnixAddr::Path(path.clone()),
        BindAddr::Abns(name) => host::UnixAddr::Abstract(name.clone()),
        BindAddr::Tcp(_) => return Err(io::ErrorKind::InvalidInput.into()),
    };
    let sock = host::unix_listen_socket(&UnixSpec {
        addr: place,
        perms: bind.perms,
    })?;
    sock.set_nonblocking(true)?;
    sock.listen(bind.backlog.unwrap_or(DEFAULT_BACKLOG))?;
    Ok(ListenSocket::Unix(UnixListener::from_std(sock.into())))
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

/// Opens `workers` sockets for `bind` (the `luid`-th of its frontend);
/// returns them and the address really bound. Without `reuseport`
/// (`noreuseport`), and for a UNIX socket, there is one socket, and each
/// worker gets a copy of its descriptor.
pub(crate) fn open_bind(
    bind: &Bind,
    luid: u32,
    frontend: FrontendId,
    frontend_name: &str,
    workers: usize,
    reuseport: bool,
) -> Result<Vec<Listener>, BindError> {
    let mut addr = bind.addr.clone();
    let reuseport = reuseport && addr.tcp().is_some();
    let mut out: Vec<Listener> = Vec::with_capacity(workers);
    for _ in 0..workers {
        let err = |source| BindError {
            addr: addr.clone(),
            frontend: frontend_name.to_string(),
            source,
        };
        let opened = match out.first() {
            Some(first) if !reuseport => first.socket.try_clone(),
            _ => open(bind, &addr, reuseport),
        };
        let socket = opened.map_err(err)?;
        if let (BindAddr::Tcp(a), ListenSocket::Tcp(l)) = (&addr, &socket)
            && a.port() == 0
        {
            addr = BindAddr::Tcp(l.local_addr().map_err(err)?);
        }
        let nodelay = match &socket {
            ListenSocket::Tcp(l) => socket2::SockRef::from(l).tcp_nodelay().unwrap_or(false),
            ListenSocket::Unix(_) => false,
        };
        out.push(Listener {
            nodelay,
            socket,
            frontend,
            addr: addr.clone(),
            luid,
            accept_proxy: bind.accept_proxy,
            backlog: bind.backlog.unwrap_or(DEFAULT_BACKLOG),
            lower_mss: bind.options.mss.filter(|m| *m < 0).map(i32::unsigned_abs),
        });
    }
    Ok(out)
}
