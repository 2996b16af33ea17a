//! Network namespaces for end-to-end tests that need a LAN: one namespace
//! holds a bridge (the switch), each host is a namespace of its own with an
//! `eth0` plugged into it by a veth pair. Addresses are 198.51.100.0/24
//! inside them only; nothing is linked to the host's network.
//!
//! Everything is removed on drop, also after a failed assertion (processes
//! started through [`Lan::spawn`] are killed first). Namespaces left by a
//! test binary that was killed (their owner's pid is gone) are removed when
//! the next [`Lan`] is made.
//!
//! [`in_netns`] runs a closure on a thread inside a host's namespace, so a
//! test can open sockets there (a client, a backend server) directly.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Splicer, in_ci, scratch_dir};

/// Prefix of every namespace these tests make: `spt-PID-N-...`.
const PREFIX: &str = "spt-";
const NETNS_DIR: &str = "/run/netns";

/// True when the test can make namespaces (root). Otherwise prints why the
/// test is skipped, or panics under CI, where tests run as root.
pub fn can_run(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root && super::find_tool("ip").is_some() {
        return true;
    }
    let why = "needs root and iproute2 to make network namespaces";
    assert!(!in_ci(), "{test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// Runs `ip ARGS`; panics with its stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let out = run(Command::new("ip").args(args));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run ip")
}

/// A bridge and the hosts plugged into it.
pub struct Lan {
    /// `spt-PID-N`: every namespace name starts with it.
    prefix: String,
    switch: String,
    hosts: Vec<String>,
    children: Vec<Child>,
}

impl Lan {
    /// An empty LAN: a namespace with bridge `br0`, up.
    pub fn new() -> Lan {
        static N: AtomicUsize = AtomicUsize::new(0);
        remove_stale();
        let prefix = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let switch = format!("{prefix}-sw");
        let lan = Lan {
            prefix,
            switch,
            hosts: Vec::new(),
            children: Vec::new(),
        };
        new_netns(&lan.switch);
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"]);
        lan
    }

    /// Adds host `name` with `eth0` at `addr` (`198.51.100.11/24`);
    /// returns its namespace's name.
    pub fn add_host(&mut self, name: &str, addr: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        new_netns(&ns);
        self.hosts.push(ns.clone());
        let port = self.port(name);
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", &port, "up"]);
        ip(&["-n", &ns, "addr", "add", addr, "dev", "eth0"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ns
    }

    /// The namespace of host `name`.
    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The switch port of host `name` (interface names are short).
    fn port(&self, name: &str) -> String {
        let i = self.hosts.iter().position(|h| *h == self.ns(name)).unwrap();
        format!("p{i}")
    }

    /// Pulls (`false`) or plugs back (`true`) host `name`'s cable: its
    /// switch port goes down, so its `eth0` loses the carrier.
    pub fn set_cable(&self, name: &str, plugged: bool) {
        let state = if plugged { "up" } else { "down" };
        ip(&["-n", &self.switch, "link", "set", &self.port(name), state]);
    }

    /// Whether `addr` is on host `name`'s `eth0` now.
    pub fn has_addr(&self, name: &str, addr: Ipv4Addr) -> bool {
        let out = ip(&[
            "-n",
            &self.ns(name),
            "-4",
            "-o",
            "addr",
            "show",
            "dev",
            "eth0",
        ]);
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(&addr.to_string()))
    }

    /// Starts `program ARGS` inside host `name`, its output appended to
    /// `log` (killed on drop); returns its pid.
    pub fn spawn(&mut self, name: &str, program: &str, args: &[&str], log: &Path) -> u32 {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(name), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .expect("spawn in netns");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for the process `pid` started by [`Lan::spawn`] to exit.
    pub fn wait_exit(&mut self, pid: u32, limit: Duration) {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() == pid)
            .expect("a child of this LAN");
        super::wait_for(&format!("process {pid} to exit"), limit, || {
            matches!(c.try_wait(), Ok(Some(_)))
        });
    }

    /// Starts splicer on `config` inside host `name` and waits until every
    /// frontend in `frontends` listens.
    pub fn splicer(&self, name: &str, config: &str, frontends: &[&str]) -> Splicer {
        let dir = scratch_dir("netns");
        let config_path = dir.join("splicer.cfg");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(name), super::splicer_bin()])
            .arg("-f")
            .arg(&config_path);
        Splicer::launch(cmd, config_path, frontends)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.hosts.iter().chain([&self.switch]) {
            delete_netns(ns);
        }
    }
}

fn new_netns(ns: &str) {
    // A name taken by a killed run whose pid came back: never inherit it.
    delete_netns(ns);
    ip(&["netns", "add", ns]);
    ip(&["-n", ns, "link", "set", "lo", "up"]);
}

/// Kills what still runs in `ns` (processes of a test), then deletes it.
fn delete_netns(ns: &str) {
    if !std::path::Path::new(NETNS_DIR).join(ns).exists() {
        return;
    }
    let pids = run(Command::new("ip").args(["netns", "pids", ns]));
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        let _ = run(Command::new("kill").args(["-KILL", pid]));
    }
    let _ = run(Command::new("ip").args(["netns", "del", ns]));
}

/// Namespaces of test binaries that no longer run.
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            delete_netns(&name);
        }
    }
}

/// Runs `f` on a thread inside namespace `ns`: sockets it opens live
/// there (threads it spawns too), and can be used from any thread after.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let file = File::open(format!("{NETNS_DIR}/{ns}")).expect("open netns");
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: `file` is an open namespace file; CLONE_NEWNET moves
            // this thread alone into that network namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in netns panicked")
    })
}

/// From namespace `ns`: connects to `addr` and returns the first line the
/// server sends (a `Backend::named` server's name), or `None` when the
/// connection is not made within `limit` (the line may take four times
/// that) or fails.
pub fn first_line(ns: &str, addr: SocketAddr, limit: Duration) -> Option<String> {
    in_netns(ns, || {
        let s = TcpStream::connect_timeout(&addr, limit).ok()?;
        s.set_read_timeout(Some(limit * 4)).ok()?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).ok()?;
        let line = line.trim();
        (!line.is_empty()).then(|| line.to_string())
    })
}
