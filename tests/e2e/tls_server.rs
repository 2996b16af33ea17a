//! TLS to the servers (`server ... ssl`): re-encryption with a verified
//! certificate, the SNI sent (`sni str(...)`, or the client's own with
//! `sni ssl_fc_sni`), ALPN, a client certificate shown to the server,
//! session resumption, and `check-ssl` health checks with `check-sni` and
//! `check-alpn`. The servers are Python's `ssl` (tls_peer.py), which
//! report what each connection carried. Every expectation was checked
//! against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::certs;
use crate::common::tcplog::{self, Tcplog};
use crate::common::tls_peer::{TlsClient, TlsServer};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

fn listen_to(name: &str, bind: &str, server: SocketAddr, params: &str) -> String {
    format!("listen {name}\n    bind 127.0.0.1:0{bind}\n    server s1 {server} {params}\n")
}

/// A short exchange through a plain bind: what came back before EOF.
fn exchange(addr: SocketAddr, data: &[u8]) -> (u16, Vec<u8>) {
    let mut c = TcpStream::connect(addr).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, _) = read_to_end_or_err(&c, LIMIT);
    (port, got)
}

/// `ssl verify required ca-file CA sni str(backend.test) alpn h2`: 1 MiB
/// each way arrives intact through the encrypted leg, and the server saw
/// the SNI and the ALPN the line asks for.
#[test]
fn reencrypted_bytes_arrive_intact_with_the_configured_sni() {
    let Some(pki) = certs::require("reencrypted_bytes_arrive_intact_with_the_configured_sni")
    else {
        return;
    };
    let srv = TlsServer::start(&pki.backend.pem, None, Some("h2,http/1.1"));
    let params = format!(
        "ssl verify required ca-file {} sni str(backend.test) alpn h2",
        pki.ca.display()
    );
    let sp = Splicer::start(
        &config("", "", &listen_to("fe", "", srv.addr, &params)),
        &["fe"],
    );
    echo_roundtrip(sp.addr("fe"), 7, 1 << 20);
    let seen = srv.wait_nth(1, LIMIT);
    assert_eq!(seen.get("event"), Some("handshake"), "{seen:?}");
    assert_eq!(seen.get("sni"), Some("backend.test"), "{seen:?}");
    assert_eq!(seen.get("alpn"), Some("h2"), "{seen:?}");
}

/// `sni ssl_fc_sni` behind a TLS bind passes the client's name on, and
/// with `verify required` the server's certificate must carry it: another
/// name gets the client nothing. Without a client SNI, no SNI is sent and
/// `verifyhost` names what the certificate must carry.
#[test]
fn the_clients_sni_is_passed_on_and_verified() {
    let Some(pki) = certs::require("the_clients_sni_is_passed_on_and_verified") else {
        return;
    };
    let srv = TlsServer::start(&pki.backend.pem, None, None);
    let bind = format!(" ssl crt {}", pki.sni_dir.display());
    let params = format!(
        "ssl verify required ca-file {} sni ssl_fc_sni verifyhost backend.test",
        pki.ca.display()
    );
    let rest = format!(
        "{}    retries 0\n",
        listen_to("fe", &bind, srv.addr, &params)
    );
    let sp = Splicer::start(&config("", "", &rest), &["fe"]);
    let send = |sni: Option<&str>| {
        let mut c = TlsClient::new(sp.addr("fe")).send("hello");
        if let Some(sni) = sni {
            c = c.sni(sni);
        }
        c.run()
    };
    let r = send(Some("backend.test"));
    r.expect_ok("SNI backend.test");
    assert_eq!(r.get("received"), Some("hello"));
    let seen = srv.wait_nth(1, LIMIT);
    assert_eq!(seen.get("sni"), Some("backend.test"), "{seen:?}");

    let r = send(Some("other.test"));
    assert_ne!(
        r.get("received"),
        Some("hello"),
        "a name the server's certificate lacks: {r:?}"
    );
    let seen = srv.wait_nth(2, LIMIT);
    assert_eq!(seen.get("event"), Some("failed"), "{seen:?}");

    let r = send(None);
    r.expect_ok("no SNI");
    assert_eq!(r.get("received"), Some("hello"));
    let seen = srv.wait_nth(3, LIMIT);
    assert_eq!(seen.get("event"), Some("handshake"), "{seen:?}");
    assert_eq!(seen.get("sni"), None, "an SNI was sent: {seen:?}");
}

/// A server whose certificate comes from a CA the line does not trust:
/// `verify required` fails the server connection, the client gets no
/// byte, and the log says the session died on the server side (`SC`, no
/// connect time). `verify none` takes the same server.
#[test]
fn an_untrusted_server_certificate_fails_the_session() {
    let Some(pki) = certs::require("an_untrusted_server_certificate_fails_the_session") else {
        return;
    };
    let srv = TlsServer::start(&pki.backend_other.pem, None, None);
    let strict = format!(
        "ssl verify required ca-file {} sni str(backend.test)",
        pki.ca.display()
    );
    // No retries: each one would be another failed handshake.
    let rest = format!(
        "{}    retries 0\n{}",
        listen_to("strict", "", srv.addr, &strict),
        listen_to("lax", "", srv.addr, "ssl verify none")
    );
    let api = tcplog::start(&rest, &["strict", "lax"]);
    let (port, got) = exchange(api.sp.addr("strict"), b"hello");
    assert!(got.is_empty(), "the client got {got:?}");
    let l = Tcplog::parse(&api.sp.wait_log(&[&format!("127.0.0.1:{port} [")], LIMIT));
    assert_eq!((&*l.server, &*l.term, l.bytes), ("s1", "SC", 0), "{l:?}");
    assert_eq!(
        l.timers[1], -1,
        "a connect time for a failed handshake: {l:?}"
    );
    let seen = srv.wait_nth(1, LIMIT);
    assert_eq!(seen.get("event"), Some("failed"), "{seen:?}");

    let (_, got) = exchange(api.sp.addr("lax"), b"hello");
    assert_eq!(got, b"hello", "verify none");
}

/// `crt` on a server line: the client certificate is shown to a server
/// that requires one (and the server sees its subject); without it, that
/// server refuses and the client gets nothing.
#[test]
fn a_client_certificate_is_shown_to_the_server() {
    let Some(pki) = certs::require("a_client_certificate_is_shown_to_the_server") else {
        return;
    };
    let srv = TlsServer::start(&pki.backend.pem, Some(&pki.ca), None);
    let with = format!(
        "ssl verify required ca-file {} sni str(backend.test) crt {}",
        pki.ca.display(),
        pki.client1.pem.display()
    );
    let without = format!(
        "ssl verify required ca-file {} sni str(backend.test)",
        pki.ca.display()
    );
    let rest = format!(
        "{}{}    retries 0\n",
        listen_to("with", "", srv.addr, &with),
        listen_to("without", "", srv.addr, &without)
    );
    let sp = Splicer::start(&config("", "", &rest), &["with", "without"]);
    let (_, got) = exchange(sp.addr("with"), b"hello");
    assert_eq!(got, b"hello");
    let seen = srv.wait_report("the server to see a client certificate", LIMIT, |f| {
        f.get("event") == Some("handshake")
    });
    assert_eq!(
        seen.get("client"),
        Some("/C=FR/O=Lab/CN=client1"),
        "{seen:?}"
    );

    let (_, got) = exchange(sp.addr("without"), b"hello");
    assert!(
        got.is_empty(),
        "a server requiring a certificate answered {got:?}"
    );
    srv.wait_report(
        "the server to refuse a client without certificate",
        LIMIT,
        |f| f.get("event") == Some("failed"),
    );
}

/// The TLS session to a server is resumed on the next connection (the
/// server sees `session_reused`), unless `no-ssl-reuse`. One thread:
/// HAProxy 2.6 keeps a server's session per thread.
#[test]
fn server_sessions_are_resumed_unless_no_ssl_reuse() {
    let Some(pki) = certs::require("server_sessions_are_resumed_unless_no_ssl_reuse") else {
        return;
    };
    let reuse = TlsServer::start(&pki.backend.pem, None, None);
    let fresh = TlsServer::start(&pki.backend.pem, None, None);
    let cfg = format!(
        "global\n    nbthread 1\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
         {}{}",
        listen_to("reuse", "", reuse.addr, "ssl verify none"),
        listen_to("fresh", "", fresh.addr, "ssl verify none no-ssl-reuse")
    );
    let sp = Splicer::start(&cfg, &["reuse", "fresh"]);
    for (name, srv, want) in [("reuse", &reuse, "true"), ("fresh", &fresh, "false")] {
        for n in 1..=3 {
            // A round trip: the server's session ticket arrives with it.
            let (_, got) = exchange(sp.addr(name), b"hello");
            assert_eq!(got, b"hello", "{name} #{n}");
            let seen = srv.wait_nth(n, LIMIT);
            let expect = if n == 1 { "false" } else { want };
            assert_eq!(seen.get("reused"), Some(expect), "{name} #{n}: {seen:?}");
        }
    }
}

/// `check check-ssl`: a TLS server is UP (layer 6 passed) and its checks
/// carry `check-sni` and `check-alpn`; a plain server that closes on
/// what it does not understand is DOWN, and so is a TLS server whose
/// certificate the check does not trust.
#[test]
fn check_ssl_tells_tls_servers_from_plain_ones() {
    let Some(pki) = certs::require("check_ssl_tells_tls_servers_from_plain_ones") else {
        return;
    };
    let tls = TlsServer::start(&pki.backend.pem, None, Some("h2,http/1.1"));
    let plain = Backend::spawn(|mut s| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    });
    let chk = "check check-ssl inter 200ms";
    let rest = format!(
        "listen fe\n    bind 127.0.0.1:0\n\
         \x20   server tls {} {chk} verify none check-sni check.test check-alpn h2\n\
         \x20   server plain {} {chk} verify none\n\
         \x20   server untrusted {} {chk} verify required ca-file {}\n",
        tls.addr,
        plain.addr,
        tls.addr,
        pki.ca2.display()
    );
    let api = tcplog::start(&rest, &["fe"]);
    for sv in ["plain", "untrusted"] {
        let down = api
            .sp
            .wait_log(&[&format!("Server fe/{sv} is DOWN")], LIMIT);
        // HAProxy adds the errno when there is one: `info: "SSL handshake
        // failure (Connection reset by peer)"` when the server's close
        // left our hello unread.
        for part in [
            "reason: Layer6 invalid response",
            "info: \"SSL handshake failure",
        ] {
            assert!(down.contains(part), "{part:?} missing in {down:?}");
        }
    }
    let seen = tls.wait_report("a check with SNI", LIMIT, |f| f.get("sni").is_some());
    assert_eq!(seen.get("sni"), Some("check.test"), "{seen:?}");
    assert_eq!(seen.get("alpn"), Some("h2"), "{seen:?}");
    wait_for("show stat to say tls is UP, L6OK", LIMIT, || {
        let csv = api.ask("show stat");
        stat_field(&csv, "fe", "tls", "status") == "UP"
            && stat_field(&csv, "fe", "tls", "check_status") == "L6OK"
    });
    assert!(api.sp.log_lines("Server fe/tls is DOWN").is_empty());
}
