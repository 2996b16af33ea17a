//! The proxy under test, in three forwarding modes: user-space copy,
//! splice through a pipe, and sockmap redirection (the kernel forwards,
//! the proxy thread only watches). Also the `Ledger`, the only way found to
//! tell from user space that redirected bytes have left the psock queue.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::bpf::{Redirector, Side};
use crate::sys;

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Copy,
    Splice,
    Sockmap,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Copy => "read/write 16 KiB",
            Mode::Splice => "splice (64 KiB pipe)",
            Mode::Sockmap => "sockmap redirect",
        }
    }
}

const COPY_BUF: usize = 16 * 1024;
const PIPE_CHUNK: usize = 64 * 1024;
/// How long the proxy waits for a peer's FIN before giving up on a session.
const SESSION_LIMIT: Duration = Duration::from_secs(30);

/// Bytes the verdict took from `front` against bytes that reached `back`'s
/// write queue. Between the two they sit in `back`'s psock queue, which no
/// syscall reports: this is the difference of two TCP_INFO readings less
/// what SIOCINQ says `front` still holds (its receive queue once out of the
/// map; while mapped, only its psock's SK_PASS messages).
pub struct Ledger {
    front0: u64,
    back0: u64,
}

/// Sequence space `s` has received, less one once its peer's FIN is in:
/// tcpi_bytes_received counts the FIN as a byte (and tcpi_bytes_acked the
/// SYN of a connecting socket, which the baseline absorbs). The two polls
/// around TCP_INFO agree when no FIN arrived in between.
fn received(s: &TcpStream) -> io::Result<u64> {
    loop {
        let fin = |s| {
            Ok::<_, io::Error>(
                sys::poll(s, libc::POLLRDHUP, Duration::ZERO)? & libc::POLLRDHUP != 0,
            )
        };
        let before = fin(s)?;
        let got = sys::tcp_info(s)?.tcpi_bytes_received;
        if fin(s)? == before {
            return Ok(got - u64::from(before));
        }
    }
}

/// Bytes written into `s` so far: acked plus still in the write queue.
fn written(s: &TcpStream) -> io::Result<u64> {
    Ok(sys::tcp_info(s)?.tcpi_bytes_acked + sys::outq(s)?)
}

impl Ledger {
    /// Baselines taken before redirection starts, when nothing has been
    /// read from `front` yet.
    pub fn start(front: &TcpStream, back: &TcpStream) -> io::Result<Ledger> {
        Ok(Ledger {
            front0: received(front)?,
            back0: written(back)?,
        })
    }

    /// Bytes taken from `front` that have not reached `back`'s write queue.
    /// Bytes that arrived before the insert and wait in `front`'s receive
    /// queue for the next segment (see serve_short) count here too: SIOCINQ
    /// does not see them while `front` is mapped.
    pub fn in_flight(&self, front: &TcpStream, back: &TcpStream) -> io::Result<i64> {
        let taken = received(front)? - sys::inq(front)? - self.front0;
        Ok(taken as i64 - (written(back)? - self.back0) as i64)
    }

    /// Polls (there is no event for it) until nothing is in flight.
    pub fn wait_drained(
        &self,
        front: &TcpStream,
        back: &TcpStream,
        limit: Duration,
    ) -> io::Result<bool> {
        let deadline = Instant::now() + limit;
        while self.in_flight(front, back)? > 0 {
            if Instant::now() > deadline {
                return Ok(false);
            }
            thread::sleep(Duration::from_millis(1));
        }
        Ok(true)
    }
}

/// Copies `front` to `back` in user space until EOF, then passes the FIN.
pub fn copy(mut front: &TcpStream, mut back: &TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0;
    loop {
        let n = front.read(&mut buf)?;
        if n == 0 {
            back.shutdown(Shutdown::Write)?;
            return Ok(total);
        }
        back.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// One direction, client to server, in `mode`; returns when the FIN passed.
pub fn one_way(
    mode: Mode,
    front: &TcpStream,
    back: &TcpStream,
    red: &Redirector,
) -> io::Result<()> {
    match mode {
        Mode::Copy => copy(front, back).map(drop),
        Mode::Splice => {
            let (rd, wr) = sys::pipe()?;
            loop {
                let mut n = sys::splice(front.as_fd(), wr.as_fd(), PIPE_CHUNK)?;
                if n == 0 {
                    return back.shutdown(Shutdown::Write);
                }
                // Drain the pipe fully before the next read or the FIN.
                while n > 0 {
                    n -= sys::splice(rd.as_fd(), back.as_fd(), n)?;
                }
            }
        }
        Mode::Sockmap => {
            let ledger = Ledger::start(front, back)?;
            let pair = red.insert(0, front, back)?;
            sys::poll(front, libc::POLLRDHUP, SESSION_LIMIT)?;
            // A FIN now would cut off what the psock still holds.
            ledger.wait_drained(front, back, SESSION_LIMIT)?;
            back.shutdown(Shutdown::Write)?;
            red.remove(&pair, Side::Client)?;
            red.remove(&pair, Side::Server)
        }
    }
}

/// Both directions in user space with poll(2), each FIN passed on after the
/// bytes before it; returns when both sides have sent their FIN.
fn relay(front: &TcpStream, back: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let ends = [front, back];
    let mut open = [true, true];
    let mut buf = vec![0u8; COPY_BUF];
    while open[0] || open[1] {
        let mut fds: Vec<libc::pollfd> = (0..2)
            .map(|k| libc::pollfd {
                fd: if open[k] { ends[k].as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        sys::poll_many(&mut fds, SESSION_LIMIT)?;
        for k in 0..2 {
            if fds[k].revents == 0 {
                continue;
            }
            let n = (&mut &*ends[k]).read(&mut buf)?;
            if n == 0 {
                open[k] = false;
                ends[1 - k].shutdown(Shutdown::Write)?;
            } else {
                (&mut &*ends[1 - k]).write_all(&buf[..n])?;
            }
        }
    }
    Ok(())
}

/// What the short-connection proxy spent.
#[derive(Default)]
pub struct ShortStats {
    pub sessions: u64,
    /// Time inside the map update/delete syscalls, all sessions together.
    pub map_time: Duration,
}

/// Serves sessions one after another until `stop` is set (and a last
/// connection wakes the accept): both directions, then both FINs.
pub fn serve_short(
    mode: Mode,
    listen: TcpListener,
    upstream: SocketAddr,
    red: Arc<Redirector>,
    stop: Arc<AtomicBool>,
) -> io::Result<ShortStats> {
    let mut stats = ShortStats::default();
    loop {
        let front = listen.accept()?.0;
        if stop.load(Ordering::Relaxed) {
            return Ok(stats);
        }
        let back = TcpStream::connect(upstream)?;
        if mode == Mode::Sockmap {
            let t = Instant::now();
            let pair = red.insert(0, &front, &back)?;
            stats.map_time += t.elapsed();
            // The request may have arrived before the insert: the verdict
            // runs only when a segment arrives, so it would wait there for a
            // next one that never comes. Read it here (recvmsg on a mapped
            // socket falls back to the receive queue). Safe only because
            // this client sends nothing more before its answer: a later
            // segment could otherwise be redirected ahead of these bytes.
            forward_early(&front, &back)?;
            sys::poll(&front, libc::POLLRDHUP, SESSION_LIMIT)?;
            let t = Instant::now();
            red.remove(&pair, Side::Client)?;
            red.remove(&pair, Side::Server)?;
            stats.map_time += t.elapsed();
        } else {
            relay(&front, &back)?;
        }
        stats.sessions += 1;
    }
}

/// Copies what already waits in `from`'s receive queue, without blocking.
fn forward_early(mut from: &TcpStream, mut to: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUF];
    from.set_nonblocking(true)?;
    let got = from.read(&mut buf);
    from.set_nonblocking(false)?;
    match got {
        Ok(n) => to.write_all(&buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}
