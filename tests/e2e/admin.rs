//! The runtime API end to end: the real binary, its stats sockets, real
//! clients (std's UnixStream and TcpStream, and once the `socat` binary).
//! Each test asserts what an operator would see or rely on: HAProxy's CSV
//! header, a dead server shown DOWN, `disable server` taking a server out
//! of rotation, weights changing the share, levels enforced, and clients
//! that cannot hurt the process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// HAProxy 2.6.12's `show stat` header line, as it prints it.
const HAPROXY_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

/// Which `Backend::named` servers `n` new connections reached.
fn tally(addr: SocketAddr, n: usize) -> std::collections::HashMap<String, usize> {
    let mut t = std::collections::HashMap::new();
    for _ in 0..n {
        *t.entry(server_name(addr)).or_insert(0) += 1;
    }
    t
}

#[test]
fn show_stat_is_haproxys_csv_through_socat_unix_and_tcp() {
    let a = Backend::named("a");
    let port = free_port();
    let api = Api::start(
        &format!("    stats socket ipv4@127.0.0.1:{port} level user"),
        &listen("    balance roundrobin", &[("a", a.addr, "")]),
        &["fe"],
    );
    let csv = api.ask("show stat");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], HAPROXY_HEADER);
    assert_eq!(
        lines.len(),
        5,
        "header, FRONTEND, server, BACKEND, empty line:\n{csv}"
    );
    assert_eq!(lines[4], "");
    let fields = HAPROXY_HEADER.split(',').count();
    for row in &lines[1..4] {
        assert_eq!(row.split(',').count(), fields, "{row}");
    }
    assert!(lines[1].starts_with("fe,FRONTEND,"), "{}", lines[1]);
    assert!(lines[2].starts_with("fe,a,"), "{}", lines[2]);
    assert!(lines[3].starts_with("fe,BACKEND,"), "{}", lines[3]);
    assert_eq!(stat_field(&csv, "fe", "a", "addr"), a.addr.to_string());
    assert_eq!(stat_field(&csv, "fe", "BACKEND", "algo"), "roundrobin");

    // The same answer through the real socat, as operators type it.
    if let Some(tools) = require_tools("show stat via socat", &["socat"]) {
        let mut child = Command::new(&tools[0])
            .arg("stdio")
            .arg(format!("UNIX-CONNECT:{}", api.sock("admin").display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"show stat\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().next(), Some(HAPROXY_HEADER));
        assert_eq!(text.lines().count(), 5, "{text}");
    }

    // And over TCP.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"show stat\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert_eq!(text.lines().next(), Some(HAPROXY_HEADER));
}

#[test]
fn sockets_get_their_mode_and_a_stale_file_is_replaced() {
    let dir = scratch_dir("admin-stale");
    let path = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(UnixStream::connect(&path).is_err(), "a dead socket file");
    let a = Backend::echo();
    let cfg = config(
        &format!("    stats socket {} mode 640 level admin", path.display()),
        "",
        &listen("", &[("a", a.addr, "")]),
    );
    let _sp = Splicer::start(&cfg, &["fe"]);
    wait_for("the stale socket to be replaced", LIMIT, || {
        UnixStream::connect(&path).is_ok()
    });
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(ask(&path, "show cli level"), "admin\n\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_failing_its_check_shows_down_with_the_check_result() {
    let up = Backend::echo();
    let dead = dead_addr();
    let api = Api::start(
        "",
        &listen(
            "",
            &[
                ("up", up.addr, "check inter 100ms"),
                ("dead", dead, "check inter 100ms"),
            ],
        ),
        &["fe"],
    );
    wait_for("dead to be DOWN", LIMIT, || {
        api.stat("fe", "dead", "status") == "DOWN"
    });
    let csv = api.ask("show stat");
    let f = |sv: &str, field: &str| stat_field(&csv, "fe", sv, field);
    assert_eq!(f("dead", "check_status"), "L4CON");
    assert_eq!(f("dead", "check_desc"), "Layer4 connection problem");
    assert_eq!(f("dead", "last_chk"), "Connection refused");
    assert_eq!(f("dead", "chkdown"), "1");
    assert_eq!(f("dead", "check_health"), "0");
    // chkfail counts only the failures of a server that was not DOWN yet
    // (HAProxy's rule): the checks that go on failing (five more in this
    // deliberate wait) add nothing.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(api.stat("fe", "dead", "chkfail"), "1");
    wait_for("up's check to pass", LIMIT, || {
        api.stat("fe", "up", "check_status") == "L4OK"
    });
    assert_eq!(api.stat("fe", "up", "status"), "UP");
    assert_eq!(api.stat("fe", "BACKEND", "act"), "1");
    let state = api.ask("show servers state fe");
    let dead_line = state
        .lines()
        .find(|l| l.contains(" dead "))
        .unwrap_or_else(|| panic!("{state}"));
    let cols: Vec<&str> = dead_line.split(' ').collect();
    assert_eq!(
        (cols[5], cols[10], cols[11], cols[13]),
        ("0", "8", "2", "6"),
        "stopped, L4CON, failed, check configured and enabled: {dead_line}"
    );
}

#[test]
fn disable_server_stops_its_traffic_and_enable_brings_it_back() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[("a", a.addr, ""), ("b", b.addr, "")],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    assert_eq!(api.ask("disable server fe/a"), "\n");
    api.sp
        .wait_log(&["Server fe/a is going DOWN for maintenance"], LIMIT);
    assert_eq!(api.stat("fe", "a", "status"), "MAINT");
    let t = tally(fe, 10);
    assert_eq!(t.get("b"), Some(&10), "{t:?}");
    assert_eq!(api.ask("enable server fe/a"), "\n");
    api.sp.wait_log(
        &["Server fe/a is UP/READY (leaving forced maintenance)"],
        LIMIT,
    );
    let t = tally(fe, 10);
    assert!(t.get("a").is_some_and(|n| *n >= 3), "{t:?}");
    assert_eq!(api.ask("set server fe/b state drain"), "\n");
    assert_eq!(api.stat("fe", "b", "status"), "DRAIN");
    let t = tally(fe, 6);
    assert_eq!(t.get("a"), Some(&6), "{t:?}");
    assert_eq!(api.ask("set server fe/b state ready"), "\n");
    assert_eq!(api.stat("fe", "b", "status"), "no check");
}

#[test]
fn weights_change_the_share() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let api = Api::start(
        "",
        &listen(
            "    balance roundrobin",
            &[("a", a.addr, "weight 10"), ("b", b.addr, "weight 10")],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    assert_eq!(api.ask("set weight fe/a 0"), "\n");
    assert_eq!(api.ask("get weight fe/a"), "0 (initial 10)\n\n");
    let t = tally(fe, 8);
    assert_eq!(t.get("b"), Some(&8), "weight 0 takes nothing: {t:?}");
    assert_eq!(api.ask("set server fe/a weight 300%"), "\n");
    assert_eq!(api.ask("get weight fe/a"), "30 (initial 10)\n\n");
    let t = tally(fe, 40);
    let (na, nb) = (
        t.get("a").copied().unwrap_or(0),
        t.get("b").copied().unwrap_or(0),
    );
    assert!(na >= 2 * nb, "3:1 gives a the most: {t:?}");
    assert_eq!(api.stat("fe", "a", "weight"), "30");
    assert_eq!(api.stat("fe", "BACKEND", "weight"), "40");
    assert_eq!(
        api.ask("set weight fe/a 257"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
}

#[test]
fn levels_are_enforced_per_socket_and_session() {
    let a = Backend::echo();
    let api = Api::start("", &listen("", &[("a", a.addr, "")]), &["fe"]);
    let denied = "Permission denied\n\n";
    // (socket, request, answer)
    let cases: &[(&str, &str, &str)] = &[
        ("user", "show cli level", "user\n\n"),
        ("oper", "show cli level", "operator\n\n"),
        ("admin", "show cli level", "admin\n\n"),
        ("user", "get weight fe/a", "1 (initial 1)\n\n"),
        ("user", "disable server fe/a", denied),
        ("user", "clear counters", denied),
        ("oper", "clear counters", "\n"),
        ("oper", "clear counters all", denied),
        ("oper", "set weight fe/a 2", denied),
        ("oper", "set maxconn global 10", denied),
        ("admin", "clear counters all", "\n"),
        (
            "admin",
            "operator;set weight fe/a 2",
            "\nPermission denied\n\n",
        ),
        ("user", "operator", denied),
    ];
    for (sock, request, want) in cases {
        assert_eq!(ask(&api.sock(sock), request), *want, "{request} on {sock}");
    }
    assert_eq!(
        api.ask("get weight fe/a"),
        "1 (initial 1)\n\n",
        "nothing changed"
    );
    assert!(api.ask("show stat").starts_with(HAPROXY_HEADER));
}

/// Reads from `s` until `end` closes what was read; returns it.
fn read_until(s: &mut impl BufRead, end: &str) -> String {
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).ends_with(end) {
        let buf = s.fill_buf().unwrap();
        assert!(!buf.is_empty(), "closed before {end:?}: {got:?}");
        got.extend_from_slice(buf);
        let n = buf.len();
        s.consume(n);
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn prompt_mode_keeps_the_connection_until_quit() {
    let a = Backend::echo();
    let api = Api::start("", &listen("", &[("a", a.addr, "")]), &["fe"]);
    let s = UnixStream::connect(api.sock("admin")).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut r, "> "), "\n> ");
    w.write_all(b"show cli level\n").unwrap();
    assert_eq!(read_until(&mut r, "> "), "admin\n\n> ");
    w.write_all(b"get weight fe/a; show backend\n").unwrap();
    assert_eq!(
        read_until(&mut r, "fe\n\n> "),
        "1 (initial 1)\n\n> # name\nfe\n\n> "
    );
    w.write_all(b"quit\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "quit closes without a word");
}

#[test]
fn garbage_and_huge_lines_hurt_nothing() {
    let echo = Backend::echo();
    let api = Api::start(
        "    stats maxconn 2\n    stats timeout 2s",
        &listen("", &[("a", echo.addr, "")]),
        &["fe"],
    );
    // A 1 MiB line without a newline: the client is dropped, nothing else.
    let mut s = UnixStream::connect(api.sock("admin")).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let big = vec![b'x'; 1 << 20];
    let _ = s.write_all(&big);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    assert!(sink.is_empty(), "no answer to an endless line");
    // Clients that leave at once, many of them, in a burst. (HAProxy's
    // backlog on its CLI socket is small: there the burst blocks in
    // connect until `stats timeout` frees slots, minutes; not run there.)
    if !haproxy::enabled() {
        let burst: Vec<UnixStream> = (0..300)
            .filter_map(|_| UnixStream::connect(api.sock("admin")).ok())
            .collect();
        drop(burst);
    }
    // Binary garbage is an unknown command.
    let garbage = ask(&api.sock("admin"), "\u{1}\u{7f}\u{ff}ab\\");
    assert!(garbage.starts_with("Unknown command"), "{garbage}");
    // Two idle clients fill `stats maxconn 2`; a third waits its turn,
    // and is served once one leaves.
    let idle1 = UnixStream::connect(api.sock("admin")).unwrap();
    let idle2 = UnixStream::connect(api.sock("admin")).unwrap();
    let mut third = UnixStream::connect(api.sock("admin")).unwrap();
    third.write_all(b"show cli level\n").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        third.read(&mut buf).is_err(),
        "a third client waits while two are served"
    );
    drop(idle1);
    third.set_read_timeout(Some(LIMIT)).unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "admin\n\n");
    // The idle one is dropped after `stats timeout`.
    let mut idle2 = idle2;
    idle2.set_read_timeout(Some(LIMIT)).unwrap();
    let mut rest = Vec::new();
    let _ = idle2.read_to_end(&mut rest);
    assert!(rest.is_empty());
    // Traffic never noticed.
    echo_roundtrip(api.sp.addr("fe"), 7, 256 * 1024);
    // The runtime API still answers (HAProxy counts its CLI connections in
    // CumConns, splicer only proxied ones, so the number is not compared).
    assert!(api.ask("show info").contains("\nUptime_sec: "));
}

#[test]
fn counters_and_limits_follow_traffic_and_commands() {
    let a = Backend::named("a");
    let api = Api::start("", &listen("", &[("a", a.addr, "")]), &["fe"]);
    let fe = api.sp.addr("fe");
    // Bytes are counted while the session runs, not at its end.
    let mut held = TcpStream::connect(fe).unwrap();
    held.set_read_timeout(Some(LIMIT)).unwrap();
    let mut r = BufReader::new(held.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    held.write_all(&[b'z'; 1000]).unwrap();
    let mut echoed = [0u8; 1000];
    r.read_exact(&mut echoed).unwrap();
    // HAProxy 2.6 only adds a TCP session's bytes when it ends; splicer
    // counts them as they pass (what a dashboard of long sessions needs).
    // (The worker adds them just after writing, so the client may read
    // the echo a moment before the counters move.)
    if !haproxy::enabled() {
        wait_for("the bytes to be counted", LIMIT, || {
            api.stat("fe", "a", "bout") == "1002"
        });
        assert_eq!(api.stat("fe", "FRONTEND", "bin"), "1000");
    }
    assert_eq!(api.stat("fe", "FRONTEND", "scur"), "1");
    assert_eq!(api.stat("fe", "a", "scur"), "1");
    assert_eq!(api.stat("fe", "a", "stot"), "1");
    assert_eq!(api.stat("fe", "a", "lbtot"), "1");
    // With maxconn 1 on the frontend, a second client waits for the first.
    assert_eq!(api.ask("set maxconn frontend fe 1"), "\n");
    assert_eq!(api.stat("fe", "FRONTEND", "slim"), "1");
    let second = TcpStream::connect(fe).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 8];
    assert!((&second).read(&mut buf).is_err(), "held back by maxconn 1");
    drop(r);
    drop(held);
    second.set_read_timeout(Some(LIMIT)).unwrap();
    let mut name = String::new();
    BufReader::new(&second).read_line(&mut name).unwrap();
    assert_eq!(name, "a\n");
    assert_eq!(api.stat("fe", "FRONTEND", "stot"), "2");
    assert_eq!(api.stat("fe", "FRONTEND", "smax"), "1");
    assert_eq!(api.ask("clear counters all"), "\n");
    assert_eq!(api.stat("fe", "FRONTEND", "stot"), "0");
}

#[test]
fn a_server_maxconn_set_at_run_time_queues_and_shows_in_qcur() {
    let a = Backend::named("a");
    let api = Api::start(
        "",
        &listen("    timeout queue 10s", &[("a", a.addr, "")]),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    assert_eq!(api.ask("set maxconn server fe/a 1"), "\n");
    assert_eq!(api.stat("fe", "a", "slim"), "1");
    let first = TcpStream::connect(fe).unwrap();
    first.set_read_timeout(Some(LIMIT)).unwrap();
    let mut name = String::new();
    BufReader::new(&first).read_line(&mut name).unwrap();
    let second = TcpStream::connect(fe).unwrap();
    wait_for("the second client to queue", LIMIT, || {
        api.stat("fe", "BACKEND", "qcur") == "1"
    });
    drop(first);
    second.set_read_timeout(Some(LIMIT)).unwrap();
    let mut name = String::new();
    BufReader::new(&second).read_line(&mut name).unwrap();
    assert_eq!(name, "a\n");
    assert_eq!(api.stat("fe", "BACKEND", "qcur"), "0");
    assert_eq!(api.stat("fe", "BACKEND", "qmax"), "1");
}

#[test]
fn prometheus_haproxy_exporter_reads_the_socket() {
    let Some(tools) = require_tools("exporter", &["prometheus-haproxy-exporter"]) else {
        return;
    };
    let a = Backend::echo();
    let dead = dead_addr();
    let api = Api::start(
        "",
        &listen(
            "",
            &[("a", a.addr, ""), ("dead", dead, "check inter 100ms")],
        ),
        &["fe"],
    );
    wait_for("dead to be DOWN", LIMIT, || {
        api.stat("fe", "dead", "status") == "DOWN"
    });
    echo_roundtrip(api.sp.addr("fe"), 3, 4096);
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _exporter = ChildGuard::spawn(
        "prometheus-haproxy-exporter",
        Command::new(&tools[0])
            .arg(format!(
                "--haproxy.scrape-uri=unix:{}",
                api.sock("admin").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for("the exporter to listen", LIMIT, || accepts(web));
    let (status, metrics) = http_get(web, "/metrics").unwrap();
    assert_eq!(status, 200);
    for want in [
        "haproxy_up 1",
        "haproxy_exporter_csv_parse_failures_total 0",
        "haproxy_server_up{backend=\"fe\",server=\"a\"} 1",
        "haproxy_server_up{backend=\"fe\",server=\"dead\"} 0",
        "haproxy_backend_up{backend=\"fe\"} 1",
        "haproxy_frontend_bytes_in_total{frontend=\"fe\"} 4096",
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "{want} missing from the exporter's metrics"
        );
    }
}

/// An agent that cannot be reached changes nothing for traffic, but
/// `show stat` says why it is silent (HAProxy: L4CON, not INI).
#[test]
fn an_unreachable_agent_shows_its_connection_error() {
    let up = Backend::echo();
    let port = dead_addr().port();
    let api = Api::start(
        "",
        &listen(
            "",
            &[(
                "up",
                up.addr,
                &format!("agent-check agent-port {port} agent-inter 100ms"),
            )],
        ),
        &["fe"],
    );
    wait_for("the agent's result", LIMIT, || {
        api.stat("fe", "up", "agent_status") == "L4CON"
    });
    assert_eq!(
        api.stat("fe", "up", "agent_desc"),
        "Layer4 connection problem"
    );
    // Without `check`, the server's own status stays HAProxy's "no check".
    assert_eq!(api.stat("fe", "up", "status"), "no check");
}

/// The open files limit of process `pid`: (soft, hard).
fn nofile(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (v[0], v[1])
}

/// `ulimit-n` raises the open files limit (HAProxy 2.6 never lowers it)
/// and `node` names the load balancer; `show info` reports both as
/// configured. A limit above the hard one takes CAP_SYS_RESOURCE: without
/// it, start-up stops with the reason (HAProxy: "Cannot raise FD limit").
#[test]
fn ulimit_n_and_node_show_in_show_info() {
    let a = Backend::named("a");
    let (_, hard) = nofile(std::process::id());
    let start = |ulimit: u64| {
        Api::start(
            &format!("    maxconn 100\n    ulimit-n {ulimit}\n    node lb-east"),
            &listen("", &[("a", a.addr, "")]),
            &["fe"],
        )
    };
    let api = start(hard / 2);
    let info = api.ask("show info");
    assert!(
        info.contains(&format!("\nUlimit-n: {}\n", hard / 2)),
        "{info}"
    );
    assert!(info.contains("\nnode: lb-east\n"), "{info}");
    assert_eq!(nofile(api.sp.pid()), (hard, hard), "a higher limit is kept");
    drop(api);

    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|c| u64::from_str_radix(c.trim(), 16).unwrap())
        .unwrap();
    const CAP_SYS_RESOURCE: u32 = 24;
    if caps & (1 << CAP_SYS_RESOURCE) != 0 {
        let api = start(hard + 1000);
        assert_eq!(nofile(api.sp.pid()), (hard + 1000, hard + 1000));
    } else if !haproxy::enabled() {
        let dir = scratch_dir("ulimit");
        let cfg = dir.join("u.cfg");
        let text = config(
            &format!("    ulimit-n {}", hard + 1000),
            "",
            &listen("", &[("a", a.addr, "")]),
        );
        std::fs::write(&cfg, text).unwrap();
        let out = std::process::Command::new(splicer_bin())
            .arg("-f")
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "cannot raise the open files limit to {} (ulimit-n), limit is {hard}",
                hard + 1000
            )),
            "{err}"
        );
    }
}

/// `server-state-file` + `load-server-state-from-file`: what the runtime
/// API changed (maintenance, drain, weight), saved with `show servers
/// state`, is back after a restart; traffic follows it.
#[test]
fn server_states_survive_a_restart() {
    let (w1, w2, w3) = (
        Backend::named("w1"),
        Backend::named("w2"),
        Backend::named("w3"),
    );
    let dir = scratch_dir("state-file");
    let state = dir.join("servers.state");
    let rest = listen(
        "    balance roundrobin",
        &[
            ("w1", w1.addr, ""),
            ("w2", w2.addr, ""),
            ("w3", w3.addr, "weight 2"),
        ],
    );
    let global = format!("    server-state-file {}", state.display());
    let start = || {
        Api::start_with(
            &global,
            "    load-server-state-from-file global",
            &rest,
            &["fe"],
        )
    };
    let api = start();
    for cmd in [
        "set server fe/w1 state drain",
        "set server fe/w2 state maint",
        "set weight fe/w3 7",
    ] {
        assert_eq!(api.ask(cmd), "\n", "{cmd}");
    }
    std::fs::write(&state, api.ask("show servers state")).unwrap();
    drop(api);

    let api = start();
    let stat = api.ask("show stat");
    assert_eq!(stat_field(&stat, "fe", "w1", "status"), "DRAIN");
    assert_eq!(stat_field(&stat, "fe", "w2", "status"), "MAINT");
    assert_eq!(stat_field(&stat, "fe", "w3", "weight"), "7");
    for _ in 0..6 {
        assert_eq!(server_name(api.sp.addr("fe")), "w3");
    }
}

/// `option contstats`: the byte counters move while a long session runs,
/// not only when it ends (splicer always counts this way).
#[test]
fn contstats_counts_bytes_during_a_session() {
    use std::io::{Read, Write};
    let echo = Backend::echo();
    let api = Api::start(
        "",
        &listen("    option contstats", &[("e", echo.addr, "")]),
        &["fe"],
    );
    let mut c = std::net::TcpStream::connect(api.sp.addr("fe")).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    c.write_all(&chunk).unwrap();
    let mut back = vec![0u8; chunk.len()];
    c.read_exact(&mut back).unwrap();
    wait_for("bin to count the bytes of the open session", LIMIT, || {
        api.stat("fe", "FRONTEND", "bin")
            .parse::<u64>()
            .unwrap_or(0)
            >= chunk.len() as u64
    });
    assert_eq!(
        api.stat("fe", "FRONTEND", "scur"),
        "1",
        "the session is still open"
    );
}
