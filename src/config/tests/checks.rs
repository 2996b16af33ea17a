//! Health-check options and rules: what each combination of lines gives
//! the backend, inheritance from defaults, and the warnings (errors are in
//! `tests/errors.rs`).
//! Expected behaviour was checked against HAProxy 2.6 (`haproxy -c`, and
//! what its checks put on the wire for the inheritance cases).

use super::{HEAD, ok, warnings};
use crate::config::*;

/// `lines` inside a listen section; line 8 is the first of them.
fn listen(lines: &str) -> String {
    format!("{HEAD}listen l\n bind :80\n{lines}\n server s 127.0.0.1:81 check\n")
}

fn check_of(text: &str) -> CheckKind {
    ok(text).config.backends[0].check.clone()
}

fn re(p: &str) -> Pattern {
    Pattern(regex::bytes::Regex::new(p).unwrap())
}

fn http(f: impl FnOnce(&mut HttpCheck)) -> CheckKind {
    let mut h = HttpCheck::default();
    f(&mut h);
    CheckKind::Http(h)
}

fn expect(negate: bool, matcher: HttpMatch) -> HttpExpect {
    HttpExpect { negate, matcher }
}

fn tcp_expect(negate: bool, matcher: TcpMatch) -> TcpCheckRule {
    TcpCheckRule::Expect { negate, matcher }
}

fn hdr(name: &str, value: &str) -> (String, String) {
    (name.into(), value.into())
}

#[test]
fn http_checks() {
    let cases: Vec<(&str, &str, CheckKind)> = vec![
        ("no option", "", CheckKind::Connect),
        ("defaults", " option httpchk", http(|_| {})),
        (
            "uri only",
            " option httpchk /health",
            http(|h| h.uri = "/health".into()),
        ),
        (
            "method and uri",
            " option httpchk GET /health",
            http(|h| (h.method, h.uri) = ("GET".into(), "/health".into())),
        ),
        (
            "method, uri, version",
            " option httpchk HEAD / HTTP/1.1",
            http(|h| (h.method, h.version) = ("HEAD".into(), "HTTP/1.1".into())),
        ),
        (
            "headers hidden in the version (deprecated)",
            r" option httpchk GET /x HTTP/1.1\r\nHost:\ www\r\nX-A:b",
            http(|h| {
                (h.method, h.uri, h.version) = ("GET".into(), "/x".into(), "HTTP/1.1".into());
                h.headers = vec![hdr("Host", "www"), hdr("X-A", "b")];
            }),
        ),
        (
            "body hidden in the version",
            r" option httpchk GET / HTTP/1.1\r\nHost:\ a\r\n\r\nping",
            http(|h| {
                (h.method, h.version) = ("GET".into(), "HTTP/1.1".into());
                h.headers = vec![hdr("Host", "a")];
                h.body = Some("ping".into());
            }),
        ),
        (
            "send after the option overrides what it names",
            " option httpchk GET /a\n http-check send uri /b ver HTTP/1.1 hdr Host example.org hdr X-Y \"1 2\" body hi",
            http(|h| {
                (h.method, h.uri, h.version) = ("GET".into(), "/b".into(), "HTTP/1.1".into());
                h.headers = vec![hdr("Host", "example.org"), hdr("X-Y", "1 2")];
                h.body = Some("hi".into());
            }),
        ),
        (
            "option after send overrides what it names",
            " http-check send meth POST uri /b hdr Host a\n option httpchk /c",
            http(|h| {
                (h.method, h.uri) = ("POST".into(), "/c".into());
                h.headers = vec![hdr("Host", "a")];
            }),
        ),
        (
            "options after a send keep overriding",
            " option httpchk GET /a\n http-check send uri /b\n option httpchk HEAD /c\n option httpchk /d",
            http(|h| (h.method, h.uri) = ("HEAD".into(), "/d".into())),
        ),
        (
            "a second option replaces the first request",
            " option httpchk GET /a HTTP/1.1\n option httpchk /b",
            http(|h| h.uri = "/b".into()),
        ),
        (
            "log-format escape in a header value",
            " option httpchk\n http-check send hdr X-P 100%%",
            http(|h| h.headers = vec![hdr("X-P", "100%")]),
        ),
        (
            "expects before the option, in order",
            " http-check expect status 200,301-302,,\n http-check expect ! rstatus ^5\n http-check expect !string SQL\\ Error\n http-check expect rstring <!--tag:[0-9a-f]*-->\n option httpchk",
            http(|h| {
                h.expect = vec![
                    expect(false, HttpMatch::Status(vec![(200, 200), (301, 302)])),
                    expect(true, HttpMatch::RStatus(re("^5"))),
                    expect(true, HttpMatch::String("SQL Error".into())),
                    expect(false, HttpMatch::RString(re("<!--tag:[0-9a-f]*-->"))),
                ]
            }),
        ),
        (
            "comment option on expect and send",
            " option httpchk\n http-check send meth GET comment probe\n http-check expect comment ok status 200-399 ",
            http(|h| {
                h.method = "GET".into();
                h.expect = vec![expect(false, HttpMatch::Status(vec![(200, 399)]))];
            }),
        ),
        (
            "codes saturate like HAProxy's",
            " option httpchk\n http-check expect status 99999",
            http(|h| h.expect = vec![expect(false, HttpMatch::Status(vec![(65535, 65535)]))]),
        ),
        (
            "disable-on-404 and comment",
            " http-check comment hello\n http-check disable-on-404\n option httpchk",
            http(|h| h.disable_on_404 = true),
        ),
        (
            "a later option wins",
            " option httpchk\n option redis-check",
            CheckKind::Redis,
        ),
    ];
    for (desc, lines, expected) in cases {
        assert_eq!(check_of(&listen(lines)), expected, "{desc}");
    }
}

#[test]
fn other_checks() {
    let mysql = |user: Option<&str>, post41| CheckKind::Mysql {
        user: user.map(String::from),
        post41,
    };
    let cases: Vec<(&str, &str, CheckKind)> = vec![
        (
            "mysql, greeting only",
            " option mysql-check",
            mysql(None, true),
        ),
        (
            "mysql, post-41 by default",
            " option mysql-check user haproxy",
            mysql(Some("haproxy"), true),
        ),
        (
            "mysql post-41",
            " option mysql-check user haproxy post-41",
            mysql(Some("haproxy"), true),
        ),
        (
            "mysql pre-41",
            " option mysql-check user haproxy pre-41",
            mysql(Some("haproxy"), false),
        ),
        (
            "pgsql",
            " option pgsql-check user check",
            CheckKind::Pgsql {
                user: "check".into(),
            },
        ),
        ("redis", " option redis-check", CheckKind::Redis),
        ("ssl hello", " option ssl-hello-chk", CheckKind::SslHello),
        (
            "tcp-check without rules",
            " option tcp-check",
            CheckKind::Tcp(vec![]),
        ),
        (
            "tcp rules, comments dropped, the option anywhere",
            concat!(
                " tcp-check comment PING\\ phase\n",
                " tcp-check connect port 6379 send-proxy comment redis\n",
                " tcp-check send PING\\r\\n\n",
                " tcp-check expect string +PONG\n",
                " tcp-check send-binary 0A0d comment crlf\n",
                " tcp-check expect ! rstring ^-ERR\n",
                " tcp-check expect !binary 2b4F4b\n",
                " tcp-check expect rbinary ^2b\n",
                " option tcp-check",
            ),
            CheckKind::Tcp(vec![
                TcpCheckRule::Connect {
                    port: Some(6379),
                    send_proxy: true,
                },
                TcpCheckRule::Send(b"PING\r\n".to_vec()),
                tcp_expect(false, TcpMatch::String(b"+PONG".to_vec())),
                TcpCheckRule::Send(vec![0x0a, 0x0d]),
                tcp_expect(true, TcpMatch::RString(re("^-ERR"))),
                tcp_expect(true, TcpMatch::Binary(vec![0x2b, 0x4f, 0x4b])),
                tcp_expect(false, TcpMatch::RBinary(re("^2b"))),
            ]),
        ),
        (
            "raw bytes reach the wire as bytes",
            " option tcp-check\n tcp-check send \\xff\\x00A\n tcp-check expect string \\x80",
            CheckKind::Tcp(vec![
                TcpCheckRule::Send(vec![0xff, 0, b'A']),
                tcp_expect(false, TcpMatch::String(vec![0x80])),
            ]),
        ),
        (
            "connect, then more connects",
            " option tcp-check\n tcp-check connect\n tcp-check connect port 143",
            CheckKind::Tcp(vec![
                TcpCheckRule::Connect {
                    port: None,
                    send_proxy: false,
                },
                TcpCheckRule::Connect {
                    port: Some(143),
                    send_proxy: false,
                },
            ]),
        ),
        (
            "tcp rules stay apart from http rules",
            " option httpchk\n http-check expect status 200\n tcp-check send x\n option tcp-check",
            CheckKind::Tcp(vec![TcpCheckRule::Send(b"x".to_vec())]),
        ),
    ];
    for (desc, lines, expected) in cases {
        assert_eq!(check_of(&listen(lines)), expected, "{desc}");
    }
}

/// HAProxy 2.6 as observed: a section's own rules of a kind replace the
/// inherited ones (for HTTP including the request line of the defaults'
/// `option httpchk`); the flag `disable-on-404` always carries over.
#[test]
fn inheritance_from_defaults() {
    let http_defaults =
        " option httpchk GET /x\n http-check expect status 200\n http-check disable-on-404";
    let tcp_defaults = " option tcp-check\n tcp-check send A";
    let x_with_200 = http(|h| {
        (h.method, h.uri) = ("GET".into(), "/x".into());
        h.expect = vec![expect(false, HttpMatch::Status(vec![(200, 200)]))];
        h.disable_on_404 = true;
    });
    let send = |s: &str| TcpCheckRule::Send(s.as_bytes().to_vec());
    let cases: Vec<(&str, &str, &str, CheckKind)> = vec![
        (
            "http inherited whole",
            http_defaults,
            "",
            x_with_200.clone(),
        ),
        (
            "tcp-check lines leave http rules alone",
            http_defaults,
            " tcp-check send y",
            x_with_200,
        ),
        (
            "own expect drops the inherited request and expects",
            http_defaults,
            " http-check expect status 201",
            http(|h| {
                h.expect = vec![expect(false, HttpMatch::Status(vec![(201, 201)]))];
                h.disable_on_404 = true;
            }),
        ),
        (
            "own send drops them too",
            http_defaults,
            " http-check send hdr X y",
            http(|h| {
                h.headers = vec![hdr("X", "y")];
                h.disable_on_404 = true;
            }),
        ),
        (
            "own option drops the inherited expects",
            http_defaults,
            " option httpchk GET /y",
            http(|h| {
                (h.method, h.uri) = ("GET".into(), "/y".into());
                h.disable_on_404 = true;
            }),
        ),
        (
            "tcp inherited",
            tcp_defaults,
            "",
            CheckKind::Tcp(vec![send("A")]),
        ),
        (
            "repeating option tcp-check keeps them",
            tcp_defaults,
            " option tcp-check",
            CheckKind::Tcp(vec![send("A")]),
        ),
        (
            "own tcp rule replaces them",
            tcp_defaults,
            " tcp-check send B",
            CheckKind::Tcp(vec![send("B")]),
        ),
        (
            "another option in between drops them",
            tcp_defaults,
            " option httpchk\n option tcp-check",
            CheckKind::Tcp(vec![]),
        ),
        (
            "rules without the option are dropped by it",
            " tcp-check send A",
            " option tcp-check",
            CheckKind::Tcp(vec![]),
        ),
        (
            "own connect first is fine after inherited sends",
            tcp_defaults,
            " tcp-check connect port 1",
            CheckKind::Tcp(vec![TcpCheckRule::Connect {
                port: Some(1),
                send_proxy: false,
            }]),
        ),
    ];
    for (desc, defaults, lines, expected) in cases {
        let text = format!(
            "{HEAD}{defaults}\nbackend b\n{lines}\n server s 127.0.0.1:81 check\nfrontend f\n bind :80\n default_backend b\n"
        );
        assert_eq!(check_of(&text), expected, "{desc}");
    }
}

#[test]
fn other_health_settings() {
    let l = ok(&format!(
        "global\n spread-checks 5\n{HEAD} option log-health-checks\nlisten a\n bind :80\n default-server agent-send \"ready\\n\"\n server s 127.0.0.1:81 check agent-check agent-port 9\n server t 127.0.0.1:82 agent-send \\xff\nlisten b\n bind :81\n no option log-health-checks\n server s 127.0.0.1:81\n"
    ));
    let c = &l.config;
    assert_eq!(c.global.spread_checks, 5);
    assert!(c.backends[0].log_health_checks && !c.backends[1].log_health_checks);
    let sends: Vec<Option<&str>> = c.backends[0]
        .servers
        .iter()
        .map(|s| s.check.agent_send.as_deref())
        .collect();
    assert_eq!(sends, [Some("ready\n"), Some("\u{ff}")]);
    assert_eq!(ok(&listen("")).config.global.spread_checks, 0);
}

#[test]
fn check_warnings() {
    // (description, lines of the listen section from line 8, expected warnings)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "used rules",
            " option httpchk\n http-check expect status 200",
            &[],
        ),
        (
            "http rules without the option",
            " http-check expect status 200\n http-check expect string ok",
            &[
                "t.cfg:8: proxy 'l' uses http-check rules without 'option httpchk', so the rules are ignored.",
            ],
        ),
        (
            "tcp rules after another option",
            " option httpchk\n tcp-check send x",
            &[
                "t.cfg:9: proxy 'l' uses tcp-check rules without 'option tcp-check', so the rules are ignored.",
            ],
        ),
        (
            "rules of the other kind before the option: silently unused",
            " tcp-check send x\n option httpchk\n http-check comment ok",
            &[],
        ),
        (
            "a later check option silences it",
            " http-check expect status 200\n option redis-check",
            &[],
        ),
        (
            "hidden headers",
            r" option httpchk GET / HTTP/1.1\r\nHost:\ a",
            &[
                "t.cfg:8: 'option httpchk' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead.",
            ],
        ),
    ];
    for (desc, lines, expected) in cases {
        assert_eq!(warnings(&listen(lines)), *expected, "{desc}");
    }
    // Defaults are not warned about, nor disabled backends; frontends get
    // HAProxy's capability warning instead.
    let w = warnings(&format!(
        "{HEAD} tcp-check send x\nbackend b\n disabled\n http-check send meth GET\nfrontend f\n bind :80\n option httpchk\n tcp-check send x\n option log-health-checks\n"
    ));
    assert_eq!(
        w,
        [
            "t.cfg:10: frontend 'f' has no 'default_backend': every connection will be closed.",
            "t.cfg:12: 'option httpchk' ignored because frontend 'f' has no backend capability.",
            "t.cfg:13: 'tcp-check' ignored because frontend 'f' has no backend capability.",
            "t.cfg:14: 'log-health-checks' ignored because frontend 'f' has no backend capability.",
        ]
    );
    // The request of the defaults' option is dropped by the backend's own
    // http-check rules: HAProxy is silent about it, splicer says so.
    let w = warnings(&format!(
        "{HEAD} option httpchk GET /health\nlisten l\n bind :80\n http-check expect status 200\n server s 127.0.0.1:81 check\n"
    ));
    assert_eq!(
        w,
        [
            "t.cfg:9: proxy 'l': its own 'http-check' rules replace all those inherited from defaults, including the request 'GET /health HTTP/1.0' (as in HAProxy): the check sends 'OPTIONS / HTTP/1.0'. Repeat 'option httpchk' in this section to keep the request."
        ]
    );
    let quiet = [
        " option httpchk GET /health\n http-check expect status 200",
        " http-check expect status 200\n option httpchk GET /health",
        " http-check send meth GET uri /health",
    ];
    for lines in quiet {
        let text = format!(
            "{HEAD} option httpchk GET /health\nlisten l\n bind :80\n{lines}\n server s 127.0.0.1:81 check\n"
        );
        assert_eq!(warnings(&text), Vec::<String>::new(), "{lines}");
    }
}
