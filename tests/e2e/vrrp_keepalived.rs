//! splicer's VRRP against Debian's keepalived (`vrrp_version 3`) as its
//! peer, in network namespaces: splicer as master with keepalived as
//! backup, and the reverse. Each side must understand the other's
//! advertisements (checksum, priority 0 on stop, preemption), which a
//! client sees as the VIP moving to the right host.
//!
//! keepalived runs in the foreground with its own config and pid files
//! (`-n -l -D -P -f FILE -p PID -r VRRP_PID -R`), so it never meets a
//! system instance. Needs root and keepalived: skipped with a message
//! otherwise, failed under CI.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::netns::{Lan, can_run, first_line, in_netns};
use crate::common::*;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
const PORT: u16 = 8080;
const FAILOVER_LIMIT: Duration = Duration::from_secs(2);
const LIMIT: Duration = Duration::from_secs(10);

/// lb1 (.11), lb2 (.12) and a client (.50). On the keepalived host a
/// server on the VIP's port answers with the host's name; on the splicer
/// host, splicer does, through its backend.
struct Mixed {
    lan: Lan,
    dir: PathBuf,
    _servers: Vec<Backend>,
    splicer_host: &'static str,
    keepalived_host: &'static str,
    /// Backend address behind the splicer.
    backend: SocketAddr,
}

impl Mixed {
    fn new(splicer_host: &'static str, keepalived_host: &'static str) -> Option<Mixed> {
        if !can_run("vrrp_keepalived") {
            return None;
        }
        require_tools("vrrp_keepalived", &["keepalived"])?;
        let mut lan = Lan::new();
        lan.add_host("lb1", "198.51.100.11/24");
        lan.add_host("lb2", "198.51.100.12/24");
        lan.add_host("client", "198.51.100.50/24");
        let behind = in_netns(&lan.ns(splicer_host), || Backend::named(splicer_host));
        let backend = behind.addr;
        let on_vip = in_netns(&lan.ns(keepalived_host), || {
            Backend::spawn_on(SocketAddr::from(([0, 0, 0, 0], PORT)), move |mut s| {
                let _ = s.write_all(format!("{keepalived_host}\n").as_bytes());
            })
        });
        Some(Mixed {
            lan,
            dir: scratch_dir("vrrp-ka"),
            _servers: vec![behind, on_vip],
            splicer_host,
            keepalived_host,
            backend,
        })
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("splicer.sock")
    }

    fn splicer(&self, priority: u8) -> Splicer {
        let config = format!(
            "global\n    stats socket {sock} level admin\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 2s\n    timeout server 2s\n\
             listen web\n    bind :{PORT}\n    server s {backend}\n\
             vrrp VI_1\n    interface eth0\n    virtual_router_id 51\n    priority {priority}\n\
             \x20   advert_int 0.1\n    virtual_ipaddress {VIP}/24\n",
            sock = self.sock().display(),
            backend = self.backend,
        );
        let sp = self.lan.splicer(self.splicer_host, &config, &["web"]);
        wait_for("the stats socket", LIMIT, || {
            UnixStream::connect(self.sock()).is_ok()
        });
        sp
    }

    /// Starts keepalived; returns (its pid, the pid file of its VRRP process).
    fn keepalived(&mut self, priority: u8, run: u32) -> (u32, PathBuf) {
        let conf = self.dir.join(format!("keepalived-{run}.conf"));
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n    vrrp_version 3\n    router_id {host}\n}}\n\
                 vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n\
                 \x20   virtual_router_id 51\n    priority {priority}\n    advert_int 0.1\n\
                 \x20   virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
                host = self.keepalived_host
            ),
        )
        .unwrap();
        let pid = self.dir.join(format!("keepalived-{run}.pid"));
        let vrrp_pid = self.dir.join(format!("vrrp-{run}.pid"));
        let (c, p, v) = (path(&conf), path(&pid), path(&vrrp_pid));
        let args = ["-n", "-l", "-D", "-P", "-R", "-f", &c, "-p", &p, "-r", &v];
        let log = self.log();
        let parent = self
            .lan
            .spawn(self.keepalived_host, "keepalived", &args, &log);
        wait_for("keepalived's VRRP process", LIMIT, || {
            std::fs::read_to_string(&vrrp_pid).is_ok_and(|t| !t.trim().is_empty())
        });
        (parent, vrrp_pid)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("keepalived.log")
    }

    fn keepalived_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn show(&self) -> String {
        let mut s = UnixStream::connect(self.sock()).unwrap();
        s.write_all(b"show vrrp\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn answering(&self) -> Option<String> {
        let vip = SocketAddr::from((VIP, PORT));
        first_line(&self.lan.ns("client"), vip, Duration::from_millis(50))
    }

    fn wait_answer(&self, host: &str, limit: Duration) -> Duration {
        let t0 = Instant::now();
        wait_for(&format!("{host} to answer on the VIP"), limit, || {
            self.answering().as_deref() == Some(host)
        });
        t0.elapsed()
    }

    /// keepalived never complained about splicer's packets.
    fn assert_keepalived_content(&self) {
        let log = self.keepalived_log();
        for bad in ["checksum", "invalid", "mismatch", "bogus", "wrong"] {
            assert!(
                !log.to_lowercase().contains(bad),
                "keepalived complained ({bad}):\n{log}"
            );
        }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn kill(sig: &str, pid: &str) {
    let st = std::process::Command::new("kill")
        .args([&format!("-{sig}"), pid.trim()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid}");
}

#[test]
fn splicer_master_with_keepalived_backup() {
    let Some(mut m) = Mixed::new("lb1", "lb2") else {
        return;
    };
    let (_ka, _) = m.keepalived(100, 1);
    let mut sp = m.splicer(150);
    m.wait_answer("lb1", LIMIT);
    wait_for("keepalived in BACKUP", LIMIT, || {
        m.keepalived_log().contains("(VI_1) Entering BACKUP STATE")
    });
    let show = m.show();
    assert!(show.contains("state: MASTER\n"), "{show}");
    assert!(!m.lan.has_addr("lb2", VIP), "keepalived holds the VIP too");

    // kill -9 splicer: keepalived takes over by timeout.
    sp.signal("KILL");
    let took = m.wait_answer("lb2", FAILOVER_LIMIT);
    println!("keepalived takes over {took:?} after kill -9 of splicer");
    sp.wait_exit(LIMIT);

    // splicer comes back with the higher priority: keepalived yields.
    let mut sp = m.splicer(150);
    let took = m.wait_answer("lb1", LIMIT);
    println!("splicer preempts keepalived {took:?} after restart");
    wait_for("keepalived to release the VIP", LIMIT, || {
        !m.lan.has_addr("lb2", VIP)
    });

    // A clean stop: keepalived honours splicer's priority 0.
    sp.signal("TERM");
    let took = m.wait_answer("lb2", FAILOVER_LIMIT);
    println!("keepalived takes over {took:?} after SIGTERM to splicer");
    sp.wait_exit(LIMIT);
    let log = m.keepalived_log();
    assert!(log.contains("priority 0"), "{log}");
    m.assert_keepalived_content();
}

#[test]
fn keepalived_master_with_splicer_backup() {
    let Some(mut m) = Mixed::new("lb2", "lb1") else {
        return;
    };
    let (ka, _) = m.keepalived(150, 1);
    let _sp = m.splicer(100);
    m.wait_answer("lb1", LIMIT);
    // splicer reads keepalived's adverts and follows them.
    wait_for("splicer to see keepalived as master", LIMIT, || {
        m.show()
            .contains("master: 198.51.100.11\nmaster_priority: 150\nmaster_advert_int: 100ms\n")
    });
    let show = m.show();
    assert!(show.contains("state: BACKUP\n"), "{show}");
    assert!(show.contains("dropped: 0\n"), "{show}");
    assert!(!m.lan.has_addr("lb2", VIP));

    // keepalived stops cleanly (priority 0): splicer takes over at once.
    kill("TERM", &ka.to_string());
    let took = m.wait_answer("lb2", FAILOVER_LIMIT);
    println!("splicer takes over {took:?} after SIGTERM to keepalived");
    m.lan.wait_exit(ka, LIMIT);
    assert!(
        m.show()
            .contains("master 198.51.100.11 stopped (priority 0"),
        "{}",
        m.show()
    );

    // keepalived comes back with the higher priority: splicer yields.
    let (_ka, vrrp_pid) = m.keepalived(150, 2);
    let took = m.wait_answer("lb1", LIMIT);
    println!("keepalived preempts splicer {took:?} after restart");
    wait_for("splicer to release the VIP", LIMIT, || {
        !m.lan.has_addr("lb2", VIP)
    });
    assert!(
        m.show()
            .contains("198.51.100.11 advertises higher priority 150"),
        "{}",
        m.show()
    );

    // keepalived's VRRP process dies without a word: splicer times out.
    let child = std::fs::read_to_string(&vrrp_pid).unwrap();
    kill("KILL", &child);
    let took = m.wait_answer("lb2", FAILOVER_LIMIT);
    println!("splicer takes over {took:?} after kill -9 of keepalived's VRRP process");
    let show = m.show();
    assert!(
        show.contains("no advertisement from master 198.51.100.11"),
        "{show}"
    );
    m.assert_keepalived_content();
}
