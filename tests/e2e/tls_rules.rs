//! Client certificates on a TLS bind (`verify required|optional
//! ca-file`), and the TLS fetches in rules and log formats: `ssl_c_used`,
//! `ssl_c_verify`, `ssl_c_s_dn`, `ssl_c_i_dn`, `ssl_fc`, `ssl_fc_alpn`,
//! `ssl_fc_sni` through a map. Every expectation was checked against
//! HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::net::TcpStream;
use std::time::Duration;

use crate::common::certs::{self, CA_SUBJECT, Pki};
use crate::common::tls_peer::{Fields, TlsClient};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);
const STDOUT_LOG: &str = "    log stdout format raw local0";

/// One session through `addr` with an optional client certificate: the
/// client's report (the server echoes "ping").
fn with_cert(addr: std::net::SocketAddr, cert: Option<&std::path::Path>) -> Fields {
    let mut c = TlsClient::new(addr).send("ping");
    if let Some(cert) = cert {
        c = c.cert(cert);
    }
    c.run()
}

/// `verify required`: a client without a certificate, or with one from
/// another CA, gets no session (in TLS 1.3 the client finishes its side of
/// the handshake first and learns it on its first read); one from the CA
/// gets through, and the log shows its subject, issuer and verify result.
#[test]
fn verify_required_accepts_only_certificates_from_the_ca() {
    let Some(pki) = certs::require("verify_required_accepts_only_certificates_from_the_ca") else {
        return;
    };
    let echo = Backend::echo();
    let rest = format!(
        "listen req\n    bind 127.0.0.1:0 ssl crt {} verify required ca-file {}\n\
         \x20   log-format \"REQ %cp %[ssl_c_used] %[ssl_c_verify] %[ssl_c_s_dn] %[ssl_c_i_dn]\"\n\
         \x20   server s1 {}\n",
        pki.default.pem.display(),
        pki.ca.display(),
        echo.addr
    );
    let sp = Splicer::start(&config(STDOUT_LOG, "    log global", &rest), &["req"]);
    let addr = sp.addr("req");

    let none = with_cert(addr, None);
    assert!(!none.ok(), "no certificate, yet a session: {none:?}");
    assert_ne!(none.get("received"), Some("ping"));
    let port = none.get("port").unwrap();
    sp.wait_log(
        &[
            &format!("127.0.0.1:{port} ["),
            "req/1: SSL handshake failure",
        ],
        LIMIT,
    );

    let intruder = with_cert(addr, Some(&pki.intruder.pem));
    assert!(
        !intruder.ok(),
        "a certificate from another CA got in: {intruder:?}"
    );
    // HAProxy says "SSL client certificate not trusted" when the leaf
    // alone was sent, "SSL client CA chain cannot be verified" when its
    // (untrusted) CA came along, as Python sends it.
    let port = intruder.get("port").unwrap();
    sp.wait_log(
        &[&format!("127.0.0.1:{port} ["), "req/1: SSL client "],
        LIMIT,
    );

    let good = with_cert(addr, Some(&pki.client1.pem));
    good.expect_ok("client1's certificate");
    assert_eq!(good.get("received"), Some("ping"));
    let port = good.get("port").unwrap();
    let line = sp.wait_log(&[&format!("REQ {port} ")], LIMIT);
    assert_eq!(
        line,
        format!("REQ {port} 1 0 /C=FR/O=Lab/CN=client1 {CA_SUBJECT}")
    );
}

/// `verify optional`: a client without a certificate and one with a
/// certificate from the CA both get through, and `ssl_c_used` sends them
/// to different backends; a certificate that does not verify still fails
/// the handshake (no `ca-ignore-err`).
#[test]
fn verify_optional_routes_on_ssl_c_used() {
    let Some(pki) = certs::require("verify_optional_routes_on_ssl_c_used") else {
        return;
    };
    let (with, plain) = (Backend::named("with_cert"), Backend::named("plain"));
    let rest = format!(
        "frontend opt\n    bind 127.0.0.1:0 ssl crt {} verify optional ca-file {}\n\
         \x20   log-format \"OPT %cp %[ssl_c_used] %[ssl_c_verify] %[ssl_c_s_dn] %b\"\n\
         \x20   use_backend with_cert if {{ ssl_c_used }}\n    default_backend plain\n\
         backend with_cert\n    server s1 {}\nbackend plain\n    server s1 {}\n",
        pki.default.pem.display(),
        pki.ca.display(),
        with.addr,
        plain.addr
    );
    let sp = Splicer::start(&config(STDOUT_LOG, "    log global", &rest), &["opt"]);
    let addr = sp.addr("opt");
    let greet = |cert: Option<&std::path::Path>| {
        let mut c = TlsClient::new(addr).line();
        if let Some(cert) = cert {
            c = c.cert(cert);
        }
        c.run()
    };
    let anon = greet(None);
    anon.expect_ok("no certificate");
    assert_eq!(anon.get("line"), Some("plain"));
    let port = anon.get("port").unwrap();
    let line = sp.wait_log(&[&format!("OPT {port} ")], LIMIT);
    assert_eq!(line, format!("OPT {port} 0 0 - plain"));

    let known = greet(Some(&pki.client1.pem));
    known.expect_ok("client1's certificate");
    assert_eq!(known.get("line"), Some("with_cert"));
    let port = known.get("port").unwrap();
    let line = sp.wait_log(&[&format!("OPT {port} ")], LIMIT);
    assert_eq!(
        line,
        format!("OPT {port} 1 0 /C=FR/O=Lab/CN=client1 with_cert")
    );

    let intruder = greet(Some(&pki.intruder.pem));
    assert!(
        !intruder.ok(),
        "an unverified certificate got in: {intruder:?}"
    );
    assert_eq!(with.accepted(), 1, "the intruder reached a server");
}

/// One frontend with a plain and a TLS bind: `ssl_fc` rejects the plain
/// one, and the TLS one routes on ALPN first, then on the SNI through a
/// map (lowered), with a default for names the map lacks and for no SNI.
fn mixed_frontend(pki: &Pki, backends: &[(&str, &Backend)]) -> Splicer {
    let map = scratch_dir("snimap").join("sni.map");
    std::fs::write(&map, "a.test be_a\nfoo.b.test be_b\n").unwrap();
    let mut rest = format!(
        "frontend fe\n    bind 127.0.0.1:0\n    bind 127.0.0.1:0 ssl crt {} alpn h2,http/1.1\n\
         \x20   tcp-request content reject if !{{ ssl_fc }}\n\
         \x20   use_backend b_h2 if {{ ssl_fc_alpn h2 }}\n\
         \x20   use_backend %[ssl_fc_sni,lower,map_str({},be_default)]\n\
         \x20   default_backend be_default\n",
        pki.sni_dir.display(),
        map.display()
    );
    for (name, b) in backends {
        rest.push_str(&format!("backend {name}\n    server s1 {}\n", b.addr));
    }
    Splicer::start(&config("", "", &rest), &["fe"])
}

#[test]
fn ssl_fc_rejects_the_plain_bind_of_a_mixed_frontend() {
    let Some(pki) = certs::require("ssl_fc_rejects_the_plain_bind_of_a_mixed_frontend") else {
        return;
    };
    let srv = Backend::named("be_default");
    let sp = mixed_frontend(pki, &[("be_default", &srv), ("b_h2", &srv)]);
    let (plain, tls) = (sp.addrs("fe")[0], sp.addrs("fe")[1]);
    let c = TcpStream::connect(plain).unwrap();
    let (got, _) = read_to_end_or_err(&c, LIMIT);
    assert!(got.is_empty(), "the plain bind answered {got:?}");
    let r = TlsClient::new(tls).line().run();
    r.expect_ok("the TLS bind");
    assert_eq!(r.get("line"), Some("be_default"));
    assert_eq!(srv.accepted(), 1, "the plain client reached a server");
}

#[test]
fn alpn_and_sni_choose_the_backend() {
    let Some(pki) = certs::require("alpn_and_sni_choose_the_backend") else {
        return;
    };
    let names = ["b_h2", "be_a", "be_b", "be_default"];
    let servers: Vec<Backend> = names.iter().map(|&n| Backend::named(n)).collect();
    let backends: Vec<(&str, &Backend)> = names.iter().copied().zip(&servers).collect();
    let sp = mixed_frontend(pki, &backends);
    let tls = sp.addrs("fe")[1];
    let cases: [(Option<&str>, Option<&str>, &str); 6] = [
        (Some("A.TEST"), None, "be_a"),
        (Some("foo.b.test"), None, "be_b"),
        (Some("x.b.test"), None, "be_default"),
        (None, None, "be_default"),
        (Some("a.test"), Some("h2"), "b_h2"),
        (Some("a.test"), Some("http/1.1"), "be_a"),
    ];
    for (sni, alpn, want) in cases {
        let mut c = TlsClient::new(tls).line();
        if let Some(sni) = sni {
            c = c.sni(sni);
        }
        if let Some(alpn) = alpn {
            c = c.alpn(alpn);
        }
        let r = c.run();
        r.expect_ok(&format!("sni {sni:?} alpn {alpn:?}"));
        assert_eq!(
            r.get("line"),
            Some(want),
            "sni {sni:?} alpn {alpn:?}: {r:?}"
        );
    }
}
