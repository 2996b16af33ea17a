//! What init scripts do: `-D` starts a daemon and returns once it listens
//! (or with status 1 and the error when it cannot start), `-p` names the
//! daemon's pid, `-sf PID` and `-st PID` make a new process take over from
//! an old one on the same port: soft (the old one finishes its sessions)
//! or hard.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// The daemons a test started, stopped by pid when it ends.
struct Daemons(Vec<u32>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for pid in &self.0 {
            // SAFETY: kill has no memory arguments; the pids are daemons this
            // test started (a gone one just fails).
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

fn bin() -> std::path::PathBuf {
    if haproxy::enabled() {
        find_tool("haproxy").expect("haproxy")
    } else {
        splicer_bin().into()
    }
}

fn config(port: u16, server: SocketAddr) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    server s {server}\n"
    )
}

/// `BIN -D -f CFG -p PIDFILE EXTRA...`: returns the command's output and
/// the daemon's pid from the pidfile.
fn start(dir: &std::path::Path, name: &str, cfg: &str, extra: &[String]) -> (Output, Option<u32>) {
    let cfg_path = dir.join(format!("{name}.cfg"));
    let pidfile = dir.join(format!("{name}.pid"));
    std::fs::write(&cfg_path, cfg).unwrap();
    let out = Command::new(bin())
        .arg("-D")
        .arg("-f")
        .arg(&cfg_path)
        .arg("-p")
        .arg(&pidfile)
        .args(extra)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let pid = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    (out, pid)
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// The session id of `pid` (field 6 of /proc/PID/stat).
fn session_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit(')').next().unwrap();
    after.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn a_daemon_listens_when_the_command_returns_and_hands_over_with_sf_and_st() {
    let dir = scratch_dir("daemon");
    let web1 = Backend::named("web1");
    let web2 = Backend::named("web2");
    let web3 = Backend::named("web3");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut daemons = Daemons(Vec::new());

    let (out, pid1) = start(&dir, "one", &config(port, web1.addr), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid1 = pid1.expect("the pidfile");
    daemons.0.push(pid1);
    assert!(alive(pid1));
    assert_eq!(
        session_of(pid1),
        pid1,
        "the daemon leads a session of its own"
    );
    // Ready means listening: no retry needed.
    assert_eq!(server_name(addr), "web1");

    // -sf: the new one listens, then the old one stops accepting and ends.
    let (out, pid2) = start(
        &dir,
        "two",
        &config(port, web2.addr),
        &["-sf".into(), pid1.to_string()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid2 = pid2.expect("the pidfile");
    daemons.0.push(pid2);
    wait_for("the old daemon to end after -sf", LIMIT, || !alive(pid1));
    for _ in 0..20 {
        assert_eq!(server_name(addr), "web2");
    }

    // -st: the same, without waiting for sessions.
    let held = std::net::TcpStream::connect(addr).unwrap();
    let (out, pid3) = start(
        &dir,
        "three",
        &config(port, web3.addr),
        &["-st".into(), pid2.to_string()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemons.0.push(pid3.expect("the pidfile"));
    wait_for("the old daemon to end after -st", LIMIT, || !alive(pid2));
    drop(held);
    assert_eq!(server_name(addr), "web3");
}

#[test]
fn a_daemon_that_cannot_start_fails_the_command_with_its_error() {
    let dir = scratch_dir("daemon-fail");
    // Taken without SO_REUSEPORT: the daemon cannot bind it.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (out, pid) = start(&dir, "bad", &config(port, dead_addr()), &[]);
    if let Some(pid) = pid {
        let _guard = Daemons(vec![pid]);
        assert!(!alive(pid), "a daemon that could not bind runs on");
    }
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}
