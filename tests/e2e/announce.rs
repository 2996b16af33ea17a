//! `announce` end to end, with a real routing daemon: splicer on lb1 in a
//! network namespace, BIRD 2 beside it announcing the VIP over BGP (a
//! static route via splicer's tun device, `check link yes`), and BIRD on a
//! router namespace putting what it learns into its kernel table. A test
//! asserts what the network sees — whether the router has a route to the
//! VIP — as splicer's health changes: a tracked backend without a usable
//! server, kill -9, a soft stop with `withdraw-delay` (the listener still
//! accepts after the route is gone). Timings are printed; the speed
//! targets belong to the drills (scripts/drill ecmp-*).
//!
//! `announce` is splicer's own section (HAProxy has none): nothing here to
//! run against HAProxy. Needs root (namespaces, tun) and BIRD 2 (`bird`):
//! skipped with a message otherwise, failed under CI.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::netns::{Lan, can_run, in_netns};
use crate::common::*;

const VIP: &str = "198.51.100.100";
const ROUTER_IP: &str = "198.51.100.1";
const LB_IP: &str = "198.51.100.11";
const PORT: u16 = 8080;
/// BGP comes up within a few seconds (connect delay 1 s).
const LIMIT: Duration = Duration::from_secs(20);
/// Generous bound on a withdrawal (a few ms expected).
const WITHDRAW_LIMIT: Duration = Duration::from_secs(2);

struct Bgp {
    lan: Lan,
    dir: PathBuf,
    _backend: Backend,
    backend: SocketAddr,
}

impl Bgp {
    /// The router and lb1, each with BIRD; lb1's backend in its namespace.
    fn new(test: &str) -> Option<Bgp> {
        if !can_run(test) {
            return None;
        }
        let tools = require_tools(test, &["bird"])?;
        let mut lan = Lan::new();
        lan.add_host("router", &format!("{ROUTER_IP}/24"));
        lan.add_host("lb1", &format!("{LB_IP}/24"));
        let backend = in_netns(&lan.ns("lb1"), || Backend::named("lb1"));
        let addr = backend.addr;
        let dir = scratch_dir("announce");
        let mut bgp = Bgp {
            lan,
            dir,
            _backend: backend,
            backend: addr,
        };
        bgp.bird(&tools[0], "router", &router_conf());
        bgp.bird(&tools[0], "lb1", &node_conf());
        Some(bgp)
    }

    fn bird(&mut self, bird: &Path, host: &str, conf: &str) {
        let path = self.dir.join(format!("bird-{host}.conf"));
        std::fs::write(&path, conf).unwrap();
        let ctl = self.dir.join(format!("bird-{host}.ctl"));
        let log = self.dir.join(format!("bird-{host}.log"));
        let args = [
            "-f",
            "-c",
            path.to_str().unwrap(),
            "-s",
            ctl.to_str().unwrap(),
        ];
        self.lan.spawn(host, bird.to_str().unwrap(), &args, &log);
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("lb1.sock")
    }

    /// splicer on lb1 with an `announce` section tracking `web`.
    fn splicer(&self, announce_extra: &str) -> Splicer {
        let config = format!(
            "global\n    stats socket {sock} level admin\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 2s\n    timeout server 2s\n\
             listen web\n    bind :{PORT}\n    server s {backend} check inter 100ms fall 1 rise 1\n\
             announce vip\n    interface splicer-vip\n    track_backend web\n{announce_extra}",
            sock = self.sock().display(),
            backend = self.backend,
        );
        let sp = self.lan.splicer("lb1", &config, &["web"]);
        wait_for("the stats socket", LIMIT, || {
            std::os::unix::net::UnixStream::connect(self.sock()).is_ok()
        });
        sp
    }

    /// Whether the router's kernel routes the VIP now (what BIRD learnt).
    fn routed(&self) -> bool {
        let out = netns::ip(&["-n", &self.lan.ns("router"), "-4", "route", "show", VIP]);
        out.contains(&format!("via {LB_IP}"))
    }

    /// Waits until the router's route to the VIP is `want`; how long it took.
    fn wait_routed(&self, want: bool, limit: Duration) -> Duration {
        let t0 = Instant::now();
        let what = if want { "announce" } else { "withdraw" };
        wait_for(
            &format!("the router to see lb1 {what} the VIP"),
            limit,
            || self.routed() == want,
        );
        t0.elapsed()
    }

    fn device(&self) -> String {
        let out = std::process::Command::new("ip")
            .args([
                "-n",
                &self.lan.ns("lb1"),
                "-o",
                "link",
                "show",
                "splicer-vip",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The node's BIRD: the VIP while splicer's device has its carrier.
fn node_conf() -> String {
    format!(
        "router id {LB_IP};\n\
         protocol device {{ scan time 10; }}\n\
         protocol static vip {{ ipv4; check link yes; route {VIP}/32 via \"splicer-vip\"; }}\n\
         protocol bgp uplink {{\n  local {LB_IP} as 65001; neighbor {ROUTER_IP} as 65000;\n\
         \x20 hold time 3; keepalive time 1; connect delay time 1; connect retry time 1;\n\
         \x20 ipv4 {{ import none; export where proto = \"vip\"; }};\n}}\n"
    )
}

/// The router's BIRD: only the VIP, into the kernel.
fn router_conf() -> String {
    format!(
        "router id {ROUTER_IP};\n\
         protocol device {{ scan time 10; }}\n\
         protocol kernel {{ ipv4 {{ export all; }}; }}\n\
         protocol bgp lb1 {{\n  local {ROUTER_IP} as 65000; neighbor {LB_IP} as 65001;\n\
         \x20 hold time 3; keepalive time 1; connect delay time 1; connect retry time 1;\n\
         \x20 ipv4 {{ import where net = {VIP}/32; export none; }};\n}}\n"
    )
}

fn field(show: &str, key: &str) -> String {
    let prefix = format!("{key}: ");
    show.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in:\n{show}"))
        .to_string()
}

#[test]
fn the_route_follows_the_backends_and_dies_with_the_process() {
    let Some(bgp) = Bgp::new("announce_health") else {
        return;
    };
    let mut sp = bgp.splicer("");
    let took = bgp.wait_routed(true, LIMIT);
    println!("announce: the router routes the VIP via lb1 {took:?} after start");
    let show = api::ask(&bgp.sock(), "show announce");
    assert_eq!(field(&show, "announced"), "yes", "{show}");
    assert_eq!(field(&show, "why"), "healthy", "{show}");

    // The only server of the tracked backend goes to maintenance: no
    // usable server, the route goes.
    api::ask(&bgp.sock(), "set server web/s state maint");
    let took = bgp.wait_routed(false, WITHDRAW_LIMIT);
    println!("announce: withdrawn {took:?} after the backend lost its last server");
    let show = api::ask(&bgp.sock(), "show announce");
    assert_eq!(field(&show, "announced"), "no", "{show}");
    assert_eq!(field(&show, "why"), "backend web has no usable server");
    sp.wait_log(
        &["splicer-vip down: backend web has no usable server"],
        LIMIT,
    );

    api::ask(&bgp.sock(), "set server web/s state ready");
    let took = bgp.wait_routed(true, LIMIT);
    println!("announce: announced again {took:?} after the server came back");

    // kill -9: nothing of splicer runs, the kernel removes the device.
    sp.signal("KILL");
    let took = bgp.wait_routed(false, WITHDRAW_LIMIT);
    println!("announce: withdrawn {took:?} after kill -9");
    sp.wait_exit(LIMIT);
    assert_eq!(bgp.device(), "", "the device outlived the process");

    // A new process takes the same name again.
    let _sp = bgp.splicer("");
    bgp.wait_routed(true, LIMIT);
}

#[test]
fn a_soft_stop_withdraws_first_and_keeps_listening_for_the_delay() {
    let Some(bgp) = Bgp::new("announce_soft_stop") else {
        return;
    };
    let mut sp = bgp.splicer("    withdraw-delay 1500ms\n");
    bgp.wait_routed(true, LIMIT);
    let t0 = Instant::now();
    sp.signal("USR1");
    bgp.wait_routed(false, WITHDRAW_LIMIT);
    let withdrawn = t0.elapsed();
    // The routers have moved away; a connection still in flight to this
    // node is served until the delay ends.
    let lb = SocketAddr::from(([198, 51, 100, 11], PORT));
    let answer = in_netns(&bgp.lan.ns("lb1"), || {
        TcpStream::connect(lb).map(|s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            read_line(&s)
        })
    });
    let served = t0.elapsed();
    assert_eq!(
        answer.expect("connect during withdraw-delay"),
        "lb1",
        "not served during withdraw-delay"
    );
    assert!(
        served < Duration::from_millis(1500),
        "the check took too long to prove anything ({served:?})"
    );
    sp.wait_log(&["listeners stay open 1500ms (withdraw-delay)"], LIMIT);
    sp.wait_exit(LIMIT);
    println!(
        "announce: soft stop: withdrawn {withdrawn:?} after SIGUSR1, served until {served:?}, exited {:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "exited before withdraw-delay"
    );
}

/// A second process cannot take a device that is in use: a clear error.
#[test]
fn a_device_in_use_stops_start_up_with_a_clear_error() {
    if !can_run("announce_busy") {
        return;
    }
    let mut lan = Lan::new();
    lan.add_host("lb1", &format!("{LB_IP}/24"));
    let config = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                  listen web\n    bind 127.0.0.1:0\n    server s 127.0.0.1:1\n\
                  announce vip\n    interface splicer-vip\n";
    let _first = lan.splicer("lb1", config, &["web"]);
    let dir = scratch_dir("announce-busy");
    let path = dir.join("second.cfg");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lan.ns("lb1"), splicer_bin(), "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second splicer started: {err}");
    assert!(
        err.contains("announce vip: cannot open tun device 'splicer-vip'")
            && err.contains("another splicer?"),
        "{err}"
    );
}

fn read_line(s: &TcpStream) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    let _ = std::io::BufReader::new(s).read_line(&mut line);
    line.trim_end().to_string()
}

/// At start the servers are UP before their first check (as HAProxy's):
/// the route waits for a check to prove one. Here the first check takes
/// `timeout check` (a server that never answers the handshake): a node
/// that announced at once would be routed to for that long.
#[test]
fn a_node_waits_for_a_passed_check_before_announcing() {
    let Some(bgp) = Bgp::new("announce_start") else {
        return;
    };
    let (silent, _keep) = in_netns(&bgp.lan.ns("lb1"), unanswered_server);
    let config = format!(
        "global\n    stats socket {sock} level admin\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 2s\n    timeout server 2s\n\
         \x20   timeout check 1500ms\n\
         listen web\n    bind :{PORT}\n    server s {silent} check inter 100ms fall 3 rise 1\n\
         announce vip\n    interface splicer-vip\n    track_backend web\n",
        sock = bgp.sock().display(),
    );
    let sp = bgp.lan.splicer("lb1", &config, &["web"]);
    // While the first check waits, the route stays out.
    sp.wait_log(
        &["splicer-vip down: backend web: no server has passed a health check yet"],
        LIMIT,
    );
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1000) {
        assert!(!bgp.routed(), "routed before any check passed");
        std::thread::sleep(Duration::from_millis(50));
    }
    sp.wait_log(&["is DOWN"], LIMIT);
    let log = sp.log_text();
    assert!(
        !log.contains("splicer-vip up"),
        "announced before the checks:\n{log}"
    );
    assert!(!bgp.routed());
}

/// The example BIRD configs in conf/ are valid for BIRD (`bird -p`).
#[test]
fn the_example_bird_configs_parse() {
    let Some(tools) = require_tools("announce_bird_examples", &["bird"]) else {
        return;
    };
    for f in ["conf/bird-node.conf", "conf/bird-router.conf"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        let out = std::process::Command::new(&tools[0])
            .arg("-p")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
