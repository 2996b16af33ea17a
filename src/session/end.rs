//! How a session ends: [`Session::finish`] gives back everything the
//! session holds, in the order HAProxy counts a closing session, and hands
//! back what its log line says.
//!
//! The order is the contract: the queue place first (so `%bq` is final),
//! the bytes counted while the client socket is still open, then the
//! server connection and its slot (HAProxy no longer counts the session in
//! `%bc`/`%sc`), then the counts read for the record while the session
//! still holds its places in the process and on its frontend (it is still
//! in `%ac`/`%fc`), and last those places, when the session is dropped.

use std::io::Read;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::{Close, Ctx, Phase, Session};
use crate::base::ids::BackendId;
use crate::base::log::{Handshake, Message, Record, Term};
use crate::forward::PipePool;
use crate::runtime::Runtime;

/// What a finished session leaves for the worker.
#[derive(Debug)]
pub(crate) struct Closed {
    /// For the logger: the session's record, or its PROXY header failure;
    /// `None` when its frontend logs nothing at the end of a session.
    pub log: Option<Message>,
    /// The backend whose server slot it gave back (its queue may move).
    pub freed: Option<BackendId>,
}

/// Most bytes read and dropped from a client before a clean close.
const DISCARD_LIMIT: usize = 64 * 1024;

impl Session {
    /// Ends the session: closes both sockets (with a reset when `how` is
    /// an abort) and gives back its queue place, pipes and slots.
    pub(crate) fn finish(mut self, how: Close, ctx: &mut Ctx<'_>) -> Closed {
        self.leave_queue(ctx.queues, false);
        let (up, down) = self.traffic();
        for t in self.vars.trackers() {
            t.table().bytes(t.entry(), up, down);
        }
        let mut log = self.log_message(ctx.rt, ctx.now);
        let freed = self.close_sockets(how, ctx.pipes);
        if let Some(Message::Session(r) | Message::Handshake { record: r, .. }) = &mut log {
            let queued = r.backend.map_or(0, |b| ctx.queues[b.index()].live());
            self.count(ctx.rt, r, queued);
        }
        Closed { log, freed }
    }

    /// The session's log message, read before its sockets close: a PROXY
    /// header failure when that is how it ended (if its frontend logs
    /// those), else its record, when the frontend logs one at the end (a
    /// format; not already sent once connected) and neither `dontlognull`
    /// nor `dontlog-normal` hides it.
    fn log_message(&self, rt: &Runtime, now: Instant) -> Option<Message> {
        let log = &rt.frontend(self.frontend).config.log;
        if log.targets.is_empty() {
            return None;
        }
        let t = &self.trace;
        if let Some(what) = t.handshake {
            // HAProxy's dontlognull hides a client that left without a
            // byte (its CO_ER_PRX_EMPTY and CO_ER_PRX_ABORT).
            let null = matches!(what, Handshake::Closed | Handshake::ReadError);
            // HAProxy logs a session refused after its PROXY header with any
            // format, the default one included.
            let logged = log.logs_connection_errors() || what == Handshake::Refused;
            if !logged || (log.dontlognull && null) {
                return None;
            }
            let (_, _, tt) = t.timers(now);
            let record = Record {
                backend: None,
                server: None,
                source: None,
                tw: -1,
                tc: -1,
                tt,
                bytes_in: 0,
                bytes_out: 0,
                term: Term::CONNECTION_ERROR,
                retries: 0,
                redispatched: false,
                backend_queue: 0,
                ..self.record(now)
            };
            return Some(Message::Handshake {
                record: Box::new(record),
                what,
            });
        }
        // The default format logged its line when the session started.
        if log.format.is_none() || t.logged {
            return None;
        }
        let mut r = self.record(now);
        r.samples = self.log_samples(rt);
        if log.dontlognull && r.bytes_in == 0 {
            return None;
        }
        if log.dontlog_normal && !r.is_error() {
            return None;
        }
        Some(Message::Session(Box::new(r)))
    }

    /// What the session's line says now; the connection counts are filled
    /// in by [`Self::count`].
    pub(super) fn record(&self, now: Instant) -> Record {
        let t = &self.trace;
        let (bytes_in, bytes_out) = self.traffic();
        let (tw, tc, tt) = t.timers(now);
        Record {
            frontend: self.frontend,
            backend: self.backend,
            server: t.server,
            client: self.client_addr,
            local: self.local_addr,
            unix: self.unix,
            source: t.source,
            accepted: t.accepted,
            tw,
            tc,
            tt,
            bytes_in,
            bytes_out,
            term: t.term(),
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srvconn: 0,
            retries: t.retries,
            redispatched: t.redispatched,
            srv_queue: 0,
            backend_queue: t.backend_queue,
            samples: Vec::new(),
            tls_version: self.client_tls.as_ref().and_then(|t| t.info().version()),
            tls_cipher: self.client_tls.as_ref().and_then(|t| t.info().cipher()),
        }
    }

    /// The connection counts of the record, once the server slot is given
    /// back and while the session's other places are held. `queued`: the
    /// sessions still waiting in this worker's queue of the backend.
    pub(super) fn count(&self, rt: &Runtime, r: &mut Record, queued: usize) {
        (r.actconn, r.feconn) = self.slots.counts();
        if let Some(b) = r.backend.map(|b| rt.backend(b)) {
            let active = b.servers.iter().map(|s| s.active.get());
            r.beconn = active.sum::<usize>() + queued;
            r.srvconn = r.server.map_or(0, |s| b.server(s).active.get());
        }
    }

    /// Closes the server connection (giving back its slot) and prepares
    /// the client's close; gives back the pipes. Returns the backend whose
    /// server slot was freed.
    fn close_sockets(&mut self, how: Close, pipes: &mut PipePool) -> Option<BackendId> {
        let mut freed = None;
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        let forwarded = matches!(phase, Phase::Forwarding { .. });
        if let Phase::Connecting { conn } | Phase::Forwarding { conn, .. } = phase {
            if how == Close::Abort {
                reset_on_close(&conn.stream);
            }
            freed = Some(conn.backend);
            // No epoll_ctl(DEL): closing the only descriptor of a socket
            // removes it from the epoll set.
            drop(conn);
        }
        if how == Close::Abort {
            reset_on_close(&self.client);
        } else if !forwarded {
            // No server took the session: what the client sent is still
            // unread, and closing over unread data sends a reset. Dropping
            // it first gives the client a clean end, as HAProxy does.
            discard_input(&self.client);
        }
        self.up.release(pipes);
        self.down.release(pipes);
        freed
    }
}

/// Reads and drops what the client sent, up to [`DISCARD_LIMIT`], without
/// waiting for more.
fn discard_input(stream: &TcpStream) {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while total < DISCARD_LIMIT {
        match (&*stream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

/// Makes the coming close send a RST instead of a FIN.
fn reset_on_close(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
