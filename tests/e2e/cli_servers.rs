//! Servers changed through the runtime API alone, as service-discovery and
//! deployment tools do: `add server`, `del server`, `set server ... health
//! | agent | check-port | agent-send ...`, `enable|disable agent`. The
//! answers are HAProxy 2.6's word for word, and every test but the reload
//! one passes against HAProxy itself (`SPLICER_TEST_BIN=haproxy`).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

fn status(api: &Api, sv: &str) -> String {
    api.stat("fe", sv, "status")
}

/// Every answer of the `set server`, `add server` and `del server` words
/// that does not depend on timing, as HAProxy 2.6.12 gives it.
#[test]
fn set_add_and_del_server_answer_as_haproxy() {
    let (w1, w2, w3, d) = (dead_addr(), dead_addr(), dead_addr(), dead_addr());
    let agent_port = dead_addr().port();
    let api = Api::start(
        "",
        &format!(
            "{}backend st\n    balance static-rr\n    server s1 {d}\n\
             backend src\n    balance source\n    server s1 {d}\n",
            listen(
                "    balance roundrobin",
                &[
                    ("w1", w1, "check inter 10s"),
                    (
                        "w2",
                        w2,
                        &format!("agent-check agent-port {agent_port} agent-inter 10s")
                    ),
                    ("w3", w3, "track w1"),
                ],
            )
        ),
        &["fe"],
    );
    let cases: &[(&str, &str)] = &[
        (
            "set server fe/w1 port 80",
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n",
        ),
        (
            "set server fe/w3 health up",
            "cannot change health on a tracking server.\n\n",
        ),
        (
            "set server fe/w1 health bogus",
            "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n",
        ),
        (
            "set server fe/w1 agent up",
            "agent checks are not enabled on this server.\n\n",
        ),
        (
            "set server fe/w2 agent bogus",
            "'set server <srv> agent' expects 'up' or 'down'.\n\n",
        ),
        (
            "set server fe/w1 agent-addr 127.0.0.1",
            "agent checks are not enabled on this server\n",
        ),
        (
            "set server fe/w2 agent-addr 1.2.3.x",
            "invalid addr '1.2.3.x'\n",
        ),
        (
            "set server fe/w2 agent-addr 127.0.0.1 port 99999",
            "provided port is invalid\n",
        ),
        (
            "set server fe/w2 agent-port",
            "set server <b>/<s> agent-port requires a port.\n\n",
        ),
        (
            "set server fe/w1 agent-send hello",
            "agent checks are not enabled on this server.\n\n",
        ),
        (
            "set server fe/w2 check-addr 127.0.0.1",
            "health checks are not enabled on this server\n",
        ),
        (
            "set server fe/w1 check-addr",
            "set server <b>/<s> check-addr requires an address and optionally a port.\n\n",
        ),
        (
            "set server fe/w1 check-addr 127.0.0.1 port x",
            "provided port is not an integer\n",
        ),
        (
            "set server fe/w1 ssl on",
            "'set server <srv> ssl' cannot be set.  default-server should define ssl settings\n\n",
        ),
        (
            "enable agent fe/w1",
            "Agent was not configured on this server, cannot enable.\n\n",
        ),
        (
            "add server st/x 127.0.0.1:1",
            "Backend must use a dynamic load balancing to support dynamic servers.\n",
        ),
        (
            "add server src/x 127.0.0.1:1",
            "Backend must use a dynamic load balancing to support dynamic servers.\n",
        ),
        (
            "add server fe/x",
            "'server' expects <name> and <addr>[:<port>] as arguments.\n\n",
        ),
        ("add server fe", "Require 'backend/server'.\n"),
        ("add server nope/x 127.0.0.1:1", "No such backend.\n"),
        (
            "add server fe/w1 127.0.0.1:1",
            "Already exists a server with the same name in backend.\n\n",
        ),
        (
            "add server fe/x 127.0.0.1:1 cookie a",
            "'cookie' option is not accepted for dynamic server\n\n",
        ),
        (
            "add server fe/x 127.0.0.1:1 bogus",
            "unknown keyword 'bogus'.\n\n",
        ),
        (
            "del server fe/w1",
            "This server cannot be removed at runtime due to other configuration elements pointing to it.\n",
        ),
        (
            "del server fe/w2",
            "Only servers in maintenance mode can be deleted.\n",
        ),
        ("del server fe/nope", "No such server.\n"),
        ("del server nope/x", "No such backend.\n"),
        ("del server fe", "Require 'backend/server'.\n"),
        (
            "add server fe/w4 127.0.0.1:1 check weight 5",
            "New server registered.\n\n",
        ),
        ("del server fe/w4", "Server deleted.\n"),
    ];
    for (request, answer) in cases {
        assert_eq!(api.ask(request), *answer, "{request}");
    }
    // What was set shows in `show servers state` (HAProxy's columns).
    let state = api.ask("show servers state fe");
    assert!(!state.contains(" w4 "), "deleted:\n{state}");
    assert_eq!(
        api.ask(&format!(
            "set server fe/w2 agent-addr 127.0.0.1 port {}",
            w2.port()
        )),
        "\n"
    );
    assert_eq!(api.ask("set server fe/w1 check-port 8080"), "\n");
    let state = api.ask("show servers state fe");
    let row = |name: &str| -> Vec<String> {
        state
            .lines()
            .find(|l| l.split(' ').nth(3) == Some(name))
            .unwrap_or_else(|| panic!("no {name} in\n{state}"))
            .split(' ')
            .map(String::from)
            .collect()
    };
    // srv_check_port, srv_agent_addr, srv_agent_port.
    assert_eq!(row("w1")[21], "8080", "{state}");
    assert_eq!(row("w2")[23], "127.0.0.1", "{state}");
    assert_eq!(row("w2")[24], w2.port().to_string(), "{state}");
}

/// A client loop through the proxy: each connection reads the server's
/// name; errors and names are kept.
struct Clients {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Result<String, String>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Clients {
    fn start(addr: SocketAddr) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: at most 20,000 connections or 60 s.
            let until = Instant::now() + Duration::from_secs(60);
            for _ in 0..20_000 {
                if s.load(Ordering::Relaxed) || Instant::now() > until {
                    break;
                }
                v.lock().unwrap().push(one(addr));
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Clients {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn stop(mut self) -> Vec<Result<String, String>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn one(addr: SocketAddr) -> Result<String, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    match line.trim() {
        "" => Err("closed without a name".into()),
        name => Ok(name.to_string()),
    }
}

/// The issue's rolling deployment, through the runtime API alone: add
/// web4, wait until its check says UP, drain and delete web1, while a
/// client loop runs; no client sees an error.
#[test]
fn a_rolling_deployment_through_the_api_alone_loses_no_client() {
    let (web1, web2, web3, web4) = (
        Backend::named("web1"),
        Backend::named("web2"),
        Backend::named("web3"),
        Backend::named("web4"),
    );
    let check = "check inter 100ms";
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[
                ("web1", web1.addr, check),
                ("web2", web2.addr, check),
                ("web3", web3.addr, check),
            ],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    wait_for("web1..3 UP", LIMIT, || {
        ["web1", "web2", "web3"]
            .iter()
            .all(|s| status(&api, s) == "UP")
    });
    let clients = Clients::start(fe);
    wait_for("the client loop under way", LIMIT, || clients.count() >= 50);

    let add = format!("add server fe/web4 {} {check}", web4.addr);
    assert_eq!(api.ask(&add), "New server registered.\n\n");
    // Added in maintenance, its check off, as HAProxy does.
    assert_eq!(status(&api, "web4"), "MAINT");
    assert_eq!(api.ask("enable health fe/web4"), "\n");
    assert_eq!(api.ask("set server fe/web4 state ready"), "\n");
    wait_for("web4 UP", LIMIT, || status(&api, "web4") == "UP");
    let served4 = web4.accepted();
    wait_for("web4 taking clients", LIMIT, || {
        web4.accepted() > served4 + 10
    });

    assert_eq!(api.ask("set server fe/web1 state drain"), "\n");
    wait_for("web1 drained", LIMIT, || {
        api.stat("fe", "web1", "scur") == "0"
    });
    assert_eq!(api.ask("set server fe/web1 state maint"), "\n");
    assert_eq!(api.ask("del server fe/web1"), "Server deleted.\n");
    let served1 = web1.accepted();
    let at = clients.count();
    wait_for("clients after the deletion", LIMIT, || {
        clients.count() >= at + 100
    });
    let seen = clients.stop();

    let errors: Vec<&String> = seen.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} errors of {}: {errors:?}",
        errors.len(),
        seen.len()
    );
    assert_eq!(
        web1.accepted(),
        served1,
        "web1 got clients after its deletion"
    );
    let stat = api.ask("show stat");
    assert!(!stat.contains("\nfe,web1,"), "web1 still listed:\n{stat}");
    assert!(stat.contains("\nfe,web4,"), "web4 missing:\n{stat}");
    let last: Vec<&String> = seen[at..].iter().filter_map(|r| r.as_ref().ok()).collect();
    for name in ["web2", "web3", "web4"] {
        assert!(
            last.iter().any(|n| *n == name),
            "{name} served none of {last:?}"
        );
    }
}

/// `set server health down|up` takes a server out and back at once,
/// whether a check follows it or not; `agent down|up` likewise for an
/// agent-checked server.
#[test]
fn forced_health_takes_a_server_out_and_back() {
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    let agent = Backend::spawn(|mut s| {
        let _ = std::io::Write::write_all(&mut s, b"up\n");
    });
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[
                ("a", a.addr, ""),
                ("b", b.addr, "check inter 10s"),
                (
                    "c",
                    c.addr,
                    &format!(
                        "agent-check agent-port {} agent-inter 10s",
                        agent.addr.port()
                    ),
                ),
            ],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    for (sv, word) in [("a", "health"), ("b", "health"), ("c", "agent")] {
        assert_eq!(api.ask(&format!("set server fe/{sv} {word} down")), "\n");
        let down = if sv == "c" { "DOWN (agent)" } else { "DOWN" };
        assert_eq!(status(&api, sv), down, "{sv}");
        let names: Vec<String> = (0..6).map(|_| server_name(fe)).collect();
        assert!(
            !names.iter().any(|n| n == sv),
            "{sv} still served: {names:?}"
        );
        assert_eq!(api.ask(&format!("set server fe/{sv} {word} up")), "\n");
        let up = if sv == "b" { "UP" } else { "no check" };
        assert_eq!(status(&api, sv), up, "{sv}");
    }
    // `stopping`: up, but no new sessions (HAProxy's NOLB, shown DRAIN).
    assert_eq!(api.ask("set server fe/b health stopping"), "\n");
    assert_eq!(status(&api, "b"), "NOLB");
    let names: Vec<String> = (0..6).map(|_| server_name(fe)).collect();
    assert!(!names.iter().any(|n| n == "b"), "b still served: {names:?}");
}

/// `set server check-port` moves a failing check to the right port, and
/// the server comes UP; `agent-send` changes what the agent receives;
/// `disable agent` stops the agent's checks.
#[test]
fn check_and_agent_settings_change_the_checks() {
    let web = Backend::named("web");
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let g = got.clone();
    let agent = Backend::spawn(move |mut s| {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        g.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&buf[..n]).into());
        let _ = std::io::Write::write_all(&mut s, b"up\n");
    });
    let wrong = dead_addr().port();
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[(
                "s1",
                web.addr,
                &format!(
                    "check port {wrong} inter 100ms rise 1 fall 1 agent-check agent-port {} agent-inter 100ms",
                    agent.addr.port()
                ),
            )],
        ),
        &["fe"],
    );
    wait_for("s1 DOWN (wrong check port)", LIMIT, || {
        status(&api, "s1") == "DOWN"
    });
    let cmd = format!("set server fe/s1 check-port {}", web.addr.port());
    assert_eq!(api.ask(&cmd), "\n");
    wait_for("s1 UP (check on the server's port)", LIMIT, || {
        status(&api, "s1") == "UP"
    });

    assert_eq!(api.ask("set server fe/s1 agent-send ping"), "\n");
    wait_for("the agent receiving 'ping'", LIMIT, || {
        got.lock().unwrap().iter().any(|t| t == "ping")
    });
    assert_eq!(api.ask("disable agent fe/s1"), "\n");
    // A check under way may still land; after it, none.
    std::thread::sleep(Duration::from_millis(300));
    let n = agent.accepted();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        agent.accepted(),
        n,
        "agent still checked after disable agent"
    );
    assert_eq!(api.ask("enable agent fe/s1"), "\n");
    wait_for("agent checked again", LIMIT, || agent.accepted() > n);
}

/// `del server` waits for the server's sessions to end, as HAProxy's.
#[test]
fn del_server_is_refused_while_sessions_are_attached() {
    let a = Backend::named("a");
    let b = Backend::named("b");
    let api = Api::start(
        "",
        &listen("    balance first", &[("a", a.addr, ""), ("b", b.addr, "")]),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    let held = TcpStream::connect(fe).unwrap();
    wait_for("a session on a", LIMIT, || {
        api.stat("fe", "a", "scur") == "1"
    });
    assert_eq!(api.ask("set server fe/a state maint"), "\n");
    assert_eq!(
        api.ask("del server fe/a"),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    drop(held);
    wait_for("a's session gone", LIMIT, || {
        api.stat("fe", "a", "scur") == "0"
    });
    assert_eq!(api.ask("del server fe/a"), "Server deleted.\n");
    assert_eq!(server_name(fe), "b");
}

/// A deliberate difference: splicer keeps what the runtime API changed in
/// the servers across a reload (an added server, a deleted one, a new
/// check port), as it keeps maintenance and weights; HAProxy forgets
/// dynamic servers at a reload unless the files name them.
#[test]
fn server_changes_outlive_a_reload() {
    if haproxy::enabled() {
        eprintln!("skipped against HAProxy: it forgets runtime-added servers at a reload");
        return;
    }
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    // A fixed port: a reload gives a `:0` bind a port of its own.
    let port = free_port();
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[("a", a.addr, "check inter 10s"), ("b", b.addr, "")],
        )
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    assert_eq!(
        api.ask(&format!("add server fe/c {} weight 3", c.addr)),
        "New server registered.\n\n"
    );
    assert_eq!(api.ask("enable server fe/c"), "\n");
    assert_eq!(api.ask("set server fe/b state maint"), "\n");
    assert_eq!(api.ask("del server fe/b"), "Server deleted.\n");
    assert_eq!(api.ask("set server fe/a check-port 8080"), "\n");
    api.sp.signal("USR2");
    api.sp.wait_log(&["configuration reloaded"], LIMIT);
    let state = api.ask("show servers state fe");
    let names: Vec<&str> = state
        .lines()
        .skip(2)
        .filter_map(|l| l.split(' ').nth(3))
        .collect();
    assert_eq!(names, ["a", "c"], "{state}");
    assert!(
        state
            .lines()
            .any(|l| l.contains(" a ") && l.contains(" 8080 ")),
        "{state}"
    );
    assert_eq!(api.stat("fe", "c", "weight"), "3");
    let names: Vec<String> = (0..8).map(|_| server_name(fe)).collect();
    assert!(names.iter().any(|n| n == "c"), "{names:?}");
    assert!(!names.iter().any(|n| n == "b"), "{names:?}");
}

/// An added server shows on the stats page and in /metrics at once, and
/// a deleted one leaves both.
#[test]
fn added_servers_show_on_the_stats_page_and_in_metrics() {
    use crate::common::statspage::*;
    let lab = Lab::start(
        "    stats enable\n    stats uri /\n    http-request use-service prometheus-exporter if { path /metrics }",
    );
    let w9 = Backend::named("w9");
    let series = r#"haproxy_server_status{proxy="web",server="w9",state="MAINT"}"#;
    // The server's name cell (HAProxy's page puts it in a link).
    let page_has = |name: &str| {
        let body = lab.get("/", None).body;
        body.contains(&format!(">{name}</a></td>")) || body.contains(&format!(">{name}</td>"))
    };
    assert!(!page_has("w9"));
    let add = format!("add server web/w9 {}", w9.addr);
    assert_eq!(lab.ask(&add), "New server registered.\n\n");
    assert!(page_has("w9"), "w9 not on the page");
    let metrics = lab.get("/metrics", None).body;
    assert_eq!(metric(&metrics, series), 1.0, "w9 in maintenance");
    assert_eq!(lab.ask("del server web/w9"), "Server deleted.\n");
    assert!(!page_has("w9"), "w9 still on the page");
    assert!(!lab.get("/metrics", None).body.contains(r#"server="w9""#));
}

/// `set server ssl off|on` switches a server between plain TCP and TLS
/// for the next connections.
#[test]
fn set_server_ssl_switches_the_next_connections() {
    let plain = Backend::named("plain");
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[("s1", plain.addr, "ssl verify none")],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    // TLS to a plain server: the client gets no name.
    assert!(one(fe).is_err(), "TLS to a plain server answered");
    assert_eq!(
        api.ask("set server fe/s1 ssl off"),
        "server ssl setting updated.\n\n"
    );
    assert_eq!(one(fe), Ok("plain".to_string()));
    assert_eq!(
        api.ask("set server fe/s1 ssl on"),
        "server ssl setting updated.\n\n"
    );
    assert!(one(fe).is_err(), "plain again after ssl on");
    assert_eq!(
        api.ask("set server fe/s1 ssl maybe"),
        "'set server <srv> ssl' expects 'on' or 'off'.\n\n"
    );
}
