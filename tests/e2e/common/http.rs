//! A minimal HTTP/1.0 client, enough to learn which server answered.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// True when something accepts TCP connections on `addr`.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// One HTTP/1.0 `GET path` to `addr`; returns the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad response {text:?}"),
        )
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// The name a server put in its page (`GET /` answers with its name).
pub fn served_by(addr: SocketAddr) -> std::io::Result<String> {
    let (status, body) = http_get(addr, "/")?;
    if status != 200 {
        return Err(std::io::Error::other(format!("status {status}")));
    }
    Ok(body.trim().to_string())
}

/// How many of `n` sequential `GET /` each server answered; failures are
/// counted under "error".
pub fn http_tally(addr: SocketAddr, n: usize) -> std::collections::HashMap<String, usize> {
    let mut t = std::collections::HashMap::new();
    for _ in 0..n {
        let name = served_by(addr).unwrap_or_else(|_| "error".into());
        *t.entry(name).or_insert(0) += 1;
    }
    t
}
