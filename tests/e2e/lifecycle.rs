//! Sessions that end in unusual places must give back what they hold: server
//! slots, frontend slots, queue places. Many short sessions must not trip
//! over reused slots.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::*;

fn echoes(c: &mut TcpStream, msg: &[u8], limit: Duration) -> bool {
    c.write_all(msg).unwrap();
    c.set_read_timeout(Some(limit)).unwrap();
    let mut b = vec![0u8; msg.len()];
    c.read_exact(&mut b).is_ok() && b == msg
}

/// A queued client that gives up (resets) must leave the queue: it must not
/// later be sent to the server, and once the holder leaves a new client is
/// served at once.
#[test]
fn abandoned_queue_place_is_released() {
    let echo = Backend::echo();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen("    timeout queue 10s", &[("s1", echo.addr, "maxconn 1")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut holder = TcpStream::connect(fe).unwrap();
    assert!(echoes(&mut holder, b"h", Duration::from_secs(5)));
    let queued: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut q = TcpStream::connect(fe).unwrap();
            q.write_all(b"q").unwrap();
            q
        })
        .collect();
    // Let splicer accept and queue them before they give up.
    std::thread::sleep(Duration::from_millis(200));
    queued.into_iter().for_each(reset);
    std::thread::sleep(Duration::from_millis(200));
    drop(holder);
    wait_for(
        "holder's server session to end",
        Duration::from_secs(5),
        || echo.open() == 0,
    );
    let mut c = TcpStream::connect(fe).unwrap();
    assert!(
        echoes(&mut c, b"next", Duration::from_secs(2)),
        "server slot or queue leaked"
    );
    assert_eq!(
        echo.accepted(),
        2,
        "abandoned queued clients reached the server"
    );
}

/// Clients that reset mid-session, or leave before the server even accepts,
/// give back their frontend and server slots.
#[test]
fn resets_do_not_leak_slots() {
    let echo = Backend::echo();
    let cfg = config(
        "",
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    maxconn 3\n    default_backend be\n\
             backend be\n    timeout queue 5s\n    server s1 {} maxconn 3\n",
            echo.addr
        ),
    );
    let sp = Splicer::start(&cfg, &["fe"]);
    let fe = sp.addr("fe");
    for i in 0..30 {
        let mut c = TcpStream::connect(fe).unwrap();
        if i % 2 == 0 {
            assert!(echoes(&mut c, b"x", Duration::from_secs(5)));
        }
        reset(c);
    }
    wait_for("server sessions to end", Duration::from_secs(5), || {
        echo.open() == 0
    });
    let mut held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(fe).unwrap()).collect();
    for c in held.iter_mut() {
        assert!(
            echoes(c, b"y", Duration::from_secs(2)),
            "a slot leaked after resets"
        );
    }
}

/// Clients that leave while splicer is still retrying a refusing server give
/// back the slots they took on each server (`balance first` with maxconn 1
/// would otherwise stall on a leaked slot).
#[test]
fn client_gone_during_retries_frees_slot() {
    let echo = Backend::echo();
    let dead = dead_addr();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen(
                "    balance first\n    retries 3\n    option redispatch",
                &[
                    ("dead", dead, "maxconn 1"),
                    ("live", echo.addr, "maxconn 1"),
                ],
            ),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    for _ in 0..20 {
        let c = TcpStream::connect(fe).unwrap();
        drop(c);
    }
    wait_for("server sessions to end", Duration::from_secs(5), || {
        echo.open() == 0
    });
    let mut c = TcpStream::connect(fe).unwrap();
    assert!(
        echoes(&mut c, b"z", Duration::from_secs(2)),
        "a server slot leaked"
    );
}

/// Many short sessions in a row: each gets its own bytes back (stale events
/// on reused slab slots would mix them up or drop them).
#[test]
fn many_short_sessions() {
    let echo = Backend::echo();
    let sp = Splicer::start(
        &config("", "", &listen("", &[("s1", echo.addr, "")])),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let workers: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    let mut c = TcpStream::connect(fe).unwrap();
                    let msg = format!("{t}:{i}");
                    c.write_all(msg.as_bytes()).unwrap();
                    c.shutdown(std::net::Shutdown::Write).unwrap();
                    let (data, end) = read_to_end_or_err(&c, Duration::from_secs(5));
                    end.unwrap_or_else(|e| panic!("session {msg}: {e}"));
                    assert_eq!(String::from_utf8_lossy(&data), msg);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(echo.accepted(), 2000);
}

/// `cpu-map`: each worker thread runs on the CPUs given to its thread
/// number (`auto:` hands them out one each). HAProxy's threads are all
/// workers; splicer's workers are the threads named `worker-N`.
#[test]
fn cpu_map_binds_each_worker_to_its_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("SKIPPED cpu_map: needs 2 CPUs, this machine has {cpus}");
        return;
    }
    let web = Backend::named("web");
    let sp = Splicer::start(
        &format!(
            "global\n    nbthread 2\n    cpu-map auto:1/1-2 0-1\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             listen fe\n    bind 127.0.0.1:0\n    server s {}\n",
            web.addr
        ),
        &["fe"],
    );
    assert_eq!(server_name(sp.addr("fe")), "web");
    let mut bound: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", sp.pid()))
        .unwrap()
        .flatten()
        .filter(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            haproxy::enabled() || comm.starts_with("worker-")
        })
        .map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    bound.sort();
    assert_eq!(bound, ["0", "1"]);
}
