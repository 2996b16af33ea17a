//! TLS termination (`bind ... ssl crt`): bytes through a TLS bind to a
//! plain server, the certificate chosen by SNI from a directory or a
//! crt-list, `strict-sni`, ALPN, protocol versions and what the log says
//! of them, and client renegotiation. The clients are OpenSSL's
//! (`openssl s_client`, Python's `ssl`). Every expectation was checked
//! against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::time::Duration;

use crate::common::certs;
use crate::common::tcplog::{self, Tcplog};
use crate::common::tls_peer::{SClient, SClientSession, TlsClient};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);
const STDOUT_LOG: &str = "    log stdout format raw local0";

fn tls_listen(bind_opts: &str, server: std::net::SocketAddr) -> String {
    format!("listen fe\n    bind 127.0.0.1:0 ssl {bind_opts}\n    server s1 {server}\n")
}

/// 1 MiB each way through a TLS bind to a plain echo server; the client
/// then sends its close_notify and still receives the rest of the echo,
/// then the proxy's own close_notify. The tcplog line marks the frontend
/// as TLS (`fe~`) and counts the plaintext.
#[test]
fn bytes_pass_intact_both_ways_and_after_a_close_notify() {
    let Some(pki) = certs::require("bytes_pass_intact_both_ways_and_after_a_close_notify") else {
        return;
    };
    let echo = Backend::echo();
    let bind = format!("crt {}", pki.default.pem.display());
    let api = tcplog::start(&tls_listen(&bind, echo.addr), &["fe"]);
    let total = 1 << 20;
    let r = TlsClient::new(api.sp.addr("fe"))
        .ca(&pki.ca)
        .echo(total)
        .run();
    r.expect_ok("1 MiB echo");
    assert_eq!(r.get("subject"), Some("/CN=default.test"), "{r:?}");
    assert_eq!(r.get("echoed"), Some(&*total.to_string()), "{r:?}");
    let after: usize = r.get("after_close").unwrap().parse().unwrap();
    assert!(
        after > 0,
        "nothing arrived after the client's close_notify: {r:?}"
    );
    assert_eq!(
        r.get("close_notify"),
        Some("true"),
        "the stream ended without the proxy's close_notify (a truncation to a strict client): {r:?}"
    );
    let port = r.get("port").unwrap();
    let l = Tcplog::parse(&api.sp.wait_log(&[&format!("127.0.0.1:{port} [")], LIMIT));
    assert_eq!(l.frontend, "fe~", "a TLS frontend is logged with a `~`");
    assert_eq!((&*l.server, l.bytes, &*l.term), ("s1", total as u64, "--"));
}

/// `crt DIR`: every file of the directory is loaded; the SNI picks the
/// certificate (wildcards included), an ECDSA one unless the client only
/// takes RSA signatures, and the first file in alphabetical order (HAProxy
/// scans a directory with `alphasort`) answers for no SNI or an unknown
/// name.
#[test]
fn sni_picks_the_certificate_from_a_directory() {
    let Some(pki) = certs::require("sni_picks_the_certificate_from_a_directory") else {
        return;
    };
    let echo = Backend::echo();
    let bind = format!("crt {}", pki.sni_dir.display());
    let sp = Splicer::start(&config("", "", &tls_listen(&bind, echo.addr)), &["fe"]);
    let addr = sp.addr("fe");
    let openssl = pki.openssl_bin();
    let rsa_only = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256";
    let cases: [(&str, &[&str], &str, u32); 6] = [
        (
            "a wildcard name",
            &["-servername", "x.b.test"],
            "*.b.test",
            256,
        ),
        ("an exact name", &["-servername", "a.test"], "a.test", 256),
        (
            "an exact name, RSA signatures only",
            &["-servername", "a.test", "-sigalgs", rsa_only],
            "a.test",
            2048,
        ),
        (
            "TLS 1.2 with an RSA suite",
            &[
                "-servername",
                "a.test",
                "-tls1_2",
                "-cipher",
                "ECDHE-RSA-AES128-GCM-SHA256",
            ],
            "a.test",
            2048,
        ),
        (
            "an unknown name",
            &["-servername", "unknown.test"],
            "default.test",
            256,
        ),
        ("no SNI", &["-noservername"], "default.test", 256),
    ];
    for (what, args, cn, bits) in cases {
        let c = SClient::connect(openssl, addr, args);
        assert!(c.success, "{what}: handshake failed:\n{c:?}");
        assert_eq!(
            c.subject().as_deref(),
            Some(&*format!("CN = {cn}")),
            "{what}"
        );
        assert_eq!(c.key_bits(), Some(bits), "{what}: wrong key type:\n{c:?}");
    }
}

/// `strict-sni`: no certificate for the name (or no name) means no
/// handshake; a known name still gets its certificate.
#[test]
fn strict_sni_refuses_unknown_names() {
    let Some(pki) = certs::require("strict_sni_refuses_unknown_names") else {
        return;
    };
    let echo = Backend::echo();
    let bind = format!("crt {} strict-sni", pki.sni_dir.display());
    let sp = Splicer::start(&config("", "", &tls_listen(&bind, echo.addr)), &["fe"]);
    let openssl = pki.openssl_bin();
    let ok = SClient::connect(openssl, sp.addr("fe"), &["-servername", "a.test"]);
    assert!(ok.success, "a.test refused:\n{ok:?}");
    assert_eq!(ok.subject().as_deref(), Some("CN = a.test"));
    for args in [&["-servername", "unknown.test"][..], &["-noservername"]] {
        let c = SClient::connect(openssl, sp.addr("fe"), args);
        assert!(!c.success, "{args:?}: handshake succeeded:\n{c:?}");
        assert_eq!(c.subject(), None, "{args:?}: a certificate was sent");
    }
    // A refused client gets nothing through either.
    let r = TlsClient::new(sp.addr("fe"))
        .sni("unknown.test")
        .send("ping")
        .run();
    assert!(!r.ok(), "{r:?}");
}

/// A crt-list: its first line is the default certificate; `[alpn h2]`
/// overrides the bind's ALPN for its line; an SNI filter gives a
/// certificate names it does not carry (`foo.test`), and `!name` takes one
/// away from a wildcard.
#[test]
fn crt_list_lines_set_alpn_and_filter_names() {
    let Some(pki) = certs::require("crt_list_lines_set_alpn_and_filter_names") else {
        return;
    };
    let dir = scratch_dir("crtlist");
    let list = dir.join("list.txt");
    std::fs::write(
        &list,
        format!(
            "{}\n{} [alpn h2] a.test\n{} foo.test\n{} [alpn http/1.1] *.b.test !secret.b.test\n",
            pki.default.pem.display(),
            pki.a_ecdsa.pem.display(),
            pki.wildcard.pem.display(),
            pki.wildcard.pem.display(),
        ),
    )
    .unwrap();
    let echo = Backend::echo();
    let bind = format!("crt-list {} alpn foo", list.display());
    let sp = Splicer::start(&config("", "", &tls_listen(&bind, echo.addr)), &["fe"]);
    let cases = [
        ("a.test", "a.test", "h2"),
        ("foo.test", "*.b.test", "foo"),
        ("x.b.test", "*.b.test", "http/1.1"),
        ("secret.b.test", "default.test", "foo"),
        ("bar.test", "default.test", "foo"),
    ];
    for (sni, cn, alpn) in cases {
        let c = SClient::connect(
            pki.openssl_bin(),
            sp.addr("fe"),
            &["-servername", sni, "-alpn", "h2,http/1.1,foo"],
        );
        assert!(c.success, "{sni}: handshake failed:\n{c:?}");
        assert_eq!(
            c.subject().as_deref(),
            Some(&*format!("CN = {cn}")),
            "{sni}"
        );
        assert_eq!(c.alpn().as_deref(), Some(alpn), "{sni}: ALPN");
    }
}

/// `alpn h2,http/1.1`: the server's preference wins among what the client
/// offers; a client offering nothing it knows gets no ALPN (and still a
/// handshake).
#[test]
fn alpn_is_chosen_from_the_bind_list() {
    let Some(pki) = certs::require("alpn_is_chosen_from_the_bind_list") else {
        return;
    };
    let echo = Backend::echo();
    let bind = format!("crt {} alpn h2,http/1.1", pki.default.pem.display());
    let sp = Splicer::start(&config("", "", &tls_listen(&bind, echo.addr)), &["fe"]);
    for (offer, got) in [
        ("http/1.1", Some("http/1.1")),
        ("http/1.1,h2", Some("h2")),
        ("foo", None),
    ] {
        let c = SClient::connect(pki.openssl_bin(), sp.addr("fe"), &["-alpn", offer]);
        assert!(c.success, "-alpn {offer}: handshake failed:\n{c:?}");
        assert_eq!(c.alpn().as_deref(), got, "-alpn {offer}:\n{c:?}");
        if got.is_none() {
            assert!(c.text.contains("No ALPN negotiated"), "{c:?}");
        }
    }
}

/// `ssl-min-ver TLSv1.3` refuses a TLS 1.2 client (and logs the failed
/// handshake); `ssl-max-ver TLSv1.2` negotiates TLS 1.2 with a client that
/// offers 1.3. `%sslv`, `%sslc`, `ssl_fc_protocol`, `ssl_fc_cipher`,
/// `ssl_fc_sni` and `ssl_fc_alpn` log what was negotiated, in OpenSSL's
/// names (what the client reports too).
#[test]
fn versions_follow_min_and_max_and_are_logged() {
    let Some(pki) = certs::require("versions_follow_min_and_max_and_are_logged") else {
        return;
    };
    let echo = Backend::echo();
    let fmt = "%cp %sslv %sslc %[ssl_fc_protocol] %[ssl_fc_cipher] %[ssl_fc_sni] %[ssl_fc_alpn]";
    let crt = pki.default.pem.display();
    let rest = format!(
        "listen v13\n    bind 127.0.0.1:0 ssl crt {crt} alpn h2,http/1.1 ssl-min-ver TLSv1.3\n\
         \x20   log-format \"V13 {fmt}\"\n    server s1 {e}\n\
         listen v12\n    bind 127.0.0.1:0 ssl crt {crt} alpn h2,http/1.1 ssl-max-ver TLSv1.2\n\
         \x20   log-format \"V12 {fmt}\"\n    server s1 {e}\n",
        e = echo.addr
    );
    let sp = Splicer::start(
        &config(STDOUT_LOG, "    log global", &rest),
        &["v13", "v12"],
    );

    let refused = TlsClient::new(sp.addr("v13")).max("1.2").send("ping").run();
    assert!(!refused.ok(), "a TLS 1.2 client got through: {refused:?}");
    let port = refused.get("port").unwrap();
    sp.wait_log(
        &[
            &format!("127.0.0.1:{port} ["),
            "v13/1: SSL handshake failure",
        ],
        LIMIT,
    );

    let r13 = TlsClient::new(sp.addr("v13"))
        .sni("a.test")
        .alpn("h2")
        .send("ping")
        .run();
    r13.expect_ok("TLS 1.3 on v13");
    assert_eq!(r13.get("version"), Some("TLSv1.3"));
    let r12 = TlsClient::new(sp.addr("v12"))
        .sni("x.b.test")
        .send("ping")
        .run();
    r12.expect_ok("a 1.3-capable client on v12");
    assert_eq!(r12.get("version"), Some("TLSv1.2"));
    for (px, r, sni, alpn) in [
        ("V13", &r13, "a.test", "h2"),
        ("V12", &r12, "x.b.test", "-"),
    ] {
        let (port, v, c) = (
            r.get("port").unwrap(),
            r.get("version").unwrap(),
            r.get("cipher").unwrap(),
        );
        let line = sp.wait_log(&[&format!("{px} {port} ")], LIMIT);
        assert_eq!(line, format!("{px} {port} {v} {c} {v} {c} {sni} {alpn}"));
    }
}

/// A client asking to renegotiate a TLS 1.2 session (s_client's `R`) is
/// refused with a no_renegotiation alert, which OpenSSL treats as fatal:
/// the session ends there (CVE-2009-3555; HAProxy never renegotiates).
#[test]
fn client_renegotiation_is_refused() {
    let Some(pki) = certs::require("client_renegotiation_is_refused") else {
        return;
    };
    let echo = Backend::echo();
    let bind = format!("crt {}", pki.default.pem.display());
    let sp = Splicer::start(&config("", "", &tls_listen(&bind, echo.addr)), &["fe"]);
    let mut s = SClientSession::start(pki.openssl_bin(), sp.addr("fe"), &["-tls1_2"]);
    assert!(s.send_line("before"), "s_client gone:\n{}", s.output());
    // s_client prints what the echo sends back.
    s.wait_output("before", LIMIT);
    assert!(s.send_line("R"), "s_client gone:\n{}", s.output());
    s.wait_output("RENEGOTIATING", LIMIT);
    let st = s.wait_exit(LIMIT);
    let out = s.output();
    assert!(
        st.is_some_and(|st| !st.success()),
        "the session went on after a renegotiation request ({st:?}):\n{out}"
    );
    assert!(out.contains("no renegotiation"), "{out}");
}
