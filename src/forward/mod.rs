//! Moving bytes one way between two sockets: [`Flow`].
//!
//! A session has two flows (client→server, server→client). A flow reads its
//! source and writes its destination until one of them would block, through
//! a pipe with splice(2) (no copy into user space) or through the worker's
//! scratch buffer (copy). Bytes that could not be written yet stay in the
//! flow: in the pipe, or in a small leftover buffer. End of stream on the
//! source becomes `shutdown(SHUT_WR)` on the destination only once nothing is
//! left to write, so a FIN never overtakes data.
//!
//! Either side may be TLS ([`End::tls`]): the flow then reads and writes
//! plaintext through the [`TlsConn`] and copies (the bytes are in user
//! space anyway); the end of the stream becomes close_notify, then the FIN
//! once every record is out.

pub(crate) mod pipe;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;

use mio::net::TcpStream;

use crate::config::SpliceMode;
use crate::sys;
use crate::tls::TlsConn;
pub(crate) use pipe::{Pipe, PipePool};

/// In `Auto` mode, consecutive full copy reads before a flow switches to
/// splicing: bulk streams fill the buffer every time, request/response
/// traffic rarely does (HAProxy's splice-auto has the same idea).
pub(crate) const SPLICE_AUTO_FULL_READS: u8 = 2;
/// Bytes asked per splice into the pipe; the pipe's free room is the real limit.
pub(crate) const SPLICE_CHUNK: usize = 1 << 20;

/// How far one direction has got towards its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Half {
    /// The source may still send.
    Open,
    /// The source sent FIN; what is left must be written before the FIN.
    Draining,
    /// FIN forwarded: the destination's write side is shut.
    Shut,
}

/// Why a flow cannot go on: the session must be aborted with a reset.
#[derive(Debug)]
pub(crate) enum FlowError {
    /// Reading the source failed (the peer reset it).
    Read(io::Error),
    /// Writing the destination failed (the peer is gone).
    Write(io::Error),
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowError::Read(e) => write!(f, "read failed: {e}"),
            FlowError::Write(e) => write!(f, "write failed: {e}"),
        }
    }
}

/// Readiness of one socket as seen from the edge-triggered events: set by an
/// event, cleared only when a call returns WouldBlock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// The peer's FIN has been seen (EPOLLRDHUP without EPOLLERR: not a
    /// reset): once its queue is read empty, the next read can only return
    /// the end of the stream.
    pub read_closed: bool,
    /// An event said EPOLLERR: a pending error is reported once, by a read
    /// that finds the queue empty, so reads go on to it.
    pub errored: bool,
}

impl Ready {
    /// A socket just connected (accepted): its send buffer is empty, so it
    /// is writable until a write says otherwise.
    pub(crate) fn connected() -> Ready {
        Ready {
            writable: true,
            ..Ready::default()
        }
    }

    /// Records what an edge-triggered event says of this socket.
    pub(crate) fn note(&mut self, ev: &mio::event::Event) {
        self.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
        self.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
        // A FIN, not a reset (a reset sets EPOLLERR with EPOLLRDHUP): the
        // next read after the queue is empty would only say EOF.
        self.read_closed |= ev.is_read_closed() && !ev.is_error();
        self.errored |= ev.is_error();
    }
}

impl crate::tls::conn::Readiness for Ready {
    fn readable(&self) -> bool {
        self.readable
    }
    fn writable(&self) -> bool {
        self.writable
    }
    fn set_readable(&mut self, v: bool) {
        self.readable = v;
    }
    fn set_writable(&mut self, v: bool) {
        self.writable = v;
    }
}

/// One side of a flow: its socket, what the events said of it, and its
/// TLS layer when it has one.
pub(crate) struct End<'a> {
    pub sock: &'a TcpStream,
    pub ready: &'a mut Ready,
    pub tls: Option<&'a mut TlsConn>,
}

impl End<'_> {
    /// Copies what this side sent and nobody took yet into `buf`, leaving
    /// it to be read (its plaintext, on a TLS side): `Ok(0)` when it
    /// closed with nothing more, `WouldBlock` when nothing came yet.
    pub(crate) fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(t) = self.tls.as_deref_mut() else {
            return self.sock.peek(buf);
        };
        let (data, eof) = t.peek(self.sock, self.ready, buf.len())?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        if n == 0 && !eof {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Records wait to go out on this side.
    fn tls_backlog(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Reads plaintext from this side.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(t) => t.read(self.sock, self.ready, buf),
            None => (&*self.sock).read(buf),
        }
    }

    /// Writes plaintext to this side.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(t) => t.write(self.sock, self.ready, buf),
            None => (&*self.sock).write(buf),
        }
    }
}

/// Per-worker resources the flows borrow while pumping.
pub(crate) struct Shared<'a> {
    pub pipes: &'a mut PipePool,
    pub scratch: &'a mut [u8],
}

/// Bytes not yet written, in whichever form the flow holds them.
#[derive(Debug, Default)]
enum Held {
    #[default]
    Nothing,
    Piped(Pipe),
    Copied {
        buf: Vec<u8>,
        pos: usize,
    },
}

/// When the destination's TCP_NODELAY is set. Linux's Nagle (Minshall's
/// variant) holds a short segment back only while an earlier short one is
/// unacknowledged, so a connection's first write never waits: setting the
/// option just before the second write behaves as setting it at connect,
/// and a connection written once (a short request) never needs the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoDelay {
    /// Already set (inherited from the listener, or set at connect).
    Set,
    /// Nothing written yet.
    BeforeSecondWrite,
    /// Written once: set it before the next write.
    BeforeNextWrite,
}

/// One direction of a session.
#[derive(Debug)]
pub(crate) struct Flow {
    mode: SpliceMode,
    /// In `Auto` mode: whether reads have proven bulky enough to splice.
    splicing: bool,
    full_reads: u8,
    held: Held,
    /// The source's end of stream is known without reading it: a copy read
    /// came back short after its FIN was seen.
    eof_known: bool,
    /// A splice into the pipe returned EAGAIN while bytes were in it: the pipe
    /// may be full rather than the socket empty, so stop reading until a
    /// write makes room (then read again, as no new edge may come).
    pipe_maybe_full: bool,
    pub half: Half,
    /// Bytes written to the destination so far.
    pub bytes: u64,
    /// Keep the source's FIN from the destination while no byte has gone
    /// through: the session may still retry on another server, and the
    /// client must not see the first server's close.
    pub hold_fin: bool,
    /// Pass the source's FIN on as a reset (the backend's `option
    /// nolinger`): the destination is set to close with RST and left open
    /// for the session to close.
    pub fin_as_reset: bool,
    /// The other direction is over: once this one is, the session closes
    /// both sockets, and close() sends the FIN (after any data still
    /// queued); a shutdown just before would be a wasted call.
    pub last_out: bool,
    /// Whether the destination still needs TCP_NODELAY.
    pub nodelay: NoDelay,
}

impl Flow {
    pub(crate) fn new(mode: SpliceMode) -> Self {
        Flow {
            mode,
            splicing: mode == SpliceMode::Always,
            full_reads: 0,
            eof_known: false,
            held: Held::Nothing,
            pipe_maybe_full: false,
            half: Half::Open,
            bytes: 0,
            hold_fin: false,
            fin_as_reset: false,
            last_out: false,
            nodelay: NoDelay::Set,
        }
    }

    /// Sets TCP_NODELAY on `dst` if this write may be held back without it.
    fn before_write(&mut self, dst: &TcpStream) {
        if self.nodelay == NoDelay::BeforeNextWrite {
            // A hint, as at connect: a refusal leaves Nagle on, nothing worse.
            let _ = dst.set_nodelay(true);
            self.nodelay = NoDelay::Set;
        }
    }

    /// Counts a write that sent bytes, for [`NoDelay`].
    fn wrote(&mut self, n: usize) {
        if n > 0 && self.nodelay == NoDelay::BeforeSecondWrite {
            self.nodelay = NoDelay::BeforeNextWrite;
        }
    }

    /// Bytes read from the source and not yet written.
    pub(crate) fn pending(&self) -> usize {
        match &self.held {
            Held::Nothing => 0,
            Held::Piped(p) => p.pending,
            Held::Copied { buf, pos } => buf.len() - pos,
        }
    }

    /// The splice policy this flow was made with (or fell back to).
    pub(crate) fn mode(&self) -> SpliceMode {
        self.mode
    }

    /// Whether this flow currently moves bytes with splice.
    pub(crate) fn is_splicing(&self) -> bool {
        self.splicing
    }

    /// Gives back any pipe (a non-empty one is closed by the pool).
    pub(crate) fn release(&mut self, pipes: &mut PipePool) {
        if let Held::Piped(p) = std::mem::take(&mut self.held) {
            pipes.put(p);
        }
    }

    /// Moves bytes until nothing more can happen without a new event.
    /// Returns the bytes written to `dst` by this call.
    pub(crate) fn pump(
        &mut self,
        mut src: End<'_>,
        mut dst: End<'_>,
        shared: &mut Shared<'_>,
    ) -> Result<usize, FlowError> {
        let mut written = 0;
        loop {
            let mut progress = false;
            if (self.pending() > 0 || dst.tls_backlog()) && dst.ready.writable {
                match self.flush(&mut dst) {
                    Ok(n) => {
                        written += n;
                        progress = n > 0;
                        self.pipe_maybe_full = false;
                    }
                    Err(e) if would_block(&e) => dst.ready.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                    Err(e) => return Err(FlowError::Write(e)),
                }
            }
            let readable =
                src.ready.readable || src.tls.as_ref().is_some_and(|t| t.has_plaintext());
            if self.half == Half::Open && readable && self.may_read() {
                match self.fill(&mut src, Some(&mut dst), shared) {
                    Ok(Filled::Bytes(w)) => {
                        written += w;
                        progress = true;
                    }
                    Ok(Filled::Eof) => {
                        self.half = Half::Draining;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.read_would_block(src.ready, shared.pipes)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                    Err(e) => return Err(FlowError::Read(e)),
                }
            }
            if self.half == Half::Draining
                && self.pending() == 0
                && !(self.hold_fin && self.bytes == 0)
            {
                if let Some(t) = dst.tls.as_deref_mut().filter(|_| !self.fin_as_reset) {
                    // close_notify, and every record out before the FIN.
                    t.close_notify();
                    match t.flush(dst.sock, dst.ready) {
                        Ok(()) => {}
                        Err(e) if would_block(&e) => return Ok(written),
                        Err(e) => return Err(FlowError::Write(e)),
                    }
                }
                self.release(shared.pipes);
                if self.fin_as_reset {
                    let _ = socket2::SockRef::from(dst.sock)
                        .set_linger(Some(std::time::Duration::ZERO));
                } else if !self.last_out {
                    // ENOTCONN here means the peer already closed: nothing to tell it.
                    let _ = dst.sock.shutdown(Shutdown::Write);
                }
                self.half = Half::Shut;
            }
            if !progress {
                return Ok(written);
            }
        }
    }

    fn may_read(&self) -> bool {
        match &self.held {
            Held::Nothing => true,
            Held::Piped(_) => !self.pipe_maybe_full,
            Held::Copied { .. } => false,
        }
    }

    /// Writes held bytes to `dst` (and the TLS records it holds); returns
    /// how many bytes went out.
    fn flush(&mut self, dst: &mut End<'_>) -> io::Result<usize> {
        if let Some(t) = dst.tls.as_deref_mut() {
            t.flush(dst.sock, dst.ready)?;
        }
        if self.pending() > 0 {
            self.before_write(dst.sock);
        }
        let n = match &mut self.held {
            Held::Nothing => 0,
            // A pipe is never filled towards a TLS side (no splicing there).
            Held::Piped(p) => {
                let n = sys::splice(p.read_end(), dst.sock.as_fd(), p.pending)?;
                p.pending -= n;
                n
            }
            Held::Copied { buf, pos } => {
                let n = dst.write(&buf[*pos..])?;
                *pos += n;
                n
            }
        };
        self.bytes += n as u64;
        self.wrote(n);
        if self.pending() == 0 && matches!(self.held, Held::Copied { .. }) {
            self.held = Held::Nothing;
        }
        Ok(n)
    }

    /// Reads from `src` (and, in copy mode, writes straight on to `dst`).
    fn fill(
        &mut self,
        src: &mut End<'_>,
        dst: Option<&mut End<'_>>,
        shared: &mut Shared<'_>,
    ) -> io::Result<Filled> {
        if self.eof_known {
            return Ok(Filled::Eof);
        }
        if self.splicing
            && src.tls.is_none()
            && dst.as_ref().is_none_or(|d| d.tls.is_none())
            && let Some(r) = self.fill_pipe(src.sock, shared.pipes)
        {
            return r;
        }
        self.fill_copy(src, dst, shared.scratch)
    }

    /// Reads what the source has into the flow without writing it
    /// anywhere yet (the destination is still connecting); returns the
    /// bytes now held. End of stream is noted as in [`Flow::pump`].
    pub(crate) fn read_ahead(
        &mut self,
        mut src: End<'_>,
        shared: &mut Shared<'_>,
    ) -> Result<usize, FlowError> {
        while self.half == Half::Open && src.ready.readable && self.may_read() {
            match self.fill(&mut src, None, shared) {
                Ok(Filled::Bytes(_)) => {}
                Ok(Filled::Eof) => self.half = Half::Draining,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_would_block(src.ready, shared.pipes)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FlowError::Read(e)),
            }
        }
        Ok(self.pending())
    }

    /// Writes what the flow holds to `dst` and reads nothing: the first
    /// write to a connection just started ([`Flow::read_ahead`] read it).
    /// Returns the bytes written (0: it would block).
    pub(crate) fn write_held(&mut self, mut dst: End<'_>) -> io::Result<usize> {
        loop {
            match self.flush(&mut dst) {
                Ok(n) => {
                    // Room in the pipe again: reads may go on (as in `pump`).
                    self.pipe_maybe_full = false;
                    return Ok(n);
                }
                Err(e) if would_block(&e) => {
                    dst.ready.writable = false;
                    return Ok(0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A read found nothing more: the source is drained, or (splicing) the
    /// pipe may be full rather than the socket empty.
    fn read_would_block(&mut self, ready: &mut Ready, pipes: &mut PipePool) {
        if self.pending() == 0 {
            ready.readable = false;
            // An idle spliced flow holds no pipe.
            self.release(pipes);
        } else if matches!(self.held, Held::Piped(_)) {
            self.pipe_maybe_full = true;
        }
    }

    /// The splice path; `None` when no pipe can be had (copy instead).
    fn fill_pipe(&mut self, src: &TcpStream, pipes: &mut PipePool) -> Option<io::Result<Filled>> {
        if matches!(self.held, Held::Nothing) {
            self.held = Held::Piped(pipes.get()?);
        }
        let Held::Piped(p) = &mut self.held else {
            return None;
        };
        match sys::splice(src.as_fd(), p.write_end(), SPLICE_CHUNK) {
            Ok(0) => Some(Ok(Filled::Eof)),
            Ok(n) => {
                p.pending += n;
                Some(Ok(Filled::Bytes(0)))
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && p.pending == 0 => {
                // This socket pair cannot splice: copy from now on.
                log::debug!("splice refused ({e}), copying");
                self.mode = SpliceMode::Never;
                self.splicing = false;
                self.release(pipes);
                None
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// The copy path: read a chunk, write what `dst` takes now, keep the rest
    /// (all of it without a `dst`).
    fn fill_copy(
        &mut self,
        src: &mut End<'_>,
        dst: Option<&mut End<'_>>,
        scratch: &mut [u8],
    ) -> io::Result<Filled> {
        // The worker's buffer is `tune.bufsize` long.
        let chunk = &mut scratch[..];
        let n = src.read(chunk)?;
        if n == 0 {
            return Ok(Filled::Eof);
        }
        self.note_read_size(n, chunk.len());
        // A short read emptied the socket (edge-triggered: new bytes raise
        // a new event), so the read that would say EAGAIN is skipped; after
        // the FIN was seen, what follows is the end of the stream. (TLS
        // reads return records' plaintext: no such rule there. The splice
        // path keeps reading to EAGAIN: there EAGAIN may mean a full pipe.)
        if n < chunk.len() && src.tls.is_none() && !src.ready.errored {
            if src.ready.read_closed {
                self.eof_known = true;
            } else {
                src.ready.readable = false;
            }
        }
        let mut sent = 0;
        if let Some(dst) = dst.filter(|d| d.ready.writable) {
            // The last bytes before a known FIN go out with MSG_MORE: the
            // shutdown that follows at once sends the FIN in their segment.
            let last = self.eof_known && dst.tls.is_none() && !self.fin_as_reset;
            self.before_write(dst.sock);
            let written = if last {
                socket2::SockRef::from(dst.sock).send_with_flags(&chunk[..n], libc::MSG_MORE)
            } else {
                dst.write(&chunk[..n])
            };
            match written {
                Ok(w) => sent = w,
                Err(e) if would_block(&e) => dst.ready.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Keep the bytes: the flush that follows writes again and
                // reports the failure as the destination's.
                Err(_) => {}
            }
        }
        self.bytes += sent as u64;
        self.wrote(sent);
        if sent < n {
            self.held = Held::Copied {
                buf: chunk[sent..n].to_vec(),
                pos: 0,
            };
        }
        Ok(Filled::Bytes(sent))
    }

    fn note_read_size(&mut self, n: usize, cap: usize) {
        if self.mode != SpliceMode::Auto {
            return;
        }
        if n == cap {
            self.full_reads = self.full_reads.saturating_add(1);
            if self.full_reads >= SPLICE_AUTO_FULL_READS {
                self.splicing = true;
            }
        } else {
            self.full_reads = 0;
        }
    }
}

/// What one read gave.
enum Filled {
    /// Bytes were read; the number is how many also went out to `dst`.
    Bytes(usize),
    Eof,
}

/// A write that must wait for writability: EAGAIN, or EINPROGRESS from a
/// server socket with TCP Fast Open (`tfo`) whose SYN just left without
/// data (no cookie yet); the connection's completion makes it writable.
fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EINPROGRESS)
}

#[cfg(test)]
mod tests;
