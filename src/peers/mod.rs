//! Stick-table synchronisation with the other load balancers of a
//! `peers` section, in HAProxy's peers protocol (so a splicer node and an
//! HAProxy 2.6 node exchange entries): one thread with its own
//! `mio::Poll`, a listening socket per section at the local peer's
//! address, and one connection per remote peer, whichever side opened it.
//!
//! Every tick the thread collects the entries workers changed
//! ([`crate::rules::sync`]) into each table's update log and pushes what
//! each link has not sent yet; updates from peers are written into the
//! tables at once. At start a section asks one connected peer for a full
//! resync (giving up after 5 s without one, as HAProxy). A reload
//! restarts this thread with the new config; the tables it keeps (see
//! `runtime::carry`) keep their update logs, so links resume where their
//! peers acknowledged. Nothing here blocks a worker.

pub(crate) mod codec;
#[cfg(test)]
mod codec_tests;
mod link;
#[cfg(test)]
mod link_tests;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::base::service::{Service, StopFlag};
use crate::base::token::WAKER;
use crate::config::PeersSection;
use crate::runtime::Runtime;
use link::{Link, Resync, Section, Shared};

/// How often changed entries are collected and pushed.
const TICK: Duration = Duration::from_millis(50);
/// A connect that takes longer fails (HAProxy's peers `timeout connect`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect or a refused handshake, the next try.
const RETRY: Duration = Duration::from_secs(5);
/// How long a new process waits for a peer to teach it the tables.
const RESYNC_WAIT: Duration = Duration::from_secs(5);
/// A peer that connected must finish its hello within this.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the peers thread when some section shares a table.
pub(crate) fn start(rt: Arc<Runtime>) -> io::Result<Option<Service>> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut thread = Thread::new(rt, poll);
    if thread.sections.is_empty() {
        return Ok(None);
    }
    thread.listen();
    Service::spawn("peers", Some(waker), move |stop| thread.run(stop)).map(Some)
}

/// A remote peer of a section.
#[derive(Debug)]
struct Remote {
    name: String,
    addr: SocketAddr,
    /// The connection that is this peer's link now.
    conn: Option<usize>,
    next_try: Instant,
    /// The version we offer (0 once the peer refused 2.1).
    minor: u32,
}

#[derive(Debug)]
struct SectionIo {
    sec: Section,
    bind: Option<SocketAddr>,
    listener: Option<TcpListener>,
    remotes: Vec<Remote>,
}

#[derive(Debug)]
struct Conn {
    sock: TcpStream,
    section: usize,
    link: Link,
    /// The remote we opened it to.
    outgoing: Option<usize>,
    /// Opened by us and not connected yet, until this deadline.
    connecting: Option<Instant>,
    opened: Instant,
}

struct Thread {
    poll: Poll,
    sections: Vec<SectionIo>,
    conns: Slab<Conn>,
    rng: u64,
    /// Where `show info` reads the peers counts.
    process: Arc<crate::runtime::Process>,
}

impl Thread {
    fn new(rt: Arc<Runtime>, poll: Poll) -> Thread {
        let now = Instant::now();
        let sections = rt
            .peers
            .iter()
            .filter(|p| !p.disabled)
            .filter_map(|p| section(&rt, p, now))
            .collect();
        Thread {
            poll,
            sections,
            process: rt.process.clone(),
            conns: Slab::new(),
            rng: (std::process::id() as u64) << 32 | crate::base::clock::now_ms() | 1,
        }
    }

    /// A delay of 50 to 2050 ms, so that two peers that killed each
    /// other's connections do not collide again (HAProxy's).
    fn jitter(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Duration::from_millis(50 + self.rng % 2000)
    }

    fn listen(&mut self) {
        for (i, s) in self.sections.iter_mut().enumerate() {
            let Some(addr) = s.bind else { continue };
            match listen_on(addr) {
                Ok(mut l) => {
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut l, listener_token(i), Interest::READABLE)
                    {
                        log::error!("peers {}: cannot watch {addr}: {e}", s.sec.name);
                        continue;
                    }
                    s.listener = Some(l);
                }
                Err(e) => log::error!(
                    "peers {}: cannot listen on {addr} for the other peers: {e}",
                    s.sec.name
                ),
            }
        }
    }

    fn run(mut self, stop: StopFlag) {
        let mut events = Events::with_capacity(256);
        let mut next_tick = Instant::now();
        while !stop.is_set() {
            let wait = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait))
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!("peers thread: poll failed: {e}");
                return;
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    t if t.0 >= LISTENER_BASE => self.accept(t.0 - LISTENER_BASE),
                    t => self.io(t.0),
                }
            }
            if Instant::now() >= next_tick {
                self.tick();
                next_tick = Instant::now() + TICK;
            }
            self.publish(self.conns.len());
        }
        // A reload starts another thread, which publishes its own.
        self.publish(0);
    }

    /// `ActivePeers` (connections, in progress included) and
    /// `ConnectedPeers` (links whose hello completed) for `show info`.
    fn publish(&self, active: usize) {
        let connected = if active == 0 {
            0
        } else {
            let remotes = self.sections.iter().flat_map(|s| &s.remotes);
            remotes.filter(|r| r.conn.is_some()).count()
        };
        let p = &self.process;
        p.peers_active
            .store(active, std::sync::atomic::Ordering::Relaxed);
        p.peers_connected
            .store(connected, std::sync::atomic::Ordering::Relaxed);
    }

    fn accept(&mut self, s: usize) {
        loop {
            let Some(l) = self.sections.get(s).and_then(|s| s.listener.as_ref()) else {
                return;
            };
            match l.accept() {
                Ok((sock, from)) => {
                    let _ = sock.set_nodelay(true);
                    let now = Instant::now();
                    let link = Link::accept(&self.sections[s].sec, now);
                    let key = self.add(sock, s, link, None, None);
                    log::debug!(
                        "peers {}: connection from {from}",
                        self.sections[s].sec.name
                    );
                    if let Some(k) = key {
                        self.io(k);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("peers: accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn add(
        &mut self,
        mut sock: TcpStream,
        section: usize,
        link: Link,
        outgoing: Option<usize>,
        connecting: Option<Instant>,
    ) -> Option<usize> {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut sock,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("peers: cannot watch a connection: {e}");
            return None;
        }
        entry.insert(Conn {
            sock,
            section,
            link,
            outgoing,
            connecting,
            opened: Instant::now(),
        });
        Some(key)
    }

    /// Reads, handles and answers on connection `key`.
    fn io(&mut self, key: usize) {
        let now = Instant::now();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.connecting.is_some() {
            match c.sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    let why = format!("cannot connect: {e}");
                    self.close(key, &why, false);
                    return;
                }
            }
            match c.sock.peer_addr() {
                Ok(_) => c.connecting = None,
                // Still connecting.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let why = format!("cannot connect: {e}");
                    self.close(key, &why, false);
                    return;
                }
            }
        }
        let mut eof = false;
        let mut buf = [0u8; 16384];
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            // A few messages' worth at a time, handled before reading
            // on: the input stays small whatever the peer sends.
            let mut more = false;
            loop {
                match c.sock.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => c.link.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let why = e.to_string();
                        self.close(key, &why, false);
                        return;
                    }
                }
                if c.link.inbuf.len() >= 4 * codec::MAX_MESSAGE {
                    more = true;
                    break;
                }
            }
            let SectionIo { sec, remotes, .. } = &mut self.sections[c.section];
            let known = |n: &str| remotes.iter().any(|r| r.name == n);
            match c.link.receive(sec, &known, now) {
                Ok(true) => self.established(key),
                Ok(false) => {}
                Err(why) => {
                    if let link::Close::Refused(codec::STATUS_VERSION) = why
                        && let Some(r) = c.outgoing
                    {
                        remotes[r].minor = 0;
                    }
                    let _ = flush(c);
                    self.close(key, &why.to_string(), false);
                    return;
                }
            }
            // Edge-triggered: what is still in the socket raises no event.
            if !more {
                break;
            }
        }
        let c = &mut self.conns[key];
        c.link.send(&self.sections[c.section].sec, now);
        if let Err(e) = flush(c) {
            let why = e.to_string();
            self.close(key, &why, false);
        } else if eof {
            self.close(key, "closed by the peer", true);
        }
    }

    /// A link finished its handshake: it becomes its peer's link, and an
    /// older one to the same peer goes (HAProxy keeps the newest).
    fn established(&mut self, key: usize) {
        let c = &self.conns[key];
        let s = c.section;
        let name = c.link.peer.clone().unwrap_or_default();
        let Some(r) = self.sections[s].remotes.iter().position(|r| r.name == name) else {
            return;
        };
        let remote = &self.sections[s].remotes[r];
        log::info!(
            "peers {}: link with {} ({}) established",
            self.sections[s].sec.name,
            name,
            if c.outgoing.is_some() {
                format!("connected to {}", remote.addr)
            } else {
                "accepted".to_string()
            }
        );
        if let Some(old) = remote.conn
            && old != key
        {
            // Its retry time is set as it closes.
            self.close(old, "replaced by a newer connection", false);
        }
        self.sections[s].remotes[r].conn = Some(key);
    }

    fn close(&mut self, key: usize, why: &str, clean: bool) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut c.sock);
        let was_ready = c.link.ready();
        let delay = if was_ready { self.jitter() } else { RETRY };
        let sec = &mut self.sections[c.section];
        if c.link.learning {
            sec.sec.resync.assigned = false;
        }
        if let Some(r) = sec.remotes.iter_mut().find(|r| r.conn == Some(key)) {
            r.conn = None;
            r.next_try = r.next_try.max(Instant::now() + delay);
        }
        let peer = c.link.peer.as_deref().unwrap_or("an unnamed peer");
        if was_ready && !clean {
            log::warn!("peers {}: link with {peer} lost: {why}", sec.sec.name);
        } else if was_ready {
            log::info!("peers {}: link with {peer} closed: {why}", sec.sec.name);
        } else {
            log::debug!(
                "peers {}: connection with {peer} ended: {why}",
                sec.sec.name
            );
        }
    }

    /// Collects changed entries, times out what waited too long,
    /// connects to peers without a link, pushes updates.
    fn tick(&mut self) {
        let now = Instant::now();
        for s in &mut self.sections {
            for sh in &s.sec.tables {
                sh.table.collect_updates();
            }
            let r = &mut s.sec.resync;
            if !r.done && !r.assigned && now >= r.deadline {
                r.done = true;
                log::info!(
                    "peers {}: no peer taught the tables within {} s; going on with what this process has",
                    s.sec.name,
                    RESYNC_WAIT.as_secs()
                );
            }
            if r.done && !r.recorded {
                // A reload that keeps these tables needs no lesson.
                r.recorded = true;
                for sh in &s.sec.tables {
                    if let Some(sync) = &sh.table.sync {
                        sync.log.lock().resynced = true;
                    }
                }
            }
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let c = &self.conns[key];
            if let Some(deadline) = c.connecting {
                if now >= deadline {
                    self.close(key, "connect timed out", false);
                }
                continue;
            }
            if !c.link.ready() && now.duration_since(c.opened) > HELLO_TIMEOUT {
                self.close(key, "no handshake", false);
                continue;
            }
            if c.link.ready() && now.duration_since(c.link.last_rx) > link::SILENCE {
                self.close(key, "nothing received for 5 s", false);
                continue;
            }
            self.io(key);
        }
        for s in 0..self.sections.len() {
            for r in 0..self.sections[s].remotes.len() {
                let remote = &self.sections[s].remotes[r];
                if remote.conn.is_none() && now >= remote.next_try {
                    self.connect(s, r, now);
                }
            }
        }
    }

    fn connect(&mut self, s: usize, r: usize, now: Instant) {
        let remote = &mut self.sections[s].remotes[r];
        remote.next_try = now + RETRY;
        let addr = remote.addr;
        let sock = match TcpStream::connect(addr) {
            Ok(sock) => sock,
            Err(e) => {
                log::debug!("peers: cannot connect to {addr}: {e}");
                return;
            }
        };
        let _ = sock.set_nodelay(true);
        let name = remote.name.clone();
        let minor = remote.minor;
        let link = Link::connect(&self.sections[s].sec, &name, minor, now);
        if let Some(key) = self.add(sock, s, link, Some(r), Some(now + CONNECT_TIMEOUT)) {
            self.sections[s].remotes[r].conn = Some(key);
        }
    }
}

/// Listeners' tokens start here.
const LISTENER_BASE: usize = 1 << 40;

fn listener_token(i: usize) -> Token {
    Token(LISTENER_BASE + i)
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let spec = crate::host::SocketSpec {
        addr,
        v6only: false,
        v4v6: false,
        interface: None,
        transparent: false,
        reuseport: false,
    };
    let sock = crate::host::listen_socket(&spec)?;
    sock.listen(64)?;
    sock.set_nonblocking(true)?;
    Ok(TcpListener::from_std(sock.into()))
}

/// Writes what the link has to send, as much as the socket takes.
fn flush(c: &mut Conn) -> io::Result<()> {
    while !c.link.out.is_empty() {
        match c.sock.write(&c.link.out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                c.link.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The thread's view of a section: its shared tables and remote peers;
/// `None` when it shares no table or has no local peer.
fn section(rt: &Runtime, p: &PeersSection, now: Instant) -> Option<SectionIo> {
    p.local()?;
    let tables: Vec<Shared> = rt
        .rules
        .tables
        .iter()
        .filter(|t| t.config.peers.as_deref() == Some(p.name.as_str()) && t.sync.is_some())
        .enumerate()
        .map(|(i, t)| Shared::new(t.clone(), i as u64 + 1))
        .collect();
    if tables.is_empty() {
        return None;
    }
    // Tables a previous config already filled need no lesson.
    let learnt = tables
        .iter()
        .all(|t| t.table.sync.as_ref().is_some_and(|s| s.log.lock().resynced));
    Some(SectionIo {
        sec: Section {
            name: p.name.clone(),
            local: rt.localpeer.clone(),
            tables,
            resync: Resync {
                done: learnt || p.remotes().next().is_none(),
                assigned: false,
                recorded: false,
                deadline: now + RESYNC_WAIT,
            },
        },
        bind: p.bind,
        listener: None,
        remotes: p
            .remotes()
            .filter_map(|r| {
                Some(Remote {
                    name: r.name.clone(),
                    addr: r.addr?,
                    conn: None,
                    next_try: now,
                    minor: codec::MINOR,
                })
            })
            .collect(),
    })
}
