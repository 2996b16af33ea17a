//! TCP socket options of the model: what `option clitcpka`/`srvtcpka`/
//! `tcpka` and the `*tcpka-cnt|idle|intvl` keywords ask of a connection
//! ([`Keepalive`]), and what a `bind` line asks of its listening socket
//! ([`ListenOptions`]). The network layer applies them; nothing here
//! touches a socket.

use std::time::Duration;

/// TCP keep-alive probes on one side of a session (HAProxy: client side
/// for a frontend, server side for a backend). `None` leaves the system's
/// `tcp_keepalive_*` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Keepalive {
    /// SO_KEEPALIVE: `option clitcpka` / `srvtcpka` / `tcpka`.
    pub enabled: bool,
    /// TCP_KEEPCNT: `clitcpka-cnt` / `srvtcpka-cnt`.
    pub count: Option<u32>,
    /// TCP_KEEPIDLE, whole seconds: `clitcpka-idle` / `srvtcpka-idle`.
    pub idle: Option<Duration>,
    /// TCP_KEEPINTVL, whole seconds: `clitcpka-intvl` / `srvtcpka-intvl`.
    pub interval: Option<Duration>,
}

/// Socket options of a listening socket, from the `bind` line and its
/// frontend. Two binds with the same options and address can share a
/// socket across a reload; different ones cannot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ListenOptions {
    /// `defer-accept`: TCP_DEFER_ACCEPT (1 s, as HAProxy): a client is
    /// accepted once it sends data.
    pub defer_accept: bool,
    /// `tfo`: TCP_FASTOPEN with the listen backlog as queue length.
    pub tfo: bool,
    /// `interface NAME`: SO_BINDTODEVICE, before bind(2).
    pub interface: Option<String>,
    /// `transparent`: IP_TRANSPARENT / IPV6_TRANSPARENT, before bind(2).
    pub transparent: bool,
    /// `mss N`: positive, TCP_MAXSEG on the listener; negative, each
    /// accepted connection's MSS is lowered by that much.
    pub mss: Option<i32>,
    /// The frontend's `option tcp-smart-accept`: TCP_QUICKACK off on the
    /// listener (HAProxy's way of saving the ACK of the client's request).
    pub smart_accept: bool,
}
