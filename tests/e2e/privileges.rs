//! Giving up root, as Debian's and RHEL's stock `global` section asks
//! (`user`, `group`, `chroot`): the process that serves clients runs as
//! nobody inside the jail with no capability left, and still forwards,
//! logs to a UNIX socket inside the jail (Debian's /var/lib/haproxy/dev/log),
//! answers on its stats socket (made with the `mode`/`user`/`group` asked),
//! and reloads: a new bind on a port below 1024 opens, and a bad config
//! keeps the old one serving.
//!
//! Passes against HAProxy 2.6 too (`SPLICER_TEST_BIN=haproxy`): both run
//! with `-W`, where HAProxy's master stays root and its worker drops, as
//! splicer's privileged parent and serving process do. Needs root: skipped
//! with a message otherwise, failed under CI.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::common::*;

const NOBODY: u32 = 65534;
const LIMIT: Duration = Duration::from_secs(10);

/// True when running as root; else prints why the test is skipped (or
/// fails under CI, where tests run as root).
pub fn root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let why = "needs root (changing user and chroot)";
    assert!(!in_ci(), "{test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// A field of /proc/PID/status, e.g. `Uid`.
pub fn status(pid: u32, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A user's uid from /etc/passwd.
pub fn uid_of(user: &str) -> Option<u32> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == user).then(|| f[2].parse().ok())?
    })
}

/// The child processes of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The process under `pid` (itself or a child) that runs as `uid`.
pub fn serving(pid: u32, uid: u32) -> Option<u32> {
    let is = |p: u32| status(p, "Uid").is_some_and(|u| u.starts_with(&format!("{uid} ")));
    std::iter::once(pid).chain(children(pid)).find(|p| is(*p))
}

/// The name a `Backend::named` server sends through `addr`, if it answers.
fn name_of(addr: SocketAddr) -> Option<String> {
    use std::io::{BufRead, BufReader};
    let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

/// A free port below 1024 on 127.0.0.1.
fn low_port() -> u16 {
    (900..1024)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

/// Waits for a log datagram that contains every one of `pats`.
fn wait_datagram(sock: &UnixDatagram, pats: &[&str]) -> String {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + LIMIT;
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            if pats.iter().all(|p| line.contains(p)) {
                return line;
            }
            seen.push(line);
        }
    }
    panic!("no log line with {pats:?} in the jail's /dev/log; got {seen:#?}");
}

#[test]
fn the_serving_process_runs_as_nobody_in_the_jail_and_still_reloads() {
    if !root("privileges") {
        return;
    }
    let jail = scratch_dir("jail");
    std::fs::set_permissions(&jail, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(jail.join("dev")).unwrap();
    let syslog = UnixDatagram::bind(jail.join("dev/log")).unwrap();
    // As rsyslog makes it: every user may write to the log socket.
    std::fs::set_permissions(jail.join("dev/log"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let dir = scratch_dir("privileges");
    let sock = dir.join("admin.sock");
    let web = Backend::named("web1");
    let agent = crate::common::fake::FakeAgent::start("up 100%\n");
    let config = format!(
        "global\n    user nobody\n    group nogroup\n    chroot {jail}\n    log /dev/log local0\n\
         \x20   stats socket {sock} mode 660 level admin user nobody group nogroup\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 1s\n\
         \x20   timeout client 5s\n    timeout server 5s\n\
         listen web\n    bind 127.0.0.1:0\n    server web1 {web} check inter 100ms\n    server agent1 {web} check inter 100ms agent-check agent-port {agent} agent-inter 100ms\n",
        jail = jail.display(),
        sock = sock.display(),
        web = web.addr,
        agent = agent.port(),
    );
    let sp = Splicer::start_with(&config, &["web"], &["-W"]);
    let mut pid = 0;
    wait_for("the serving process to run as nobody", LIMIT, || {
        serving(sp.pid(), NOBODY).is_some_and(|p| {
            pid = p;
            true
        })
    });
    assert_ne!(pid, sp.pid(), "the process the operator signals stays root");
    assert_eq!(status(sp.pid(), "Uid").unwrap(), "0 0 0 0");
    assert_eq!(status(pid, "Uid").unwrap(), "65534 65534 65534 65534");
    assert_eq!(status(pid, "Gid").unwrap(), "65534 65534 65534 65534");
    assert_eq!(status(pid, "CapEff").unwrap(), "0000000000000000");
    assert_eq!(status(pid, "CapPrm").unwrap(), "0000000000000000");
    let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(root, jail.canonicalize().unwrap());

    // Traffic, and its log line through the socket inside the jail.
    let addr = sp.addr("web");
    assert_eq!(server_name(addr), "web1");
    wait_datagram(&syslog, &["web web/"]);

    // The stats socket, made as root before the drop, with its owner and mode.
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert!(ask(&sock, "show stat").contains("web,web1,"));
    // Health and agent checks run from the jail.
    wait_for("a passed check and agent check", LIMIT, || {
        let stat = ask(&sock, "show stat");
        stat_field(&stat, "web", "web1", "check_status") == "L4OK"
            && stat_field(&stat, "web", "agent1", "agent_status") == "L7OK"
    });

    // A reload adds a bind below 1024: the serving process cannot bind it
    // itself.
    let low: SocketAddr = format!("127.0.0.1:{}", low_port()).parse().unwrap();
    let reloaded = config.replace("bind 127.0.0.1:0", &format!("bind {addr}\n    bind {low}"));
    std::fs::write(&sp.config_path, &reloaded).unwrap();
    sp.signal("USR2");
    wait_for("the new bind below 1024 to serve", LIMIT, || {
        name_of(low).is_some_and(|n| n == "web1")
    });
    assert_eq!(server_name(addr), "web1");
    let pid = serving(sp.pid(), NOBODY).expect("a serving process after the reload");
    assert_eq!(status(pid, "CapEff").unwrap(), "0000000000000000");

    // A bad config: the old one keeps serving on both binds.
    std::fs::write(&sp.config_path, format!("{reloaded}    bogus-keyword\n")).unwrap();
    sp.signal("USR2");
    if !haproxy::enabled() {
        sp.wait_log(&["reload aborted"], LIMIT);
    }
    assert_eq!(server_name(low), "web1");
    assert_eq!(server_name(addr), "web1");
    let pid = serving(sp.pid(), NOBODY).expect("a serving process");

    // The serving process stops with its privileged parent (it once lived
    // on, still listening and checking servers, after the test ended).
    drop(sp);
    wait_for("the serving process to stop with its parent", LIMIT, || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_or(true, |s| s.contains("State:\tZ"))
    });
}

/// Started by another user, a config that asks for a jail stops with a
/// clear error before it binds anything (HAProxy: "Cannot chroot").
#[test]
fn without_root_a_jail_is_a_clear_error() {
    let dir = scratch_dir("noroot");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.join("jail.cfg");
    std::fs::write(
        &cfg,
        "global\n    chroot /var/empty\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
         listen web\n    bind 127.0.0.1:0\n    server s 127.0.0.1:9\n",
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        // Root takes the jail: run the binary as nobody instead.
        let Some(setpriv) = find_tool("setpriv") else {
            assert!(!in_ci(), "setpriv (util-linux) is missing");
            eprintln!("SKIPPED without_root_a_jail_is_a_clear_error: setpriv is missing");
            return;
        };
        let mut c = std::process::Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(splicer_bin());
        c
    } else {
        std::process::Command::new(splicer_bin())
    };
    let out = cmd.arg("-f").arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot chroot to /var/empty: splicer was not started as root"),
        "{err}"
    );
    assert!(!err.contains("listening on"), "bound before failing: {err}");
}
