//! The runtime API: one thread with its own `mio::Poll` serving every
//! `stats socket` (UNIX or TCP) with HAProxy's CLI protocol. [`request`]
//! cuts what clients send into commands (with their `<<` payloads), [`cli`]
//! runs them from the tables of the handler files ([`commands`]...), and
//! the answers go back to the client; state changes go to the runtime's
//! atomics and shared state, which workers read on their next use.
//!
//! The same thread serves the stats frontends (`mode http` with `stats
//! enable` or the Prometheus exporter): [`http`] reads one request per
//! connection, [`web`] answers it with the [`page`], its CSV or the
//! [`metrics`], all built from `show stat`'s rows.
//!
//! Nothing a client sends can hurt the process: sockets are non-blocking,
//! a line longer than [`MAX_LINE`] drops the client, commands stop running
//! while a client leaves too much output unread, idle clients leave after
//! `stats timeout`, and at most `stats maxconn` clients are served at once.
//! An HTTP request that is malformed or over [`http::MAX_REQUEST`] gets a
//! 400 and only its connection closes; a stats frontend serves at most its
//! `maxconn` clients.

mod about;
mod checks;
pub(crate) mod cli;
pub(crate) mod commands;
mod dynamic;
mod field;
mod http;
mod info;
mod listen;
mod master;
mod metrics;
mod mysql;
mod page;
mod patterns;
mod request;
mod server_addr;
mod servers_state;
mod sessions;
mod ssl;
pub(crate) mod stat;
mod status;
mod tables;
mod typed;
mod vrrp;
mod web;
mod workers;

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::base::service::{Service, StopFlag};
use crate::base::token;
use crate::config::Level;
use crate::control::ControlLink;
use crate::runtime::{Current, OTHER_THREADS, Runtime};
pub(crate) use listen::{AdminError, Listening, bind};
use listen::{Serve, Stream};

/// Longest request line; a client sending more without a newline is dropped
/// (HAProxy closes too, its buffer being full).
pub(crate) const MAX_LINE: usize = 16 * 1024;
/// Longest payload (the lines after `<<`: a PEM chain and its key). HAProxy
/// holds a command and its payload in one buffer (`tune.bufsize`, 16 kB by
/// default); splicer allows more, so a long chain with an RSA 4096 key
/// fits.
pub(crate) const MAX_PAYLOAD: usize = 64 * 1024;
/// Output waiting for a client beyond which its next commands wait.
const OUTPUT_HIGH: usize = 256 * 1024;
/// Pause before accepting again after accept failed (out of descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
const EVENTS_CAPACITY: usize = 64;

/// Starts serving the sockets [`bind`] opened; `None` when there are none.
/// `workers` are asked about their sessions and listeners. Stopping the
/// service removes the UNIX sockets it created.
pub(crate) fn start(
    current: Current,
    listeners: Vec<Listening>,
    workers: Vec<ControlLink>,
) -> io::Result<Option<Service>> {
    if listeners.is_empty() {
        return Ok(None);
    }
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), token::WAKER)?);
    let mut thread = Thread {
        current,
        workers,
        poll,
        listeners,
        clients: Slab::new(),
        cli_clients: 0,
        accept_retry: None,
        room: false,
    };
    for (i, l) in thread.listeners.iter_mut().enumerate() {
        l.register(thread.poll.registry(), token::listener(i))?;
    }
    let service = Service::spawn("admin", Some(waker), move |stop| thread.run(&stop))?;
    Ok(Some(service))
}

struct Thread {
    /// The runtime in effect (a reload replaces it).
    current: Current,
    workers: Vec<ControlLink>,
    poll: Poll,
    listeners: Vec<Listening>,
    clients: Slab<Conn>,
    /// Runtime API clients among `clients` (under `stats maxconn`).
    cli_clients: usize,
    /// Accept failed: when to try again.
    accept_retry: Option<Instant>,
    /// A client left: clients waiting under `stats maxconn` may come in.
    room: bool,
}

impl Thread {
    fn run(&mut self, stop: &StopFlag) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        while !stop.is_set() {
            let timeout = self
                .next_deadline()
                .map(|t| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("admin thread stopped: {e}");
                break;
            }
            for ev in events.iter() {
                let t = ev.token();
                if t == token::WAKER {
                    continue;
                }
                match token::as_listener(t, self.listeners.len()) {
                    Some(i) => self.accept(i),
                    // Clients use their slab key.
                    None => self.drive(t.0),
                }
            }
            self.expire(Instant::now());
            // In a loop, not from `close`: a flood of clients that leave at
            // once must not turn into a deep recursion.
            while std::mem::take(&mut self.room) {
                self.accept_all();
            }
        }
        for l in &self.listeners {
            l.cleanup();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.clients
            .iter()
            .map(|(_, c)| c.deadline())
            .chain(self.accept_retry)
            .min()
    }

    fn accept(&mut self, i: usize) {
        match &self.listeners[i].serve {
            Serve::Cli(level) => self.accept_cli(i, *level, false),
            Serve::Master => self.accept_cli(i, Level::Admin, true),
            Serve::Stats(name) => {
                let name = name.clone();
                self.accept_http(i, &name)
            }
        }
    }

    /// Accepts on listener `i` of stats frontend `name` while it is under
    /// its `maxconn`; the connection counts as one of its sessions, in the
    /// runtime in effect when it came (a reload keeps these listeners and
    /// applies the frontend's new settings, found by name).
    fn accept_http(&mut self, i: usize, name: &str) {
        let rt = self.current.get();
        let Some(fe) = rt
            .frontends
            .iter()
            .position(|f| f.config.name == name && f.config.stats.is_some())
        else {
            // Gone from the config by a reload: the port stays open until
            // a restart, and its clients are closed.
            while let Ok((s, _)) = self.listeners[i].accept_tcp() {
                drop(s);
            }
            return;
        };
        let state = &rt.frontends[fe];
        while let Some(slot) = state
            .current
            .try_take(state.maxconn.load(Ordering::Relaxed))
        {
            let (mut stream, peer) = match self.listeners[i].accept_tcp() {
                Ok(s) => s,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                    _ => {
                        log::warn!("stats page {}: accept failed: {e}", self.listeners[i].name);
                        self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
                        return;
                    }
                },
            };
            let entry = self.clients.vacant_entry();
            let key = entry.key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, Token(key), interest)
            {
                log::warn!("stats page: cannot register client {peer}: {e}");
                continue;
            }
            state
                .counters
                .session_started(OTHER_THREADS, slot.count() as u64);
            let client = http::Client::new(stream, peer, rt.clone(), fe, slot);
            entry.insert(Conn::Http(client));
            self.drive(key);
        }
    }

    /// Accepts on listener `i` while there is room under `stats maxconn`.
    fn accept_cli(&mut self, i: usize, level: Level, master: bool) {
        let global = &self.current.get().global;
        while self.cli_clients < global.stats_maxconn {
            let (mut stream, peer) = match self.listeners[i].accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    log::warn!(
                        "stats socket {}: accept failed: {e}",
                        self.listeners[i].name
                    );
                    self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            };
            let entry = self.clients.vacant_entry();
            let key = entry.key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = stream.register(self.poll.registry(), Token(key), interest) {
                log::warn!("stats socket: cannot register client {peer}: {e}");
                continue;
            }
            log::debug!("stats socket {}: client {peer}", self.listeners[i].name);
            let mut client = Client::new(stream, level, global.stats_timeout);
            client.session.master = master;
            entry.insert(Conn::Cli(client));
            self.cli_clients += 1;
            self.drive(key);
        }
    }

    /// Retries accepts that waited for room (edge-triggered: the clients
    /// already queued raise no new event).
    fn accept_all(&mut self) {
        self.accept_retry = None;
        for i in 0..self.listeners.len() {
            self.accept(i);
        }
    }

    fn drive(&mut self, key: usize) {
        let workers = &self.workers;
        let close = match self.clients.get_mut(key) {
            None => return,
            Some(Conn::Cli(c)) => c.pump(&self.current.get(), workers) == Step::Close,
            Some(Conn::Http(h)) => {
                let peer = h.peer.ip();
                h.pump(|rt, fe, req| web::answer(rt, fe, workers, req, peer)) == http::Step::Close
            }
        };
        if close {
            self.close(key);
        }
    }

    fn close(&mut self, key: usize) {
        match self.clients.remove(key) {
            Conn::Cli(mut c) => {
                c.stream.deregister(self.poll.registry());
                self.cli_clients -= 1;
            }
            Conn::Http(mut h) => {
                let _ = self.poll.registry().deregister(&mut h.stream);
            }
        }
        self.room = true;
    }

    fn expire(&mut self, now: Instant) {
        let late: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.deadline() <= now)
            .map(|(k, _)| k)
            .collect();
        for key in late {
            let close = match &mut self.clients[key] {
                Conn::Cli(_) => {
                    log::debug!("stats socket: client idle for too long, closing");
                    true
                }
                Conn::Http(h) => h.expire() == http::Step::Close,
            };
            if close {
                self.close(key);
            }
        }
        if self.accept_retry.is_some_and(|t| t <= now) {
            self.room = true;
        }
    }
}

/// A client of the admin thread.
enum Conn {
    /// Runtime API, on a stats socket.
    Cli(Client),
    /// HTTP, on a stats frontend.
    Http(http::Client),
}

impl Conn {
    fn deadline(&self) -> Instant {
        match self {
            Conn::Cli(c) => c.deadline,
            Conn::Http(h) => h.deadline,
        }
    }
}

/// What the thread does with a client after pumping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Wait for the next readiness event.
    Wait,
    Close,
}

/// How reading went.
enum Input {
    /// Bytes arrived.
    Data,
    Blocked,
    /// The client shut its side.
    Eof,
    /// A read error.
    Fail,
}

/// What running the commands received did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Nothing,
    /// Commands ran or payload lines were taken.
    Some,
    /// The request is over the limits ([`MAX_LINE`], [`MAX_PAYLOAD`]).
    Overflow,
}

struct Client {
    stream: Stream,
    session: cli::Session,
    /// Bytes received and not yet run (at most one partial command plus
    /// the complete ones waiting for output room), and an open payload.
    input: request::Reader,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    sent: usize,
    timeout: Duration,
    deadline: Instant,
    /// Close once `output` is written (non-interactive request done,
    /// `quit`, end of input).
    closing: bool,
}

impl Client {
    fn new(stream: Stream, level: Level, timeout: Duration) -> Client {
        Client {
            stream,
            session: cli::Session::new(level),
            input: request::Reader::new(MAX_LINE, MAX_PAYLOAD),
            output: Vec::new(),
            sent: 0,
            timeout,
            deadline: Instant::now() + timeout,
            closing: false,
        }
    }

    /// Moves the client as far as readiness allows: write, run complete
    /// commands, read; until something would block.
    fn pump(&mut self, rt: &Runtime, workers: &[ControlLink]) -> Step {
        loop {
            if self.flush().is_err() {
                return Step::Close;
            }
            let pending = self.output.len() - self.sent;
            if pending == 0 && self.closing {
                return Step::Close;
            }
            match self.run_commands(rt, workers) {
                Ran::Some => continue,
                Ran::Overflow => {
                    log::debug!("stats socket: request over the size limits, closing");
                    return Step::Close;
                }
                Ran::Nothing => {}
            }
            if self.closing || pending >= OUTPUT_HIGH || self.input.has_item() {
                // Waiting for the client to read what it asked for.
                return Step::Wait;
            }
            match self.read() {
                Input::Data => {}
                Input::Blocked => return Step::Wait,
                Input::Eof => {
                    // A last command ending with an escaped newline runs,
                    // as in HAProxy; one without its newline, or a payload
                    // without its empty line, is not run (HAProxy answers
                    // nothing to it either).
                    self.input.close();
                    if !self.input.has_item() {
                        self.input.clear();
                        self.closing = true;
                    }
                }
                Input::Fail => return Step::Close,
            }
        }
    }

    /// Runs the complete commands received, while the output stays small.
    fn run_commands(&mut self, rt: &Runtime, workers: &[ControlLink]) -> Ran {
        let mut ran = Ran::Nothing;
        while !self.closing && self.output.len() - self.sent < OUTPUT_HIGH {
            let (text, payload) = match self.input.next() {
                Err(_) => return Ran::Overflow,
                Ok(None) => break,
                Ok(Some(request::Item::More)) => {
                    // In prompt mode, HAProxy asks for the next line of
                    // the payload.
                    if self.session.interactive {
                        self.output.extend_from_slice(b"+ ");
                    }
                    ran = Ran::Some;
                    continue;
                }
                Ok(Some(request::Item::Command { text, payload })) => (text, payload),
            };
            let mut out = String::new();
            cli::run_request(
                &text,
                payload.as_deref(),
                rt,
                workers,
                &mut self.session,
                &mut out,
            );
            self.output.extend_from_slice(out.as_bytes());
            if let Some(t) = self.session.timeout.take() {
                self.timeout = t;
                self.deadline = Instant::now() + t;
            }
            ran = Ran::Some;
            if self.session.quit {
                self.closing = true;
            } else if !self.session.interactive && !self.input.has_item() {
                // One request per connection unless in prompt mode; the
                // commands that came with it were run too, as HAProxy does.
                self.closing = true;
            }
        }
        ran
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.output.len() {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.deadline = Instant::now() + self.timeout;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.sent = 0;
        Ok(())
    }

    fn read(&mut self) -> Input {
        // At most one partial command is held here (complete ones are run
        // or wait for output room before the next read), and the reader
        // refuses one over MAX_LINE: one byte past it is enough to know.
        let room = MAX_LINE + 1 - self.input.buffered().min(MAX_LINE);
        let mut buf = [0u8; 4096];
        let want = room.min(buf.len());
        match self.stream.read(&mut buf[..want]) {
            Ok(0) => Input::Eof,
            Ok(n) => {
                self.input.push(&buf[..n]);
                self.deadline = Instant::now() + self.timeout;
                Input::Data
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Input::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Input::Data,
            Err(_) => Input::Fail,
        }
    }
}

#[cfg(test)]
mod tests;

/// The runtime API's request reader and line splitter, for the fuzz
/// targets ([`crate::fuzz`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_cli(data: &[u8]) {
    let mut r = request::Reader::new(1024, 4096);
    r.push(data);
    r.close();
    while let Ok(Some(_)) = r.next() {}
    let _ = cli::split_commands(data);
}

/// The stats page's request parser, for the fuzz targets.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_http(data: &[u8]) {
    let _ = http::parse(data);
}
