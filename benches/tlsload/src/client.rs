//! The load: TLS client sessions on one mio Poll per thread, non-blocking,
//! so that one thread keeps many handshakes in flight. A session connects,
//! does its handshake, then one of three jobs: a 64-byte echo (the backend
//! sends it back through the proxy), an endless upload or an endless
//! download of records. Every loop here ends by count or by time.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::{ClientConfig, ClientConnection, HandshakeKind};

pub const PING: [u8; 64] = [b'p'; 64];
/// Plaintext written per call when uploading: a full record.
const CHUNK: [u8; 16384] = [0x5a; 16384];
/// A session that has not finished its job by then counts as failed.
const SESSION_DEADLINE: Duration = Duration::from_secs(10);
/// A run stops early when this many sessions failed (the proxy is down or
/// refusing): the numbers would mean nothing.
const MAX_ERRORS: u64 = 1000;

/// What a session does once its handshake is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Echo,
    Upload,
    Download,
}

#[derive(Debug)]
enum State {
    Connecting,
    Handshake,
    /// A ping is on its way; `got` bytes of its echo are back.
    Ping {
        sent: Instant,
        got: usize,
    },
    Idle,
    Bulk,
}

/// What one round of I/O on a session came to.
#[derive(Debug)]
pub enum Step {
    Pending,
    /// The echo came back: its round-trip time.
    Echoed(Duration),
}

pub struct Session {
    sock: TcpStream,
    tls: ClientConnection,
    state: State,
    job: Job,
    deadline: Instant,
    /// Plaintext bytes moved by a bulk job (sent or received).
    pub bytes: u64,
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::other(e)
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Session {
    pub fn open(
        addr: SocketAddr,
        cfg: &Arc<ClientConfig>,
        job: Job,
        slot: usize,
    ) -> io::Result<Session> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let tls =
            ClientConnection::new(cfg.clone(), crate::tls::server_name(slot)).map_err(tls_err)?;
        Ok(Session {
            sock,
            tls,
            state: State::Connecting,
            job,
            deadline: Instant::now() + SESSION_DEADLINE,
            bytes: 0,
        })
    }

    pub fn register(&mut self, poll: &Poll, token: Token) -> io::Result<()> {
        poll.registry().register(
            &mut self.sock,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    pub fn expired(&self, now: Instant) -> bool {
        !matches!(self.state, State::Idle | State::Bulk) && now > self.deadline
    }

    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    pub fn is_bulk(&self) -> bool {
        matches!(self.state, State::Bulk)
    }

    pub fn kind(&self) -> Option<HandshakeKind> {
        self.tls.handshake_kind()
    }

    /// Sends a ping from the idle state.
    pub fn ping(&mut self) -> io::Result<()> {
        self.tls.writer().write_all(&PING)?;
        self.state = State::Ping {
            sent: Instant::now(),
            got: 0,
        };
        self.deadline = Instant::now() + SESSION_DEADLINE;
        self.flush().map(|_| ())
    }

    /// Writes what rustls holds; false if the socket is full.
    fn flush(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if would_block(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Reads and decrypts all the socket holds; the plaintext is counted
    /// (echo, download) and dropped. The socket is read into `inbuf` and
    /// rustls fed from there: its own read_tls reads 4 KiB per syscall,
    /// which would make the client, not the proxy, the slow side of a
    /// download.
    fn fill(&mut self, inbuf: &mut [u8]) -> io::Result<()> {
        let mut scratch = [0u8; 16384];
        loop {
            let n = match self.sock.read(inbuf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed by the proxy",
                    ));
                }
                Ok(n) => n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) => return Err(e),
            };
            let mut rd = &inbuf[..n];
            while !rd.is_empty() {
                self.tls.read_tls(&mut rd)?;
                self.tls.process_new_packets().map_err(tls_err)?;
                loop {
                    match self.tls.reader().read(&mut scratch) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "close_notify",
                            ));
                        }
                        Ok(n) => match &mut self.state {
                            State::Ping { got, .. } => *got += n,
                            State::Bulk => self.bytes += n as u64,
                            _ => return Err(io::Error::other("data before the ping")),
                        },
                        Err(e) if would_block(&e) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// One round after a readiness event (or a spurious one).
    pub fn step(&mut self, inbuf: &mut [u8]) -> io::Result<Step> {
        if let State::Connecting = self.state {
            if let Some(e) = self.sock.take_error()? {
                return Err(e);
            }
            match self.sock.peer_addr() {
                Ok(_) => self.state = State::Handshake,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(Step::Pending),
                Err(e) => return Err(e),
            }
        }
        self.fill(inbuf)?;
        if let State::Handshake = self.state
            && !self.tls.is_handshaking()
        {
            match self.job {
                Job::Echo => {
                    self.tls.writer().write_all(&PING)?;
                    self.state = State::Ping {
                        sent: Instant::now(),
                        got: 0,
                    };
                }
                Job::Upload | Job::Download => self.state = State::Bulk,
            }
        }
        if let (State::Bulk, Job::Upload) = (&self.state, self.job) {
            // Records up to rustls's buffer limit, then one vectored write.
            while self.flush()? {
                loop {
                    let n = self.tls.writer().write(&CHUNK)?;
                    self.bytes += n as u64;
                    if n < CHUNK.len() {
                        break;
                    }
                }
            }
        }
        self.flush()?;
        if let State::Ping { sent, got } = self.state
            && got >= PING.len()
        {
            self.state = State::Idle;
            return Ok(Step::Echoed(sent.elapsed()));
        }
        Ok(Step::Pending)
    }

    /// Ends the session as a client does: close_notify, then close.
    pub fn close(mut self) {
        self.tls.send_close_notify();
        let _ = self.flush();
    }
}

/// CPU seconds this process has used (all threads).
pub fn process_cpu_s() -> f64 {
    // SAFETY: ru is plain data the call fills in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Sessions of one thread, slot i under Token(i).
pub struct Driver {
    pub poll: Poll,
    events: Events,
    inbuf: Vec<u8>,
    pub slots: Vec<Option<Session>>,
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
    job: Job,
    /// Slot i sends the name of slot name_base + i (see tls::server_name).
    name_base: usize,
    pub errors: u64,
    pub last_error: Option<String>,
}

impl Driver {
    pub fn new(
        addr: SocketAddr,
        cfg: Arc<ClientConfig>,
        job: Job,
        slots: usize,
        name_base: usize,
    ) -> io::Result<Driver> {
        Ok(Driver {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            inbuf: vec![0; 256 * 1024],
            slots: (0..slots).map(|_| None).collect(),
            addr,
            cfg,
            job,
            name_base,
            errors: 0,
            last_error: None,
        })
    }

    pub fn open(&mut self, i: usize) {
        match Session::open(self.addr, &self.cfg, self.job, self.name_base + i) {
            Ok(mut s) => match s.register(&self.poll, Token(i)) {
                Ok(()) => self.slots[i] = Some(s),
                Err(e) => self.fail(e),
            },
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.errors += 1;
        self.last_error = Some(e.to_string());
    }

    pub fn too_many_errors(&self) -> bool {
        self.errors >= MAX_ERRORS
    }

    /// Waits for events up to `timeout` and runs the sessions they name;
    /// `done(driver, slot, rtt)` is called for each echo that came back.
    /// A failed session is dropped, its slot left empty.
    pub fn turn(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&mut Driver, usize, Duration),
    ) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let ready: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        for i in ready {
            let Some(s) = self.slots[i].as_mut() else {
                continue;
            };
            match s.step(&mut self.inbuf) {
                Ok(Step::Pending) => {}
                Ok(Step::Echoed(rtt)) => done(self, i, rtt),
                Err(e) => {
                    self.slots[i] = None;
                    self.fail(e);
                }
            }
        }
        Ok(())
    }

    /// Drops the sessions past their deadline, counting them as failed;
    /// returns their slots.
    pub fn reap(&mut self) -> Vec<usize> {
        let now = Instant::now();
        let mut gone = Vec::new();
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(|s| s.expired(now)) {
                self.slots[i] = None;
                self.fail(io::Error::new(io::ErrorKind::TimedOut, "session deadline"));
                gone.push(i);
            }
        }
        gone
    }
}
