//! The runtime API's commands about live traffic, end to end: `show sess`
//! lists the sessions clients really opened, `shutdown session` and
//! `shutdown sessions server` close exactly the ones named (the others go
//! on), `disable frontend` makes new clients see a refused connection while
//! open sessions go on, and `enable frontend` brings it back. Answers and
//! errors are HAProxy 2.6's (the tests run against it with
//! `SPLICER_TEST_BIN=haproxy`, except where noted).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// The shared runtime API harness, with connection logs on stdout
/// (`K-` lines are checked).
fn start(global_extra: &str, rest: &str, frontends: &[&str]) -> Api {
    let global = format!("    log stdout format raw local0 info\n{global_extra}");
    Api::start_with(
        &global,
        "    log global\n    option tcplog",
        rest,
        frontends,
    )
}

impl Api {
    /// `show sess` lines of the proxied sessions (HAProxy lists its CLI
    /// connection too), by client port.
    fn sessions(&self) -> HashMap<u16, String> {
        self.ask("show sess")
            .lines()
            .filter(|l| l.contains(" proto=tcpv4 "))
            .map(|l| (client_port(l), l.to_string()))
            .collect()
    }
}

/// The value of `key=` in a `show sess` line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}

fn client_port(line: &str) -> u16 {
    field(line, "src")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The session id: the line's first word, without its colon.
fn session_id(line: &str) -> &str {
    line.split(':').next().unwrap()
}

/// A client connected through the proxy to a `Backend::named` server.
struct Client {
    s: TcpStream,
    r: BufReader<TcpStream>,
    server: String,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut server = String::new();
        r.read_line(&mut server).unwrap();
        Client {
            s,
            r,
            server: server.trim().to_string(),
        }
    }

    fn port(&self) -> u16 {
        self.s.local_addr().unwrap().port()
    }

    /// True when a line still goes through and comes back.
    fn echoes(&mut self) -> bool {
        if self.s.write_all(b"ping\n").is_err() {
            return false;
        }
        let mut line = String::new();
        self.r.read_line(&mut line).is_ok() && line == "ping\n"
    }

    /// How the connection ends now: Ok(()) for a FIN, Err for a reset.
    fn end(&mut self) -> std::io::Result<()> {
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).map(|_| ())
    }
}

/// Clients connected until each of the servers `a` and `b` has `n` (at
/// most 50 tries).
fn connect_until(fe: SocketAddr, n: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    let on = |name: &str, cs: &[Client]| cs.iter().filter(|c| c.server == name).count();
    while on("a", &clients) < n || on("b", &clients) < n {
        assert!(clients.len() < 50, "roundrobin never reached both servers");
        clients.push(Client::connect(fe));
    }
    clients
}

/// A session cut by the runtime API: splicer resets the client (a cut
/// transfer must not look complete); HAProxy 2.6 closes with a FIN.
fn assert_cut(c: &mut Client) {
    let end = c.end();
    if haproxy::enabled() {
        assert!(end.is_ok(), "HAProxy closes with a FIN: {end:?}");
    } else {
        let e = end.expect_err("a reset");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
}

#[test]
fn show_sess_lists_sessions_and_shutdown_session_closes_exactly_one() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let api = start(
        "",
        &listen(
            "    balance roundrobin",
            &[("a", a.addr, ""), ("b", b.addr, "")],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    // One client on each server (each worker balances on its own, so
    // which client gets which server is not known in advance).
    let mut clients = connect_until(fe, 1);
    let mut c1 = clients.remove(clients.iter().position(|c| c.server == "a").unwrap());
    let mut c2 = clients.remove(clients.iter().position(|c| c.server == "b").unwrap());
    drop(clients);
    wait_for("only c1 and c2 to remain", LIMIT, || {
        api.sessions().len() == 2
    });
    let sessions = api.sessions();
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    for c in [&c1, &c2] {
        let line = &sessions[&c.port()];
        assert!(line.starts_with("0x"), "{line}");
        assert_eq!(field(line, "src"), format!("127.0.0.1:{}", c.port()));
        assert_eq!(
            (field(line, "fe"), field(line, "be"), field(line, "srv")),
            ("fe", "fe", c.server.as_str()),
            "{line}"
        );
        assert!(field(line, "age").ends_with('s'), "{line}");
    }
    // The operator may look, but not cut; nor may a user.
    let id1 = session_id(&sessions[&c1.port()]).to_string();
    assert_eq!(api.sessions(), sessions, "ids stay the same");
    assert!(ask(&api.sock("oper"), "show sess").contains(&id1));
    for sock in ["oper", "user"] {
        assert_eq!(
            ask(&api.sock(sock), &format!("shutdown session {id1}")),
            "Permission denied\n\n"
        );
    }
    assert_eq!(ask(&api.sock("user"), "show sess"), "Permission denied\n\n");
    assert!(c1.echoes());
    // `show sess ID` dumps that one session.
    let detail = api.ask(&format!("show sess {id1}"));
    assert!(
        detail.starts_with(&format!("{id1}: [")),
        "the id and the accept date: {detail}"
    );
    assert!(
        detail.contains(&format!("source=127.0.0.1:{}", c1.port())),
        "{detail}"
    );
    assert!(detail.contains("  frontend=fe (id="), "{detail}");
    assert!(
        detail.contains(&format!("  server={} (id=", c1.server)),
        "{detail}"
    );
    assert!(!detail.contains(&format!(":{} ", c2.port())), "{detail}");

    // The admin cuts c1: c1 ends, c2 goes on.
    assert_eq!(api.ask(&format!("shutdown session {id1}")), "\n");
    assert_cut(&mut c1);
    assert!(c2.echoes(), "the other session goes on");
    wait_for("c1 to leave show sess", LIMIT, || {
        !api.sessions().contains_key(&c1.port())
    });
    assert_eq!(api.sessions().len(), 1);
    // Its log line says an administrator killed it (K).
    api.sp
        .wait_log(&[&format!("127.0.0.1:{} [", c1.port()), " K- "], LIMIT);
    // Ids are never reused (HAProxy's are addresses: it may give the next
    // stream the same one).
    let gone = if haproxy::enabled() {
        "0x1234"
    } else {
        id1.as_str()
    };
    assert_eq!(
        api.ask(&format!("shutdown session {gone}")),
        "No such session (use 'show sess').\n\n"
    );
    assert_eq!(
        api.ask(&format!("show sess {gone}")),
        "Session not found.\n\n"
    );
    assert_eq!(
        api.ask("shutdown session nonsense"),
        "Session pointer expected (use 'show sess').\n\n"
    );
    assert!(c2.echoes());
}

#[test]
fn shutdown_sessions_server_closes_only_that_servers_sessions() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let api = start(
        "",
        &listen(
            "    balance roundrobin",
            &[("a", a.addr, ""), ("b", b.addr, "")],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    let mut clients = connect_until(fe, 2);
    assert_eq!(
        api.ask("shutdown sessions server fe/nope"),
        "No such server.\n\n"
    );
    assert_eq!(
        api.ask("shutdown sessions server nope/a"),
        "No such backend.\n\n"
    );
    assert_eq!(
        ask(&api.sock("oper"), "shutdown sessions server fe/a"),
        "Permission denied\n\n"
    );
    assert!(clients.iter_mut().all(|c| c.echoes()), "nothing cut yet");
    assert_eq!(api.ask("shutdown sessions server fe/a"), "\n");
    for c in clients.iter_mut() {
        if c.server == "a" {
            assert_cut(c);
        } else {
            assert!(c.echoes(), "b's sessions go on");
        }
    }
    let on_b = clients.iter().filter(|c| c.server == "b").count();
    wait_for("a's sessions to leave show sess", LIMIT, || {
        let s = api.sessions();
        s.len() == on_b && s.values().all(|l| field(l, "srv") == "b")
    });
    // The server itself stays in service: new clients still reach it.
    let next = connect_until(fe, 1);
    assert!(next.iter().any(|c| c.server == "a"));
}

#[test]
fn disable_frontend_refuses_new_clients_and_keeps_open_sessions() {
    let a = Backend::named("a");
    let rest = format!(
        "{}\nfrontend off\n    bind 127.0.0.1:0\n    disabled\n    default_backend fe\n",
        listen("", &[("a", a.addr, "")])
    );
    // Several workers: every one of them must stop taking clients.
    let api = start("    nbthread 4", &rest, &["fe"]);
    let fe = api.sp.addr("fe");
    let mut open = Client::connect(fe);
    assert_eq!(api.stat("fe", "FRONTEND", "status"), "OPEN");
    assert_eq!(
        ask(&api.sock("oper"), "disable frontend fe"),
        "Permission denied\n\n"
    );
    assert_eq!(api.ask("disable frontend fe"), "\n");
    assert_eq!(api.stat("fe", "FRONTEND", "status"), "PAUSED");
    // A new client is refused at once, however often it tries (the kernel
    // could spread them over the workers' sockets).
    for _ in 0..20 {
        let e = TcpStream::connect(fe).expect_err("refused while disabled");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    }
    assert!(open.echoes(), "an open session goes on");
    assert_eq!(
        api.ask("disable frontend fe"),
        "All sockets are already disabled.\n\n"
    );
    assert_eq!(api.ask("disable frontend nope"), "No such frontend.\n\n");
    assert_eq!(
        api.ask("disable frontend"),
        "A frontend name is expected.\n\n"
    );
    assert_eq!(
        api.ask("disable frontend off"),
        "Frontend was previously shut down, cannot disable.\n\n"
    );
    assert_eq!(
        api.ask("enable frontend off"),
        "Frontend was previously shut down, cannot enable.\n\n"
    );

    assert_eq!(api.ask("enable frontend fe"), "\n");
    assert_eq!(api.stat("fe", "FRONTEND", "status"), "OPEN");
    for _ in 0..8 {
        let mut c = Client::connect(fe);
        assert_eq!(c.server, "a");
        assert!(c.echoes());
    }
    assert!(open.echoes());
    assert_eq!(
        api.ask("enable frontend fe"),
        "All sockets are already enabled.\n\n"
    );
}

/// SIGTTOU pauses every frontend as `disable frontend` does, and the API
/// sees it: `show stat` says PAUSED and `enable frontend` resumes one.
#[test]
fn sigttou_pauses_frontends_for_the_runtime_api_too() {
    let a = Backend::named("a");
    let api = start("", &listen("", &[("a", a.addr, "")]), &["fe"]);
    let fe = api.sp.addr("fe");
    api.sp.signal("TTOU");
    wait_for("show stat to say PAUSED", LIMIT, || {
        api.stat("fe", "FRONTEND", "status") == "PAUSED"
    });
    wait_for("new clients to be refused", LIMIT, || {
        TcpStream::connect(fe).is_err()
    });
    assert_eq!(api.ask("enable frontend fe"), "\n");
    assert_eq!(api.stat("fe", "FRONTEND", "status"), "OPEN");
    let mut c = Client::connect(fe);
    assert_eq!(c.server, "a");
    assert!(c.echoes());
}
