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
        (
            "load-server-state-from-file",
            "load-server-state-from-file local",
        ),
        (
            "server-state-file-name",
            "server-state-file-name use-backend-name",
        ),
        ("rate-limit", "rate-limit sessions 10"),
        ("balance", "balance leastconn"),
        ("hash-type", "hash-type consistent"),
        ("server", "server s2 127.0.0.1:9001"),
        ("server-template", "server-template t 1-2 127.0.0.1:9002"),
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
        ("backlog", "backlog 2048"),
        ("clitcpka-cnt", "clitcpka-cnt 3"),
        ("clitcpka-idle", "clitcpka-idle 30"),
        ("clitcpka-intvl", "clitcpka-intvl 10s"),
        ("srvtcpka-cnt", "srvtcpka-cnt 3"),
        ("srvtcpka-idle", "srvtcpka-idle 1m"),
        ("srvtcpka-intvl", "srvtcpka-intvl 5"),
        // The cluster it names follows the listen section.
        (
            "mysql-role",
            "mysql-role reader cluster c\nmysql-cluster c\n    user u\n    server s1 127.0.0.1:9000",
        ),
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
    // `option tcpka` has no `no` form in HAProxy (`tests/tcp.rs`).
    let negatable = on_off.filter(|n| *n != "tcpka");
    let samples: Vec<_> = negatable
        .clone()
        .map(|n| (n, format!("no option {n}")))
        .collect();
    each_loads(negatable, &samples, &config);

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
    let config = format!(
        "{HEAD}{LISTEN}    server s3 127.0.0.1:9002 check\n    server s2 127.0.0.1:9001 check {{}}\n"
    );
    let with_arg = [
        ("weight", "weight 10"),
        ("maxconn", "maxconn 50"),
        ("minconn", "minconn 5"),
        // A tracking server has no check of its own: s2 drops it and
        // follows s3, which has one.
        ("track", "no-check track s3"),
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
        ("resolvers", "resolvers dns"),
        ("resolve-prefer", "resolve-prefer ipv4"),
        ("resolve-net", "resolve-net 127.0.0.0/8"),
        ("resolve-opts", "resolve-opts allow-dup-ip"),
        ("init-addr", "init-addr last,libc,none"),
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
        ("defer-accept", "defer-accept"),
        ("tfo", "tfo"),
        ("transparent", "transparent"),
        ("interface", "interface lo"),
        ("mss", "mss 1400"),
        ("mode", "mode 600"),
        ("user", "user root"),
        ("uid", "uid 0"),
        ("group", "group root"),
        ("gid", "gid 0"),
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
        ("strict-limits", "strict-limits"),
        ("tune.pipesize", "tune.pipesize 64k"),
        ("nosplice", "nosplice"),
        ("hard-stop-after", "hard-stop-after 30s"),
        ("pidfile", "pidfile /run/splicer.pid"),
        ("daemon", "daemon"),
        ("quiet", "quiet"),
        ("node", "node lb1"),
        (
            "unix-bind",
            "unix-bind prefix /run/ mode 600 user root group root",
        ),
        ("max-spread-checks", "max-spread-checks 2s"),
        ("tune.bufsize", "tune.bufsize 32768"),
        ("tune.maxaccept", "tune.maxaccept -1"),
        ("tune.maxpollevents", "tune.maxpollevents 100"),
        ("tune.rcvbuf.client", "tune.rcvbuf.client 64k"),
        ("tune.rcvbuf.server", "tune.rcvbuf.server 64k"),
        ("tune.sndbuf.client", "tune.sndbuf.client 64k"),
        ("tune.sndbuf.server", "tune.sndbuf.server 64k"),
        ("noreuseport", "noreuseport"),
        ("server-state-file", "server-state-file state"),
        ("server-state-base", "server-state-base /var/lib/haproxy"),
        ("maxconnrate", "maxconnrate 100"),
        ("maxsessrate", "maxsessrate 100"),
        ("cpu-map", "cpu-map auto:1/1-2 0-1"),
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
        ("tune.ssl.cachesize", "tune.ssl.cachesize 1000"),
        ("tune.ssl.maxrecord", "tune.ssl.maxrecord 1400"),
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

    let tls = [
        ("ca-base", "ca-base /etc/ssl/certs"),
        ("crt-base", "crt-base /etc/ssl/private"),
        (
            "ssl-default-bind-options",
            "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        ),
        (
            "ssl-default-server-options",
            "ssl-default-server-options no-tlsv13",
        ),
        (
            "ssl-default-bind-ciphers",
            "ssl-default-bind-ciphers ECDHE+AESGCM",
        ),
        (
            "ssl-default-bind-ciphersuites",
            "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256",
        ),
        (
            "ssl-default-bind-curves",
            "ssl-default-bind-curves X25519:P-256",
        ),
        (
            "ssl-default-server-ciphers",
            "ssl-default-server-ciphers HIGH",
        ),
        (
            "ssl-default-server-ciphersuites",
            "ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384",
        ),
        ("ssl-server-verify", "ssl-server-verify none"),
        ("ssl-dh-param-file", "ssl-dh-param-file /etc/dh.pem"),
        ("ssl-engine", "ssl-engine rdrand"),
        ("ssl-mode-async", "ssl-mode-async"),
        ("ssl-propquery", "ssl-propquery provider=default"),
        ("ssl-provider", "ssl-provider default"),
        ("ssl-provider-path", "ssl-provider-path /usr/lib"),
        ("ssl-skip-self-issued-ca", "ssl-skip-self-issued-ca"),
        ("ssl-load-extra-files", "ssl-load-extra-files none"),
        ("ssl-load-extra-del-ext", "ssl-load-extra-del-ext"),
        (
            "tune.ssl.default-dh-param",
            "tune.ssl.default-dh-param 2048",
        ),
        (
            "tune.ssl.force-private-cache",
            "tune.ssl.force-private-cache",
        ),
        ("tune.ssl.hard-maxrecord", "tune.ssl.hard-maxrecord 16384"),
        (
            "tune.ssl.ssl-ctx-cache-size",
            "tune.ssl.ssl-ctx-cache-size 1000",
        ),
        (
            "tune.ssl.capture-cipherlist-size",
            "tune.ssl.capture-cipherlist-size 0",
        ),
        (
            "tune.ssl.capture-buffer-size",
            "tune.ssl.capture-buffer-size 0",
        ),
        ("tune.ssl.keylog", "tune.ssl.keylog on"),
        ("tune.ssl.lifetime", "tune.ssl.lifetime 5m"),
    ];
    let config = format!("global\n    {{}}\n{HEAD}{LISTEN}");
    each_loads(tls_global::vocabulary(), &tls, &config);
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

/// HAProxy 2.6's readings: `tune.maxaccept` 4 when unset or 0, no limit
/// at -1 (or below); `tune.maxpollevents` 200 when unset or not above 0.
#[test]
fn maxaccept_and_maxpollevents_as_haproxy_reads_them() {
    let global = |line: &str| {
        super::ok(&format!("global\n    {line}\n{HEAD}{LISTEN}"))
            .config
            .global
    };
    let unset = global("");
    assert_eq!((unset.maxaccept, unset.maxpollevents), (Some(4), 200));
    for (line, want) in [
        ("tune.maxaccept 0", Some(4)),
        ("tune.maxaccept 1", Some(1)),
        ("tune.maxaccept 64", Some(64)),
        ("tune.maxaccept -1", None),
        ("tune.maxaccept -7", None),
    ] {
        assert_eq!(global(line).maxaccept, want, "{line}");
    }
    for (line, want) in [
        ("tune.maxpollevents 0", 200),
        ("tune.maxpollevents -5", 200),
        ("tune.maxpollevents 1", 1),
        ("tune.maxpollevents 1024", 1024),
    ] {
        assert_eq!(global(line).maxpollevents, want, "{line}");
    }
    let e = super::errors(&format!(
        "global\n    tune.maxpollevents many\n{HEAD}{LISTEN}"
    ));
    assert!(
        e[0].starts_with("t.cfg:2: ") && e[0].contains("'many' is not a number"),
        "{e:?}"
    );
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
    // A listen sends to itself, with the global maxconn (derived from the
    // open files limit when unset).
    let global = l.config.global.maxconn;
    assert_eq!(
        l.config.backends[2].fullconn,
        global.div_ceil(10),
        "{global}"
    );
}

#[test]
fn track_names_a_checked_server() {
    let head =
        format!("{HEAD}backend b\n    server s1 127.0.0.1:2 check\n    server s3 127.0.0.1:4\n");
    let cases = [
        (
            "track s1",
            "t.cfg:11: 'server a/s2' : unable to find required server 's1' for tracking.",
        ),
        (
            "track nob/s1",
            "t.cfg:11: 'server a/s2' : unable to find required proxy 'nob' for tracking.",
        ),
        (
            "check track b/s1",
            "t.cfg:11: 'server a/s2' : unable to enable checks and tracking at the same time!",
        ),
        (
            "track b/s3",
            "t.cfg:11: 'server a/s2' : unable to use b/s3 for tracking as it does not have any check nor agent enabled.",
        ),
    ];
    for (params, want) in cases {
        let e = super::errors(&format!(
            "{head}listen a\n    bind 127.0.0.1:1\n    server s2 127.0.0.1:3 {params}\n"
        ));
        assert_eq!(e, [want], "{params}");
    }
    let l = super::ok(&format!(
        "{head}listen a\n    bind 127.0.0.1:1\n    server s2 127.0.0.1:3 track b/s1\n"
    ));
    let t = l.config.backends[1].servers[0].track.unwrap();
    assert_eq!((t.0.index(), t.1.index()), (0, 0));
}

#[test]
fn resolvers_section_and_templates() {
    let text = format!(
        "{HEAD}resolvers dns\n    nameserver ns1 127.0.0.1:5353\n    hold valid 2s\n{LISTEN}    server-template web 2-3 app.invalid:80 resolvers dns init-addr none resolve-prefer ipv4\n"
    );
    let c = parse_str("t.cfg", &text).unwrap().config;
    assert_eq!(
        c.resolvers[0].nameservers[0].addr.to_string(),
        "127.0.0.1:5353"
    );
    let web: Vec<&Server> = c.backends[0].servers.iter().skip(1).collect();
    assert_eq!(
        web.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["web2", "web3"]
    );
    let dns = web[0].dns.as_ref().unwrap();
    assert_eq!(
        (dns.resolvers, dns.fqdn.as_str(), dns.prefer),
        (0, "app.invalid", IpFamily::V4)
    );
    assert!(web[0].no_addr && web[0].addr.port() == 80);
    // HAProxy's messages (haproxy -c, 2.6).
    let cases: &[(&str, &str)] = &[
        (
            "server-template web 0 app.invalid:80",
            "Wrong server-template number or range arg '0'.",
        ),
        (
            "server-template web 2-1 app.invalid:80",
            "Wrong server-template number or range arg '2-1'.",
        ),
        (
            "server-template web 2",
            "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
        ),
        (
            "server s9 app.invalid:80 resolvers nodns init-addr none",
            "backend 'l', server 's9': unable to find required resolvers 'nodns'",
        ),
    ];
    for (line, expected) in cases {
        let text = format!("{HEAD}{LISTEN}    {line}\n");
        let errors: Vec<String> = parse_str("t.cfg", &text)
            .unwrap_err()
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect();
        assert!(errors.iter().any(|e| e == expected), "{line}: {errors:?}");
    }
}

#[test]
fn unix_bind_fills_in_the_stats_sockets_after_it() {
    let l = super::ok(&format!(
        "global\n    stats socket /a.sock\n    unix-bind prefix /run/x mode 640 uid 5 gid 6\n\
         \x20   stats socket /b.sock mode 600\n    stats socket ipv4@127.0.0.1:9999\n{HEAD}{LISTEN}"
    ));
    let s: Vec<_> = l
        .config
        .global
        .stats_sockets
        .iter()
        .map(|s| (s.addr.to_string(), s.mode, s.uid, s.gid))
        .collect();
    assert_eq!(
        s[0],
        ("/a.sock".into(), None, None, None),
        "declared before unix-bind"
    );
    assert_eq!(
        s[1],
        ("/run/x/b.sock".into(), Some(0o600), Some(5), Some(6))
    );
    assert_eq!(s[2].1, None, "a TCP socket has no mode");
    let e = super::errors(&format!("global\n    unix-bind bogus 1\n{HEAD}{LISTEN}"));
    assert_eq!(
        e,
        [
            "t.cfg:2: 'unix-bind' only supports the 'prefix', 'mode', 'uid', 'gid', 'user' and 'group' options."
        ]
    );
}
