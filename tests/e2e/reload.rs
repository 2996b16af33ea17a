//! Reload in place (SIGHUP, SIGUSR2): no client sees a refused or cut
//! connection, a bad config keeps the old one running, listeners come and
//! go with the config, sessions in flight finish where they started, and
//! what the runtime API set carries over by name.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Writes `cfg` over the running config, signals `sig`, and waits for the
/// `n`-th "configuration reloaded" (or, with `ok` false, "reload aborted").
fn reload(sp: &Splicer, cfg: &str, sig: &str, n: usize, ok: bool) {
    std::fs::write(&sp.config_path, cfg).unwrap();
    sp.signal(sig);
    let what = if ok {
        "configuration reloaded"
    } else {
        "reload aborted"
    };
    sp.wait_log_count(&[what], n, LIMIT);
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One request through `at` to a `Backend::named` server: its name, or
/// what went wrong.
fn ask_name(at: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&at, LIMIT).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    if line.is_empty() {
        return Err("closed without a greeting".into());
    }
    // The server echoes: a round trip proves the session is whole.
    s.write_all(b"ping\n").map_err(|e| format!("write: {e}"))?;
    let mut echo = [0u8; 5];
    s.read_exact(&mut echo).map_err(|e| format!("echo: {e}"))?;
    Ok(line.trim().to_string())
}

fn two_servers(port: u16, a: &Backend, b: &Backend, balance: &str) -> String {
    config(
        "",
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    balance {balance}\n    server a {}\n    server b {}\n",
            a.addr, b.addr
        ),
    )
}

#[test]
fn reloads_under_load_refuse_or_cut_no_connection() {
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    let port = free_port();
    let first = two_servers(port, &a, &b, "roundrobin");
    // The second config changes the balance, adds a server and a frontend.
    let second = format!(
        "{}    server c {}\nfrontend extra\n    bind 127.0.0.1:0\n    default_backend be\n",
        two_servers(port, &a, &b, "leastconn"),
        c.addr
    );
    let sp = Splicer::start(&first, &["fe"]);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            thread::spawn(move || {
                let mut failures = Vec::new();
                let end = Instant::now() + Duration::from_secs(60);
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) || Instant::now() > end {
                        break;
                    }
                    match ask_name(addr(port)) {
                        Ok(_) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.push(e),
                    }
                }
                failures
            })
        })
        .collect();
    let reloads = 20;
    for i in 1..=reloads {
        // Some traffic between two reloads, so each one lands under load.
        let before = done.load(Ordering::Relaxed);
        wait_for("clients to get through", LIMIT, || {
            done.load(Ordering::Relaxed) >= before + 100
        });
        let (cfg, sig) = if i % 2 == 1 {
            (&second, "HUP")
        } else {
            (&first, "USR2")
        };
        reload(&sp, cfg, sig, i, true);
    }
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let served = done.load(Ordering::Relaxed);
    eprintln!(
        "{served} connections across {reloads} reloads, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} connections failed across {reloads} reloads, e.g. {:?}",
        failures.len(),
        served + failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(served >= reloads * 100, "only {served} connections served");
    // The second config's server took traffic while it was loaded.
    assert!(c.accepted() > 0, "server c, added by reload, got nothing");
}

#[test]
fn a_bad_config_is_logged_and_the_old_one_keeps_running() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let port = free_port();
    let good = two_servers(port, &a, &b, "roundrobin");
    let sp = Splicer::start(&good, &["fe"]);
    let bad = format!("{good}backend broken\n    balance nonsense\n");
    reload(&sp, &bad, "HUP", 1, false);
    let err = sp.wait_log(&["splicer.cfg:", "nonsense"], LIMIT);
    assert!(err.contains("splicer.cfg:"), "error names no line: {err}");
    // Still serving, with the old config.
    for _ in 0..4 {
        ask_name(addr(port)).expect("old config stopped serving");
    }
    // A good config after a bad one loads.
    let better = format!("{good}frontend extra\n    bind 127.0.0.1:0\n    default_backend be\n");
    reload(&sp, &better, "HUP", 1, true);
    sp.wait_log(&["frontend extra listening on"], LIMIT);
    let extra = sp.addr("extra");
    assert!(["a", "b"].contains(&ask_name(extra).unwrap().as_str()));
}

#[test]
fn a_bind_that_fails_aborts_the_reload() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let port = free_port();
    let good = two_servers(port, &a, &b, "roundrobin");
    let sp = Splicer::start(&good, &["fe"]);
    // A port held by another socket without SO_REUSEPORT cannot be bound.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = taken.local_addr().unwrap();
    let cfg = format!("{good}frontend extra\n    bind {held}\n    default_backend be\n");
    reload(&sp, &cfg, "HUP", 1, false);
    sp.wait_log(&["cannot bind", &held.to_string()], LIMIT);
    ask_name(addr(port)).expect("old config stopped serving");
}

#[test]
fn listeners_follow_the_config_and_sessions_finish_where_they_began() {
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    let (p1, p2) = (free_port(), free_port());
    let first = two_servers(p1, &a, &b, "roundrobin");
    let sp = Splicer::start(&first, &["fe"]);
    // A session open across the reload, on a server the new config drops.
    let mut held = TcpStream::connect(addr(p1)).unwrap();
    held.set_read_timeout(Some(LIMIT)).unwrap();
    let mut reader = BufReader::new(held.try_clone().unwrap());
    let mut name = String::new();
    reader.read_line(&mut name).unwrap();

    let second = config(
        "",
        "",
        &format!(
            "frontend fe2\n    bind 127.0.0.1:{p2}\n    default_backend be2\n\
             backend be2\n    server c {}\n",
            c.addr
        ),
    );
    reload(&sp, &second, "HUP", 1, true);
    assert_eq!(ask_name(addr(p2)).unwrap(), "c");
    wait_for("the removed bind to close", LIMIT, || {
        TcpStream::connect(addr(p1)).is_err()
    });
    // The old session still runs, on its old server.
    for i in 0..3 {
        let msg = format!("still there {i}\n");
        held.write_all(msg.as_bytes()).unwrap();
        let mut back = String::new();
        reader.read_line(&mut back).unwrap();
        assert_eq!(back, msg, "session cut by the reload");
    }
    assert_eq!(c.accepted(), 1, "only the new connection reached c");
    drop(held);
    drop(reader);
    let open = a.open() + b.open();
    wait_for("the old session to end", LIMIT, || {
        a.open() + b.open() < open
    });
}

#[test]
fn runtime_state_carries_over_by_name() {
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    let port = free_port();
    let dir = scratch_dir("reload-api");
    let sock = dir.join("api.sock");
    let global = format!("    stats socket {} level admin", sock.display());
    let cfg = |servers: &str| {
        config(
            &global,
            "",
            &format!(
                "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
                 backend be\n{servers}"
            ),
        )
    };
    let first = cfg(&format!(
        "    server a {}\n    server b {}\n",
        a.addr, b.addr
    ));
    let sp = Splicer::start(&first, &["fe"]);
    wait_for("the stats socket", LIMIT, || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    assert_eq!(ask(&sock, "disable server be/a"), "\n");
    assert_eq!(ask(&sock, "set weight be/b 7"), "\n");
    // The new config lists the servers in another order and adds one.
    let second = cfg(&format!(
        "    server c {}\n    server b {}\n    server a {}\n",
        c.addr, b.addr, a.addr
    ));
    reload(&sp, &second, "HUP", 1, true);
    let csv = ask(&sock, "show stat");
    assert_eq!(stat_field(&csv, "be", "a", "status"), "MAINT");
    assert_eq!(stat_field(&csv, "be", "b", "weight"), "7");
    assert_eq!(stat_field(&csv, "be", "c", "status"), "no check");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        seen.insert(ask_name(addr(port)).unwrap());
    }
    assert!(!seen.contains("a"), "a server in maintenance got traffic");
    assert!(
        seen.contains("c"),
        "the new server got no traffic: {seen:?}"
    );
    // Counters go on across the reload rather than starting over.
    let total: u64 = stat_field(&ask(&sock, "show stat"), "fe", "FRONTEND", "stot")
        .parse()
        .unwrap();
    assert!(
        total >= 20,
        "frontend stot {total} lost the sessions before"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_down_by_its_checks_stays_down_after_reload() {
    let a = Backend::named("a");
    let dead = dead_addr();
    let port = free_port();
    let cfg = |inter: &str| {
        config(
            "",
            "",
            &format!(
                "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
                 backend be\n    server a {} check inter {inter}\n    server d {dead} check inter {inter}\n",
                a.addr
            ),
        )
    };
    let sp = Splicer::start(&cfg("100ms"), &["fe"]);
    sp.wait_log(&["be/d is DOWN"], LIMIT);
    // A long interval: a state learnt again by checks would come too late.
    reload(&sp, &cfg("10s"), "HUP", 1, true);
    for _ in 0..10 {
        assert_eq!(ask_name(addr(port)).unwrap(), "a", "picked the DOWN server");
    }
    assert_eq!(sp.log_lines("is DOWN").len(), 1, "{}", sp.log_text());
}
