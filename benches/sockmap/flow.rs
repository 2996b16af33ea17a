//! The two ends around the proxy: a client that writes a checkable byte
//! pattern (or plain zeros for speed) and a sink that reads to EOF, checks
//! the pattern, can be slowed down, and publishes its progress.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const CHUNK: usize = 64 * 1024;
pub const MIB: u64 = 1 << 20;

/// Byte `i` of the stream: the little-endian u32 `i / 4`, so that any loss,
/// duplication or reordering shows at the first wrong offset.
fn pattern_byte(i: u64) -> u8 {
    ((i >> 2) as u32).to_le_bytes()[(i & 3) as usize]
}

fn fill(buf: &mut [u8], off: u64) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(off + k as u64);
    }
}

/// Writes `limit` bytes or until `deadline`, then shuts down its write side
/// when `fin` is set. Returns what it wrote.
pub fn send(
    s: &mut TcpStream,
    limit: u64,
    deadline: Instant,
    pattern: bool,
    fin: bool,
) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < limit && Instant::now() < deadline {
        let n = CHUNK.min((limit - sent) as usize);
        if pattern {
            fill(&mut buf[..n], sent);
        }
        s.write_all(&buf[..n])?;
        sent += n as u64;
    }
    if fin {
        s.shutdown(Shutdown::Write)?;
    }
    Ok(sent)
}

/// What a sink saw by the time its peer's FIN (or an error) arrived.
pub struct Received {
    pub bytes: u64,
    /// First offset whose byte differs from the pattern.
    pub first_bad: Option<u64>,
    pub eof: bool,
    pub error: Option<io::Error>,
    pub end: Instant,
}

impl Received {
    pub fn intact(&self, expected: u64) -> bool {
        self.bytes == expected && self.first_bad.is_none() && self.eof
    }

    pub fn describe(&self) -> String {
        let bad = self
            .first_bad
            .map_or(String::new(), |o| format!(", first wrong byte at {o}"));
        let err = self
            .error
            .as_ref()
            .map_or(String::new(), |e| format!(", error {e}"));
        format!("sink got {} bytes{bad}, eof {}{err}", self.bytes, self.eof)
    }
}

pub struct Sink {
    pub progress: Arc<AtomicU64>,
    handle: JoinHandle<Received>,
}

/// How the sink reads.
#[derive(Clone, Copy)]
pub struct Pace {
    pub verify: bool,
    /// Sleep this long after each 64 KiB read, with a small receive buffer:
    /// a slow server, so that queues back up in front of it.
    pub pause: Option<Duration>,
}

pub const FAST: Pace = Pace {
    verify: false,
    pause: None,
};
pub const CHECKED: Pace = Pace {
    verify: true,
    pause: None,
};
pub const SLOW: Pace = Pace {
    verify: true,
    pause: Some(Duration::from_millis(1)),
};

impl Sink {
    pub fn spawn(mut s: TcpStream, pace: Pace) -> Sink {
        if pace.pause.is_some() {
            let _ = socket2::SockRef::from(&s).set_recv_buffer_size(128 * 1024);
        }
        let progress = Arc::new(AtomicU64::new(0));
        let seen = progress.clone();
        let handle = thread::spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            let mut got = Received {
                bytes: 0,
                first_bad: None,
                eof: false,
                error: None,
                end: Instant::now(),
            };
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        got.eof = true;
                        break;
                    }
                    Ok(n) => {
                        if pace.verify && got.first_bad.is_none() {
                            let at = buf[..n]
                                .iter()
                                .enumerate()
                                .position(|(k, &b)| b != pattern_byte(got.bytes + k as u64));
                            got.first_bad = at.map(|k| got.bytes + k as u64);
                        }
                        got.bytes += n as u64;
                        seen.store(got.bytes, Ordering::Relaxed);
                        if let Some(p) = pace.pause {
                            thread::sleep(p);
                        }
                    }
                    Err(e) => {
                        got.error = Some(e);
                        break;
                    }
                }
            }
            got.end = Instant::now();
            got
        });
        Sink { progress, handle }
    }

    pub fn received(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Waits for the sink to finish, or gives up after `limit` (the sink
    /// thread is then left blocked; the check reports a timeout).
    pub fn join(self, limit: Duration) -> Option<Received> {
        let deadline = Instant::now() + limit;
        while !self.handle.is_finished() {
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
        }
        self.handle.join().ok()
    }
}

/// The four ends of one proxied session, all on 127.0.0.1: the client, the
/// proxy's two sockets, and the server's.
pub struct Rig {
    pub client: TcpStream,
    pub front: TcpStream,
    pub back: TcpStream,
    pub server: TcpStream,
}

pub fn rig() -> io::Result<Rig> {
    let listen = TcpListener::bind("127.0.0.1:0")?;
    let upstream = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listen.local_addr()?)?;
    let front = listen.accept()?.0;
    let back = TcpStream::connect(upstream.local_addr()?)?;
    let server = upstream.accept()?.0;
    Ok(Rig {
        client,
        front,
        back,
        server,
    })
}
