//! Tests of the runtime API at the protocol level: a runtime built from a
//! config, commands run as a client's lines would be, answers compared with
//! what HAProxy 2.6 printed for the same config and state.

use super::cli::{Session, run_line};
use crate::config::{Level, parse_str};
use crate::runtime::{CheckInfo, Oper, Runtime};

/// The config HAProxy 2.6 ran when the rows below were captured.
const CONFIG: &str = "global\n    maxconn 9983\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:18001 check inter 1s\n    server s2 127.0.0.1:18002 weight 10\n    server s3 127.0.0.1:18003 backup\n\
listen li\n    bind 127.0.0.1:0\n    server x1 127.0.0.1:18004 check\n";

/// `show stat` of HAProxy 2.6.12 on [`CONFIG`] once s1 and x1 failed their
/// first check (connection refused).
const HAPROXY_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";
const HAPROXY_ROWS: &[&str] = &[
    "fe,FRONTEND,,,0,0,9983,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,",
    "be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,12,12,,1,3,1,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:18001,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,",
    "be,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,10,1,0,,,12,,,1,3,2,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18002,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,10,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,",
    "be,s3,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,0,1,,,12,,,1,3,3,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18003,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,",
    "be,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,UP,10,1,1,,0,12,0,,1,3,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,roundrobin,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,10,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,",
    "li,FRONTEND,,,0,0,9983,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,4,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,",
    "li,x1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,11,11,,1,4,1,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:18004,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,",
    "li,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,1,11,11,,1,4,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,roundrobin,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,0,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,",
];

fn runtime() -> Runtime {
    Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config)
}

/// Puts a checked server in the state HAProxy showed: DOWN after one
/// refused connect.
fn refused(rt: &Runtime, b: usize, s: usize) {
    let srv = &rt.backends[b].servers[s];
    srv.set_oper(Oper::Down);
    *srv.check.as_ref().unwrap().lock() = CheckInfo {
        status: "L4CON",
        desc: "Layer4 connection problem",
        info: Some("Connection refused".into()),
        health: 0,
        rise: 2,
        fall: 3,
        failures: 1,
        downs: 1,
        ..CheckInfo::default()
    };
    rt.backends[b].refresh_state();
}

fn run(rt: &Runtime, level: Level, line: &str) -> String {
    let mut session = Session::new(level);
    let mut out = String::new();
    run_line(line.as_bytes(), rt, &[], &mut session, &mut out);
    out
}

/// Columns that depend on when the snapshot was taken (lastchg,
/// downtime) or on HAProxy's connection reuse (need_conn_est) are blanked.
fn comparable(row: &str) -> Vec<String> {
    let header: Vec<&str> = HAPROXY_HEADER[2..].split(',').collect();
    let skip = ["lastchg", "downtime", "need_conn_est"];
    row.split(',')
        .enumerate()
        .map(|(i, v)| {
            let name = header.get(i).copied().unwrap_or("");
            if skip.contains(&name) {
                "*".into()
            } else {
                v.to_string()
            }
        })
        .collect()
}

#[test]
fn show_stat_is_haproxys_csv() {
    let rt = runtime();
    refused(&rt, 0, 0);
    refused(&rt, 1, 0);
    let out = run(&rt, Level::User, "show stat");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], HAPROXY_HEADER, "header");
    assert_eq!(
        lines.len(),
        1 + HAPROXY_ROWS.len() + 1,
        "rows, then the empty line"
    );
    for (got, want) in lines[1..].iter().zip(HAPROXY_ROWS) {
        assert_eq!(
            comparable(got),
            comparable(want),
            "\n got: {got}\nwant: {want}"
        );
    }
    assert_eq!(lines.last(), Some(&""));
}

#[test]
fn show_stat_filters_by_proxy_type_and_server() {
    let rt = runtime();
    let names = |line: &str| -> Vec<String> {
        run(&rt, Level::User, line)
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/"))
            .collect()
    };
    // (request, rows listed)
    let cases: &[(&str, &[&str])] = &[
        (
            "show stat -1 -1 -1",
            &[
                "fe/FRONTEND",
                "be/s1",
                "be/s2",
                "be/s3",
                "be/BACKEND",
                "li/FRONTEND",
                "li/x1",
                "li/BACKEND",
            ],
        ),
        ("show stat be 4 -1", &["be/s1", "be/s2", "be/s3"]),
        ("show stat 3 2 -1", &["be/BACKEND"]),
        (
            "show stat li -1 -1",
            &["li/FRONTEND", "li/x1", "li/BACKEND"],
        ),
        ("show stat -1 1 -1", &["fe/FRONTEND", "li/FRONTEND"]),
        ("show stat be 4 2", &["be/s2"]),
    ];
    for (line, want) in cases {
        assert_eq!(names(line), *want, "{line}");
    }
    rt.backends[0].servers[1].set_status(crate::runtime::ServerStatus::Maint);
    rt.backends[0].servers[2].set_status(crate::runtime::ServerStatus::Down);
    assert_eq!(names("show stat be 4 -1 no-maint"), ["be/s1", "be/s3"]);
    assert_eq!(names("show stat be 4 -1 up"), ["be/s1"]);
    assert_eq!(
        run(&rt, Level::User, "show stat nope 1 1"),
        "No such proxy.\n\n"
    );
}

#[test]
fn commands_answer_as_haproxy() {
    // (level, request, answer, checked as HAProxy 2.6 answered)
    let cases: &[(Level, &str, &str)] = &[
        (
            Level::Admin,
            "disable server",
            "Require 'backend/server'.\n\n",
        ),
        (
            Level::Admin,
            "disable server be",
            "Require 'backend/server'.\n\n",
        ),
        (
            Level::Admin,
            "disable server nope/x",
            "No such backend.\n\n",
        ),
        (
            Level::Admin,
            "disable server be/nope",
            "No such server.\n\n",
        ),
        (
            Level::Admin,
            "get weight be/",
            "Require 'backend/server'.\n\n",
        ),
        (Level::Admin, "get weight /x1", "No such backend.\n\n"),
        (Level::User, "get weight be/s2", "10 (initial 10)\n\n"),
        (Level::User, "get weight #3/#2", "10 (initial 10)\n\n"),
        (Level::User, "disable server be/s2", "Permission denied\n\n"),
        (
            Level::Operator,
            "disable server be/s2",
            "Permission denied\n\n",
        ),
        (
            Level::Operator,
            "set maxconn global 10",
            "Permission denied\n\n",
        ),
        (Level::User, "clear counters", "Permission denied\n\n"),
        (Level::Operator, "clear counters", "\n"),
        (
            Level::Operator,
            "clear counters all",
            "Permission denied\n\n",
        ),
        (
            Level::Admin,
            "set server be/s2 state foo",
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
        ),
        (
            Level::Admin,
            "set server be/s2 weight",
            "Require <weight> or <weight%>.\n\n",
        ),
        (
            Level::Admin,
            "set server be/s2 weight 300",
            "Absolute weight can only be between 0 and 256 inclusive.\n\n",
        ),
        (
            Level::Admin,
            "set maxconn server be/s2",
            "Require <maxconn>.\n\n",
        ),
        (
            Level::Admin,
            "set maxconn frontend",
            "A frontend name is expected.\n\n",
        ),
        (
            Level::Admin,
            "set maxconn frontend nope 5",
            "No such frontend.\n\n",
        ),
        (
            Level::Admin,
            "set maxconn frontend fe",
            "Integer value expected.\n\n",
        ),
        (
            Level::Admin,
            "set maxconn global",
            "Expects an integer value.\n\n",
        ),
        (
            Level::Admin,
            "set maxconn global 99999",
            "Value out of range.\n\n",
        ),
        (
            Level::Admin,
            "show servers state nope",
            "Can't find backend.\n\n",
        ),
        (
            Level::Admin,
            "enable health be/s2",
            "Health check was not configured on this server, cannot enable.\n\n",
        ),
        (Level::User, "show backend", "# name\nbe\nli\n\n"),
        (Level::Operator, "show cli level", "operator\n\n"),
        (
            Level::Admin,
            "user;show cli level;operator",
            "\nuser\n\nPermission denied\n\n",
        ),
        (Level::Admin, "prompt;show cli level", "\n> admin\n\n> "),
        (Level::Admin, "quit;show cli level", ""),
        (Level::Admin, "get weight be/s2\\;x", "No such server.\n\n"),
        (Level::User, "set timeout cli 60", "\n"),
        (Level::User, "set timeout cli 10s", "\n"),
        (
            Level::User,
            "set timeout cli",
            "Expects an integer value.\n\n",
        ),
        (
            Level::User,
            "set timeout cli 0",
            "Invalid timeout value.\n\n",
        ),
        (
            Level::User,
            "set timeout cli abc",
            "Invalid timeout value.\n\n",
        ),
        (
            Level::User,
            "set timeout foo 5",
            "'set timeout' only supports 'cli'.\n\n",
        ),
        (Level::User, "show sess", "Permission denied\n\n"),
        (
            Level::Operator,
            "show sess 0x1234",
            "Session not found.\n\n",
        ),
        (
            Level::Operator,
            "shutdown session 0x1",
            "Permission denied\n\n",
        ),
        (
            Level::Admin,
            "shutdown session",
            "Session pointer expected (use 'show sess').\n\n",
        ),
        (
            Level::Admin,
            "shutdown session zz",
            "Session pointer expected (use 'show sess').\n\n",
        ),
        (
            Level::Admin,
            "shutdown session 0x1234",
            "No such session (use 'show sess').\n\n",
        ),
        (
            Level::Operator,
            "shutdown sessions server be/s2",
            "Permission denied\n\n",
        ),
        (
            Level::Admin,
            "shutdown sessions server be",
            "Require 'backend/server'.\n\n",
        ),
        (
            Level::Admin,
            "shutdown sessions server be/nope",
            "No such server.\n\n",
        ),
        (Level::Admin, "shutdown sessions server be/s2", "\n"),
        (
            Level::Operator,
            "disable frontend fe",
            "Permission denied\n\n",
        ),
        (
            Level::Admin,
            "disable frontend",
            "A frontend name is expected.\n\n",
        ),
        (Level::Admin, "enable frontend be", "No such frontend.\n\n"),
        (
            Level::Admin,
            "enable frontend fe",
            "All sockets are already enabled.\n\n",
        ),
        (
            Level::Admin,
            "disable frontend #2;disable frontend fe;enable frontend fe;enable frontend fe",
            "\nAll sockets are already disabled.\n\n\nAll sockets are already enabled.\n\n",
        ),
    ];
    for (level, line, want) in cases {
        let rt = runtime();
        assert_eq!(run(&rt, *level, line), *want, "{line} at {level:?}");
    }
}

#[test]
fn state_changes_show_in_stat_and_servers_state() {
    let rt = runtime();
    let field = |line: &str, row: &str, col: &str| -> String {
        let out = run(&rt, Level::Admin, line);
        let header: Vec<&str> = HAPROXY_HEADER[2..].split(',').collect();
        let i = header.iter().position(|h| *h == col).unwrap();
        let r = out
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap()
            .to_string();
        r.split(',').nth(i).unwrap().to_string()
    };
    let status = |row: &str| field("show stat", row, "status");
    assert_eq!(run(&rt, Level::Admin, "disable server be/s2"), "\n");
    assert_eq!(status("be,s2,"), "MAINT");
    assert_eq!(run(&rt, Level::Admin, "enable server be/s2"), "\n");
    assert_eq!(status("be,s2,"), "no check");
    run(&rt, Level::Admin, "set server be/s2 state drain");
    assert_eq!(status("be,s2,"), "DRAIN");
    run(&rt, Level::Admin, "set server be/s2 state maint");
    assert_eq!(status("be,s2,"), "MAINT");
    let state = run(&rt, Level::Admin, "show servers state be");
    assert!(state.starts_with("1\n# be_id be_name srv_id"), "{state}");
    assert!(
        state.contains("\n3 be 2 s2 127.0.0.1 0 1 10 10 "),
        "maint: stopped, admin 1\n{state}"
    );
    run(&rt, Level::Admin, "set server be/s2 state ready");
    assert_eq!(status("be,s2,"), "no check");
    run(&rt, Level::Admin, "set weight be/s2 50%");
    assert_eq!(
        run(&rt, Level::Admin, "get weight be/s2"),
        "5 (initial 10)\n\n"
    );
    assert_eq!(
        field("show stat", "be,BACKEND,", "weight"),
        "6",
        "s1 (1) + s2 (5)"
    );
    run(&rt, Level::Admin, "set maxconn server be/s2 7");
    assert_eq!(field("show stat", "be,s2,", "slim"), "7");
    run(&rt, Level::Admin, "set maxconn frontend fe 100");
    assert_eq!(field("show stat", "fe,FRONTEND,", "slim"), "100");
    run(&rt, Level::Admin, "set maxconn global 50");
    assert!(run(&rt, Level::Admin, "show info").contains("\nMaxconn: 50\nHard_maxconn: 9983\n"));
    // Health counter half way: the transitional forms.
    let s1 = &rt.backends[0].servers[0];
    s1.check.as_ref().unwrap().lock().health = 3;
    assert_eq!(status("be,s1,"), "UP 2/3");
    s1.set_oper(Oper::Down);
    s1.check.as_ref().unwrap().lock().health = 1;
    assert_eq!(status("be,s1,"), "DOWN 1/2");
    run(&rt, Level::Admin, "disable health be/s1");
    assert!(s1.check_disabled.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(
        status("be,s1,"),
        "DOWN",
        "no transitional form without checks"
    );
    assert_eq!(field("show stat", "be,s1,", "check_status"), "");
    run(&rt, Level::Admin, "enable health be/s1");
    assert_eq!(field("show stat", "be,s1,", "check_status"), "INI");
    // In maintenance the check is paused: HAProxy 2.6 hides its results
    // and keeps its counters.
    refused(&rt, 0, 0);
    run(&rt, Level::Admin, "disable server be/s1");
    assert_eq!(field("show stat", "be,s1,", "check_status"), "");
    assert_eq!(field("show stat", "be,s1,", "check_rise"), "");
    assert_eq!(field("show stat", "be,s1,", "chkdown"), "1");
    run(&rt, Level::Admin, "enable server be/s1");
    assert_eq!(field("show stat", "be,s1,", "check_status"), "L4CON");
}

#[test]
fn show_info_says_what_splicer_knows() {
    let rt = runtime();
    // The names and their order are HAProxy's: tests/e2e/cli_about.rs
    // compares them with its list, checked against HAProxy itself.
    let out = run(&rt, Level::User, "show info");
    assert!(out.contains("\nNbthread: 2\n"));
    let version = env!("CARGO_PKG_VERSION");
    assert!(out.contains(&format!("\nBuild info: {version}\n")), "{out}");
    assert!(out.ends_with("\n\n"));
    for line in [
        "\nStopping: 0\n",
        "\nActivePeers: 0\n",
        "\nConnectedPeers: 0\n",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    // What the main thread (a stop begun) and the peers thread publish.
    use std::sync::atomic::Ordering::Relaxed;
    rt.process.stopping.store(true, Relaxed);
    rt.process.peers_active.store(2, Relaxed);
    rt.process.peers_connected.store(1, Relaxed);
    let out = run(&rt, Level::User, "show info");
    for line in [
        "\nStopping: 1\n",
        "\nActivePeers: 2\n",
        "\nConnectedPeers: 1\n",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
}

#[test]
fn a_disabled_frontend_shows_paused_in_every_form() {
    let rt = runtime();
    assert_eq!(run(&rt, Level::Admin, "disable frontend fe"), "\n");
    let csv = run(&rt, Level::User, "show stat 2 1 -1");
    assert!(
        csv.contains("\nfe,FRONTEND,") && csv.contains(",PAUSED,"),
        "{csv}"
    );
    let typed = run(&rt, Level::User, "show stat typed");
    assert!(
        typed.contains("\nF.2.0.17.status.1:SGP:str:PAUSED\n"),
        "{typed}"
    );
    assert!(
        typed.contains("\nF.4.0.17.status.1:SGP:str:OPEN\n"),
        "{typed}"
    );
    let json = run(&rt, Level::User, "show stat json");
    assert!(
        json.contains("\"field\":{\"pos\":17,\"name\":\"status\"},\"processNum\":1,\"tags\":{\"origin\":\"Status\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"str\",\"value\":\"PAUSED\"}"),
        "{json}"
    );
    assert_eq!(run(&rt, Level::Admin, "enable frontend fe"), "\n");
    assert!(
        run(&rt, Level::User, "show stat typed").contains("\nF.2.0.17.status.1:SGP:str:OPEN\n")
    );
    assert_eq!(
        run(&rt, Level::User, "show stat typed desc"),
        "show stat: field descriptions (desc) are not supported.\n\n"
    );
}

/// `show version`, `show env`, `show errors`: HAProxy 2.6.12's answers on
/// [`CONFIG`], levels and argument checks included.
#[test]
fn about_commands_answer_as_haproxy() {
    let rt = runtime();
    let errors_header = |out: &str| {
        out.starts_with("Total events captured on [")
            && out.ends_with("] : 0\n\n")
            && out.lines().count() == 2
    };
    let version = format!("{}\n\n", env!("CARGO_PKG_VERSION"));
    let exact: &[(Level, &str, &str)] = &[
        (Level::User, "show version", &version),
        (Level::User, "show version extra", &version),
        (Level::User, "show env PATH", "Permission denied\n\n"),
        (Level::User, "show errors", "Permission denied\n\n"),
        (
            Level::Operator,
            "show env SPLICER_NO_SUCH_VARIABLE",
            "Variable not found\n\n",
        ),
        (Level::Admin, "show errors nope", "No such proxy.\n\n"),
        (Level::Admin, "show errors 0", "No such proxy.\n\n"),
        (Level::Admin, "show errors x12", "No such proxy.\n\n"),
    ];
    for (level, line, want) in exact {
        assert_eq!(run(&rt, *level, line), *want, "{line}");
    }
    for line in [
        "show errors",
        "show errors fe",
        "show errors be",
        "show errors li request",
        "show errors 99",
        "show errors -1",
        "show errors 2abc response",
        "show errors fe bogus",
    ] {
        let out = run(&rt, Level::Operator, line);
        assert!(errors_header(&out), "{line}: {out:?}");
    }
    // The process's environment, `environ`'s first line by name.
    let all = run(&rt, Level::Operator, "show env");
    let first = all.lines().next().expect("an environment");
    let name = first.split('=').next().unwrap();
    assert_eq!(
        run(&rt, Level::Operator, &format!("show env {name}")),
        format!("{first}\n\n")
    );
}

/// `show errors`' dump of captured bytes, as HAProxy's: at most 80
/// characters a line with its newline, offsets of 5 digits, `+` on a
/// broken line's continuation, escapes for what is not printable.
#[test]
fn captured_bytes_are_dumped_as_haproxy_does() {
    let dump = |bytes: &[u8]| {
        let mut out = String::new();
        super::about::dump_text(bytes, &mut out);
        out
    };
    assert_eq!(
        dump(b"PROXY x\r\n\x01\\\t\x1b\xff"),
        "  00000  PROXY x\\r\\n\n  00009  \\x01\\\\\\t\\e\\xFF\n"
    );
    let long = dump(&[b'a'; 100]);
    assert_eq!(
        long,
        format!("  00000  {}\n  00070+ {}\n", "a".repeat(70), "a".repeat(30))
    );
    // A 4-character escape that would pass column 79 goes to the next line.
    let mut bytes = vec![b'a'; 67];
    bytes.push(0);
    assert_eq!(
        dump(&bytes),
        format!("  00000  {}\n  00067+ \\x00\n", "a".repeat(67))
    );
}

proptest::proptest! {
    /// Any bytes: lines of at most 79 characters before their newline,
    /// each starting at the offset it says, and the escapes read back
    /// give the bytes again.
    #[test]
    fn any_capture_dumps_within_80_columns_and_reads_back(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
    ) {
        let mut out = String::new();
        super::about::dump_text(&bytes, &mut out);
        let mut back = Vec::new();
        for line in out.lines() {
            proptest::prop_assert!(line.len() <= 79, "{line:?}");
            let offset: usize = line[2..7].parse().unwrap();
            proptest::prop_assert_eq!(offset, back.len());
            let mut text = line[9..].bytes();
            while let Some(c) = text.next() {
                if c != b'\\' {
                    back.push(c);
                    continue;
                }
                back.push(match text.next().unwrap() {
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b'e' => 0x1b,
                    b'\\' => b'\\',
                    b'x' => {
                        let hex = [text.next().unwrap(), text.next().unwrap()];
                        u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap()
                    }
                    other => panic!("escape {other}"),
                });
            }
        }
        proptest::prop_assert_eq!(back, bytes);
    }
}
