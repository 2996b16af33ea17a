//! Per-connection TCP options from the config: keep-alive probes
//! (`option clitcpka`/`srvtcpka`), reset on close (`option nolinger`) and
//! the lowered MSS of a `bind ... mss -N`, applied to an accepted client
//! or a server socket right after it is made. Like HAProxy, a failure here
//! costs the option, not the connection.

use std::time::Duration;

use socket2::{Socket, TcpKeepalive};

use crate::config::Keepalive;

/// SO_KEEPALIVE and the probe settings the config gives; what it leaves
/// unset stays the system's.
pub(crate) fn keepalive(sock: &Socket, ka: &Keepalive) {
    if !ka.enabled {
        return;
    }
    if let Err(e) = sock.set_keepalive(true) {
        log::debug!("SO_KEEPALIVE: {e}");
        return;
    }
    // Each knob on its own: one the kernel refuses (TCP_KEEPIDLE above
    // 32767 s) must not cost the others, as in HAProxy.
    let knobs = [
        ka.idle.map(|t| TcpKeepalive::new().with_time(t)),
        ka.interval.map(|t| TcpKeepalive::new().with_interval(t)),
        ka.count.map(|n| TcpKeepalive::new().with_retries(n)),
    ];
    for knob in knobs.into_iter().flatten() {
        if let Err(e) = sock.set_tcp_keepalive(&knob) {
            log::debug!("TCP keep-alive setting: {e}");
        }
    }
}

/// What an accepted client connection gets from its frontend and bind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientOptions {
    pub keepalive: Keepalive,
    pub nolinger: bool,
    /// `bind ... mss -N`: N.
    pub lower_mss: Option<u32>,
    /// `tune.rcvbuf.client`, `tune.sndbuf.client`.
    pub buffers: Buffers,
}

/// SO_RCVBUF / SO_SNDBUF sizes (`tune.rcvbuf.*`, `tune.sndbuf.*`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Buffers {
    pub rcv: Option<usize>,
    pub snd: Option<usize>,
}

impl Buffers {
    /// Sets the sizes asked; like HAProxy, a refusal only costs the hint.
    pub(crate) fn apply(&self, sock: &Socket) {
        if let Some(n) = self.rcv {
            let _ = sock.set_recv_buffer_size(n);
        }
        if let Some(n) = self.snd {
            let _ = sock.set_send_buffer_size(n);
        }
    }
}

impl ClientOptions {
    pub(crate) fn apply(&self, sock: &Socket) {
        keepalive(sock, &self.keepalive);
        self.buffers.apply(sock);
        if self.nolinger {
            let _ = sock.set_linger(Some(Duration::ZERO));
        }
        if let Some(by) = self.lower_mss
            && let Ok(mss) = sock.tcp_mss()
        {
            let _ = sock.set_tcp_mss(mss.saturating_sub(by).max(1));
        }
    }
}

/// `silent-drop`: the connection goes without a word to the client. As
/// HAProxy: TCP_REPAIR when the process may set it (the close then sends
/// nothing and the client's kernel keeps waiting); otherwise a reset whose
/// TTL of 1 stops it at the first router.
pub(crate) fn silent_drop(stream: &mio::net::TcpStream) {
    use std::os::fd::AsFd;
    match crate::sys::set_tcp_repair(stream.as_fd()) {
        Ok(()) => return,
        Err(e) => log::debug!("silent-drop: TCP_REPAIR: {e}; a reset with a TTL of 1 instead"),
    }
    let sock = socket2::SockRef::from(stream);
    let _ = sock.set_ttl_v4(1);
    let _ = sock.set_unicast_hops_v6(1);
    let _ = sock.set_linger(Some(Duration::ZERO));
}

/// The close of `stream` sends a reset instead of a FIN.
pub(crate) fn reset_on_close(stream: &mio::net::TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
