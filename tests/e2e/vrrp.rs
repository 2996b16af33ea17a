//! VRRP end to end: two splicers in network namespaces on one bridge, each
//! in front of its own backend (which answers with the host's name), and a
//! client namespace that connects to the virtual IP. A test asserts what a
//! client sees — which load balancer answers on the VIP — and how long the
//! VIP takes to move (printed; the bounds here are generous, the speed
//! targets belong to the drills).
//!
//! Needs root (network namespaces, raw sockets): skipped with a message
//! otherwise, failed under CI.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::netns::{Lan, can_run, first_line, in_netns};
use crate::common::*;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
const LB1_IP: &str = "198.51.100.11";
const LB2_IP: &str = "198.51.100.12";
/// The frontend's port on every load balancer.
const PORT: u16 = 8080;
/// Generous bound on a failover with 100 ms adverts (~0.35 s expected).
const FAILOVER_LIMIT: Duration = Duration::from_secs(2);
const LIMIT: Duration = Duration::from_secs(10);

/// The LAN: lb1 (.11), lb2 (.12), a client (.50), and a backend in each
/// load balancer's namespace that answers with its host's name.
struct Pair {
    lan: Lan,
    dir: PathBuf,
    backends: Vec<Backend>,
}

impl Pair {
    fn new() -> Pair {
        let mut lan = Lan::new();
        lan.add_host("lb1", &format!("{LB1_IP}/24"));
        lan.add_host("lb2", &format!("{LB2_IP}/24"));
        lan.add_host("client", "198.51.100.50/24");
        let backends = ["lb1", "lb2"]
            .iter()
            .map(|h| in_netns(&lan.ns(h), || Backend::named(h)))
            .collect();
        Pair {
            lan,
            dir: scratch_dir("vrrp"),
            backends,
        }
    }

    fn backend(&self, host: &str) -> SocketAddr {
        self.backends[if host == "lb1" { 0 } else { 1 }].addr
    }

    /// splicer on `host` with `vrrp_lines` in its `vrrp VI_1` section.
    /// A session whose VIP moved away ends only by timeout (the client's
    /// packets go to the new master): short timeouts keep a soft stop short.
    fn start(&self, host: &str, vrrp_lines: &str) -> Splicer {
        self.start_with(host, "", vrrp_lines)
    }

    /// As `start`, with `global_lines` added to its global section.
    fn start_with(&self, host: &str, global_lines: &str, vrrp_lines: &str) -> Splicer {
        let config = format!(
            "global\n    stats socket {sock} level admin\n{global_lines}\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 2s\n    timeout server 2s\n\
             listen web\n    bind :{PORT}\n    server s {backend} check inter 100ms fall 1 rise 1\n\
             vrrp VI_1\n    interface eth0\n    virtual_router_id 51\n    advert_int 100ms\n\
             \x20   virtual_ipaddress {VIP}/24\n{vrrp_lines}",
            sock = self.sock(host).display(),
            backend = self.backend(host),
        );
        let sp = self.lan.splicer(host, &config, &["web"]);
        wait_for("the stats socket", LIMIT, || {
            UnixStream::connect(self.sock(host)).is_ok()
        });
        sp
    }

    fn sock(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.sock"))
    }

    /// `show vrrp` on `host`'s stats socket.
    fn show(&self, host: &str) -> String {
        ask(&self.sock(host), "show vrrp")
    }

    /// The load balancer that answers a client on the VIP now, if any.
    fn answering(&self) -> Option<String> {
        let vip = SocketAddr::from((VIP, PORT));
        first_line(&self.lan.ns("client"), vip, Duration::from_millis(50))
    }

    /// Waits until `host` answers on the VIP; returns how long it took.
    fn wait_answer(&self, host: &str, limit: Duration) -> Duration {
        let t0 = Instant::now();
        wait_for(&format!("{host} to answer on the VIP"), limit, || {
            self.answering().as_deref() == Some(host)
        });
        t0.elapsed()
    }

    /// `show vrrp` of `host` once it reports MASTER: the VRRP thread
    /// publishes its status after the turn of its loop that took the VIP,
    /// so a client may get through a moment before.
    fn show_master(&self, host: &str) -> String {
        wait_for(&format!("{host} to report MASTER"), LIMIT, || {
            self.show(host).contains("state: MASTER\n")
        });
        self.show(host)
    }
}

/// The value of `key` in a `show vrrp` answer.
fn field(show: &str, key: &str) -> String {
    let prefix = format!("{key}: ");
    show.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in:\n{show}"))
        .to_string()
}

/// A notify script that appends its arguments to `log`.
fn notify_script(dir: &Path, log: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("notify.sh");
    std::fs::write(
        &path,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Kill -9 of the master, restart (the leftover VIP is removed and the
/// higher priority preempts), then a clean stop by `stop_signal`.
fn failover(test: &str, peers: (&str, &str), stop_signal: &str) {
    if !can_run(test) {
        return;
    }
    let pair = Pair::new();
    let notified = pair.dir.join("notified");
    let script = notify_script(&pair.dir, &notified);
    let lb1_lines = format!("    priority 150\n{}", peers.0);
    let lb2_lines = format!(
        "    priority 100\n    notify {}\n{}",
        script.display(),
        peers.1
    );
    let mut lb1 = pair.start("lb1", &lb1_lines);
    let _lb2 = pair.start("lb2", &lb2_lines);
    let took = pair.wait_answer("lb1", LIMIT);
    println!("{test}: lb1 answers on the VIP {took:?} after start");
    let show = pair.show_master("lb1");
    assert!(show.contains("vips_held: yes\n"), "{show}");
    wait_for("lb2 to see lb1 as master", LIMIT, || {
        pair.show("lb2")
            .contains(&format!("master: {LB1_IP}\nmaster_priority: 150\n"))
    });
    assert!(pair.show("lb2").contains("state: BACKUP\n"));
    assert!(!pair.lan.has_addr("lb2", VIP), "the backup holds the VIP");

    // kill -9: no goodbye; lb2 waits 3 x 100 ms + skew.
    lb1.signal("KILL");
    let took = pair.wait_answer("lb2", FAILOVER_LIMIT);
    println!("{test}: failover after kill -9 of the master: {took:?}");
    lb1.wait_exit(LIMIT);
    assert!(
        pair.lan.has_addr("lb1", VIP),
        "kill -9 cannot remove the VIP"
    );

    // Back with the higher priority: the leftover goes first, then lb1
    // preempts lb2.
    let mut lb1 = pair.start("lb1", &lb1_lines);
    lb1.wait_log(&["removed 198.51.100.100 from eth0", "earlier run"], LIMIT);
    let took = pair.wait_answer("lb1", LIMIT);
    println!("{test}: lb1 back as master {took:?} after restart");
    lb1.wait_log(
        &["BACKUP -> MASTER", "preempting master 198.51.100.12"],
        LIMIT,
    );
    wait_for("lb2 to release the VIP", LIMIT, || {
        !pair.lan.has_addr("lb2", VIP)
    });

    // A clean stop sends priority 0: lb2 takes over after its skew time.
    lb1.signal(stop_signal);
    let took = pair.wait_answer("lb2", FAILOVER_LIMIT);
    println!("{test}: hand-over on {stop_signal}: {took:?}");
    lb1.wait_log(&["MASTER -> STOP"], LIMIT);
    lb1.wait_exit(LIMIT);
    assert!(
        !pair.lan.has_addr("lb1", VIP),
        "the VIP stayed after a stop"
    );
    let show = pair.show_master("lb2");
    assert!(
        show.contains("stopped (priority 0 advertisement)"),
        "{show}"
    );

    // lb2's notify script saw each of its transitions, in order.
    let expected = [
        "INSTANCE VI_1 BACKUP 100",
        "INSTANCE VI_1 MASTER 100",
        "INSTANCE VI_1 BACKUP 100",
        "INSTANCE VI_1 MASTER 100",
    ];
    wait_for("the notify script's last call", LIMIT, || {
        std::fs::read_to_string(&notified).is_ok_and(|t| t.lines().count() >= expected.len())
    });
    let calls = std::fs::read_to_string(&notified).unwrap();
    assert_eq!(calls.lines().collect::<Vec<_>>(), expected, "{calls}");
}

/// `splicer -c` on the shipped example, and on a keepalived habit VRRPv3
/// does not have (no root needed).
/// A master that gave up root (`user nobody`, `chroot`) still claims the
/// VIP, runs its notify script (its privileged parent does, outside the
/// jail, with the environment `setenv` made), and removes the VIP when it stops: its serving process keeps
/// CAP_NET_ADMIN and CAP_NET_RAW and nothing else.
#[test]
fn a_jailed_master_holds_and_hands_over_the_vip() {
    let test = "a_jailed_master_holds_and_hands_over_the_vip";
    if !can_run(test) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let pair = Pair::new();
    let jail = scratch_dir("vrrp-jail");
    std::fs::set_permissions(&jail, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The script sees the environment `setenv` gave the process.
    let notified = pair.dir.join("notified");
    let script = pair.dir.join("site.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@ site=$SITE\" >> {}\n",
            notified.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut lb1 = pair.start_with(
        "lb1",
        &format!(
            "    user nobody\n    group nogroup\n    chroot {}\n    setenv SITE east\n",
            jail.display()
        ),
        &format!("    priority 150\n    notify {}\n", script.display()),
    );
    let _lb2 = pair.start("lb2", "    priority 100\n");
    pair.wait_answer("lb1", LIMIT);
    let show = pair.show_master("lb1");
    assert!(show.contains("vips_held: yes\n"), "{show}");
    let serving =
        crate::privileges::serving(lb1.pid(), 65534).expect("a serving process as nobody");
    assert_ne!(serving, lb1.pid());
    let caps = crate::privileges::status(serving, "CapEff").unwrap();
    assert_eq!(
        caps, "0000000000003000",
        "CAP_NET_ADMIN and CAP_NET_RAW only"
    );
    wait_for("the notify script's MASTER call", LIMIT, || {
        std::fs::read_to_string(&notified).is_ok_and(|t| t.contains("INSTANCE VI_1 MASTER 150"))
    });
    let calls = std::fs::read_to_string(&notified).unwrap();
    assert!(
        calls.contains("INSTANCE VI_1 MASTER 150 site=east"),
        "{calls}"
    );

    lb1.signal("TERM");
    let took = pair.wait_answer("lb2", FAILOVER_LIMIT);
    println!("{test}: hand-over on TERM: {took:?}");
    lb1.wait_exit(LIMIT);
    assert!(
        !pair.lan.has_addr("lb1", VIP),
        "the jailed master left the VIP behind"
    );
}

#[test]
fn check_mode_reads_vrrp_sections() {
    let root = env!("CARGO_MANIFEST_DIR");
    // conf/foobar.cfg's certificates, where its crt-base points.
    let Some(tls) = foobar::tls_dir("check_mode_reads_vrrp_sections") else {
        return;
    };
    let run = |files: &[&str]| {
        let mut cmd = std::process::Command::new(splicer_bin());
        cmd.env(foobar::TLS_DIR_VAR, tls).arg("-c");
        for f in files {
            cmd.arg("-f").arg(f);
        }
        cmd.output().unwrap()
    };
    let out = run(&[
        &format!("{root}/conf/foobar.cfg"),
        &format!("{root}/conf/vrrp.cfg"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("Configuration file is valid"), "{stdout}");
    let dir = scratch_dir("vrrp-check");
    let bad = dir.join("bad.cfg");
    std::fs::write(
        &bad,
        "listen web\n    bind :8080\n    server s 127.0.0.1:9000\n\
         vrrp VI_1\n    interface eth0\n    virtual_router_id 51\n\
         \x20   virtual_ipaddress 198.51.100.100/24\n    authentication\n",
    )
    .unwrap();
    let out = run(&[&bad.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "{}:8: vrrp 'VI_1': 'authentication' does not exist in VRRPv3",
            bad.display()
        )),
        "{stderr}"
    );
}

#[test]
fn multicast_pair_fails_over_on_kill_and_on_sigterm() {
    failover("multicast_pair", ("", ""), "TERM");
}

#[test]
fn unicast_pair_fails_over_on_kill_and_on_soft_stop() {
    let peer = |ip: &str| format!("    unicast_peer {ip}\n");
    failover("unicast_pair", (&peer(LB2_IP), &peer(LB1_IP)), "USR1");
}

#[test]
fn fault_when_the_tracked_backend_dies_or_the_cable_is_pulled() {
    if !can_run("fault") {
        return;
    }
    let mut pair = Pair::new();
    let lb1 = pair.start("lb1", "    priority 150\n    track_backend web\n");
    let _lb2 = pair.start("lb2", "    priority 100\n");
    pair.wait_answer("lb1", LIMIT);

    // A reload (SIGHUP) changes nothing for VRRP: lb1 stays master well
    // past the watchdog's 2 s (the workers' heartbeats carry over), and
    // the tracked backend is then followed in the new configuration.
    let before = pair.show_master("lb1");
    lb1.signal("HUP");
    lb1.wait_log(&["configuration reloaded"], LIMIT);
    let heard = |show: &str| -> u64 {
        let adverts = field(show, "adverts");
        let received = adverts.split(", ").nth(1).and_then(|r| r.split(' ').next());
        received.and_then(|n| n.parse().ok()).expect(show)
    };
    let start = heard(&pair.show("lb2"));
    wait_for("lb2 to hear 30 more adverts from lb1", LIMIT, || {
        heard(&pair.show("lb2")) >= start + 30
    });
    let after = pair.show("lb1");
    assert_eq!(field(&after, "state"), "MASTER", "{after}");
    assert_eq!(
        field(&before, "transitions"),
        field(&after, "transitions"),
        "{after}"
    );

    // lb1's only server dies: FAULT, priority 0, lb2 takes over at once.
    let addr = pair.backend("lb1");
    pair.backends.remove(0);
    let took = pair.wait_answer("lb2", FAILOVER_LIMIT + Duration::from_secs(1));
    println!("fault: failover when the tracked backend died: {took:?}");
    let show = pair.show("lb1");
    assert!(show.contains("state: FAULT\n"), "{show}");
    assert!(
        show.contains("fault: backend web has no usable server\n"),
        "{show}"
    );
    assert!(!pair.lan.has_addr("lb1", VIP));

    // The server comes back: lb1 leaves FAULT and preempts.
    let ns = pair.lan.ns("lb1");
    pair.backends.insert(
        0,
        in_netns(&ns, || {
            Backend::spawn_on(addr, |mut s| {
                let _ = s.write_all(b"lb1\n");
            })
        }),
    );
    let took = pair.wait_answer("lb1", LIMIT);
    println!("fault: lb1 back {took:?} after its server");

    // The cable: no carrier on lb1's eth0. lb1 goes to FAULT and drops the
    // VIP; lb2 no longer hears lb1 and takes over.
    pair.lan.set_cable("lb1", false);
    let took = pair.wait_answer("lb2", FAILOVER_LIMIT);
    println!("fault: failover when lb1's cable was pulled: {took:?}");
    wait_for("lb1 in FAULT", LIMIT, || {
        pair.show("lb1")
            .contains("fault: interface eth0 has no carrier\n")
    });
    assert!(!pair.lan.has_addr("lb1", VIP));
    pair.lan.set_cable("lb1", true);
    pair.wait_answer("lb1", LIMIT);
    let show = pair.show_master("lb1");
    assert!(show.contains("fault: -\n"), "{show}");
}
