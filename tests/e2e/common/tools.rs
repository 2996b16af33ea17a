//! Helper programs of the tests (nginx, mariadbd, openssl): finding them,
//! skipping or failing when they are missing, and killing them on drop.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// A free loopback port, for servers that cannot bind port 0 themselves
/// (nginx, mariadbd) or must come back on the same port. Another process
/// may take it before it is used; launchers retry on a bind failure.
///
/// Never the same port twice in one test process: the kernel often hands
/// a just-closed port out again, and HAProxy (SO_REUSEPORT) would then
/// happily bind two frontends, or two tests' frontends, on one port and
/// share their connections.
pub fn free_port() -> u16 {
    fresh_listener().local_addr().expect("local address").port()
}

/// A loopback listener on a port this test process never used before:
/// not one `free_port` handed out (a dead server's, or a frontend's yet
/// to bind), so a test's backend never answers for another test's port.
pub fn fresh_listener() -> std::net::TcpListener {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Listeners on used ports stay open meanwhile, so the kernel offers
    // another port each time.
    let mut held = Vec::new();
    for _ in 0..10_000 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local address").port();
        if given.insert(port) {
            return l;
        }
        held.push(l);
    }
    panic!("no fresh loopback port after 10000 tries");
}

/// True when `CI` is set (and not "false"/"0"): tools the tests need must
/// then be installed, and a missing one fails the test instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Finds an executable in `PATH`, `/usr/sbin` or `/usr/local/sbin`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Finds every tool in `names`. When one is missing: panics under CI,
/// otherwise prints why the test is skipped and returns `None`.
pub fn require_tools(test: &str, names: &[&str]) -> Option<Vec<PathBuf>> {
    let mut found = Vec::new();
    for name in names {
        match find_tool(name) {
            Some(p) => found.push(p),
            None if in_ci() => {
                panic!("{test}: `{name}` is not installed (scripts/test installs it)")
            }
            None => {
                eprintln!("SKIPPED {test}: `{name}` is not installed");
                return None;
            }
        }
    }
    Some(found)
}

/// A helper process (nginx, mariadbd, openssl) killed on drop.
pub struct ChildGuard {
    pub child: Child,
    pub what: String,
}

impl ChildGuard {
    pub fn spawn(what: &str, cmd: &mut Command) -> ChildGuard {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        ChildGuard {
            child,
            what: what.to_string(),
        }
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it has not exited within `limit`.
    pub fn terminate(&mut self, limit: Duration) {
        if self.exited().is_some() {
            return;
        }
        // SAFETY: plain kill(2) on our own child's pid, which we have not
        // reaped yet (try_wait above returned None).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.exited().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
