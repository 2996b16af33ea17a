//! Every keyword a table registers reaches its parser: a plausible line for
//! each one loads without an error. A keyword added to a table without a
//! line here fails the test, so that its parser gets tried at least once.

use super::HEAD;
use crate::config::*;

/// A listen section that every line below may join.
const LISTEN: &str = "listen l
    bind 127.0.0.1:8000
    server s1 127.0.0.1:9000
";

/// A vrrp section with what it requires.
const VRRP: &str = "vrrp v
    interface eth0
    virtual_router_id 5
    virtual_ipaddress 10.0.0.1
";

/// For each name of `table`, its line from `samples` (`{}` in `config`
/// stands for the line) must load without an error.
fn each_loads<'a>(
    table: impl Iterator<Item = &'a str>,
    samples: &[(&str, impl AsRef<str>)],
    config: &str,
) {
    let table: Vec<&str> = table.collect();
    for (name, _) in samples {
        assert!(table.contains(name), "'{name}' is not in the table");
    }
    for name in table {
        let Some((_, line)) = samples.iter().find(|(n, _)| *n == name) else {
            panic!("'{name}' has no sample line in this test");
        };
        let line = line.as_ref();
        let text = config.replace("{}", line);
        if let Err(e) = parse_str("t.cfg", &text) {
            let errors: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
            panic!("'{line}' for '{name}': {errors:#?}");
        }
    }
}

#[test]
fn proxy_keywords() {
    let samples = [
        ("mode", "mode tcp"),
        ("bind", "bind 127.0.0.1:8001"),
        ("default_backend", "default_backend l"),
        ("maxconn", "maxconn 100"),
        ("fullconn", "fullconn 100"),
        ("balance", "balance leastconn"),
        ("hash-type", "hash-type consistent"),
        ("server", "server s2 127.0.0.1:9001"),
        ("default-server", "default-server inter 3s"),
        ("retries", "retries 3"),
        ("source", "source 127.0.0.1"),
        ("timeout", "timeout tunnel 1h"),
        ("option", "option redispatch"),
        ("no", "no option redispatch"),
        ("disabled", "disabled"),
        ("enabled", "enabled"),
        ("http-check", "http-check expect status 200"),
        ("tcp-check", "tcp-check connect"),
        ("description", "description the web farm"),
        ("id", "id 7"),
        ("log", "log stdout local0"),
        ("log-format", "log-format %ci"),
        ("log-format-sd", "log-format-sd [x@1\\ c=\\\"%ci\\\"]"),
        ("error-log-format", "error-log-format \"%ci:%cp %ts\""),
        ("log-tag", "log-tag web"),
        ("stats", "stats enable"),
    ];
    let names = proxy::PROXY_KEYWORDS.iter().map(|k| k.name);
    // A second listener, for `disabled`.
    let config = format!(
        "{HEAD}{LISTEN}    {{}}\nfrontend f\n    bind 127.0.0.1:8002\n    default_backend l\n"
    );
    each_loads(names, &samples, &config);
}

#[test]
fn options_and_timeouts() {
    let config = format!("{HEAD}{LISTEN}    {{}}\n");
    let on_off = options::OPTIONS.iter().map(|o| o.name);
    let samples: Vec<_> = on_off.clone().map(|n| (n, format!("option {n}"))).collect();
    each_loads(on_off.clone(), &samples, &config);
    let samples: Vec<_> = on_off
        .clone()
        .map(|n| (n, format!("no option {n}")))
        .collect();
    each_loads(on_off, &samples, &config);

    let log = options::LOG_OPTIONS.iter().map(|(n, _)| *n);
    each_loads(log, &[("tcplog", "option tcplog")], &config);

    let checks = [
        ("httpchk", "option httpchk GET /health"),
        ("mysql-check", "option mysql-check user check"),
        ("pgsql-check", "option pgsql-check user check"),
        ("redis-check", "option redis-check"),
        ("ssl-hello-chk", "option ssl-hello-chk"),
        ("tcp-check", "option tcp-check"),
    ];
    each_loads(
        checks::CHECK_OPTIONS.iter().map(|o| o.name),
        &checks,
        &config,
    );

    let timeouts = options::TIMEOUTS.iter().map(|t| t.name);
    let samples: Vec<_> = timeouts
        .clone()
        .map(|n| (n, format!("timeout {n} 5s")))
        .collect();
    each_loads(timeouts, &samples, &config);
}

#[test]
fn check_actions() {
    let config = format!("{HEAD}{LISTEN}    {{}}\n");
    let http = [
        ("send", "http-check send meth GET uri /health"),
        ("expect", "http-check expect rstatus ^2"),
        ("disable-on-404", "http-check disable-on-404"),
        ("comment", "http-check comment web"),
    ];
    let names = checks::HTTP_CHECK_ACTIONS.iter().map(|(n, _)| *n);
    each_loads(names, &http, &config);
    let tcp = [
        ("connect", "tcp-check connect port 9000"),
        ("send", "tcp-check send PING\\r\\n"),
        ("send-binary", "tcp-check send-binary 50494e47"),
        ("expect", "tcp-check expect string +PONG"),
        ("comment", "tcp-check comment redis"),
    ];
    let names = rules::TCP_CHECK_ACTIONS.iter().map(|(n, _)| *n);
    each_loads(names, &tcp, &config);
}

#[test]
fn server_and_bind_parameters() {
    let config = format!("{HEAD}{LISTEN}    server s2 127.0.0.1:9001 check {{}}\n");
    let with_arg = [
        ("weight", "weight 10"),
        ("maxconn", "maxconn 50"),
        ("minconn", "minconn 5"),
        ("maxqueue", "maxqueue 10"),
        ("source", "source 127.0.0.1"),
        ("id", "id 3"),
        ("inter", "inter 2s"),
        ("fastinter", "fastinter 1s"),
        ("downinter", "downinter 5s"),
        ("rise", "rise 3"),
        ("fall", "fall 2"),
        ("port", "port 8080"),
        ("addr", "addr 127.0.0.2"),
        ("slowstart", "slowstart 30s"),
        ("on-marked-down", "on-marked-down shutdown-sessions"),
        ("on-marked-up", "on-marked-up shutdown-backup-sessions"),
        ("observe", "observe layer4"),
        ("error-limit", "error-limit 5"),
        ("on-error", "on-error mark-down"),
        ("agent-port", "agent-port 9999"),
        ("agent-inter", "agent-inter 3s"),
        ("agent-addr", "agent-addr 127.0.0.3"),
        ("agent-send", "agent-send ping"),
    ];
    each_loads(server::WITH_ARG.iter().map(|(n, _)| *n), &with_arg, &config);
    let flags = server::FLAGS.iter().map(|(n, _)| *n);
    let samples: Vec<_> = flags.clone().map(|n| (n, n)).collect();
    each_loads(flags, &samples, &config);

    let config = format!("{HEAD}{LISTEN}    bind 127.0.0.1:8001 {{}}\n");
    let bind = [
        ("v4v6", "v4v6"),
        ("v6only", "v6only"),
        ("accept-proxy", "accept-proxy"),
        ("backlog", "backlog 512"),
        ("name", "name web"),
    ];
    each_loads(bind::PARAMS.iter().map(|(n, _)| *n), &bind, &config);
}

#[test]
fn global_keywords_and_stats_socket() {
    let samples = [
        ("log", "log stdout local0"),
        ("log-tag", "log-tag splicer"),
        ("log-send-hostname", "log-send-hostname lb1"),
        ("nbthread", "nbthread 2"),
        ("maxconn", "maxconn 1000"),
        ("maxpipes", "maxpipes 10"),
        ("tune.pipesize", "tune.pipesize 64k"),
        ("nosplice", "nosplice"),
        ("hard-stop-after", "hard-stop-after 30s"),
        ("pidfile", "pidfile /run/splicer.pid"),
        ("daemon", "daemon"),
        ("quiet", "quiet"),
        ("node", "node lb1"),
        ("ulimit-n", "ulimit-n 65536"),
        ("master-worker", "master-worker no-exit-on-failure"),
        ("user", "user root"),
        ("group", "group root"),
        ("uid", "uid 0"),
        ("gid", "gid 0"),
        ("chroot", "chroot /var/empty"),
        ("spread-checks", "spread-checks 5"),
        ("description", "description the lb"),
        ("stats", "stats timeout 1m"),
        ("setenv", "setenv SPLICER_T 1"),
        ("presetenv", "presetenv SPLICER_T 1"),
        ("unsetenv", "unsetenv SPLICER_T"),
        ("resetenv", "resetenv HOME"),
    ];
    let names = global::GLOBAL_KEYWORDS.iter().map(|k| k.name);
    each_loads(
        names,
        &samples,
        &format!("global\n    {{}}\n{HEAD}{LISTEN}"),
    );

    let socket = [
        ("level", "level admin"),
        ("mode", "mode 600"),
        ("uid", "uid 0"),
        ("gid", "gid 0"),
        ("user", "user root"),
        ("group", "group root"),
        ("expose-fd", "expose-fd listeners"),
    ];
    let names = stats::SOCKET_PARAMS.iter().map(|(n, _)| *n);
    let config = format!("global\n    stats socket /run/splicer.sock {{}}\n{HEAD}{LISTEN}");
    each_loads(names, &socket, &config);
}

#[test]
fn vrrp_keywords() {
    let samples = [
        ("interface", "interface eth1"),
        ("virtual_router_id", "virtual_router_id 7"),
        ("priority", "priority 150"),
        ("advert_int", "advert_int 0.5"),
        ("virtual_ipaddress", "virtual_ipaddress 10.0.0.2/24"),
        ("unicast_peer", "unicast_peer 10.0.0.3"),
        ("nopreempt", "nopreempt"),
        ("preempt", "preempt"),
        ("preempt_delay", "preempt_delay 10"),
        ("track_backend", "track_backend l"),
        ("notify", "notify /bin/true"),
        ("state", "state BACKUP"),
    ];
    let names = vrrp::KEYWORDS.iter().map(|(n, _)| *n);
    each_loads(names, &samples, &format!("{HEAD}{LISTEN}{VRRP}    {{}}\n"));
}

#[test]
fn minconn_maxconn_and_fullconn_as_haproxy_settles_them() {
    let l = super::ok(&format!(
        "{HEAD}frontend f\n    bind 127.0.0.1:8000\n    maxconn 500\n    default_backend b\n\
         backend b\n    server a 127.0.0.1:1 minconn 50 maxconn 10\n    server c 127.0.0.1:2 minconn 5\n\
         \x20   server d 127.0.0.1:3 maxconn 7 maxqueue -1\n    server e 127.0.0.1:4 maxqueue 9\n\
         backend x\n    fullconn 33\n    server s 127.0.0.1:5\n{LISTEN}"
    ));
    let b = &l.config.backends[0];
    let limits: Vec<_> = b
        .servers
        .iter()
        .map(|s| (s.minconn, s.maxconn, s.maxqueue))
        .collect();
    assert_eq!(
        limits,
        [
            (Some(50), Some(50), 0),
            (Some(5), Some(5), 0),
            (Some(7), Some(7), 0),
            (None, None, 9),
        ]
    );
    assert_eq!(b.fullconn, 50, "10 % of the frontend's maxconn 500");
    assert_eq!(l.config.backends[1].fullconn, 33);
    // A listen sends to itself, with the global maxconn (4096 by default).
    assert_eq!(l.config.backends[2].fullconn, 410);
}
