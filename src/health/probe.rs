//! One check in flight: runs a [`Step`] script over a non-blocking socket
//! registered in the health thread's Poll. The probe knows no protocol; it
//! connects, writes, reads and asks the script's `Expect` steps what the
//! bytes mean (see `script.rs` for the rules).
//!
//! Sockets are edge-triggered and registered for both directions once, so
//! every event simply retries the current step until it would block.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::script::{MAX_RESPONSE, Progress, Step};
use super::status::{CheckStatus, Verdict};
use crate::config::ProxyVersion;

/// Where and how a probe connects, and how long it may take.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The check address (server address, `addr` and `port` applied).
    pub addr: SocketAddr,
    pub source: Option<std::net::IpAddr>,
    /// Bound on the connect step.
    pub connect_timeout: Duration,
    /// Bound on the rest, counted from the connect's completion; `None`
    /// means the connect bound covers the whole check (HAProxy without
    /// `timeout check`).
    pub check_timeout: Option<Duration>,
    /// A PROXY header on the check's own connection (not on a `tcp-check
    /// connect port N`): `check-send-proxy`, or the server's `send-proxy`
    /// when the check has no `port`/`addr` of its own (HAProxy).
    pub proxy: Option<ProxyVersion>,
    /// `check-ssl`: the check speaks TLS once connected.
    pub tls: Option<ProbeTls>,
}

/// What a TLS check needs.
#[derive(Debug, Clone)]
pub(crate) struct ProbeTls {
    pub config: Arc<rustls::ClientConfig>,
    /// `check-sni`.
    pub sni: Option<String>,
}

/// A probe retries its step on every event until a call would block, so
/// the TLS layer may always try.
struct AlwaysTry;

impl crate::tls::conn::Readiness for AlwaysTry {
    fn readable(&self) -> bool {
        true
    }
    fn writable(&self) -> bool {
        true
    }
    fn set_readable(&mut self, _: bool) {}
    fn set_writable(&mut self, _: bool) {}
}

/// Where the current step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A connect step not started yet.
    Connect,
    /// A connect started and not completed.
    Connecting,
    /// Connected; the TLS handshake runs (`check-ssl`).
    Handshake,
    /// Sending: that many bytes of the step are written.
    Send(usize),
    Read,
}

pub(crate) struct Probe {
    steps: Arc<[Step]>,
    pc: usize,
    target: Target,
    token: Token,
    stream: Option<TcpStream>,
    tls: Option<crate::tls::TlsConn>,
    wait: Wait,
    buf: Vec<u8>,
    last_pass: Option<Verdict>,
    pub started: Instant,
    pub deadline: Instant,
}

/// Where a probe stands after it ran as far as it could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Poll {
    Pending,
    Done(Verdict),
}

impl Probe {
    /// Starts a check; it may finish at once (a refused connect).
    pub(crate) fn start(
        steps: Arc<[Step]>,
        target: Target,
        token: Token,
        registry: &Registry,
        now: Instant,
    ) -> (Probe, Poll) {
        let deadline = now + target.connect_timeout;
        let mut p = Probe {
            steps,
            pc: 0,
            target,
            token,
            stream: None,
            tls: None,
            wait: Wait::Connect,
            buf: Vec::new(),
            last_pass: None,
            started: now,
            deadline,
        };
        let poll = p.run(registry, now);
        (p, poll)
    }

    /// Readiness on the probe's socket.
    pub(crate) fn on_event(&mut self, registry: &Registry, now: Instant) -> Poll {
        self.run(registry, now)
    }

    /// The deadline passed: the verdict for the step it stopped at.
    pub(crate) fn timed_out(&self) -> Verdict {
        if self.wait == Wait::Handshake {
            return Verdict::new(CheckStatus::L6Tout);
        }
        match self.steps.get(self.pc) {
            Some(Step::Expect(e)) => e.timeout(),
            _ => Verdict::new(CheckStatus::L4Tout),
        }
    }

    /// The index of the step the probe is at (or ended at).
    pub(crate) fn step(&self) -> usize {
        self.pc
    }

    /// Closes the socket (also done on drop).
    pub(crate) fn close(&mut self, registry: &Registry) {
        self.tls = None;
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(&mut s);
        }
    }

    fn run(&mut self, registry: &Registry, now: Instant) -> Poll {
        let steps = self.steps.clone();
        loop {
            let step = match steps.get(self.pc) {
                Some(step) => step,
                None => {
                    self.close(registry);
                    let plain = if self.target.tls.is_some() {
                        CheckStatus::L6Ok
                    } else {
                        CheckStatus::L4Ok
                    };
                    let v = self.last_pass.take().unwrap_or_else(|| Verdict::new(plain));
                    return Poll::Done(v);
                }
            };
            let advanced = match step {
                Step::Connect { port, send_proxy } => {
                    self.connect(*port, *send_proxy, registry, now)
                }
                Step::Send(bytes) => self.send(bytes),
                Step::Expect(e) => self.expect(e),
            };
            match advanced {
                Ok(true) => {
                    self.pc += 1;
                    self.wait = match steps.get(self.pc) {
                        Some(Step::Connect { .. }) => Wait::Connect,
                        Some(Step::Send(_)) => Wait::Send(0),
                        _ => Wait::Read,
                    };
                }
                Ok(false) => return Poll::Pending,
                Err(v) => {
                    self.close(registry);
                    return Poll::Done(v);
                }
            }
        }
    }

    /// `Ok(true)`: the step is done; `Ok(false)`: wait for an event.
    fn connect(
        &mut self,
        port: Option<u16>,
        send_proxy: bool,
        registry: &Registry,
        now: Instant,
    ) -> Result<bool, Verdict> {
        if self.wait == Wait::Handshake {
            return self.handshake(now);
        }
        if self.wait != Wait::Connecting {
            // A fresh connect: the first, or a later `tcp-check connect`.
            self.close(registry);
            let mut addr = self.target.addr;
            if let Some(p) = port {
                addr.set_port(p);
            }
            let opts = crate::net::connect::ConnectOptions {
                source: self.target.source,
                ..Default::default()
            };
            let mut s = crate::net::connect::start(addr, &opts)
                .map_err(|e| l4_error(CheckStatus::L4Con, &e))?;
            registry
                .register(&mut s, self.token, Interest::READABLE | Interest::WRITABLE)
                .map_err(|e| l4_error(CheckStatus::SockErr, &e))?;
            self.stream = Some(s);
            self.wait = Wait::Connecting;
            self.buf.clear();
            return Ok(false);
        }
        let Some(s) = self.stream.as_ref() else {
            return Err(Verdict::new(CheckStatus::SockErr));
        };
        match s.take_error() {
            Ok(Some(e)) | Err(e) => return Err(l4_error(CheckStatus::L4Con, &e)),
            Ok(None) => {}
        }
        let peer = match s.peer_addr() {
            Ok(peer) => peer,
            // Not connected yet: this event was not the handshake's end.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(l4_error(CheckStatus::L4Con, &e)),
        };
        let version = if send_proxy {
            Some(self.target.proxy.unwrap_or(ProxyVersion::V1))
        } else {
            self.target.proxy.filter(|_| port.is_none())
        };
        if let Some(version) = version {
            let local = s
                .local_addr()
                .map_err(|e| l4_error(CheckStatus::L4Con, &e))?;
            // A fresh socket's buffer always takes a PROXY header whole.
            let header = crate::proxy_proto::encode(version, local, peer);
            let mut w: &TcpStream = s;
            match w.write(&header) {
                Ok(n) if n == header.len() => {}
                Ok(_) => return Err(Verdict::new(CheckStatus::SockErr)),
                Err(e) => return Err(l4_error(CheckStatus::L4Con, &e)),
            }
        }
        if let Some(t) = self.target.tls.clone() {
            let name = t
                .sni
                .and_then(|n| rustls::pki_types::ServerName::try_from(n).ok())
                .unwrap_or(rustls::pki_types::ServerName::IpAddress(peer.ip().into()));
            let conn = crate::tls::TlsConn::connect(t.config, name)
                .map_err(|e| Verdict::new(CheckStatus::L6Rsp).info(e.to_string()))?;
            self.tls = Some(conn);
            self.wait = Wait::Handshake;
            return self.handshake(now);
        }
        if let Some(t) = self.target.check_timeout {
            self.deadline = now + t;
        }
        Ok(true)
    }

    /// The check's TLS handshake: an error is a layer 6 failure.
    fn handshake(&mut self, now: Instant) -> Result<bool, Verdict> {
        let (Some(s), Some(tls)) = (self.stream.as_ref(), self.tls.as_mut()) else {
            return Err(Verdict::new(CheckStatus::SockErr));
        };
        match tls.handshake(s, &mut AlwaysTry) {
            Ok(false) => Ok(false),
            Ok(true) => {
                if let Some(t) = self.target.check_timeout {
                    self.deadline = now + t;
                }
                Ok(true)
            }
            Err(e) => Err(Verdict::new(CheckStatus::L6Rsp).info(tls_words(&e))),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<bool, Verdict> {
        let Wait::Send(mut done) = self.wait else {
            return Err(Verdict::new(CheckStatus::SockErr));
        };
        let Some(s) = self.stream.as_ref() else {
            return Err(Verdict::new(CheckStatus::SockErr));
        };
        while done < bytes.len() {
            let wrote = match self.tls.as_mut() {
                Some(t) => t.write(s, &mut AlwaysTry, &bytes[done..]),
                None => (&mut &*s).write(&bytes[done..]),
            };
            match wrote {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait = Wait::Send(done);
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(l4_error(CheckStatus::L4Con, &e)),
            }
        }
        Ok(true)
    }

    fn expect(&mut self, e: &super::script::Expect) -> Result<bool, Verdict> {
        let mut eof = false;
        loop {
            match e.eval(&self.buf, eof) {
                Progress::Pass { consumed, verdict } => {
                    self.buf.drain(..consumed.min(self.buf.len()));
                    self.last_pass = Some(verdict);
                    return Ok(true);
                }
                Progress::Fail(v) => return Err(v),
                // The script must judge a closed stream; if it cannot, the
                // answer was not what it waits for.
                Progress::NeedMore if eof => return Err(Verdict::new(CheckStatus::L7Rsp)),
                Progress::NeedMore => {}
            }
            match self.read_more() {
                Got::Data => {}
                Got::Eof => eof = true,
                Got::WouldBlock => return Ok(false),
            }
        }
    }

    fn read_more(&mut self) -> Got {
        let Some(s) = self.stream.as_ref() else {
            return Got::Eof;
        };
        if self.buf.len() >= MAX_RESPONSE {
            return Got::Eof;
        }
        let mut chunk = [0u8; 4096];
        let room = (MAX_RESPONSE - self.buf.len()).min(chunk.len());
        loop {
            let got = match self.tls.as_mut() {
                Some(t) => {
                    // What a send step left in the TLS layer goes first.
                    match t.flush(s, &mut AlwaysTry) {
                        Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Got::Eof,
                        _ => {}
                    }
                    t.read(s, &mut AlwaysTry, &mut chunk[..room])
                }
                None => (&mut &*s).read(&mut chunk[..room]),
            };
            match got {
                Ok(0) => return Got::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Got::Data;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Got::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A reset after some bytes: judge what arrived.
                Err(_) => return Got::Eof,
            }
        }
    }
}

enum Got {
    Data,
    WouldBlock,
    Eof,
}

/// A layer-4 verdict with the system's words ("Connection refused"), as
/// HAProxy puts them in `info`.
fn l4_error(status: CheckStatus, e: &io::Error) -> Verdict {
    let v = Verdict::new(status);
    match e.raw_os_error() {
        Some(code) => v.info(strerror(code)),
        None => v.info(e.to_string()),
    }
}

/// HAProxy's words for a failed TLS handshake of a check.
fn tls_words(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        "Connection closed during SSL handshake".into()
    } else {
        format!("SSL handshake failure ({e})")
    }
}

/// The C library's text for an errno, without Rust's " (os error N)".
pub(crate) fn strerror(code: i32) -> String {
    let text = io::Error::from_raw_os_error(code).to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
