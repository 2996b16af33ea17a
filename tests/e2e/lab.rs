//! The www.foobar.com lab (scripts/lab) as a user runs it: `up` builds the
//! hosts in network namespaces, the client finds www.foobar.com through the
//! lab's name server (dnsmasq on the dns host) and gets pages and database
//! rows through the VIP, over HTTPS too, where the load balancer routes by
//! the TLS name (SNI) and leaves TLS to the web servers; the load balancers
//! find the web servers through DNS too (server-template), `down` leaves
//! nothing behind. And conf/foobar.cfg, the file both lab load balancers
//! run, stays valid for splicer and HAProxy. (The run-time blocklist is
//! the drill `scripts/drill lab-blocklist`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::api::{ask, stat_field};
use crate::common::{haproxy, netns, require_tools, scratch_dir, splicer_bin, wait_for};

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

#[test]
fn foobar_cfg_is_valid_for_splicer_and_haproxy() {
    let cfg = repo().join("conf/foobar.cfg");
    // From the repository's root, as the lab starts the load balancers:
    // the blocklist's path (conf/blocklist.lst) is relative to it.
    let out = Command::new(splicer_bin())
        .current_dir(repo())
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "splicer -c:\n{}", text(&out));
    assert!(text(&out).contains("Configuration file is valid"));
    let Some(tools) = require_tools("foobar_cfg_is_valid_for_splicer_and_haproxy", &["haproxy"])
    else {
        return;
    };
    let out = Command::new(&tools[0])
        .current_dir(repo())
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "haproxy -c:\n{}", text(&out));
}

/// One lab, its own namespace prefix and state directory; `down` on drop,
/// also after a failed assertion. Its load balancers run splicer, or
/// HAProxy 2.6 with keepalived under `SPLICER_TEST_BIN=haproxy`.
struct Lab {
    name: String,
    dir: PathBuf,
}

impl Lab {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(repo().join("scripts/lab"))
            .args(args)
            .env("LAB_NAME", &self.name)
            .env("LAB_DIR", &self.dir)
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

    /// `openssl s_client` from the client to VIP:443, asking for `sni`
    /// (none: no SNI at all): its output, the server's certificate in it.
    fn tls_hello(&self, sni: Option<&str>) -> String {
        let ca = self.dir.join("tls/ca.crt");
        let mut args = vec![
            "exec",
            "client",
            "openssl",
            "s_client",
            "-connect",
            "198.51.100.100:443",
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_return_error",
        ];
        match sni {
            Some(name) => args.extend(["-servername", name, "-verify_hostname", name]),
            None => args.push("-noservername"),
        }
        self.ok(&args)
    }

    /// The `stot` (sessions so far) of backend `be` on lb1.
    fn backend_sessions(&self, be: &str) -> u64 {
        let csv = ask(&self.dir.join("lb1").join("admin.sock"), "show stat");
        stat_field(&csv, be, "BACKEND", "stot")
            .parse()
            .unwrap_or_else(|e| panic!("{be} stot: {e}\n{csv}"))
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
    let tools = [
        "nginx",
        "mariadbd",
        "mariadb-install-db",
        "mariadb",
        "curl",
        "dnsmasq",
        "openssl",
    ];
    if require_tools(test, &tools).is_none() {
        return;
    }
    let lab = Lab {
        name: format!("fbt{}", std::process::id()),
        dir: scratch_dir("lab").join("state"),
    };
    let started = Instant::now();
    let up = lab.ok(&["up"]);
    eprintln!("scripts/lab up took {:?}:\n{up}", started.elapsed());
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

    // HTTPS through the VIP, the name the client asks for picking the
    // backend on lb1: www.foobar.com to the web servers' :443,
    // static.foobar.com to their :8443, each Nginx with its one site and
    // certificate. The page says which site answered, curl checks the
    // certificate against the name (a wrong backend fails there), and
    // show stat says which backend took the session.
    let ca = lab.dir.join("tls/ca.crt");
    for (name, backend) in [
        ("www.foobar.com", "www_tls"),
        ("static.foobar.com", "static_tls"),
    ] {
        let before = lab.backend_sessions(backend);
        let url = format!("https://{name}/");
        let page = lab.ok(&[
            "exec",
            "client",
            "curl",
            "-fsS",
            "--max-time",
            "2",
            "--cacert",
            ca.to_str().unwrap(),
            &url,
        ]);
        assert!(page.contains(&format!("<h1>{name}</h1>")), "{url}:\n{page}");
        assert!(page.contains("served by web"), "{url}:\n{page}");
        assert_eq!(
            lab.backend_sessions(backend),
            before + 1,
            "{url}: {backend}"
        );

        // Passed through, not terminated: the certificate the client got is
        // the web servers' own file, byte for byte (the load balancers have
        // no key; they copy the bytes both ways).
        let hello = lab.tls_hello(Some(name));
        let served = pem_certificate(&hello).unwrap_or_else(|| panic!("{name}: {hello}"));
        let file = std::fs::read_to_string(lab.dir.join(format!("tls/{name}.crt"))).unwrap();
        assert_eq!(served.trim(), file.trim(), "{name}:\n{hello}");
        assert!(hello.contains("Verify return code: 0 (ok)"), "{hello}");
    }
    // A client that names nothing gets the default backend, www.
    let before = lab.backend_sessions("www_tls");
    let hello = lab.tls_hello(None);
    assert!(
        hello.contains("subject=O = www.foobar.com lab, CN = www.foobar.com"),
        "{hello}"
    );
    assert_eq!(
        lab.backend_sessions("www_tls"),
        before + 1,
        "no SNI: www_tls"
    );

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

/// The first PEM certificate in `text` (what `openssl s_client` prints).
fn pem_certificate(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = "-----END CERTIFICATE-----";
    let len = text[start..].find(end)? + end.len();
    Some(&text[start..start + len])
}
