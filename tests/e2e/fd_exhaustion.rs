//! Running out of file descriptors (EMFILE on accept) must neither spin the
//! CPU nor kill the process, and service must resume once descriptors free up.
//!
//! splicer runs under a shell that lowers RLIMIT_NOFILE for it alone (soft
//! and hard, so splicer cannot raise it back).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use regex::Regex;

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
    // `no strict-limits`: start although maxconn (100 at the least) needs
    // more descriptors than the limit gives, as HAProxy would with it.
    let cfg = format!(
        "global\n    nbthread 1\n    no strict-limits\n\
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

    // It says so once a second, not at every retry (every 100 ms).
    splicer.wait_log(
        &["more failures since the last warning"],
        Duration::from_secs(5),
    );
    let warnings = splicer.log_lines("accept failed").len();
    let secs = t0.elapsed().as_secs();
    assert!(
        warnings as u64 <= secs + 2,
        "{warnings} warnings in {secs} s:\n{}",
        splicer.log_text()
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

/// `show info`'s value of `field`.
fn info_field(sock: &std::path::Path, field: &str) -> u64 {
    let info = crate::common::api::ask(sock, "show info");
    crate::common::api::info_number(&info, field)
        .unwrap_or_else(|| panic!("no {field} in show info:\n{info}"))
}

/// The proxy under test started through `sh -c "ulimit -n 512; exec ..."`
/// on `config`, run to its end (a few seconds at most): its exit status
/// and its output.
fn run_limited(config: &str) -> (std::process::ExitStatus, String) {
    let dir = crate::common::scratch_dir("fdlimit-run");
    let path = dir.join("p.cfg");
    std::fs::write(&path, config).unwrap();
    let (bin, extra) = if crate::common::haproxy::enabled() {
        (crate::common::find_tool("haproxy").unwrap(), "-db")
    } else {
        (std::path::PathBuf::from(crate::common::splicer_bin()), "")
    };
    let out = std::process::Command::new("timeout")
        .args(["10", "sh", "-c"])
        .arg(format!("ulimit -n 512; exec \"$0\" {extra} -f \"$1\""))
        .arg(bin)
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

/// With no `maxconn` in the config, the process takes as many sessions as
/// its open files limit holds, as HAProxy 2.6 does: under `ulimit -n 512`
/// (2 descriptors a session, plus splicer's pipes) well under 256, not a
/// fixed 4096 it could never open, so that the connections it cannot
/// serve wait in a short listen queue instead of a long one. A `maxconn`
/// set above what the limit holds is kept, with HAProxy's warning.
#[test]
fn unset_maxconn_follows_the_open_files_limit() {
    let dir = crate::common::scratch_dir("fdlimit");
    let sock = dir.join("admin.sock");
    let cfg = |global: &str| {
        format!(
            "global\n    nbthread 1\n    stats socket {} level admin\n{global}\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
             frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:28898\n",
            sock.display()
        )
    };
    let limited = "ulimit -n 512";
    let p = Splicer::start_wrapped_either(&cfg(""), &["fe"], limited);
    wait_for("the stats socket", Duration::from_secs(10), || {
        sock.exists()
    });
    let maxconn = info_field(&sock, "Maxconn");
    // HAProxy lowers its soft limit to what maxconn needs (511 here).
    assert!(info_field(&sock, "Ulimit-n") <= 512);
    assert!(
        (150..256).contains(&maxconn),
        "Maxconn {maxconn} under ulimit -n 512:\n{}",
        p.log_text()
    );
    assert!(!p.log_text().contains("FD limit"), "{}", p.log_text());
    drop(p);
    let _ = std::fs::remove_file(&sock);

    // A maxconn the limit cannot hold: refused at start (strict-limits,
    // HAProxy 2.6's default)...
    // (A fixed port: HAProxy takes no port 0, and it is never bound.)
    let refused = cfg("    maxconn 50000\n").replace("127.0.0.1:0", "127.0.0.1:28897");
    let (status, out) = run_limited(&refused);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        Regex::new(r"Cannot raise FD limit to 1\d{5}, limit is 512\.")
            .unwrap()
            .is_match(&out),
        "{out}"
    );
    // ...or, with `no strict-limits`, run with HAProxy's warning.
    let p = Splicer::start_wrapped_either(
        &cfg("    maxconn 50000\n    no strict-limits\n"),
        &["fe"],
        limited,
    );
    wait_for("the stats socket", Duration::from_secs(10), || {
        sock.exists()
    });
    assert_eq!(info_field(&sock, "Maxconn"), 50000);
    p.wait_log(
        &["FD limit (512) too low for maxconn=50000/maxsock="],
        Duration::from_secs(5),
    );
}
