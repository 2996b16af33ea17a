//! The plain backend behind the proxy: one thread, one mio Poll, three
//! listeners. `echo` sends back what it reads (handshake, idle and latency
//! runs), `discard` reads and drops (uploads), `source` writes zeros
//! without end (downloads). Fast enough that the proxy, not the backend,
//! is what a run measures: big reads and writes, no per-byte work.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const BUF: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Echo,
    Discard,
    Source,
}

struct Conn {
    sock: TcpStream,
    kind: Kind,
    /// Echo: read but not yet written back.
    pending: Vec<u8>,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Serves until `max` has passed (the bench kills it long before).
pub fn serve(
    echo: SocketAddr,
    discard: SocketAddr,
    source: SocketAddr,
    max: Duration,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listeners = Vec::new();
    for (i, (addr, kind)) in [
        (echo, Kind::Echo),
        (discard, Kind::Discard),
        (source, Kind::Source),
    ]
    .into_iter()
    .enumerate()
    {
        let mut l = TcpListener::bind(addr)?;
        // mio listens with a backlog of 128: a handshake flood through the
        // proxy opens backend connections faster than that in bursts.
        // SAFETY: a listening socket we own; listen() again only resizes
        // its backlog.
        if unsafe { libc::listen(l.as_raw_fd(), 4096) } != 0 {
            return Err(io::Error::last_os_error());
        }
        poll.registry()
            .register(&mut l, Token(i), Interest::READABLE)?;
        listeners.push((l, kind));
    }
    let first = listeners.len();
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; BUF];
    let zeros = vec![0u8; BUF];
    let end = Instant::now() + max;
    while Instant::now() < end {
        match poll.poll(&mut events, Some(Duration::from_secs(1))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let t = ev.token().0;
            if t < first {
                let (l, kind) = &listeners[t];
                loop {
                    match l.accept() {
                        Ok((mut sock, _)) => {
                            let _ = sock.set_nodelay(true);
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut sock,
                                Token(first + i),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[i] = Some(Conn {
                                sock,
                                kind: *kind,
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if would_block(&e) => break,
                        // Out of fds or the like: the run will show errors.
                        Err(e) => {
                            eprintln!("tlsload backend: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let i = t - first;
            let Some(c) = conns[i].as_mut() else { continue };
            if !serve_conn(c, &mut buf, &zeros) {
                conns[i] = None; // closes the socket, which leaves the Poll
                free.push(i);
            }
        }
    }
    Ok(())
}

/// Reads and writes until the socket would block; false when it is done.
fn serve_conn(c: &mut Conn, buf: &mut [u8], zeros: &[u8]) -> bool {
    loop {
        if !c.pending.is_empty() {
            match c.sock.write(&c.pending) {
                Ok(n) => {
                    c.pending.drain(..n);
                    continue;
                }
                Err(e) if would_block(&e) => return true,
                Err(_) => return false,
            }
        }
        if c.kind == Kind::Source {
            match c.sock.write(zeros) {
                Ok(_) => continue,
                Err(e) if would_block(&e) => {}
                Err(_) => return false,
            }
        }
        match c.sock.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if c.kind == Kind::Echo {
                    c.pending.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if would_block(&e) => return true,
            Err(_) => return false,
        }
    }
}
