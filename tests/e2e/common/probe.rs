//! One client's view of a frontend with rules: connect (from a chosen
//! loopback source), send some bytes, and see how it ends: served by a
//! `Backend::named` server (its name), closed or reset with no data, or
//! left hanging (nothing at all within the limit).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::connect_from;

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A `Backend::named` server's first line.
    Served(String),
    /// A FIN before any byte.
    Closed,
    /// A RST before any byte.
    Reset,
    /// Neither data nor an end within the limit.
    Silent,
    /// Some bytes, then an end or a silence, without a full line.
    Partial(Vec<u8>),
}

impl Answer {
    pub fn served(name: &str) -> Answer {
        Answer::Served(name.to_string())
    }
}

/// Connects to `fe` from `src`, sends `send` (if any), and reads the first
/// line within `limit`. Returns the answer and the client's socket (still
/// open, for tests that go on with it).
pub fn probe_on(src: IpAddr, fe: SocketAddr, send: &[u8], limit: Duration) -> (Answer, TcpStream) {
    let s = connect_from(src, fe).unwrap_or_else(|e| panic!("connect {src} -> {fe}: {e}"));
    if !send.is_empty() {
        // A connection rejected at accept may already be reset.
        let _ = (&s).write_all(send);
    }
    (read_line_answer(&s, limit), s)
}

/// [`probe_on`] when the socket is not needed afterwards.
pub fn probe(src: IpAddr, fe: SocketAddr, send: &[u8], limit: Duration) -> Answer {
    probe_on(src, fe, send, limit).0
}

/// Reads up to the first `\n` within `limit`.
pub fn read_line_answer(s: &TcpStream, limit: Duration) -> Answer {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match (&*s).read(&mut b) {
            Ok(0) if got.is_empty() => return Answer::Closed,
            Ok(0) => return Answer::Partial(got),
            Ok(_) if b[0] == b'\n' => {
                return Answer::Served(String::from_utf8_lossy(&got).into_owned());
            }
            Ok(_) => got.push(b[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if got.is_empty() && e.kind() == ErrorKind::ConnectionReset => {
                return Answer::Reset;
            }
            Err(e) if super::is_timeout(&e) && got.is_empty() => return Answer::Silent,
            Err(_) => return Answer::Partial(got),
        }
    }
}
