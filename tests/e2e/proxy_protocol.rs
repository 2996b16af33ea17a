//! PROXY protocol: headers written to servers (`send-proxy`,
//! `send-proxy-v2`) and read from clients (`bind ... accept-proxy`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use regex::Regex;

use crate::common::*;

/// A server that reports every byte it received on a connection.
fn recorder() -> (Backend, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let b = Backend::spawn(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let _ = s.write_all(b"ok");
        tx.lock().unwrap().send(all).unwrap();
    });
    (b, rx)
}

/// Sends `payload` (in pieces, 100 ms apart), shuts, and returns what the
/// server received.
fn through(fe: SocketAddr, pieces: &[&[u8]], rx: &mpsc::Receiver<Vec<u8>>) -> (TcpStream, Vec<u8>) {
    let mut c = TcpStream::connect(fe).unwrap();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        c.write_all(p).unwrap();
    }
    c.shutdown(Shutdown::Write).unwrap();
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server got nothing");
    (c, got)
}

fn start(bind_opts: &str, server_opts: &str, srv: &Backend) -> Splicer {
    let cfg = config(
        "",
        "",
        &format!(
            "listen fe\n    bind 127.0.0.1:0 {bind_opts}\n    server s1 {} {server_opts}\n",
            srv.addr
        ),
    );
    Splicer::start(&cfg, &["fe"])
}

#[test]
fn send_proxy_v1_exact_header() {
    let (srv, rx) = recorder();
    let sp = start("", "send-proxy", &srv);
    let fe = sp.addr("fe");
    let (c, got) = through(fe, &[b"hello"], &rx);
    let client = c.local_addr().unwrap();
    let want = format!(
        "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\nhello",
        client.port(),
        fe.port()
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
    let (data, _) = read_to_end_or_err(&c, Duration::from_secs(5));
    assert_eq!(data, b"ok", "the header must not reach the client");
}

#[test]
fn send_proxy_v2_exact_header() {
    let (srv, rx) = recorder();
    let sp = start("", "send-proxy-v2", &srv);
    let fe = sp.addr("fe");
    let (c, got) = through(fe, &[b"hello"], &rx);
    let client = c.local_addr().unwrap();
    let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
    want.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    want.extend_from_slice(&client.port().to_be_bytes());
    want.extend_from_slice(&fe.port().to_be_bytes());
    want.extend_from_slice(b"hello");
    assert_eq!(got, want);
}

/// The header is sent even when the client sends nothing before the server
/// speaks (it goes out at connect time, not with the first client bytes).
#[test]
fn send_proxy_header_before_silent_client() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let srv = Backend::spawn(move |s| {
        let mut line = String::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(&s), &mut line);
        tx.lock().unwrap().send(line).unwrap();
    });
    let sp = start("", "send-proxy", &srv);
    let _c = TcpStream::connect(sp.addr("fe")).unwrap();
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        line.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 "),
        "{line:?}"
    );
}

#[test]
fn accept_proxy_v1_relayed_to_server() {
    let (srv, rx) = recorder();
    let sp = start("accept-proxy", "send-proxy", &srv);
    let (_, got) = through(
        sp.addr("fe"),
        &[b"PROXY TCP4 127.0.0.9 127.0.0.1 1234 80\r\nhello"],
        &rx,
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "PROXY TCP4 127.0.0.9 127.0.0.1 1234 80\r\nhello"
    );
}

/// A header that arrives in two pieces is still read whole.
#[test]
fn accept_proxy_v1_split_header() {
    let (srv, rx) = recorder();
    let sp = start("accept-proxy", "send-proxy", &srv);
    let (_, got) = through(
        sp.addr("fe"),
        &[b"PROXY TCP4 127.0.0.9 12", b"7.0.0.1 1234 80\r\nhello"],
        &rx,
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "PROXY TCP4 127.0.0.9 127.0.0.1 1234 80\r\nhello"
    );
}

#[test]
fn accept_proxy_v2_relayed_as_v1() {
    let (srv, rx) = recorder();
    let sp = start("accept-proxy", "send-proxy", &srv);
    let mut hdr = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    hdr.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c, 127, 0, 0, 9, 127, 0, 0, 1]);
    hdr.extend_from_slice(&1234u16.to_be_bytes());
    hdr.extend_from_slice(&80u16.to_be_bytes());
    hdr.extend_from_slice(b"hello");
    let (_, got) = through(sp.addr("fe"), &[&hdr], &rx);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "PROXY TCP4 127.0.0.9 127.0.0.1 1234 80\r\nhello"
    );
}

/// Without send-proxy the header is consumed, not forwarded.
#[test]
fn accept_proxy_header_not_forwarded() {
    let (srv, rx) = recorder();
    let sp = start("accept-proxy", "", &srv);
    let (_, got) = through(
        sp.addr("fe"),
        &[b"PROXY TCP4 127.0.0.9 127.0.0.1 1234 80\r\nhello"],
        &rx,
    );
    assert_eq!(got, b"hello");
}

#[test]
fn accept_proxy_garbage_is_closed_others_served() {
    let (srv, rx) = recorder();
    let sp = start("accept-proxy", "", &srv);
    let fe = sp.addr("fe");
    for garbage in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"PROXY TCP4 nonsense\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x99\x99\x00\x00",
    ] {
        let mut c = TcpStream::connect(fe).unwrap();
        c.write_all(garbage).unwrap();
        let (data, end) = read_to_end_or_err(&c, Duration::from_secs(5));
        if let Err(e) = &end {
            assert!(!is_timeout(e), "client sending {garbage:?} was left open");
        }
        assert!(data.is_empty());
    }
    assert_eq!(srv.accepted(), 0, "garbage reached the server");
    let (_, got) = through(
        fe,
        &[b"PROXY TCP4 127.0.0.9 127.0.0.1 1234 80\r\nfine"],
        &rx,
    );
    assert_eq!(got, b"fine");
}

/// A client that never sends its header is closed by `timeout client`.
#[test]
fn accept_proxy_silent_client_times_out() {
    let (srv, _rx) = recorder();
    let cfg = config(
        "",
        "",
        &format!(
            "listen fe\n    bind 127.0.0.1:0 accept-proxy\n    timeout client 300ms\n    server s1 {}\n",
            srv.addr
        ),
    );
    let sp = Splicer::start(&cfg, &["fe"]);
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    let (data, end) = read_to_end_or_err(&c, Duration::from_secs(5));
    if let Err(e) = &end {
        assert!(!is_timeout(e), "silent client never closed");
    }
    assert!(data.is_empty());
    assert_eq!(srv.accepted(), 0);
}

/// An HTTP server behind PROXY protocol (Nginx's `listen ... proxy_protocol`):
/// 200 to a request that starts with a PROXY header (v1 or v2), 400 to
/// one without.
fn proxied_http() -> Backend {
    Backend::spawn(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        let v2 = b"\r\n\r\n\0\r\nQUIT\n";
        let ok = buf[..n].starts_with(b"PROXY ") || buf[..n].starts_with(v2);
        let status = if ok { "200 OK" } else { "400 Bad Request" };
        let _ = s.write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    })
}

/// Checks of a `send-proxy` server carry the header too when they go to its
/// own address and port (HAProxy's rule); `check-send-proxy` adds it to any
/// server's checks; a check with a `port` of its own goes plain.
#[test]
fn health_checks_speak_proxy_protocol_like_the_traffic() {
    let (a, b, c) = (proxied_http(), proxied_http(), proxied_http());
    let dir = scratch_dir("check-proxy");
    let sock = dir.join("admin.sock");
    let _sp = Splicer::start(
        &config(
            &format!("    stats socket {} level admin", sock.display()),
            "",
            &format!(
                "listen fe\n    bind 127.0.0.1:0\n    option httpchk GET /\n\
                 \x20   server a {} send-proxy-v2 check inter 100ms\n\
                 \x20   server b {} check check-send-proxy inter 100ms\n\
                 \x20   server c {} send-proxy check port {} inter 100ms\n",
                a.addr,
                b.addr,
                c.addr,
                c.addr.port()
            ),
        ),
        &["fe"],
    );
    let status = |sv: &str| stat_field(&ask(&sock, "show stat"), "fe", sv, "status");
    wait_for("the first checks", Duration::from_secs(10), || {
        ["a", "b", "c"].iter().all(|s| {
            let st = stat_field(&ask(&sock, "show stat"), "fe", s, "check_status");
            !st.is_empty() && st != "INI"
        })
    });
    assert_eq!(status("a"), "UP");
    assert_eq!(status("b"), "UP");
    wait_for(
        "c DOWN (its check has no header)",
        Duration::from_secs(10),
        || status("c") == "DOWN",
    );
}

/// `show errors` keeps, per frontend, the last PROXY header it refused,
/// in HAProxy's layout (the bytes as sent, escaped, with their offsets).
/// splicer's own: HAProxy 2.6 captures nothing in TCP mode (its `show
/// errors` is for HTTP messages), so this test runs against splicer only.
#[test]
fn show_errors_has_the_last_refused_proxy_header() {
    if haproxy::enabled() {
        eprintln!("note: HAProxy captures no error in TCP mode; splicer-only test skipped");
        return;
    }
    let (srv, _rx) = recorder();
    let api = Api::start(
        "",
        &format!(
            "listen fe\n    bind 127.0.0.1:0 accept-proxy\n    server s {}\n\
             listen other\n    bind 127.0.0.1:0 accept-proxy\n    server s {}\n",
            srv.addr, srv.addr
        ),
        &["fe", "other"],
    );
    let header = |out: &str| out.lines().next().unwrap_or_default().to_string();
    let none = api.ask("show errors");
    assert!(header(&none).ends_with("] : 0"), "{none}");
    let refused = |garbage: &[u8]| {
        let mut c = TcpStream::connect(api.sp.addr("fe")).unwrap();
        c.write_all(garbage).unwrap();
        let (data, _) = read_to_end_or_err(&c, Duration::from_secs(5));
        assert!(data.is_empty());
        c.local_addr().unwrap()
    };
    refused(b"GET / HTTP/1.0\r\n\r\n");
    let client = refused(b"PROXY TCP4 nonsense\r\n\x01\tend");
    let out = api.ask("show errors");
    assert!(header(&out).ends_with("] : 2"), "{out}");
    let want = Regex::new(&format!(
        r"\n \n\[\d\d/\w{{3}}/\d{{4}}:\d\d:\d\d:\d\d\.\d{{3}}\] frontend fe \(#\d+\): invalid request\n  backend <NONE> \(#-1\), server <NONE> \(#-1\), event #1, src 127\.0\.0\.1:{}\n  buffer starts at 0 \(including 0 out\), \d+ free,\n  len 26, wraps at \d+, error at position \d+\n",
        client.port()
    ))
    .unwrap();
    assert!(want.is_match(&out), "{want} in\n{out}");
    // The bytes, as HAProxy dumps a capture: a line per input line.
    assert!(
        out.ends_with("  00000  PROXY TCP4 nonsense\\r\\n\n  00021  \\x01\\tend\n\n"),
        "{out}"
    );
    assert!(
        out.contains("PROXY protocol header: malformed PROXY protocol header"),
        "{out}"
    );
    // The other frontend has none; `response` lists none.
    assert_eq!(api.ask("show errors other").trim_end().lines().count(), 1);
    assert_eq!(
        api.ask("show errors fe response")
            .trim_end()
            .lines()
            .count(),
        1
    );
    assert!(api.ask("show errors fe").contains("frontend fe (#"));
}
