//! The www.foobar.com lab (scripts/lab) as a user runs it: `up` builds the
//! hosts in network namespaces, the client finds www.foobar.com through the
//! lab's name server (dnsmasq on the dns host) and gets pages and database
//! rows through the VIP, over HTTPS too: TLS ends on the load balancer, with
//! its certificate for the name asked (SNI), and goes on in plain HTTP or,
//! re-encrypted, to web servers whose certificates it checks (check-ssl);
//! HTTPS survives the loss of lb1. The load balancers find the web servers
//! through DNS too (server-template), `down` leaves nothing behind. And
//! conf/foobar.cfg, the file both lab load balancers run, stays valid for
//! splicer and HAProxy. The monitoring host's Prometheus scrapes every
//! exporter of the lab and both load balancers' /metrics, with no alert
//! firing, and its rules (conf/monitoring/alerts.yml) pass promtool's
//! checks and unit tests. (The run-time blocklist is the drill
//! `scripts/drill lab-blocklist`; HTTPS's longest gap at a failover,
//! `scripts/drill lb-kill`; each alert fired for real, `scripts/drill
//! alerts`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::api::{ask, stat_field};
use crate::common::{foobar, haproxy, netns, require_tools, scratch_dir, splicer_bin, wait_for};

const VIP: &str = "198.51.100.100";
const DNS: &str = "198.51.100.53";
/// The web hosts, what web.foobar.com's A records hold.
const WEB: [&str; 3] = ["198.51.100.21", "198.51.100.22", "198.51.100.23"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What `scripts/lab up` runs on its hosts (the last six: the monitoring,
/// mon's and every host's exporters).
const LAB_TOOLS: [&str; 13] = [
    "nginx",
    "mariadbd",
    "mariadb-install-db",
    "mariadb",
    "curl",
    "dnsmasq",
    "openssl",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-nginx-exporter",
    "prometheus-mysqld-exporter",
    "prometheus-blackbox-exporter",
];

/// The monitoring host's Prometheus and Alertmanager, and what Prometheus
/// scrapes: 2 load balancers' /metrics, 11 node exporters (every host), 3 nginx and 2
/// mysqld exporters, 3 blackbox probes, Prometheus and Alertmanager.
const PROMETHEUS: &str = "http://198.51.100.40:9090";
const ALERTMANAGER: &str = "http://198.51.100.40:9093";
const MON_TARGETS: usize = 2 + 11 + 3 + 2 + 3 + 2;

/// The lab with its monitoring host: Prometheus on mon scrapes every host's
/// node exporter, the web servers' nginx and the databases' mysqld
/// exporters, both load balancers' /metrics on their lab address (:8405;
/// the stats page stays on their 127.0.0.1:8404) and probes the VIP's
/// HTTPS names, all up, with no alert. Then a failover for real: lb1's
/// cable pulled, VRRPBackupHoldsVIP reaches Alertmanager and `status`
/// shows it; plugged in again, it goes. (Every alert: `scripts/drill
/// alerts`.)
#[test]
fn lab_monitoring_scrapes_every_host_and_reports_a_failover() {
    let test = "lab_monitoring_scrapes_every_host_and_reports_a_failover";
    if !netns::can_run(test) {
        return;
    }
    if require_tools(test, &LAB_TOOLS).is_none() {
        return;
    }
    let (lab, up) = Lab::up("fbm", "lab-mon", true);
    assert!(
        up.contains(&format!(
            "mon: Prometheus {PROMETHEUS} ({MON_TARGETS} targets"
        )),
        "{up}"
    );
    assert_eq!(lab.namespaces().len(), 12, "{:?}", lab.namespaces());

    let helper = repo().join("scripts/lab-helper.py");
    let helper = helper.to_str().unwrap();
    let want = MON_TARGETS.to_string();
    lab.ok(&[
        "exec",
        "mon",
        "python3",
        helper,
        "mon-ready",
        PROMETHEUS,
        &want,
        "30",
    ]);
    let status = lab.ok(&["status"]);
    assert!(
        status.contains(&format!(
            "mon: Prometheus {PROMETHEUS}: all {MON_TARGETS} targets up"
        )),
        "{status}"
    );
    let alerts = |status: &str| -> String {
        status
            .split(&format!("alerts (Alertmanager on mon, {ALERTMANAGER}):\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no alerts in the status:\n{status}"))
            .to_string()
    };
    assert_eq!(alerts(&status).trim(), "none firing", "{status}");

    // Each load balancer's metrics on its own address, from mon: HAProxy's
    // names, and splicer's own (not HAProxy's, SPLICER_TEST_BIN=haproxy);
    // nothing else there (no stats page).
    for (lb, vrrp) in [("198.51.100.11", "MASTER"), ("198.51.100.12", "BACKUP")] {
        let url = format!("http://{lb}:8405/metrics");
        let m = lab.ok(&["exec", "mon", "curl", "-fsS", "--max-time", "2", &url]);
        assert!(
            m.contains("haproxy_frontend_current_sessions{proxy=\"web\"}"),
            "{url}"
        );
        if !haproxy::enabled() {
            assert!(m.contains("splicer_mysql_server_role{"), "{url}");
            // The VRRP state as the load balancer itself sees it.
            let state = format!("splicer_vrrp_state{{vrrp=\"VI_1\",state=\"{vrrp}\"}} 1\n");
            assert!(m.contains(&state), "{url}: no {state:?}");
        }
        let stats = format!("http://{lb}:8405/stats");
        let out = lab.run(&["exec", "mon", "curl", "-fsS", "--max-time", "2", &stats]);
        assert!(!out.status.success(), "{stats}:\n{}", text(&out));
    }

    // A VRRP failover: lb2, the backup, takes the VIP; the alert reaches
    // Alertmanager, 'status' lists it; lb1 back, it goes.
    // The helper on mon waits (20 s at most) until Alertmanager holds the
    // alert (firing) or no longer does (gone).
    let wait_alert = |what: &[&str]| {
        let mut args = vec![
            "exec",
            "mon",
            "python3",
            helper,
            "wait-alert",
            ALERTMANAGER,
            "20",
        ];
        args.extend(what);
        lab.run(&args)
    };
    lab.ok(&["link", "lb1", "down"]);
    let fired = wait_alert(&["firing", "VRRPBackupHoldsVIP", "instance=lb2"]);
    let status = lab.ok(&["status"]);
    lab.ok(&["link", "lb1", "up"]);
    assert!(fired.status.success(), "{}\n{status}", text(&fired));
    assert!(
        alerts(&status).contains(
            "VRRPBackupHoldsVIP   VRRP master changed: lb2 (the backup) holds the VIP (since "
        ),
        "{status}"
    );
    let gone = wait_alert(&["gone", "VRRPBackupHoldsVIP"]);
    assert!(gone.status.success(), "{}", text(&gone));

    let down = lab.ok(&["down"]);
    assert!(down.contains("down (12 namespaces"), "{down}");
    assert!(lab.namespaces().is_empty(), "left: {:?}", lab.namespaces());
    assert!(!lab.dir.exists(), "{} is still there", lab.dir.display());
}

#[test]
fn monitoring_rules_check_and_pass_their_unit_tests() {
    let test = "monitoring_rules_check_and_pass_their_unit_tests";
    let Some(tools) = require_tools(test, &["promtool"]) else {
        return;
    };
    let dir = repo().join("conf/monitoring");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new(&tools[0])
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}",
            args.join(" "),
            text(&out)
        );
        assert!(text(&out).contains("SUCCESS"), "{}", text(&out));
    }
}

#[test]
fn foobar_cfg_is_valid_for_splicer_and_haproxy() {
    let test = "foobar_cfg_is_valid_for_splicer_and_haproxy";
    let cfg = repo().join("conf/foobar.cfg");
    // Its crt and ca-file lines name files that must exist: throwaway
    // ones, made as the lab makes its own, where FOOBAR_TLS_DIR points.
    let Some(tls) = foobar::tls_dir(test) else {
        return;
    };
    // From the repository's root, as the lab starts the load balancers:
    // the blocklist's path (conf/blocklist.lst) is relative to it.
    let out = Command::new(splicer_bin())
        .current_dir(repo())
        .env(foobar::TLS_DIR_VAR, tls)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "splicer -c:\n{}", text(&out));
    assert!(text(&out).contains("Configuration file is valid"));
    let Some(tools) = require_tools(test, &["haproxy"]) else {
        return;
    };
    let out = Command::new(&tools[0])
        .current_dir(repo())
        .env(foobar::TLS_DIR_VAR, tls)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "haproxy -c:\n{}", text(&out));
}

/// One lab, its own namespace prefix and state directory; `down` on drop,
/// also after a failed assertion. Its load balancers run splicer, or
/// HAProxy 2.6 with keepalived under `SPLICER_TEST_BIN=haproxy`. `mon`:
/// with the monitoring host and the exporters (LAB_MON).
struct Lab {
    name: String,
    dir: PathBuf,
    mon: bool,
}

impl Lab {
    /// A lab of its own (namespace prefix `prefix` and the test process's
    /// id, state under a scratch directory `tag`), brought up; with what
    /// `up` printed.
    fn up(prefix: &str, tag: &str, mon: bool) -> (Lab, String) {
        let lab = Lab {
            name: format!("{prefix}{}", std::process::id()),
            dir: scratch_dir(tag).join("state"),
            mon,
        };
        let started = Instant::now();
        let up = lab.ok(&["up"]);
        eprintln!("scripts/lab up took {:?}:\n{up}", started.elapsed());
        (lab, up)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(repo().join("scripts/lab"))
            .args(args)
            .env("LAB_NAME", &self.name)
            .env("LAB_DIR", &self.dir)
            .env("LAB_MON", if self.mon { "yes" } else { "no" })
            .env(
                "LAB_LB",
                if haproxy::enabled() {
                    "keepalived-haproxy"
                } else {
                    "splicer"
                },
            )
            .env("SPLICER_BIN", splicer_bin())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/lab")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "scripts/lab {}:\n{}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `mariadb` on the client host, through the VIP, as the application.
    fn sql(&self, port: &str, sql: &str) -> Output {
        self.run(&[
            "exec",
            "client",
            "mariadb",
            "--no-defaults",
            "-h",
            VIP,
            "-P",
            port,
            "-ufoobar",
            "-pfoobar",
            "-N",
            "-B",
            "foobar",
            "-e",
            sql,
        ])
    }

    /// One query to the lab's name server from the client, by
    /// scripts/lab-helper.py: its rcode line and one line per record.
    fn dns(&self, name: &str, qtype: &str) -> String {
        let helper = repo().join("scripts/lab-helper.py");
        let helper = helper.to_str().unwrap();
        self.ok(&["exec", "client", "python3", helper, "dns", DNS, name, qtype])
    }

    /// `openssl s_client` from the client to VIP:`port`, asking for `sni`
    /// (none: no SNI at all) and offering h2 and HTTP/1.1 (ALPN): its
    /// output, the server's certificate in it.
    fn tls_hello(&self, port: u16, sni: Option<&str>) -> String {
        let ca = self.dir.join("tls/ca.crt");
        let connect = format!("{VIP}:{port}");
        let mut args = vec![
            "exec",
            "client",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_return_error",
            "-alpn",
            "h2,http/1.1",
        ];
        match sni {
            Some(name) => args.extend(["-servername", name, "-verify_hostname", name]),
            None => args.push("-noservername"),
        }
        self.ok(&args)
    }

    /// The `stot` (sessions so far) of backend `be` on lb1.
    fn backend_sessions(&self, be: &str) -> u64 {
        self.sessions("lb1", be, "BACKEND")
    }

    /// The `stot` of `proxy`'s row `name` (FRONTEND, BACKEND, a server) on `lb`.
    fn sessions(&self, lb: &str, proxy: &str, name: &str) -> u64 {
        let csv = ask(&self.dir.join(lb).join("admin.sock"), "show stat");
        stat_field(&csv, proxy, name, "stot")
            .parse()
            .unwrap_or_else(|e| panic!("{lb} {proxy}/{name} stot: {e}\n{csv}"))
    }

    /// A page over HTTPS from the client, trusting the lab CA only: curl
    /// checks the certificate's chain and name.
    fn https_get(&self, url: &str) -> Output {
        let ca = self.dir.join("tls/ca.crt");
        self.run(&[
            "exec",
            "client",
            "curl",
            "-fsS",
            "--max-time",
            "2",
            "--cacert",
            ca.to_str().unwrap(),
            url,
        ])
    }

    fn namespaces(&self) -> Vec<String> {
        let list = netns::ip(&["netns", "list"]);
        list.lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&format!("{}-", self.name)))
            .map(String::from)
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

#[test]
fn lab_up_serves_through_the_vip_and_down_removes_everything() {
    let test = "lab_up_serves_through_the_vip_and_down_removes_everything";
    if !netns::can_run(test) {
        return;
    }
    let tools = LAB_TOOLS;
    if require_tools(test, &tools).is_none() {
        return;
    }
    // Without the monitoring host: its blackbox exporter's probes of the
    // HTTPS names would count in the sessions this test counts (one
    // request, one session more). lab_monitoring_... tests it.
    let (lab, up) = Lab::up("fbt", "lab", false);
    assert!(up.contains(&format!("VIP {VIP} held by lb1")), "{up}");
    assert_eq!(lab.namespaces().len(), 11, "{:?}", lab.namespaces());

    // Names: the client's resolver (its resolv.conf, mounted by `ip netns
    // exec`) asks dnsmasq on the dns host; www is the VIP.
    let hosts = lab.ok(&["exec", "client", "getent", "hosts", "www.foobar.com"]);
    assert_eq!(
        hosts.split_whitespace().collect::<Vec<_>>(),
        [VIP, "www.foobar.com"],
        "{hosts}"
    );
    let short = lab.ok(&["exec", "client", "getent", "ahostsv4", "web2"]);
    assert!(short.starts_with(WEB[1]), "search foobar.com: {short}");
    // Straight from dnsmasq: web.foobar.com's three A records (what the
    // load balancers ask), the SRV record, NXDOMAIN for a name it lacks.
    let a = lab.dns("web.foobar.com", "A");
    let mut addrs: Vec<&str> = a
        .lines()
        .filter_map(|l| l.strip_prefix("web.foobar.com A "))
        .collect();
    addrs.sort();
    assert!(a.starts_with("rcode NOERROR"), "{a}");
    assert_eq!(addrs, WEB, "{a}");
    let srv = lab.dns("_http._tcp.foobar.com", "SRV");
    let mut targets: Vec<&str> = srv
        .lines()
        .filter_map(|l| l.strip_prefix("_http._tcp.foobar.com SRV 0 100 80 "))
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["web1.foobar.com", "web2.foobar.com", "web3.foobar.com"],
        "{srv}"
    );
    assert!(
        lab.dns("nope.foobar.com", "A")
            .starts_with("rcode NXDOMAIN"),
        "a name dnsmasq lacks"
    );

    // Both load balancers filled server-template web 3 web.foobar.com from
    // those records: web1..web3, one web host each, UP.
    for lb in ["lb1", "lb2"] {
        let csv = ask(&lab.dir.join(lb).join("admin.sock"), "show stat");
        let mut held = Vec::new();
        for sv in ["web1", "web2", "web3"] {
            assert_eq!(
                stat_field(&csv, "web", sv, "status"),
                "UP",
                "{lb} {sv}:\n{csv}"
            );
            held.push(stat_field(&csv, "web", sv, "addr"));
        }
        held.sort();
        let want: Vec<String> = WEB.iter().map(|a| format!("{a}:80")).collect();
        assert_eq!(held, want, "{lb}:\n{csv}");
        assert!(
            !csv.lines().any(|l| l.starts_with("web,web4,")),
            "{lb}: 3 servers\n{csv}"
        );
    }

    // The web tier by name, through the VIP: every web server answers in
    // turn.
    let mut served = BTreeSet::new();
    for _ in 0..9 {
        let page = lab.ok(&[
            "exec",
            "client",
            "curl",
            "-fsS",
            "--max-time",
            "2",
            "http://www.foobar.com/",
        ]);
        let who = page
            .split("served by ")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or_else(|| panic!("the page names no server:\n{page}"));
        served.insert(who.to_string());
    }
    assert_eq!(
        served,
        BTreeSet::from(["web1".into(), "web2".into(), "web3".into()])
    );

    check_https(&lab);

    // Databases: a row written through :3306 (db1) is read through :3307
    // from db2, by replication.
    let w = lab.sql(
        "3306",
        "INSERT INTO visits (note) VALUES ('tests/lab.rs'); SELECT @@server_id",
    );
    assert!(
        w.status.success(),
        "write through {VIP}:3306:\n{}",
        text(&w)
    );
    assert_eq!(String::from_utf8_lossy(&w.stdout).trim(), "1");
    let mut last = String::new();
    wait_for(
        "the row read from db2 through :3307",
        Duration::from_secs(10),
        || {
            let r = lab.sql(
                "3307",
                "SELECT @@server_id, COUNT(*) FROM visits WHERE note = 'tests/lab.rs'",
            );
            last = text(&r);
            r.status.success() && String::from_utf8_lossy(&r.stdout).trim() == "2\t1"
        },
    );

    let status = lab.ok(&["status"]);
    assert!(status.contains(&format!("VIP {VIP}: lb1")), "{status}");
    for url in [
        "https://www.foobar.com/",
        "https://www.foobar.com:8443/",
        "https://static.foobar.com/",
    ] {
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{url} from client: ")))
            .unwrap_or_else(|| panic!("no {url} line:\n{status}"));
        assert!(line.contains(": served by web"), "{line}");
        assert!(line.contains("OU=load balancers"), "{line}");
    }

    // lb1 dies: lb2 takes the VIP over and answers HTTPS with the same
    // certificate (the same files), and the client's checks pass as before.
    let before = lab.sessions("lb2", "https", "FRONTEND");
    lab.ok(&["stop", "lb1", "--kill"]);
    let mut last = String::new();
    wait_for(
        "https://www.foobar.com/ through lb2",
        Duration::from_secs(10),
        || {
            let out = lab.https_get("https://www.foobar.com/");
            last = text(&out);
            out.status.success() && last.contains("served by web")
        },
    );
    assert!(lab.sessions("lb2", "https", "FRONTEND") > before, "lb2");
    let hello = lab.tls_hello(443, Some("www.foobar.com"));
    assert_eq!(
        pem_certificate(&hello).map(str::trim),
        pem_certificate(
            &std::fs::read_to_string(lab.dir.join("tls/lb/www.foobar.com.pem")).unwrap()
        )
        .map(str::trim),
        "lb2's certificate:\n{hello}"
    );

    let down = lab.ok(&["down"]);
    assert!(
        down.contains("down (11 namespaces"),
        "{down}\n(last read: {last})"
    );
    assert!(lab.namespaces().is_empty(), "left: {:?}", lab.namespaces());
    assert!(!lab.dir.exists(), "{} is still there", lab.dir.display());
    for h in ["client", "dns", "lb1", "web1"] {
        let f = Path::new("/etc/netns")
            .join(format!("{}-{h}", lab.name))
            .join("resolv.conf");
        assert!(!f.exists(), "{} is still there", f.display());
    }
    // Twice is fine.
    lab.ok(&["down"]);
}

/// HTTPS through the VIP (lb1). TLS ends there, with the load balancers'
/// own certificate for the name the client asks for (not the web servers'),
/// ALPN http/1.1 only; then www.foobar.com:443 goes to backend web in plain
/// HTTP, www.foobar.com:8443 to web_tls and static.foobar.com to
/// static_tls, which speak TLS again to Nginx's :443 and :8443 and check
/// their certificates, health checks included: a server moved to the port
/// of the other name's certificate goes DOWN.
fn check_https(lab: &Lab) {
    for (url, site, backend) in [
        ("https://www.foobar.com/", "www.foobar.com", "web"),
        ("https://www.foobar.com:8443/", "www.foobar.com", "web_tls"),
        (
            "https://static.foobar.com/",
            "static.foobar.com",
            "static_tls",
        ),
    ] {
        let before = lab.backend_sessions(backend);
        let out = lab.https_get(url);
        let page = text(&out);
        assert!(out.status.success(), "{url}:\n{page}");
        assert!(page.contains(&format!("<h1>{site}</h1>")), "{url}:\n{page}");
        assert!(page.contains("served by web"), "{url}:\n{page}");
        assert_eq!(
            lab.backend_sessions(backend),
            before + 1,
            "{url}: {backend}"
        );
    }
    // The re-encrypting backends' servers are UP by checks over TLS. The
    // first checks are spread over the interval, so one may not have run
    // yet (CI once read "UP 1/3", INI): wait for each to have run once.
    let sock = lab.dir.join("lb1").join("admin.sock");
    let mut csv = String::new();
    wait_for(
        "every TLS check's first result",
        Duration::from_secs(10),
        || {
            csv = ask(&sock, "show stat");
            ["web_tls", "static_tls"].iter().all(|be| {
                ["web1", "web2", "web3"]
                    .iter()
                    .all(|sv| stat_field(&csv, be, sv, "check_status") != "INI")
            })
        },
    );
    for be in ["web_tls", "static_tls"] {
        for sv in ["web1", "web2", "web3"] {
            assert_eq!(
                stat_field(&csv, be, sv, "status"),
                "UP",
                "{be}/{sv}:\n{csv}"
            );
            assert_eq!(
                stat_field(&csv, be, sv, "check_status"),
                "L7OK",
                "{be}/{sv}:\n{csv}"
            );
        }
    }

    // The certificate the client gets is the load balancers' file, for
    // the name it asked (the first one when it names none); subject
    // www.foobar.com, which curl and s_client checked against the lab CA.
    for (port, sni, file) in [
        (443, Some("www.foobar.com"), "www.foobar.com"),
        (443, Some("static.foobar.com"), "static.foobar.com"),
        (443, None, "www.foobar.com"),
        (8443, Some("www.foobar.com"), "www.foobar.com"),
    ] {
        let hello = lab.tls_hello(port, sni);
        let served = pem_certificate(&hello).unwrap_or_else(|| panic!("{port} {sni:?}: {hello}"));
        let pem = std::fs::read_to_string(lab.dir.join(format!("tls/lb/{file}.pem"))).unwrap();
        assert_eq!(
            Some(served.trim()),
            pem_certificate(&pem).map(str::trim),
            "{port} {sni:?}:\n{hello}"
        );
        assert!(
            hello.contains(&format!(
                "subject=O = www.foobar.com lab, OU = load balancers, CN = {file}"
            )),
            "{hello}"
        );
        assert!(hello.contains("Verify return code: 0 (ok)"), "{hello}");
        assert!(hello.contains("ALPN protocol: http/1.1"), "{hello}");
    }
    let san = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(lab.dir.join("tls/lb/www.foobar.com.pem"))
        .output()
        .unwrap();
    assert!(
        text(&san).contains("DNS:www.foobar.com, DNS:foobar.com"),
        "{}",
        text(&san)
    );

    // verify required, in the checks too: web_tls's server that holds web1's
    // address is moved to web1's :8443, which shows static.foobar.com's
    // certificate for the SNI www.foobar.com, and goes DOWN; the others
    // serve meanwhile; back to :443, it comes UP again.
    let sock = lab.dir.join("lb1").join("admin.sock");
    let csv = ask(&sock, "show stat");
    let sv = ["web1", "web2", "web3"]
        .into_iter()
        .find(|sv| stat_field(&csv, "web_tls", sv, "addr") == format!("{}:443", WEB[0]))
        .unwrap_or_else(|| panic!("no web_tls server at {}:443:\n{csv}", WEB[0]));
    let status = |lab: &Lab| {
        let csv = ask(&lab.dir.join("lb1").join("admin.sock"), "show stat");
        stat_field(&csv, "web_tls", sv, "status")
    };
    ask(
        &sock,
        &format!("set server web_tls/{sv} addr {} port 8443", WEB[0]),
    );
    wait_for(
        "web_tls's server on a port with the wrong certificate DOWN",
        Duration::from_secs(15),
        || status(lab) == "DOWN",
    );
    for _ in 0..3 {
        let out = lab.https_get("https://www.foobar.com:8443/");
        assert!(out.status.success(), "{}", text(&out));
    }
    ask(
        &sock,
        &format!("set server web_tls/{sv} addr {} port 443", WEB[0]),
    );
    wait_for(
        "web_tls's server UP again on :443",
        Duration::from_secs(15),
        || status(lab) == "UP",
    );
}

/// The first PEM certificate in `text` (what `openssl s_client` prints).
fn pem_certificate(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = "-----END CERTIFICATE-----";
    let len = text[start..].find(end)? + end.len();
    Some(&text[start..start + len])
}

/// The application tier: a PHP page on web1-3 (PHP-FPM behind each
/// Nginx) that writes a visit through VIP:3306 and counts the visits
/// through VIP:3307, as the seeds' application does; db1 and db2 in
/// semi-synchronous replication (AFTER_SYNC), both started read-only
/// (fencing: db1 is made writable at bootstrap only); the cluster
/// monitor's account, which can switch the roles of db1 and db2 and back
/// on its own; when db1 stops, splicer's failover to db2 and db1's return
/// as its replica (with HAProxy: writes refused until a person acts).
#[test]
fn lab_app_page_writes_on_db1_reads_from_db2_semi_synchronously() {
    let test = "lab_app_page_writes_on_db1_reads_from_db2_semi_synchronously";
    if !netns::can_run(test) {
        return;
    }
    let tools = LAB_TOOLS;
    if require_tools(test, &tools).is_none() || !php_fpm_installed(test) {
        return;
    }
    let (lab, up) = Lab::up("fba", "lab-app", true);
    assert!(up.contains("visit.php: web: web"), "{up}");

    // Fencing: both servers start read-only (their my.cnf); `up` made db1
    // writable, as the operator's bootstrap; db2 stays read-only.
    for db in ["db1", "db2"] {
        let cnf = std::fs::read_to_string(lab.dir.join(db).join("my.cnf")).unwrap();
        assert!(cnf.lines().any(|l| l == "read-only = 1"), "{db}:\n{cnf}");
    }
    assert_eq!(lab.root_sql("db1", "SELECT @@read_only"), "0");
    assert_eq!(lab.root_sql("db2", "SELECT @@read_only"), "1");

    // Semi-synchronous replication, enabled on both sides of both servers
    // (either may be the primary after a failover); db1 waits for db2's
    // acknowledgement now.
    for db in ["db1", "db2"] {
        assert_eq!(
            lab.root_sql(
                db,
                "SELECT @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_slave_enabled, \
                 @@rpl_semi_sync_master_wait_point, @@gtid_strict_mode, @@log_slave_updates, \
                 @@sync_binlog, @@slave_net_timeout"
            ),
            "1\t1\tAFTER_SYNC\t1\t1\t1\t2",
            "{db}"
        );
    }
    assert_eq!(lab.status_var("db2", "Rpl_semi_sync_slave_status"), "ON");
    assert_eq!(lab.status_var("db1", "Rpl_semi_sync_master_status"), "ON");
    assert_eq!(lab.status_var("db1", "Rpl_semi_sync_master_clients"), "1");

    // The page through the VIP: each request is one visit more, written
    // on db1 and acknowledged by db2 before the page answers, then read
    // from db2 (the page waits for its own write's GTID there).
    let acked = |lab: &Lab| -> u64 {
        lab.status_var("db1", "Rpl_semi_sync_master_yes_tx")
            .parse()
            .unwrap()
    };
    let acked_before = acked(&lab);
    let mut last: Option<u64> = None;
    for i in 0..6 {
        let https = i == 5;
        let (code, page) = lab.visit(https);
        assert_eq!(code, 200, "{page}");
        let web = field(&page, "web");
        assert!(["web1", "web2", "web3"].contains(&web), "{page}");
        assert_eq!(field(&page, "write"), "db1", "{page}");
        assert_eq!(field(&page, "read"), "db2", "{page}");
        assert!(field(&page, "gtid").starts_with("0-1-"), "{page}");
        assert!(!page.contains("lag:"), "{page}");
        let visits: u64 = field(&page, "visits").parse().unwrap();
        if let Some(prev) = last {
            assert_eq!(visits, prev + 1, "one visit per request:\n{page}");
        }
        last = Some(visits);
    }
    assert!(
        acked(&lab) >= acked_before + 6,
        "every write acknowledged by db2 (Rpl_semi_sync_master_yes_tx)"
    );
    let visits = last.unwrap().to_string();
    wait_for("db2 has every visit", Duration::from_secs(10), || {
        lab.root_sql("db2", "SELECT COUNT(*) FROM foobar.visits") == visits
    });

    // The monitor's account, from each load balancer: it reads the state
    // of both servers ...
    for lb in ["lb1", "lb2"] {
        for (db, addr) in [("db1", DB1), ("db2", DB2)] {
            let out = lab.monitor(
                lb,
                addr,
                "SELECT @@report_host, @@read_only, @@gtid_current_pos <> ''; \
                 SHOW ALL SLAVES STATUS; SHOW BINLOG STATUS; SHOW PROCESSLIST; \
                 SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%_status'",
            );
            assert!(out.starts_with(&format!("{db}\t")), "{lb} -> {db}:\n{out}");
        }
    }
    // ... and switches the roles over and back by itself: fence the
    // primary, wait for the replica to have all of it, promote the
    // replica, make the old primary its replica.
    lab.switch_over(DB1, DB2);
    assert_eq!(lab.root_sql("db2", "SELECT @@read_only"), "0");
    assert_eq!(lab.root_sql("db1", "SELECT @@read_only"), "1");
    wait_for(
        "db1 as a semi-synchronous replica of db2",
        Duration::from_secs(10),
        || {
            lab.status_var("db1", "Rpl_semi_sync_slave_status") == "ON"
                && lab.status_var("db2", "Rpl_semi_sync_master_clients") == "1"
        },
    );
    lab.switch_over(DB2, DB1);
    wait_for(
        "db2 as a semi-synchronous replica of db1 again",
        Duration::from_secs(10),
        || {
            lab.status_var("db2", "Rpl_semi_sync_slave_status") == "ON"
                && lab.status_var("db1", "Rpl_semi_sync_master_status") == "ON"
        },
    );
    // splicer learns of a switch made behind its back at its next round
    // (200 ms): until then a write may still reach db2, now read-only.
    let mut page = String::new();
    wait_for(
        "the page writing on db1 again",
        Duration::from_secs(5),
        || {
            let (code, p) = lab.visit(false);
            page = p;
            code == 200 && field(&page, "write") == "db1"
        },
    );

    if haproxy::enabled() {
        // HAProxy 2.6 (the file's `.else` lines) does not follow roles: a
        // restarted db1 comes back read-only and the page's writes fail
        // (503, the server's error) until the operator makes it writable.
        lab.ok(&["stop", "db1"]);
        lab.ok(&["start", "db1"]);
        assert_eq!(lab.root_sql("db1", "SELECT @@read_only"), "1");
        let mut page = String::new();
        wait_for(
            "the page's write refused by a read-only db1",
            Duration::from_secs(20),
            || {
                let (code, p) = lab.visit(false);
                page = p;
                code == 503 && page.contains("read-only")
            },
        );
        assert!(page.contains("error: 1290 "), "{page}");
        lab.root_sql("db1", "SET GLOBAL read_only = 0");
        wait_for(
            "the page writing on db1 again",
            Duration::from_secs(20),
            || {
                let (code, p) = lab.visit(false);
                code == 200 && field(&p, "write") == "db1"
            },
        );
    } else {
        // splicer (conf/foobar.cfg's mysql-cluster) promotes db2 by
        // itself when db1 stops, and the page writes there. db1 comes back
        // read-only (my.cnf), takes no write by itself, and splicer makes
        // it db2's replica.
        lab.ok(&["stop", "db1"]);
        let mut page = String::new();
        wait_for(
            "the page writing on db2 after splicer's failover",
            Duration::from_secs(20),
            || {
                let (code, p) = lab.visit(false);
                page = p;
                code == 200 && field(&page, "write") == "db2"
            },
        );
        lab.ok(&["start", "db1"]);
        assert_eq!(lab.root_sql("db1", "SELECT @@read_only"), "1");
        wait_for(
            "db1 back as a semi-synchronous replica of db2",
            Duration::from_secs(20),
            || {
                lab.status_var("db1", "Rpl_semi_sync_slave_status") == "ON"
                    && lab.status_var("db2", "Rpl_semi_sync_master_clients") == "1"
            },
        );
        let (code, page) = lab.visit(false);
        assert_eq!(code, 200, "{page}");
        assert_eq!(field(&page, "write"), "db2", "{page}");
    }

    let status = lab.ok(&["status"]);
    assert!(
        status.contains("visit.php from client: web: web") && status.contains("; HTTP 200"),
        "{status}"
    );
}

const DB1: &str = "198.51.100.31";
const DB2: &str = "198.51.100.32";

/// One `key: value` line of the application page.
fn field<'a>(page: &'a str, key: &str) -> &'a str {
    page.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no '{key}:' line in the page:\n{page}"))
}

/// Debian's PHP-FPM, versioned (php-fpm8.2): skipped outside CI when
/// missing, as `require_tools` does.
fn php_fpm_installed(test: &str) -> bool {
    let found = ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        .iter()
        .any(|d| {
            std::fs::read_dir(d).is_ok_and(|mut entries| {
                entries.any(|e| {
                    e.is_ok_and(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_prefix("php-fpm"))
                            .is_some_and(|v| v.contains('.'))
                    })
                })
            })
        });
    if !found {
        assert!(
            !crate::common::in_ci(),
            "{test}: php-fpm is not installed (scripts/test installs it)"
        );
        eprintln!("SKIPPED {test}: php-fpm is not installed");
    }
    found
}

impl Lab {
    /// `sql` as root on HOST's MariaDB (its Unix socket): the output,
    /// trimmed.
    fn root_sql(&self, host: &str, sql: &str) -> String {
        let sock = self.dir.join(host).join("mysqld.sock");
        let out = self.run(&[
            "exec",
            host,
            "mariadb",
            "--no-defaults",
            "-S",
            sock.to_str().unwrap(),
            "-uroot",
            "-N",
            "-B",
            "-e",
            sql,
        ]);
        assert!(out.status.success(), "{host}: {sql}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// One value of HOST's SHOW GLOBAL STATUS.
    fn status_var(&self, host: &str, name: &str) -> String {
        let row = self.root_sql(host, &format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        row.split('\t').nth(1).unwrap_or_default().to_string()
    }

    /// `sql` as the cluster monitor (the lab's DB_MON_USER/DB_MON_PASS),
    /// from the load balancer LB to the database at ADDR.
    fn monitor(&self, lb: &str, addr: &str, sql: &str) -> String {
        let out = self.run(&[
            "exec",
            lb,
            "mariadb",
            "--no-defaults",
            "-h",
            addr,
            "-usplicer",
            "-pfoobar-monitor",
            "-N",
            "-B",
            "-e",
            sql,
        ]);
        assert!(
            out.status.success(),
            "the monitor on {lb} -> {addr}: {sql}:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A switchover by the monitor's account alone, as a failover tool
    /// does it: FROM (the primary) fenced, TO waits for all of FROM's
    /// writes, TO promoted, FROM made TO's replica.
    fn switch_over(&self, from: &str, to: &str) {
        let m = |addr: &str, sql: &str| self.monitor("lb1", addr, sql);
        m(from, "SET GLOBAL read_only = 1");
        let pos = m(from, "SELECT @@gtid_binlog_pos");
        assert_eq!(
            m(to, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")),
            "0",
            "{to} caught up with {from} at {pos}"
        );
        m(to, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0");
        m(
            from,
            &format!(
                "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos; \
                 CHANGE MASTER TO MASTER_HOST='{to}', MASTER_PORT=3306, \
                 MASTER_USER='repl', MASTER_PASSWORD='foobar-repl', \
                 MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, \
                 MASTER_HEARTBEAT_PERIOD=0.5; START SLAVE"
            ),
        );
    }

    /// GET /visit.php from the client through the VIP (HTTP, or HTTPS
    /// to www.foobar.com): the status code and the page.
    fn visit(&self, https: bool) -> (u16, String) {
        let ca = self.dir.join("tls/ca.crt");
        let url = if https {
            "https://www.foobar.com/visit.php"
        } else {
            "http://www.foobar.com/visit.php"
        };
        let out = self.run(&[
            "exec",
            "client",
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            ca.to_str().unwrap(),
            "-w",
            "\n%{http_code}",
            url,
        ]);
        assert!(out.status.success(), "{url}:\n{}", text(&out));
        let all = String::from_utf8_lossy(&out.stdout).into_owned();
        let (page, code) = all.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), page.to_string())
    }
}
