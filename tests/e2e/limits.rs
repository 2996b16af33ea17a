//! Connection limits: server maxconn queues clients, frontend and global
//! maxconn stop accepting, and many concurrent sessions all work.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;

/// An echo backend that also records the most sessions it ever had at once.
fn echo_with_peak() -> (Backend, Arc<AtomicUsize>) {
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let p = peak.clone();
    let b = Backend::spawn(move |mut s| {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(n, Ordering::SeqCst);
        let mut r = s.try_clone().unwrap();
        let _ = std::io::copy(&mut r, &mut s);
        now.fetch_sub(1, Ordering::SeqCst);
    });
    (b, peak)
}

/// Sends `tag` and expects it echoed within `limit`.
fn echoes(c: &mut TcpStream, tag: &[u8], limit: Duration) -> bool {
    c.write_all(tag).unwrap();
    c.set_read_timeout(Some(limit)).unwrap();
    let mut b = vec![0u8; tag.len()];
    match c.read_exact(&mut b) {
        Ok(()) => b == tag,
        Err(e) if is_timeout(&e) => false,
        Err(e) => panic!("client failed: {e}"),
    }
}

/// Gives a wrong state time to show up before asserting it did not.
fn settle() {
    thread::sleep(Duration::from_millis(300));
}

#[test]
fn server_maxconn_queues_and_serves_in_turn() {
    let (srv, peak) = echo_with_peak();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen("    timeout queue 10s", &[("s1", srv.addr, "maxconn 2")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(fe).unwrap()).collect();
    for (i, c) in held.iter_mut().enumerate() {
        assert!(echoes(
            c,
            format!("held{i}").as_bytes(),
            Duration::from_secs(5)
        ));
    }
    // Four more clients: each waits in the queue, then echoes and leaves.
    let queued: Vec<_> = (0..4)
        .map(|i| {
            let mut c = TcpStream::connect(fe).unwrap();
            thread::spawn(move || {
                let ok = echoes(
                    &mut c,
                    format!("queued{i}").as_bytes(),
                    Duration::from_secs(10),
                );
                (ok, Instant::now())
            })
        })
        .collect();
    settle();
    assert_eq!(srv.accepted(), 2, "server maxconn 2 exceeded");
    assert!(
        queued.iter().all(|t| !t.is_finished()),
        "a queued client was served while the server was full"
    );
    // One held client leaves: the queue drains through the freed slot.
    let released = Instant::now();
    drop(held.remove(0));
    for t in queued {
        let (ok, when) = t.join().unwrap();
        assert!(ok, "a queued client was never served");
        assert!(when > released);
    }
    assert_eq!(srv.accepted(), 6);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "the server had more than maxconn sessions at once"
    );
}

#[test]
fn queue_timeout_closes_waiting_client() {
    let (srv, _) = echo_with_peak();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen("    timeout queue 300ms", &[("s1", srv.addr, "maxconn 1")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut a = TcpStream::connect(fe).unwrap();
    assert!(echoes(&mut a, b"a", Duration::from_secs(5)));
    let t0 = Instant::now();
    let mut b = TcpStream::connect(fe).unwrap();
    b.write_all(b"b").unwrap();
    let (data, end) = read_to_end_or_err(&b, Duration::from_secs(5));
    let took = t0.elapsed();
    if let Err(e) = &end {
        assert!(!is_timeout(e), "queued client never closed");
    }
    assert!(data.is_empty());
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    assert_eq!(srv.accepted(), 1);
    // The holder is unaffected.
    assert!(echoes(&mut a, b"again", Duration::from_secs(5)));
}

/// With `maxconn 5` on the frontend (or globally), the sixth client is not
/// served until one of the five leaves.
fn sixth_waits(cfg: &str) {
    let (srv, _) = echo_with_peak();
    let cfg = cfg.replace("SERVER", &srv.addr.to_string());
    let sp = Splicer::start(&cfg, &["fe"]);
    let fe = sp.addr("fe");
    let mut held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(fe).unwrap()).collect();
    for (i, c) in held.iter_mut().enumerate() {
        assert!(echoes(
            c,
            format!("c{i}").as_bytes(),
            Duration::from_secs(5)
        ));
    }
    // The kernel completes the handshake, but splicer must not take it.
    let mut sixth = TcpStream::connect(fe).unwrap();
    assert!(
        !echoes(&mut sixth, b"sixth", Duration::from_millis(300)),
        "sixth client served beyond maxconn"
    );
    assert_eq!(srv.accepted(), 5);
    drop(held.remove(0));
    sixth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut b = [0u8; 5];
    sixth
        .read_exact(&mut b)
        .expect("sixth client not served after a slot freed");
    assert_eq!(&b, b"sixth");
    assert_eq!(srv.accepted(), 6);
}

#[test]
fn frontend_maxconn_holds_back_extra_clients() {
    sixth_waits(&config(
        "",
        "",
        "frontend fe\n    bind 127.0.0.1:0\n    maxconn 5\n    default_backend be\n\
         backend be\n    server s1 SERVER\n",
    ));
}

#[test]
fn global_maxconn_holds_back_extra_clients() {
    sixth_waits(&config(
        "    maxconn 5",
        "",
        "listen fe\n    bind 127.0.0.1:0\n    server s1 SERVER\n",
    ));
}

/// A non-blocking echo server on one thread (mio), for thousands of sessions.
struct MioEcho {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<mio::Waker>,
    thread: Option<thread::JoinHandle<()>>,
}

impl MioEcho {
    fn spawn() -> MioEcho {
        use mio::net::TcpListener;
        use mio::{Events, Interest, Poll, Token};
        const LISTENER: Token = Token(usize::MAX - 1);
        const STOP: Token = Token(usize::MAX - 2);
        let mut poll = Poll::new().unwrap();
        // A port no test used before: nothing else's checks land here.
        let std_l = fresh_listener();
        std_l.set_nonblocking(true).unwrap();
        let mut l = TcpListener::from_std(std_l);
        let addr = l.local_addr().unwrap();
        poll.registry()
            .register(&mut l, LISTENER, Interest::READABLE)
            .unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), STOP).unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = accepted.clone();
        let thread = thread::spawn(move || {
            let mut conns: HashMap<usize, (mio::net::TcpStream, Vec<u8>)> = HashMap::new();
            let mut next = 0usize;
            let mut events = Events::with_capacity(1024);
            let mut buf = [0u8; 4096];
            loop {
                poll.poll(&mut events, None).unwrap();
                for ev in &events {
                    match ev.token() {
                        STOP => return,
                        LISTENER => loop {
                            match l.accept() {
                                Ok((mut s, _)) => {
                                    let t = Token(next);
                                    poll.registry()
                                        .register(
                                            &mut s,
                                            t,
                                            Interest::READABLE | Interest::WRITABLE,
                                        )
                                        .unwrap();
                                    conns.insert(next, (s, Vec::new()));
                                    next += 1;
                                    acc.fetch_add(1, Ordering::SeqCst);
                                }
                                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                Err(e) => panic!("accept: {e}"),
                            }
                        },
                        Token(k) => {
                            let Some((s, out)) = conns.get_mut(&k) else {
                                continue;
                            };
                            let mut closed = false;
                            loop {
                                match s.read(&mut buf) {
                                    Ok(0) => {
                                        closed = true;
                                        break;
                                    }
                                    Ok(n) => out.extend_from_slice(&buf[..n]),
                                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                    Err(_) => {
                                        closed = true;
                                        break;
                                    }
                                }
                            }
                            while !out.is_empty() {
                                match s.write(out) {
                                    Ok(n) => {
                                        out.drain(..n);
                                    }
                                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                    Err(_) => {
                                        closed = true;
                                        break;
                                    }
                                }
                            }
                            if closed {
                                conns.remove(&k);
                            }
                        }
                    }
                }
            }
        });
        MioEcho {
            addr,
            accepted,
            stop: waker,
            thread: Some(thread),
        }
    }
}

impl Drop for MioEcho {
    fn drop(&mut self) {
        let _ = self.stop.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Raises this process's open-files soft limit to its hard limit.
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit on a valid, initialised struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

#[test]
fn three_thousand_concurrent_sessions() {
    const N: usize = 3000;
    let limit = raise_nofile();
    assert!(
        limit as usize > 2 * N + 100,
        "open files limit {limit} too low for this test"
    );
    let echo = MioEcho::spawn();
    let sp = Splicer::start(
        &config(
            "    maxconn 4000",
            "",
            &listen("", &[("s1", echo.addr, "")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let t0 = Instant::now();
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let c = TcpStream::connect(fe).unwrap_or_else(|e| panic!("connect {i}: {e}"));
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("msg {i:05}\n").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 10];
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(&b, format!("msg {i:05}\n").as_bytes());
    }
    // All were open at the same time: every one reached the server.
    assert_eq!(echo.accepted.load(Ordering::SeqCst), N);
    drop(clients);
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    let mut sp = sp;
    assert!(sp.is_running());
}

/// Clients that queue up on the listener while the proxy does not run
/// (frozen with SIGSTOP: a burst that arrives faster than it accepts) are
/// all served when it runs again, none left waiting for a later client to
/// wake it. A worker accepts one client per wake-up while they come one at
/// a time, and more per round while its listener stays readable.
#[test]
fn a_burst_queued_on_the_listener_is_all_served() {
    burst_is_all_served("    maxconn 1000");
}

/// The same with the smallest batches: one event per poll and one client
/// per accept round (`tune.maxpollevents 1`, `tune.maxaccept 1`). The
/// events a poll leaves are reported by the next; none is lost.
#[test]
fn a_burst_is_all_served_one_event_and_one_accept_at_a_time() {
    burst_is_all_served("    maxconn 1000\n    tune.maxpollevents 1\n    tune.maxaccept 1");
}

fn burst_is_all_served(global: &str) {
    const N: usize = 300;
    let echo = MioEcho::spawn();
    let sp = Splicer::start(
        &config(global, "", &listen("", &[("s1", echo.addr, "")])),
        &["fe"],
    );
    let fe = sp.addr("fe");
    sp.signal("STOP");
    let mut clients: Vec<TcpStream> = (0..N)
        .map(|i| TcpStream::connect(fe).unwrap_or_else(|e| panic!("connect {i}: {e}")))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("burst {i:04}\n").as_bytes()).unwrap();
    }
    sp.signal("CONT");
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 11];
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("client {i} of the burst: {e}"));
        assert_eq!(&b, format!("burst {i:04}\n").as_bytes());
    }
    assert_eq!(echo.accepted.load(Ordering::SeqCst), N);
}

/// `minconn` with `fullconn`: a server's limit grows with its backend's
/// load, `max(minconn, maxconn * load / fullconn)` (HAProxy's dynamic
/// maxconn), and is applied when the queue is served. With `maxconn 10
/// minconn 2 fullconn 100`, five sessions get two server connections; with
/// thirty-five the limit is three, and the queue is served up to it. `show stat` shows the
/// configured limit (`slim`) and `maxqueue` (`qlimit`).
#[test]
fn minconn_and_fullconn_grow_the_limit_with_the_load() {
    let (srv, peak) = echo_with_peak();
    let dir = scratch_dir("minconn");
    let sock = dir.join("admin.sock");
    let sp = Splicer::start(
        &config(
            &format!("    stats socket {} level admin", sock.display()),
            "",
            &listen(
                "    timeout queue 20s\n    fullconn 100",
                &[("s1", srv.addr, "maxconn 10 minconn 2 maxqueue 7")],
            ),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut first: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(fe).unwrap()).collect();
    wait_for("two server connections", Duration::from_secs(5), || {
        srv.accepted() == 2
    });
    let more: Vec<TcpStream> = (0..30).map(|_| TcpStream::connect(fe).unwrap()).collect();
    let stat = || ask(&sock, "show stat");
    let queued = || {
        stat_field(&stat(), "fe", "BACKEND", "qcur")
            .parse::<usize>()
            .unwrap()
    };
    wait_for(
        "every session served or queued",
        Duration::from_secs(5),
        || queued() + srv.accepted() == 35,
    );
    // 35 sessions: the limit is 3. HAProxy serves its queue when a server
    // connection ends, splicer also when its worker wakes, so it may start
    // the third one already; neither goes past the limit.
    settle();
    assert!(srv.accepted() <= 3, "{} server connections", srv.accepted());
    let s = stat();
    assert_eq!(stat_field(&s, "fe", "s1", "slim"), "10");
    assert_eq!(stat_field(&s, "fe", "s1", "qlimit"), "7");
    // One of the served sessions ends: at a load of 34 the limit is 3.
    let served = first
        .iter_mut()
        .position(|c| echoes(c, b"x", Duration::from_millis(300)))
        .expect("a served session echoes");
    drop(first.remove(served));
    wait_for("the queue served up to 3", Duration::from_secs(5), || {
        srv.accepted() == 4
    });
    settle();
    assert_eq!(srv.accepted(), 4);
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    drop(more);
}

/// `rate-limit sessions 5` on the frontend and `maxconnrate 8` for the
/// process: a burst of 15 clients is accepted at about 5 per second
/// (none is refused, they wait in the listen backlog), and `show info` /
/// `show stat` report the limits.
#[test]
fn rate_limits_spread_a_burst_over_seconds() {
    let web = Backend::named("web");
    let dir = scratch_dir("ratelimit");
    let sock = dir.join("admin.sock");
    let sp = Splicer::start(
        &config(
            &format!(
                "    maxconnrate 8\n    stats socket {} level admin",
                sock.display()
            ),
            "",
            &listen("    rate-limit sessions 5", &[("web", web.addr, "")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let info = ask(&sock, "show info");
    assert!(info.contains("\nConnRateLimit: 8\n"), "{info}");
    assert_eq!(
        stat_field(&ask(&sock, "show stat"), "fe", "FRONTEND", "rate_lim"),
        "5"
    );
    let start = Instant::now();
    let clients: Vec<_> = (0..15)
        .map(|_| {
            thread::spawn(move || {
                let name = server_name(fe);
                (name, Instant::now())
            })
        })
        .collect();
    settle();
    let early = web.accepted();
    assert!(
        (1..=7).contains(&early),
        "{early} sessions in the first 300 ms at 5/s"
    );
    let done: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(done.iter().all(|(n, _)| n == "web"));
    let last = done.iter().map(|(_, t)| *t).max().unwrap() - start;
    // 15 at 5 per second: the last one starts after about two seconds.
    assert!(
        last >= Duration::from_millis(1500),
        "all 15 served in {last:?}"
    );
    let info = ask(&sock, "show info");
    let max: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("MaxConnRate: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((5..=7).contains(&max), "MaxConnRate {max}\n{info}");
}
