//! Outgoing connections to servers: non-blocking connect with the socket
//! options a proxy wants (TCP_NODELAY, now or before the second write; a
//! bound source address without reserving a port until connect, so
//! ephemeral ports stay per destination) and those the config asks for
//! (keep-alive, Fast Open, a delayed ACK).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Keepalive;

/// What a connection to a server asks of its socket beyond the address.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectOptions {
    /// `source`: bind this local address first.
    pub source: Option<IpAddr>,
    /// `source ADDR:LOW-HIGH`: the ports to bind it with, in turn.
    pub source_ports: Option<Arc<PortRange>>,
    /// The backend's `option srvtcpka` and `srvtcpka-*`.
    pub keepalive: Keepalive,
    /// The server's `tfo`: TCP_FASTOPEN_CONNECT.
    pub tfo: bool,
    /// `tune.rcvbuf.server`, `tune.sndbuf.server`.
    pub buffers: super::sockopt::Buffers,
    /// `option tcp-smart-connect` with data already waiting to go: the
    /// handshake's last ACK waits to leave with it (TCP_QUICKACK off).
    pub delay_ack: bool,
    /// Leave TCP_NODELAY to the session's first flow, which sets it before
    /// its second write ([`crate::forward::NoDelay`]): a connection written
    /// once saves the call.
    pub lazy_nodelay: bool,
}

/// The source ports of `source ADDR:LOW-HIGH`, handed out in turn across
/// workers; a port still in use is skipped.
#[derive(Debug)]
pub(crate) struct PortRange {
    low: u16,
    len: u32,
    next: AtomicU32,
}

/// Ports tried for one connection before giving up (HAProxy fails at once
/// when its free list is empty; a rotating counter looks a little further).
const PORT_TRIES: u32 = 64;

impl PortRange {
    pub(crate) fn new(low: u16, high: u16) -> PortRange {
        PortRange {
            low,
            len: u32::from(high - low) + 1,
            next: AtomicU32::new(0),
        }
    }

    /// Binds `sock` to `ip` and the next free port of the range.
    fn bind(&self, sock: &Socket, ip: IpAddr) -> io::Result<()> {
        // Ports in TIME_WAIT may be used again (HAProxy sets it too).
        sock.set_reuse_address(true)?;
        let mut last = None;
        for _ in 0..PORT_TRIES.min(self.len) {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.len;
            let port = self.low + i as u16;
            match sock.bind(&SocketAddr::new(ip, port).into()) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::AddrInUse.into()))
    }
}

/// Starts connecting to `addr`; completion shows up as a writable event.
pub(crate) fn start(addr: SocketAddr, opts: &ConnectOptions) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    if !opts.lazy_nodelay {
        sock.set_tcp_nodelay(true)?;
    }
    super::sockopt::keepalive(&sock, &opts.keepalive);
    opts.buffers.apply(&sock);
    match (opts.source, &opts.source_ports) {
        (Some(ip), Some(range)) => range.bind(&sock, ip)?,
        (Some(ip), None) => {
            // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per
            // destination, instead of one port per source for all
            // destinations.
            crate::sys::set_bind_address_no_port(sock.as_fd())?;
            sock.bind(&SocketAddr::new(ip, 0).into())?;
        }
        (None, _) => {}
    }
    // Like HAProxy, these are hints: a kernel that refuses them still
    // connects.
    if opts.delay_ack {
        let _ = sock.set_tcp_quickack(false);
    }
    if opts.tfo {
        let _ = crate::sys::set_fastopen_connect(sock.as_fd());
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}
