//! TCP socket options reach the sockets: keep-alive probes on the client
//! and server sides (`ss` shows the keepalive timer), the listen backlog
//! (`ss -l` Send-Q), `defer-accept` (a silent client stays in SYN-RECV),
//! `option nolinger` (a reset where a FIN would be), the listener's MSS,
//! and binds with `interface`/`transparent`. Each reads splicer's sockets
//! from outside, as an operator would, so HAProxy passes them too.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// `ss -tnoiH STATE FILTER...`: one line per socket.
fn ss(args: &[&str]) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-tnoiH"])
        .args(args)
        .output()
        .expect("run ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout).replace("\n\t", " ");
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// The established sockets whose local end is `addr`.
fn local(addr: SocketAddr) -> Vec<String> {
    ss(&["state", "established", "src", &addr.to_string()])
}

/// The established sockets whose remote end is `addr`.
fn remote(addr: SocketAddr) -> Vec<String> {
    ss(&["state", "established", "dst", &addr.to_string()])
}

/// Keep-alive on both sides, each with its own idle time: splicer's client
/// socket (local = the frontend) and server socket (remote = the server)
/// run the keepalive timer, counting down from 77 s and 200 s.
#[test]
fn keepalive_on_client_and_server_sockets() {
    let srv = Backend::echo();
    let lines = "    option clitcpka\n    clitcpka-idle 77\n    clitcpka-intvl 5\n    clitcpka-cnt 3\n    \
                 option srvtcpka\n    srvtcpka-idle 200s\n";
    let sp = Splicer::start(
        &config("", "", &listen(lines, &[("s1", srv.addr, "")])),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    let mut client_side = Vec::new();
    wait_for("the client-side socket", LIMIT, || {
        client_side = local(fe);
        !client_side.is_empty()
    });
    // 77 s counts down from 1min17sec; the system default (7200 s) would
    // show hours.
    assert!(
        client_side
            .iter()
            .all(|l| l.contains("timer:(keepalive,1min")),
        "{client_side:#?}"
    );
    let server_side = remote(srv.addr);
    assert!(
        server_side
            .iter()
            .any(|l| l.contains("timer:(keepalive,3min")),
        "{server_side:#?}"
    );
}

/// Without the options, neither side has a keepalive timer (what makes the
/// test above able to fail).
#[test]
fn no_keepalive_without_the_options() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config("", "", &listen("", &[("s1", srv.addr, "")])),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    c.write_all(b"x").unwrap();
    c.read_exact(&mut [0u8; 1]).unwrap();
    let mut lines = Vec::new();
    wait_for("both sockets", LIMIT, || {
        lines = [local(fe), remote(srv.addr)].concat();
        lines.len() >= 2
    });
    assert!(!lines.iter().any(|l| l.contains("keepalive")), "{lines:#?}");
}

/// The listen backlog (Send-Q of a listening socket): the bind's, else the
/// frontend's `backlog`, else its maxconn, else global maxconn.
#[test]
fn backlog_follows_haproxys_order() {
    let srv = Backend::echo();
    let s = srv.addr;
    let rest = format!(
        "frontend own\n    bind 127.0.0.1:0 backlog 33\n    backlog 77\n    default_backend b\n\
         frontend proxy\n    bind 127.0.0.1:0\n    backlog 77\n    maxconn 55\n    default_backend b\n\
         frontend maxconn\n    bind 127.0.0.1:0\n    maxconn 55\n    default_backend b\n\
         frontend global\n    bind 127.0.0.1:0\n    default_backend b\n\
         backend b\n    server s1 {s}\n"
    );
    let sp = Splicer::start(
        &config("    maxconn 444", "", &rest),
        &["own", "proxy", "maxconn", "global"],
    );
    for (fe, expected) in [("own", 33), ("proxy", 77), ("maxconn", 55), ("global", 444)] {
        let addr = sp.addr(fe).to_string();
        let out = Command::new("ss")
            .args(["-ltnH", "src", &addr])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let backlogs: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .collect();
        assert!(
            !backlogs.is_empty() && backlogs.iter().all(|b| *b == expected.to_string()),
            "{fe}: wanted {expected}, ss says:\n{text}"
        );
    }
}

/// `defer-accept`: a client that connected and sent nothing is not handed
/// out (its connection waits in SYN-RECV); its first byte lets it through.
#[test]
fn defer_accept_waits_for_the_first_byte() {
    let srv = Backend::echo();
    let lines = "    bind 127.0.0.1:0 defer-accept\n    default_backend b\n";
    let rest = format!(
        "frontend fe\n{lines}backend b\n    server s1 {}\n",
        srv.addr
    );
    let sp = Splicer::start(&config("", "", &rest), &["fe"]);
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    wait_for("the silent client to wait in SYN-RECV", LIMIT, || {
        !ss(&["state", "syn-recv", "src", &fe.to_string()]).is_empty()
    });
    assert_eq!(srv.accepted(), 0, "splicer connected a silent client");
    c.write_all(b"hello").unwrap();
    let mut b = [0u8; 5];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hello");
}

/// A client that half-closes through `rest` (a server that answers "bye"
/// to the FIN, then closes): how the server's read ended, what the client
/// read, and the connection (the client's address, the frontend's).
fn half_close_through(
    fe_lines: &str,
    be_lines: &str,
) -> (std::io::Result<usize>, Vec<u8>, (SocketAddr, SocketAddr)) {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = Backend::spawn(move |mut s| {
        let mut b = [0u8; 2];
        let _ = s.read_exact(&mut b);
        let end = s.read(&mut [0u8; 16]);
        let _ = s.write_all(b"bye");
        let _ = tx.send(end);
    });
    let rest = format!(
        "frontend fe\n    bind 127.0.0.1:0\n{fe_lines}    default_backend b\n\
         backend b\n{be_lines}    server s1 {}\n",
        srv.addr
    );
    let sp = Splicer::start(&config("", "", &rest), &["fe"]);
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let me = c.local_addr().unwrap();
    c.write_all(b"hi").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let server_end = rx.recv_timeout(LIMIT).expect("the server's read ended");
    let (data, _) = read_to_end_or_err(&c, LIMIT);
    (server_end, data, (me, sp.addr("fe")))
}

/// The client's connection sits in TIME-WAIT: it ended with FINs both
/// ways (a reset would have ended it at once). Both ends name it: the
/// client's port may already be another test's too.
fn in_time_wait((client, fe): (SocketAddr, SocketAddr)) -> bool {
    !ss(&[
        "state",
        "time-wait",
        "src",
        &client.to_string(),
        "dst",
        &fe.to_string(),
    ])
    .is_empty()
}

/// Without `nolinger` the client's FIN reaches the server as a FIN, the
/// answer reaches the client, and the client's side ends in TIME-WAIT.
#[test]
fn half_close_passes_a_fin() {
    let (server_end, data, client) = half_close_through("", "");
    assert!(matches!(server_end, Ok(0)), "{server_end:?}");
    assert_eq!(data, b"bye");
    wait_for("the client's TIME-WAIT", LIMIT, || in_time_wait(client));
}

/// `option nolinger` on the backend side: the client's FIN becomes a
/// reset of the server connection (HAProxy closes it at once).
#[test]
fn nolinger_backend_resets_the_server() {
    let (server_end, _, _) = half_close_through("", "    option nolinger\n");
    assert!(
        matches!(&server_end, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "the server should see a reset, got {server_end:?}"
    );
}

/// `option nolinger` on the frontend side: the server still gets a FIN,
/// but the client connection is closed with a reset (no TIME-WAIT left).
#[test]
fn nolinger_frontend_resets_the_client() {
    let (server_end, _, client) = half_close_through("    option nolinger\n", "");
    assert!(matches!(server_end, Ok(0)), "{server_end:?}");
    // A reset ends the connection at once, TIME-WAIT included (RFC 1337
    // handling is off by default in Linux).
    let (me, fe) = client;
    let gone = || {
        ss(&[
            "state",
            "all",
            "src",
            &me.to_string(),
            "dst",
            &fe.to_string(),
        ])
        .is_empty()
    };
    wait_for("the client's connection to be reset", LIMIT, gone);
}

/// `mss N` on a bind: the connections it accepts use that MSS.
#[test]
fn bind_mss_sets_the_segment_size() {
    let srv = Backend::echo();
    let rest = format!(
        "frontend fe\n    bind 127.0.0.1:0 mss 1000\n    default_backend b\nbackend b\n    server s1 {}\n",
        srv.addr
    );
    let sp = Splicer::start(&config("", "", &rest), &["fe"]);
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    c.write_all(b"x").unwrap();
    c.read_exact(&mut [0u8; 1]).unwrap();
    let lines = local(fe);
    // Loopback's MSS is about 65483 without the option; 1000 less the
    // timestamp option's 12 bytes with it.
    let advmss = |l: &String| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("advmss:"))
            .and_then(|v| v.parse::<u32>().ok())
    };
    assert!(
        !lines.is_empty() && lines.iter().all(|l| advmss(l).is_some_and(|m| m <= 1000)),
        "{lines:#?}"
    );
}

/// `interface lo` binds to loopback and serves; an unknown interface stops
/// the start with an error that names the frontend, address and interface.
#[test]
fn bind_to_an_interface() {
    let srv = Backend::echo();
    let rest = |iface: &str| {
        format!(
            "frontend fe\n    bind 127.0.0.1:0 interface {iface}\n    default_backend b\nbackend b\n    server s1 {}\n",
            srv.addr
        )
    };
    let sp = Splicer::start(&config("", "", &rest("lo")), &["fe"]);
    echo_roundtrip(sp.addr("fe"), 7, 10_000);
    drop(sp);
    if haproxy::enabled() {
        return; // HAProxy's own words for the error are its business.
    }
    let dir = scratch_dir("iface");
    let cfg = dir.join("splicer.cfg");
    std::fs::write(&cfg, config("", "", &rest("nosuchdev0"))).unwrap();
    let out = Command::new(splicer_bin())
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a missing interface");
    assert!(
        stderr.contains("frontend 'fe': cannot bind 127.0.0.1:0: interface 'nosuchdev0'"),
        "{stderr}"
    );
}

/// `transparent`: a bind to an address this host does not have works
/// (IP_TRANSPARENT), where a plain bind is refused. Inside a network
/// namespace of the test's own, with the documentation range the harness
/// uses there; nothing is sent to the address.
#[test]
fn transparent_binds_a_foreign_address() {
    use crate::common::netns::{Lan, can_run, in_netns};
    if !can_run("transparent_binds_a_foreign_address") {
        return;
    }
    let mut lan = Lan::new();
    lan.add_host("lb", "198.51.100.11/24");
    let ns = lan.ns("lb");
    let srv = in_netns(&ns, Backend::echo);
    let foreign = "198.51.100.200:8443";
    let rest = |extra: &str| {
        format!(
            "frontend fe\n    bind {foreign}{extra}\n    bind 198.51.100.11:0\n    default_backend b\nbackend b\n    server s1 {}\n",
            srv.addr
        )
    };
    let check = |cfg: &str| {
        let dir = scratch_dir("transparent");
        let path = dir.join("t.cfg");
        std::fs::write(&path, cfg).unwrap();
        Command::new("ip")
            .args(["netns", "exec", &ns, splicer_bin(), "-f"])
            .arg(&path)
            .output()
            .unwrap()
    };
    // Without `transparent` the kernel refuses the address.
    let out = check(&config("", "", &rest("")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("cannot bind {foreign}")), "{err}");
    let _sp = lan.splicer("lb", &config("", "", &rest(" transparent")), &["fe"]);
    wait_for("the foreign address to listen", LIMIT, || {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "ss", "-ltnH", "src", foreign])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    });
}

/// `ss -tnmH` of the established socket from `addr` to `peer`: the
/// `skmem` part shows the buffer sizes (`rb`, `tb`).
fn skmem_local(addr: SocketAddr, peer: SocketAddr) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-tnmH", "state", "established", "src", &addr.to_string()])
        .args(["dst", &peer.to_string()])
        .output()
        .expect("run ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout).replace("\n\t", " ");
    text.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// `tune.rcvbuf.client` / `tune.sndbuf.client` size the accepted sockets'
/// buffers (the kernel doubles what is asked), and `tune.bufsize` sizes
/// the copy path, which still carries a stream intact.
#[test]
fn tune_buffers_reach_the_sockets() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config(
            "    tune.rcvbuf.client 65536\n    tune.sndbuf.client 32768\n    tune.bufsize 4096\n    nosplice",
            "",
            &listen("", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    echo_roundtrip(fe, 11, 1 << 20);
    let held = TcpStream::connect(fe).unwrap();
    let peer = held.local_addr().unwrap();
    // Polled: the socket may show before splicer has set both sizes.
    let sized = |l: &String| l.contains(",rb131072,") && l.contains(",tb65536,");
    let end = std::time::Instant::now() + LIMIT;
    loop {
        let lines = skmem_local(fe, peer);
        if !lines.is_empty() && lines.iter().all(sized) {
            break;
        }
        assert!(std::time::Instant::now() < end, "{lines:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `noreuseport`: the port is the process's alone (another SO_REUSEPORT
/// socket cannot join it), and the workers share one socket; without it,
/// another socket of the same user may join the port's group.
#[test]
fn noreuseport_keeps_the_port_to_itself() {
    let srv = Backend::named("s1");
    let try_join = |addr: SocketAddr| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&addr.into()).map(|()| s)
    };
    for (global, joins) in [
        ("    nbthread 2\n    noreuseport", false),
        ("    nbthread 2", true),
    ] {
        let sp = Splicer::start(
            &config(global, "", &listen("", &[("s1", srv.addr, "")])),
            &["fe"],
        );
        let fe = sp.addr("fe");
        for _ in 0..10 {
            assert_eq!(server_name(fe), "s1");
        }
        let joined = try_join(fe);
        assert_eq!(joined.is_ok(), joins, "{global}: {:?}", joined.err());
        if let Err(e) = joined {
            assert_eq!(e.kind(), ErrorKind::AddrInUse);
        }
    }
}

/// TCP_NODELAY of the process `pid`'s socket whose local and remote ends
/// are `local` and `peer`, read from the socket itself (pidfd_getfd needs
/// ptrace rights over the process: root, or the same user without Yama
/// restrictions); `None` when no such socket or no rights.
fn nodelay_of(pid: u32, local: SocketAddr, peer: SocketAddr) -> Option<bool> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags; the result is a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: pidfd_open succeeded: the descriptor is ours.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if !target.to_string_lossy().starts_with("socket:") {
            continue;
        }
        let Ok(n) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_getfd duplicates fd n of the process into ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) };
        if fd < 0 {
            continue;
        }
        // SAFETY: pidfd_getfd succeeded: the duplicate is ours.
        let sock = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        let ends = (sock.local_addr().ok(), sock.peer_addr().ok());
        if let (Some(l), Some(p)) = ends
            && l.as_socket() == Some(local)
            && p.as_socket() == Some(peer)
        {
            return sock.tcp_nodelay().ok();
        }
    }
    None
}

/// Small writes leave at once on both of splicer's sockets (TCP_NODELAY):
/// set once on the listener and inherited by every accepted socket (Linux
/// copies it at accept), and on each server socket by its second write
/// (HAProxy sets it at connect; the first write of a connection never
/// waits for Nagle, so a connection written once saves the call).
#[test]
fn nodelay_on_client_and_server_sockets() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!in_ci(), "needs root (pidfd_getfd on splicer's sockets)");
        eprintln!("SKIPPED nodelay_on_client_and_server_sockets: needs root (pidfd_getfd)");
        return;
    }
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config("", "", &listen("", &[("s1", srv.addr, "")])),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    c.write_all(b"y").unwrap();
    c.read_exact(&mut b).unwrap();
    let client_side = nodelay_of(sp.pid(), fe, c.local_addr().unwrap());
    assert_eq!(client_side, Some(true), "the accepted socket");
    // The server socket: splicer's end towards the backend.
    let mut server_side = None;
    wait_for("splicer's server socket", LIMIT, || {
        server_side = remote(srv.addr).iter().find_map(|l| {
            let local: SocketAddr = l.split_whitespace().nth(2)?.parse().ok()?;
            nodelay_of(sp.pid(), local, srv.addr)
        });
        server_side.is_some()
    });
    assert_eq!(server_side, Some(true), "the server socket");
}
