//! Running out of file descriptors (EMFILE on accept) must neither spin the
//! CPU nor kill the process, and service must resume once descriptors free up.
//!
//! splicer runs under a shell that lowers RLIMIT_NOFILE for it alone (soft
//! and hard, so splicer cannot raise it back).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Backend, Splicer, wait_for};

/// Descriptors splicer may use: a few for itself, then about 2 per session.
const FD_LIMIT: u64 = 48;
/// Clients opened at once: far more than the limit allows.
const CLIENTS: usize = 80;

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn emfile_on_accept_neither_spins_nor_kills() {
    let backend = Backend::echo();
    let cfg = format!(
        "global\n    nbthread 1\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    server s1 {}\n",
        backend.addr
    );
    let splicer = Splicer::start_wrapped(&cfg, &["fe"], &format!("ulimit -n {FD_LIMIT}"));
    let addr = splicer.addr("fe");

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        // The kernel completes handshakes into the accept queue even when
        // splicer cannot accept them.
        clients.push(TcpStream::connect(addr).unwrap());
    }
    wait_for(
        "splicer to hit its descriptor limit",
        Duration::from_secs(10),
        || splicer.log_text().contains("accept failed"),
    );

    let before = cpu_ticks(splicer.pid());
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(1)); // measuring a rate over a fixed window
    let used = cpu_ticks(splicer.pid()) - before;
    let hz = 100; // USER_HZ on Linux
    let window = t0.elapsed().as_secs_f64() * hz as f64;
    assert!(
        (used as f64) < window * 0.3,
        "splicer used {used} ticks of CPU in {window:.0} while out of descriptors: it spins"
    );

    drop(clients);
    // Service resumes: a new client gets its echo once descriptors are free.
    let mut ok = false;
    let end = Instant::now() + Duration::from_secs(10);
    while !ok && Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        ok = s.read_exact(&mut buf).is_ok() && &buf == b"ping";
    }
    assert!(
        ok,
        "no echo after descriptors were freed:\n{}",
        splicer.log_text()
    );
    let mut splicer = splicer;
    assert!(splicer.is_running(), "splicer died");
}
