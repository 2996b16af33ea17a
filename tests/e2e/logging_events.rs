//! Server events in the backends' `log` targets, as HAProxy sends them:
//! check results (`option log-health-checks`), UP/DOWN, maintenance and
//! "no server available", each at HAProxy's syslog level (checked against
//! HAProxy 2.6: DOWN and maintenance are `alert`, "no server available"
//! `emerg`, the rest `notice`). Also after a reload, to the new targets.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

/// A UDP syslog receiver that keeps every datagram.
struct Syslog {
    addr: std::net::SocketAddr,
    got: Arc<Mutex<Vec<String>>>,
}

impl Syslog {
    fn start() -> Syslog {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = rx.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let end = std::time::Instant::now() + Duration::from_secs(120);
            while std::time::Instant::now() < end {
                if let Ok(n) = rx.recv(&mut buf) {
                    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                    keep.lock().unwrap().push(line);
                }
            }
        });
        Syslog { addr, got }
    }

    /// Waits for a datagram holding `text` and returns its priority.
    fn priority_of(&self, text: &str) -> u32 {
        let mut found = None;
        wait_for(&format!("a syslog line with {text:?}"), WAIT, || {
            found = self
                .got
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
                .cloned();
            found.is_some()
        });
        let line = found.unwrap();
        let pri = line
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .unwrap_or_else(|| panic!("no priority in {line}"))
            .0;
        pri.parse().unwrap()
    }

    fn has(&self, text: &str) -> bool {
        self.got.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

// local0 = 16 * 8
const EMERG: u32 = 128;
const ALERT: u32 = 129;
const NOTICE: u32 = 133;

fn cfg(sock: &Path, target: std::net::SocketAddr, live: std::net::SocketAddr) -> String {
    config(
        &format!(
            "    stats socket {} level admin\n    log {target} local0",
            sock.display()
        ),
        "    log global",
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    option log-health-checks\n\
             \x20   server a {live} check inter 100ms\n\
             \x20   server b {} check inter 100ms\n",
            dead_addr()
        ),
    )
}

#[test]
fn server_events_reach_the_backend_targets_at_haproxys_levels() {
    let syslog = Syslog::start();
    let live = Backend::echo();
    let dir = scratch_dir("events");
    let sock = dir.join("api.sock");
    let _sp = Splicer::start(&cfg(&sock, syslog.addr, live.addr), &["fe"]);
    assert_eq!(
        syslog
            .priority_of("Health check for server be/b failed, reason: Layer4 connection problem"),
        NOTICE
    );
    assert_eq!(
        syslog.priority_of("Server be/b is DOWN. 1 active and 0 backup servers left."),
        ALERT
    );
    wait_for("the stats socket", WAIT, || sock.exists());
    assert_eq!(ask(&sock, "disable server be/a"), "\n");
    assert_eq!(
        syslog.priority_of("Server be/a is going DOWN for maintenance."),
        ALERT
    );
    assert_eq!(
        syslog.priority_of("backend be has no server available!"),
        EMERG
    );
    assert_eq!(ask(&sock, "enable server be/a"), "\n");
    assert_eq!(
        syslog.priority_of("Server be/a is UP/READY (leaving forced maintenance)."),
        NOTICE
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_a_reload_events_go_to_the_new_targets() {
    if crate::common::haproxy::enabled() {
        eprintln!("SKIPPED: HAProxy reloads through a new process, not tested here");
        return;
    }
    let (first, second) = (Syslog::start(), Syslog::start());
    let live = Backend::echo();
    let dir = scratch_dir("events-reload");
    let sock = dir.join("api.sock");
    let sp = Splicer::start(&cfg(&sock, first.addr, live.addr), &["fe"]);
    first.priority_of("Server be/b is DOWN");
    std::fs::write(&sp.config_path, cfg(&sock, second.addr, live.addr)).unwrap();
    sp.signal("HUP");
    sp.wait_log(&["configuration reloaded"], WAIT);
    wait_for("the stats socket", WAIT, || sock.exists());
    assert_eq!(ask(&sock, "disable server be/a"), "\n");
    second.priority_of("Server be/a is going DOWN for maintenance.");
    assert!(
        !first.has("Server be/a is going DOWN"),
        "the old config's target still gets events"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
