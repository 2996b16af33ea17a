//! Outgoing connections to servers: non-blocking connect with the socket
//! options a proxy wants (TCP_NODELAY; a bound source address without
//! reserving a port until connect, so ephemeral ports stay per destination)
//! and those the config asks for (keep-alive, Fast Open, a delayed ACK).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Keepalive;

/// What a connection to a server asks of its socket beyond the address.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectOptions {
    /// `source`: bind this local address first.
    pub source: Option<IpAddr>,
    /// The backend's `option srvtcpka` and `srvtcpka-*`.
    pub keepalive: Keepalive,
    /// The server's `tfo`: TCP_FASTOPEN_CONNECT.
    pub tfo: bool,
    /// `tune.rcvbuf.server`, `tune.sndbuf.server`.
    pub buffers: super::sockopt::Buffers,
    /// `option tcp-smart-connect` with data already waiting to go: the
    /// handshake's last ACK waits to leave with it (TCP_QUICKACK off).
    pub delay_ack: bool,
}

/// Starts connecting to `addr`; completion shows up as a writable event.
pub(crate) fn start(addr: SocketAddr, opts: &ConnectOptions) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    sock.set_tcp_nodelay(true)?;
    super::sockopt::keepalive(&sock, &opts.keepalive);
    opts.buffers.apply(&sock);
    if let Some(ip) = opts.source {
        // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per
        // destination, instead of one port per source for all destinations.
        crate::sys::set_bind_address_no_port(sock.as_fd())?;
        sock.bind(&SocketAddr::new(ip, 0).into())?;
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
