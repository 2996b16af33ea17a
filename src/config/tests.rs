//! Parser and validation tests: whole configs in, model or `FILE:LINE`
//! diagnostics out (error tables are in `tests/errors.rs`, each topic's in
//! `tests/<topic>.rs`). Lexer, values and server parameters have their own
//! tests beside their code.

use super::*;
use crate::base::ids::BackendId;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    match name {
        "WEB_PORT" => Some("8080".into()),
        "DB_ADDR" => Some("127.0.0.1:3306".into()),
        "BINDS" => Some("127.0.0.1:7001 name web".into()),
        _ => None,
    }
}

/// A minimal valid config to which tests append lines.
pub(super) const HEAD: &str = "defaults
    mode tcp
    timeout connect 4s
    timeout client 30s
    timeout server 30s
";

pub(super) fn ok(text: &str) -> Loaded {
    match parse_with_env("t.cfg", text, &env) {
        Ok(l) => l,
        Err(e) => panic!("unexpected errors: {:#?}", e.errors),
    }
}

pub(super) fn errors(text: &str) -> Vec<String> {
    match parse_with_env("t.cfg", text, &env) {
        Ok(_) => panic!("config accepted:\n{text}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

pub(super) fn warnings(text: &str) -> Vec<String> {
    let w = match parse_with_env("t.cfg", text, &env) {
        Ok(l) => l.warnings,
        Err(e) => e.warnings,
    };
    w.iter().map(ToString::to_string).collect()
}

#[test]
fn resolves_a_complete_config() {
    let l = ok(&format!(
        "global
    nbthread 4
    maxconn 20000
    maxpipes 500
    tune.pipesize 256k
    nosplice
    hard-stop-after 30s
    pidfile /run/splicer.pid
{HEAD}    retries 5
    option redispatch
frontend web
    bind 127.0.0.1:80 name http backlog 512
    bind [::1]:80 v6only
    maxconn 1000
    timeout client-fin 2s
    option splice-auto
    default_backend nginx
backend nginx
    balance leastconn
    timeout tunnel 1h
    timeout queue 3s
    timeout server-fin 1s
    timeout check 2s
    no option splice-response
    option allbackups
    source 127.0.0.5
    server web1 127.0.0.1:8001 weight 3 check
    server web2 127.0.0.1:8002 maxconn 50 send-proxy
    server spare 127.0.0.1:8003 backup
"
    ));
    let c = &l.config;
    let g = &c.global;
    assert_eq!(
        (g.nbthread, g.maxconn, g.maxpipes, g.pipesize),
        (Some(4), 20000, Some(500), 256 * 1024)
    );
    assert!(g.nosplice);
    assert_eq!(g.hard_stop_after, Some(Duration::from_secs(30)));
    assert_eq!(
        g.pidfile.as_deref(),
        Some(std::path::Path::new("/run/splicer.pid"))
    );
    let fe = &c.frontends[0];
    assert_eq!(fe.binds.len(), 2);
    assert_eq!(
        fe.binds[0].addr.tcp(),
        Some("127.0.0.1:80".parse().unwrap())
    );
    assert_eq!(
        (fe.binds[0].name.as_deref(), fe.binds[0].backlog),
        (Some("http"), Some(512))
    );
    assert!(fe.binds[1].v6only);
    assert_eq!(fe.binds[1].location.line, 18);
    assert_eq!(fe.maxconn, Some(1000));
    assert_eq!(fe.timeout_client, Some(Duration::from_secs(30)));
    assert_eq!(fe.timeout_client_fin, Some(Duration::from_secs(2)));
    assert_eq!(fe.splice.auto, Some(true));
    assert_eq!(fe.default_backend, c.backend("nginx"));
    let be = &c.backends[0];
    assert_eq!(be.balance, Balance::LeastConn);
    assert_eq!(be.timeout_connect, Duration::from_secs(4));
    assert_eq!(be.timeout_server, Some(Duration::from_secs(30)));
    assert_eq!(be.timeout_tunnel, Some(Duration::from_secs(3600)));
    assert_eq!(be.timeout_queue, Some(Duration::from_secs(3)));
    assert_eq!(be.timeout_server_fin, Some(Duration::from_secs(1)));
    assert_eq!((be.retries, be.redispatch, be.allbackups), (5, true, true));
    assert_eq!(be.splice.response, Some(false));
    let weights: Vec<u32> = be.servers.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [3, 1, 1]);
    assert!(be.servers[0].check.enabled && !be.servers[1].check.enabled);
    assert_eq!(be.servers[0].check.timeout, Some(Duration::from_secs(2)));
    assert_eq!(be.servers[1].send_proxy, Some(ProxyVersion::V1));
    assert_eq!(be.servers[1].maxconn, Some(50));
    assert!(be.servers[2].backup);
    assert!(
        be.servers
            .iter()
            .all(|s| s.source == Some("127.0.0.5".parse().unwrap()))
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

/// An unset maxconn as HAProxy 2.6 derives it (its compute_ideal_maxconn):
/// what the open files limit holds after the reserved descriptors, 2 a
/// session (and half a pipe's 2 when splicing with pipes on demand).
#[test]
fn maxconn_from_the_open_files_limit() {
    let b = |limit, reserved, maxpipes, splice| FdBudget {
        limit,
        reserved,
        maxpipes,
        splice,
    };
    // HAProxy, ulimit -n 256 (its stress run: 114 with 28 reserved, no splice).
    assert_eq!(ideal_maxconn(b(256, 28, None, false)), 114);
    // splicer splices: a pipe (2 fds) per 4 sessions.
    assert_eq!(ideal_maxconn(b(512, 26, None, true)), 194);
    // What must fit: the pipes on demand are optional (copying instead).
    assert_eq!(b(512, 26, None, true).maxsock(194), 26 + 388);
    assert_eq!(b(512, 26, Some(10), true).maxsock(194), 26 + 388 + 20);
    // A maxpipes set is taken off first, when it fits.
    assert_eq!(ideal_maxconn(b(1000, 0, Some(100), true)), 400);
    assert_eq!(ideal_maxconn(b(1000, 0, Some(600), true)), 500);
    // Never under 100, even with fewer descriptors than reserved.
    assert_eq!(ideal_maxconn(b(48, 60, None, true)), MIN_DERIVED_MAXCONN);
    // The usual hard limit of a service: about 200,000.
    assert_eq!(ideal_maxconn(b(524_288, 30, None, true)), 209_703);
}

/// `strict-limits` (on by default) and `no strict-limits`: a maxconn the
/// open files limit cannot hold is refused, or warned about, in HAProxy
/// 2.6's words.
#[test]
fn strict_limits_refuse_a_maxconn_the_limit_cannot_hold() {
    let body = "listen l\n bind :80\n server s 127.0.0.1:81\n";
    let strict = ok(&format!("global\n nbthread 1\n maxconn 1000\n{body}"));
    assert!(strict.config.global.strict_limits);
    // 10 + 1 listener + 1 server + 3 (one worker) + 2 x 1,000.
    assert_eq!(strict.config.fd_limit_check(2015), Ok(None));
    assert_eq!(
        strict.config.fd_limit_check(2014),
        Err("Cannot raise FD limit to 2015, limit is 2014.".to_string())
    );
    let loose = ok(&format!(
        "global\n nbthread 1\n maxconn 1000\n no strict-limits\n{body}"
    ));
    assert!(!loose.config.global.strict_limits);
    assert_eq!(
        loose.config.fd_limit_check(1024),
        Ok(Some("FD limit (1024) too low for maxconn=1000/maxsock=2015. Please raise 'ulimit-n' to 2015 or more to avoid any trouble.".to_string()))
    );
    let again = ok(&format!(
        "global\n no strict-limits\n strict-limits\n{body}"
    ));
    assert!(again.config.global.strict_limits);
    for (line, want) in [
        (
            "no strict-limits now",
            "t.cfg:2: 'strict-limits' cannot handle unexpected argument 'now'",
        ),
        (
            "no busy-polling",
            "t.cfg:2: 'no busy-polling' is not supported yet",
        ),
        (
            "no maxconn",
            "t.cfg:2: negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.",
        ),
    ] {
        let e = errors(&format!("global\n {line}\n{body}"));
        assert!(e.iter().any(|x| x == want), "{line}: {e:?}");
    }
}

#[test]
fn defaults_when_unset() {
    let l = ok("frontend f\n bind :80\n default_backend b\nbackend b\n server s 127.0.0.1:81\n");
    let (g, be) = (&l.config.global, &l.config.backends[0]);
    assert_eq!(
        (g.nbthread, g.maxconn_set, g.pipesize, g.nosplice),
        (None, false, DEFAULT_PIPESIZE, false)
    );
    // maxconn from the open files limit, as HAProxy: 1 bind and 1 server.
    let limit = crate::sys::nofile_ceiling().unwrap();
    let budget = FdBudget::of(g, 1, 1, limit);
    assert_eq!(g.maxconn, ideal_maxconn(budget));
    assert!(budget.maxsock(g.maxconn) <= limit.max(budget.maxsock(MIN_DERIVED_MAXCONN)));
    // Set, it is kept whatever the limit.
    let l = ok("global
 maxconn 123456789
listen l
 bind :80
 server s 127.0.0.1:81
");
    assert_eq!(
        (l.config.global.maxconn, l.config.global.maxconn_set),
        (123456789, true)
    );
    assert_eq!(
        (be.balance, be.hash_type, be.retries),
        (Balance::RoundRobin, HashType::MapBased, DEFAULT_RETRIES)
    );
    assert_eq!(
        (be.timeout_connect, be.timeout_server),
        (DEFAULT_TIMEOUT_CONNECT, None)
    );
    assert_eq!(be.servers[0].check, CheckParams::default());
    assert_eq!(be.servers[0].weight, DEFAULT_WEIGHT);
    assert_eq!(l.config.frontends[0].timeout_client, None);
}

#[test]
fn balance_and_hash_type() {
    let cases: &[(&str, Balance, HashType)] = &[
        (
            "balance roundrobin",
            Balance::RoundRobin,
            HashType::MapBased,
        ),
        ("balance static-rr", Balance::StaticRr, HashType::MapBased),
        ("balance leastconn", Balance::LeastConn, HashType::MapBased),
        ("balance first", Balance::First, HashType::MapBased),
        (
            "balance source\n hash-type consistent",
            Balance::Source,
            HashType::Consistent,
        ),
        (
            "balance source\n hash-type map-based sdbm",
            Balance::Source,
            HashType::MapBased,
        ),
        (
            "balance random",
            Balance::Random {
                draws: DEFAULT_RANDOM_DRAWS,
            },
            HashType::MapBased,
        ),
        (
            "balance random(5)",
            Balance::Random { draws: 5 },
            HashType::MapBased,
        ),
    ];
    for (line, balance, hash) in cases {
        let l = ok(&format!(
            "{HEAD}listen l\n bind :80\n {line}\n server s 127.0.0.1:81\n"
        ));
        assert_eq!(
            (l.config.backends[0].balance, l.config.backends[0].hash_type),
            (*balance, *hash),
            "{line}"
        );
    }
}

#[test]
fn warns_like_haproxy() {
    let text = format!(
        "{HEAD}    option httplog
frontend f
    bind :80
    option forwardfor
    http-request deny
    timeout http-request 5s
    timeout server 5s
    default_backend b
backend b
    bind :81
    option dontlognull
    server s 127.0.0.1:81 cookie s1
global
    daemon
    tune.ssl.keylog on
"
    );
    let w = warnings(&text);
    let expected = [
        "t.cfg:6: 'option httplog' not usable with frontend 'f' (needs 'mode http'). Falling back to 'option tcplog'.",
        "t.cfg:7: log format ignored for frontend 'f' since it has no log address.",
        "t.cfg:9: 'option forwardfor' ignored for frontend 'f' as it requires HTTP mode.",
        "t.cfg:10: 'http-request' rules ignored for frontend 'f' as they require HTTP mode.",
        "t.cfg:11: 'timeout http-request' ignored for frontend 'f' as it requires HTTP mode.",
        "t.cfg:12: 'timeout server' will be ignored because frontend 'f' has no backend capability",
        "t.cfg:15: 'bind' ignored because backend 'b' has no frontend capability.",
        "t.cfg:16: 'dontlognull' ignored because backend 'b' has no frontend capability.",
        "t.cfg:17: server 'b/s': 'cookie' ignored as it requires HTTP mode",
        "t.cfg:20: 'tune.ssl.keylog' has no meaning with rustls; ignored",
    ];
    assert_eq!(w, expected);
}

#[test]
fn warns_about_missing_pieces() {
    let w = warnings(
        "frontend f\n bind :80\nbackend b\n timeout connect 1s\n timeout server 1s\nlisten l\n bind :81\n",
    );
    assert_eq!(w.len(), 5, "{w:#?}");
    assert!(w[0].starts_with("t.cfg:1: missing timeouts for frontend 'f'."));
    assert!(w[1].starts_with("t.cfg:1: frontend 'f' has no 'default_backend'"));
    assert!(w[2].starts_with("t.cfg:3: backend 'b' has no server"));
    assert!(w[3].starts_with("t.cfg:6: missing timeouts for proxy 'l'."));
    assert!(w[3].ends_with("Without 'timeout connect' splicer uses 5 s."));
    assert!(
        w[4].starts_with("t.cfg:6: proxy 'l' has no server"),
        "{w:#?}"
    );
}

#[test]
fn defaults_inheritance() {
    let l = ok("defaults base
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    balance leastconn
    default-server inter 5s rise 1
defaults other from base
    timeout connect 2s
    retries 7
backend b1 from base
    server s 127.0.0.1:1
defaults
    mode tcp
    timeout client 20s
    timeout server 20s
backend b2 from other
    balance first
    server s 127.0.0.1:2
backend b3
    server s 127.0.0.1:3 weight 9
listen l
    bind :80
    server s 127.0.0.1:4
");
    let b = |n: &str| &l.config.backends[l.config.backend(n).unwrap().index()];
    // b1: named defaults.
    assert_eq!(
        (b("b1").balance, b("b1").timeout_connect, b("b1").retries),
        (Balance::LeastConn, Duration::from_secs(1), 3)
    );
    assert_eq!(
        (
            b("b1").servers[0].check.inter,
            b("b1").servers[0].check.rise
        ),
        (Duration::from_secs(5), 1)
    );
    // b2: `other` inherits `base` and overrides; the proxy overrides again.
    assert_eq!(
        (b("b2").balance, b("b2").timeout_connect, b("b2").retries),
        (Balance::First, Duration::from_secs(2), 7)
    );
    assert_eq!(b("b2").servers[0].check.inter, Duration::from_secs(5));
    // b3 and l: the anonymous defaults reset everything.
    assert_eq!(
        (b("b3").balance, b("b3").timeout_connect),
        (Balance::RoundRobin, DEFAULT_TIMEOUT_CONNECT)
    );
    assert_eq!(b("b3").timeout_server, Some(Duration::from_secs(20)));
    assert_eq!(b("b3").servers[0].check.inter, DEFAULT_CHECK_INTER);
    assert_eq!(
        l.config.frontends[0].timeout_client,
        Some(Duration::from_secs(20))
    );
}

#[test]
fn default_server_applies_to_later_servers() {
    let l = ok(&format!(
        "{HEAD}listen l\n bind :80\n server a 127.0.0.1:1\n default-server weight 5 check\n server b 127.0.0.1:2\n server c 127.0.0.1:3 weight 2 no-check\n"
    ));
    let s = &l.config.backends[0].servers;
    let got: Vec<(u32, bool)> = s.iter().map(|s| (s.weight, s.check.enabled)).collect();
    assert_eq!(got, [(1, false), (5, true), (2, false)]);
}

#[test]
fn listen_becomes_frontend_and_backend() {
    let l = ok(&format!(
        "{HEAD}listen mysql\n bind 127.0.0.1:3306\n bind 127.0.0.1:3310-3311\n server db 127.0.0.1:13306\n option splice-request\n"
    ));
    let c = &l.config;
    assert_eq!((c.frontends.len(), c.backends.len()), (1, 1));
    assert_eq!(
        (c.frontends[0].name.as_str(), c.backends[0].name.as_str()),
        ("mysql", "mysql")
    );
    assert_eq!(c.frontends[0].default_backend, Some(BackendId::new(0)));
    let ports: Vec<u16> = c.frontends[0]
        .binds
        .iter()
        .map(|b| b.addr.tcp().unwrap().port())
        .collect();
    assert_eq!(ports, [3306, 3310, 3311]);
    assert_eq!(
        (c.frontends[0].splice.request, c.backends[0].splice.request),
        (Some(true), Some(true))
    );
}

#[test]
fn environment_variables() {
    let l = ok(&format!(
        "{HEAD}listen l\n bind \":${{WEB_PORT}}\"\n bind \"${{BINDS[*]}}\"\n server s \"${{DB_ADDR}}\"\n server t \"127.0.0.1:${{NOPE-9000}}\"\n"
    ));
    let ports: Vec<u16> = l.config.frontends[0]
        .binds
        .iter()
        .map(|b| b.addr.tcp().unwrap().port())
        .collect();
    assert_eq!(ports, [8080, 7001]);
    // `"${BINDS[*]}"` became three words: address, `name`, its value.
    assert_eq!(l.config.frontends[0].binds[1].name.as_deref(), Some("web"));
    let s = &l.config.backends[0].servers;
    assert_eq!((s[0].addr.port(), s[1].addr.port()), (3306, 9000));
    // Unquoted: literal, as in HAProxy, with a warning that says how to fix it...
    let w = warnings(&format!(
        "{HEAD}listen l\n bind :80\n description ${{WEB_PORT}}\n"
    ));
    let note = "t.cfg:8: '${WEB_PORT}' is not expanded outside double quotes";
    assert!(w.iter().any(|w| w.starts_with(note)), "{w:?}");
    // ...except in bind and server addresses, which HAProxy expands again.
    let l = ok(&format!(
        "{HEAD}listen l\n bind :${{WEB_PORT}}\n server s $DB_ADDR\n"
    ));
    assert_eq!(
        l.config.frontends[0].binds[0].addr.tcp().unwrap().port(),
        8080
    );
    assert_eq!(l.config.backends[0].servers[0].addr.port(), 3306);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn disabled_and_enabled() {
    let l = ok(&format!(
        "{HEAD}frontend f\n bind :80\n default_backend b\nfrontend g\n disabled\n bind :81\nbackend b\n disabled\n enabled\n server s 127.0.0.1:1 disabled\n"
    ));
    let c = &l.config;
    assert_eq!(
        (
            c.frontends[0].disabled,
            c.frontends[1].disabled,
            c.backends[0].disabled
        ),
        (false, true, false)
    );
    assert!(c.backends[0].servers[0].disabled);
}

#[test]
fn sections_end_with_their_file() {
    let dir = std::env::temp_dir().join(format!("splicer-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b, c) = (dir.join("a.cfg"), dir.join("b.cfg"), dir.join("c.cfg"));
    std::fs::write(
        &a,
        "defaults\n mode tcp\n timeout connect 3s\nbackend be\n server s 127.0.0.1:1\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        " retries 2\nfrontend fe\n bind :80\n default_backend be\n",
    )
    .unwrap();
    std::fs::write(&c, "frontend fe\n bind :80\n default_backend be\n").unwrap();
    let err = load(&[a.clone(), b.clone()]).unwrap_err();
    assert_eq!(
        err.errors[0].to_string(),
        format!(
            "{}:1: unknown keyword 'retries' out of section",
            b.display()
        )
    );
    // The last defaults section carries over to the next file.
    let l = load(&[a.clone(), c.clone()]).unwrap();
    assert_eq!(
        l.config.frontends[0].default_backend,
        Some(BackendId::new(0))
    );
    let missing = dir.join("missing.cfg");
    let err = load(&[a, missing.clone()]).unwrap_err();
    assert!(err.errors[0].to_string().starts_with(&format!(
        "{}:0: cannot read configuration file",
        missing.display()
    )));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn proxies_are_numbered_as_haproxy_does() {
    // Observed with HAProxy 2.6 `show stat` on the same layout: bb=2,
    // ff=3, li2=7 (its id), f3=5.
    let c = ok("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
         backend bb\n    server s1 127.0.0.1:1\n\
         frontend ff\n    bind 127.0.0.1:0\n    default_backend bb\n\
         listen li2\n    id 7\n    bind 127.0.0.1:0\n    server x1 127.0.0.1:2\n\
         frontend f3\n    bind 127.0.0.1:0\n    default_backend bb\n")
    .config;
    let fronts: Vec<(&str, usize, u32)> = c
        .frontends
        .iter()
        .map(|f| (f.name.as_str(), f.order, f.uid))
        .collect();
    let backs: Vec<(&str, usize, u32)> = c
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.order, b.uid))
        .collect();
    assert_eq!(fronts, vec![("ff", 1, 3), ("li2", 2, 7), ("f3", 3, 5)]);
    assert_eq!(backs, vec![("bb", 0, 2), ("li2", 2, 7)]);
}

mod announce;
mod checks;
mod conditionals;
mod errors;
mod identity;
mod keywords;
mod log_options;
mod logs;
mod mysql;
mod peers;
mod props;
mod runtime_servers;
mod tables;
mod tcp;
mod tls;
mod vrrp;
