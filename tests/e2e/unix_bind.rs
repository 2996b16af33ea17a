//! `bind` on UNIX stream sockets (`unix@PATH`, a path, `abns@NAME`): a
//! client of the socket reaches a TCP server with its bytes intact both
//! ways, the socket file gets the mode and owner asked (`unix-bind`
//! defaults included), the log shows HAProxy's `unix` and listener id for
//! such a client, and a reload keeps the socket serving. Each expectation
//! holds against HAProxy 2.6 too.

use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixStream};
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use crate::privileges::root;

const LIMIT: Duration = Duration::from_secs(10);

/// HAProxy binds an abstract name padded with NULs to all of `sun_path`.
fn abns(name: &str) -> UnixAddr {
    let mut padded = name.as_bytes().to_vec();
    padded.resize(107, 0);
    UnixAddr::from_abstract_name(&padded).unwrap()
}

fn connect(path: &Path) -> UnixStream {
    let mut last = None;
    wait_for("the UNIX socket to accept", LIMIT, || {
        last = UnixStream::connect(path).ok();
        last.is_some()
    });
    last.unwrap()
}

/// Sends `total` pseudo-random bytes through `s` to an echo server and
/// checks every byte that comes back, and the end of the stream.
fn roundtrip(s: UnixStream, seed: u64, total: usize) {
    s.set_read_timeout(Some(LIMIT)).unwrap();
    echo_roundtrip_on(s, seed, total);
}

fn frontend(binds: &str, server: std::net::SocketAddr) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:0\n{binds}\n    default_backend be\n\
         backend be\n    server s1 {server}\n"
    )
}

#[test]
fn a_unix_client_reaches_a_tcp_server_and_the_file_has_its_mode() {
    let echo = Backend::echo();
    let dir = scratch_dir("unixbind");
    let (a, b) = (dir.join("a.sock"), dir.join("b.sock"));
    // A stale file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&b).unwrap());
    let cfg = config(
        "    unix-bind mode 600",
        "",
        &frontend(
            &format!(
                "    bind unix@{} mode 640\n    bind {}",
                a.display(),
                b.display()
            ),
            echo.addr,
        ),
    );
    let _sp = Splicer::start(&cfg, &["fe"]);
    roundtrip(connect(&a), 1, 4 << 20);
    roundtrip(connect(&b), 2, 100_000);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&a), 0o640, "the line's mode");
    assert_eq!(mode(&b), 0o600, "unix-bind's mode");
}

#[test]
fn the_socket_file_gets_the_owner_asked() {
    if !root("unix_bind::the_socket_file_gets_the_owner_asked") {
        return;
    }
    let echo = Backend::echo();
    let dir = scratch_dir("unixbind-owner");
    let a = dir.join("a.sock");
    let cfg = config(
        "    unix-bind gid 65534",
        "",
        &frontend(
            &format!("    bind unix@{} uid 65534", a.display()),
            echo.addr,
        ),
    );
    let _sp = Splicer::start(&cfg, &["fe"]);
    roundtrip(connect(&a), 3, 10_000);
    let meta = std::fs::metadata(&a).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
}

#[test]
fn abns_serves_and_logs_unix_with_the_listener_id() {
    let echo = Backend::echo();
    let name = format!("splicer-test-{}", std::process::id());
    let cfg = config(
        "",
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    bind abns@{name}\n\
             \x20   no log\n    log stdout format raw local0\n\
             \x20   log-format \"unixclient ci=%ci cp=%cp fi=%fi fp=%fp\"\n\
             \x20   default_backend be\nbackend be\n    server s1 {}\n",
            echo.addr
        ),
    );
    let sp = Splicer::start(&cfg, &["fe"]);
    let mut s = None;
    wait_for("the abstract socket to accept", LIMIT, || {
        s = UnixStream::connect_addr(&abns(&name)).ok();
        s.is_some()
    });
    let mut s = s.unwrap();
    s.write_all(b"hello").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"hello");
    // The second bind of its frontend: listener id 2.
    sp.wait_log(&["unixclient ci=unix cp=2 fi=unix fp=2"], LIMIT);
}

#[test]
fn a_reload_keeps_the_unix_socket_serving() {
    let echo = Backend::echo();
    let dir = scratch_dir("unixbind-reload");
    let a = dir.join("a.sock");
    let bind = format!("    bind unix@{} mode 600", a.display());
    let cfg = config("", "", &frontend(&bind, echo.addr));
    // HAProxy reloads in master-worker mode, on SIGUSR2.
    let (args, sig): (&[&str], _) = if haproxy::enabled() {
        (&["-W"], "USR2")
    } else {
        (&[], "HUP")
    };
    let sp = Splicer::start_with(&cfg, &["fe"], args);
    let before = connect(&a);
    let ino = std::fs::metadata(&a).unwrap().ino();
    let other = Backend::echo();
    // Edited in place: the file HAProxy runs has its ports rewritten.
    let running = std::fs::read_to_string(&sp.config_path).unwrap();
    let next = running.replace(&echo.addr.to_string(), &other.addr.to_string());
    std::fs::write(&sp.config_path, next).unwrap();
    sp.signal(sig);
    // The new config is in effect once a client reaches its server.
    wait_for("the new config to serve the socket", LIMIT, || {
        roundtrip(connect(&a), 4, 1000);
        other.accepted() > 0
    });
    // Neither splicer nor HAProxy's master (which hands its sockets to the
    // new worker) makes the socket again.
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        ino,
        "socket re-created"
    );
    roundtrip(connect(&a), 4, 100_000);
    // The session accepted before the reload finishes where it started.
    roundtrip(before, 5, 100_000);
}

/// A UNIX client has no address to relay: a `send-proxy` server gets
/// `PROXY UNKNOWN`, and the default log format says `Connect to unix:N`
/// (N: the bind's number in its frontend), as HAProxy 2.6 does.
#[test]
fn a_unix_client_is_relayed_as_unknown_and_logged_by_its_bind() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = Backend::spawn(move |mut s| {
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut got = vec![0u8; 64];
        let n = s.read(&mut got).unwrap_or(0);
        got.truncate(n);
        let _ = s.write_all(b"ok");
        tx.lock().unwrap().send(got).unwrap();
    });
    let dir = scratch_dir("unixbind-proxy");
    let path = dir.join("p.sock");
    let cfg = config(
        "",
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    bind unix@{}\n    log stdout format raw local0\n\
             \x20   default_backend be\nbackend be\n    server s1 {} send-proxy\n",
            path.display(),
            srv.addr
        ),
    );
    let sp = Splicer::start(&cfg, &["fe"]);
    let mut c = connect(&path);
    c.write_all(b"hi").unwrap();
    let got = rx.recv_timeout(LIMIT).expect("the server's first read");
    assert!(
        got.starts_with(b"PROXY UNKNOWN\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    sp.wait_log(&["Connect to unix:2 (fe/TCP)"], LIMIT);
}
