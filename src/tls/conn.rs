//! One TLS connection over a non-blocking socket: [`TlsConn`].
//!
//! The flows of a session call [`TlsConn::read`] and [`TlsConn::write`]
//! with plaintext, as they call read(2)/write(2) on a plain socket, and
//! get `WouldBlock` the same way; records are read from and written to the
//! socket inside. Memory is bounded: rustls holds at most one record of
//! received plaintext beyond what the caller takes, and at most
//! [`SEND_BUFFER`] bytes waiting to be sent.
//!
//! A client connection (`bind ... ssl`) starts with the ClientHello alone
//! (rustls's `Acceptor`), so the bind can pick the certificate and the
//! settings for the SNI before the handshake goes on; [`TlsConn::handshake`]
//! drives it to the end. A server connection (`server ... ssl`) is open at
//! once: what the client sends while the handshake runs waits in rustls
//! and leaves when it is done.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::Acceptor;
use rustls::{ClientConfig, ClientConnection, Connection};

use super::bind::BindContext;

/// Bytes of TLS output (records not yet written, and plaintext not yet
/// made into records) one connection may hold; past it, writes wait.
pub(crate) const SEND_BUFFER: usize = 64 * 1024;

/// Readiness of the socket, as the session tracks it (edge-triggered):
/// set by events, cleared when a call would block.
pub(crate) trait Readiness {
    fn readable(&self) -> bool;
    fn writable(&self) -> bool;
    fn set_readable(&mut self, v: bool);
    fn set_writable(&mut self, v: bool);
}

enum State {
    /// Waiting for the whole ClientHello.
    Accepting {
        acceptor: Box<Acceptor>,
        ctx: Arc<BindContext>,
    },
    Open(Box<Connection>),
}

/// A TLS connection and the plaintext read from it but not taken yet.
pub(crate) struct TlsConn {
    state: State,
    /// Plaintext read ahead for rules that look at the first bytes; the
    /// next reads take it first.
    inbox: Vec<u8>,
    /// rustls may hold decrypted bytes not read yet (the last read filled
    /// the caller's buffer): the socket's readiness says nothing of them.
    more: bool,
    close_sent: bool,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("handshaking", &self.is_handshaking())
            .field("inbox", &self.inbox.len())
            .finish()
    }
}

/// The socket as rustls reads and writes it.
struct Io<'a>(&'a TcpStream);

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

/// A read of handshake records: `Ok(true)` when bytes came, `Ok(false)`
/// when the socket is empty (no longer readable); the peer's FIN in the
/// middle of a handshake is an error.
fn handshake_read(r: io::Result<usize>, ready: &mut impl Readiness) -> io::Result<bool> {
    match r {
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            ready.set_readable(false);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A flush whose leftovers may wait for the next writable event.
fn flushed_or_waiting(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
        _ => Ok(()),
    }
}

impl TlsConn {
    /// A client's connection to a TLS bind, before its ClientHello.
    pub(crate) fn accept(ctx: Arc<BindContext>) -> Self {
        TlsConn {
            state: State::Accepting {
                acceptor: Box::default(),
                ctx,
            },
            inbox: Vec::new(),
            more: false,
            close_sent: false,
        }
    }

    /// A connection to a server; `name` is sent as SNI when it is a DNS name.
    pub(crate) fn connect(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Self> {
        let mut c = ClientConnection::new(config, name).map_err(tls_error)?;
        c.set_buffer_limit(Some(SEND_BUFFER));
        Ok(TlsConn {
            state: State::Open(Box::new(c.into())),
            inbox: Vec::new(),
            more: false,
            close_sent: false,
        })
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        match &self.state {
            State::Accepting { .. } => true,
            State::Open(c) => c.is_handshaking(),
        }
    }

    /// Drives the handshake as far as the socket allows: `Ok(true)` once
    /// it is complete (and its last flight is written, or queued when the
    /// socket is full).
    pub(crate) fn handshake(
        &mut self,
        sock: &TcpStream,
        ready: &mut impl Readiness,
    ) -> io::Result<bool> {
        loop {
            match &mut self.state {
                State::Accepting { acceptor, ctx } => {
                    if !ready.readable() {
                        return Ok(false);
                    }
                    if !handshake_read(acceptor.read_tls(&mut Io(sock)), ready)? {
                        return Ok(false);
                    }
                    let accepted = match acceptor.accept() {
                        Ok(None) => continue,
                        Ok(Some(a)) => a,
                        Err((e, mut alert)) => {
                            let _ = alert.write(&mut Io(sock));
                            return Err(tls_error(e));
                        }
                    };
                    let hello = accepted.client_hello();
                    let sni = hello.server_name().map(str::to_owned);
                    let alpn: Option<Vec<Vec<u8>>> =
                        hello.alpn().map(|a| a.map(<[u8]>::to_vec).collect());
                    let offer: Option<Vec<&[u8]>> =
                        alpn.as_ref().map(|a| a.iter().map(Vec::as_slice).collect());
                    let Some(config) = ctx.choose(sni.as_deref(), offer.as_deref()) else {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "no certificate for this server name (strict-sni)",
                        ));
                    };
                    match accepted.into_connection(config) {
                        Ok(mut c) => {
                            c.set_buffer_limit(Some(SEND_BUFFER));
                            self.state = State::Open(Box::new(c.into()));
                        }
                        Err((e, mut alert)) => {
                            let _ = alert.write(&mut Io(sock));
                            return Err(tls_error(e));
                        }
                    }
                }
                State::Open(c) => {
                    flushed_or_waiting(Self::flush_conn(c, sock, ready))?;
                    if !c.is_handshaking() {
                        return Ok(true);
                    }
                    if !ready.readable() {
                        return Ok(false);
                    }
                    if !handshake_read(c.read_tls(&mut Io(sock)), ready)? {
                        return Ok(false);
                    }
                    if let Err(e) = c.process_new_packets() {
                        let _ = Self::flush_conn(c, sock, ready);
                        return Err(tls_error(e));
                    }
                }
            }
        }
    }

    /// Reads plaintext: `Ok(0)` at the end of the stream (close_notify, or
    /// the peer's FIN without one), `WouldBlock` when nothing is there yet.
    pub(crate) fn read(
        &mut self,
        sock: &TcpStream,
        ready: &mut impl Readiness,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        if !self.inbox.is_empty() {
            let n = buf.len().min(self.inbox.len());
            buf[..n].copy_from_slice(&self.inbox[..n]);
            self.inbox.drain(..n);
            return Ok(n);
        }
        self.read_conn(sock, ready, buf)
    }

    fn read_conn(
        &mut self,
        sock: &TcpStream,
        ready: &mut impl Readiness,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        let State::Open(c) = &mut self.state else {
            return Err(would_block());
        };
        loop {
            match c.reader().read(buf) {
                Ok(n) => {
                    self.more = n > 0 && n == buf.len();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.more = false,
                // The peer closed without close_notify: an end all the same
                // (HAProxy reads it so too).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if !ready.readable() {
                return Err(would_block());
            }
            match c.read_tls(&mut Io(sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready.set_readable(false);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            if let Err(e) = c.process_new_packets() {
                let _ = Self::flush_conn(c, sock, ready);
                return Err(tls_error(e));
            }
            // Handshake messages and answers to the peer's (a server's
            // handshake, key updates) go out as soon as they exist.
            if c.wants_write() {
                flushed_or_waiting(Self::flush_conn(c, sock, ready))?;
            }
        }
    }

    /// Reads ahead up to `max` bytes of plaintext for rules to look at
    /// (they stay for the next reads); returns them and whether the stream
    /// ended.
    pub(crate) fn peek(
        &mut self,
        sock: &TcpStream,
        ready: &mut impl Readiness,
        max: usize,
    ) -> io::Result<(&[u8], bool)> {
        let mut eof = false;
        let mut chunk = [0u8; 4096];
        while self.inbox.len() < max {
            let want = (max - self.inbox.len()).min(chunk.len());
            match self.read_conn(sock, ready, &mut chunk[..want]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok((&self.inbox, eof))
    }

    /// Plaintext read ahead and not taken yet.
    pub(crate) fn buffered(&self) -> usize {
        self.inbox.len()
    }

    /// Whether a read may find plaintext without the socket being readable.
    pub(crate) fn has_plaintext(&self) -> bool {
        !self.inbox.is_empty() || self.more
    }

    /// Takes plaintext to send: `WouldBlock` when the send buffer is full
    /// (the socket is, too).
    pub(crate) fn write(
        &mut self,
        sock: &TcpStream,
        ready: &mut impl Readiness,
        data: &[u8],
    ) -> io::Result<usize> {
        let State::Open(c) = &mut self.state else {
            return Err(would_block());
        };
        flushed_or_waiting(Self::flush_conn(c, sock, ready))?;
        let n = c.writer().write(data)?;
        flushed_or_waiting(Self::flush_conn(c, sock, ready))?;
        if n == 0 && !data.is_empty() {
            return Err(would_block());
        }
        Ok(n)
    }

    /// Whether records wait to be written.
    pub(crate) fn wants_write(&self) -> bool {
        match &self.state {
            State::Accepting { .. } => false,
            State::Open(c) => c.wants_write(),
        }
    }

    /// Writes the records waiting: `WouldBlock` when some are left.
    pub(crate) fn flush(&mut self, sock: &TcpStream, ready: &mut impl Readiness) -> io::Result<()> {
        match &mut self.state {
            State::Accepting { .. } => Ok(()),
            State::Open(c) => Self::flush_conn(c, sock, ready),
        }
    }

    fn flush_conn(
        c: &mut Connection,
        sock: &TcpStream,
        ready: &mut impl Readiness,
    ) -> io::Result<()> {
        while c.wants_write() {
            if !ready.writable() {
                return Err(would_block());
            }
            match c.write_tls(&mut Io(sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready.set_writable(false);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues close_notify (once): the end of what this side sends.
    pub(crate) fn close_notify(&mut self) {
        if let (State::Open(c), false) = (&mut self.state, self.close_sent) {
            c.send_close_notify();
            self.close_sent = true;
        }
    }

    fn conn(&self) -> Option<&Connection> {
        match &self.state {
            State::Open(c) => Some(c),
            State::Accepting { .. } => None,
        }
    }

    /// What the handshake settled, for fetches and logs.
    pub(crate) fn info(&self) -> Info<'_> {
        Info { conn: self.conn() }
    }
}

/// The negotiated parameters of a connection.
#[derive(Clone, Copy)]
pub(crate) struct Info<'a> {
    conn: Option<&'a Connection>,
}

impl<'a> Info<'a> {
    /// The SNI the client sent (server side).
    pub(crate) fn sni(&self) -> Option<&'a str> {
        match self.conn? {
            Connection::Server(s) => s.server_name(),
            Connection::Client(_) => None,
        }
    }

    pub(crate) fn alpn(&self) -> Option<&'a [u8]> {
        self.conn?.alpn_protocol()
    }

    /// `TLSv1.3`...
    pub(crate) fn version(&self) -> Option<&'static str> {
        self.conn?
            .protocol_version()
            .map(super::names::version_name)
    }

    /// OpenSSL's name of the suite.
    pub(crate) fn cipher(&self) -> Option<&'static str> {
        self.conn?
            .negotiated_cipher_suite()
            .map(|s| super::names::cipher_name(s.suite()))
    }

    /// The peer's certificate (a client's, verified by the bind's `verify`).
    pub(crate) fn peer_cert(&self) -> Option<&'a CertificateDer<'static>> {
        self.conn?.peer_certificates()?.first()
    }
}
