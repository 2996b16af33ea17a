//! Outgoing connections to servers: non-blocking connect with the socket
//! options a proxy wants (TCP_NODELAY; a bound source address without
//! reserving a port until connect, so ephemeral ports stay per destination).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

/// Starts connecting to `addr`; completion shows up as a writable event.
pub(crate) fn start(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    sock.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per
        // destination, instead of one port per source for all destinations.
        crate::sys::set_bind_address_no_port(sock.as_fd())?;
        sock.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}
