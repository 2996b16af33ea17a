//! Entry points for coverage-guided fuzzing (`scripts/fuzz`, the AFL++
//! harness in tests/fuzz): every parser of untrusted input behind one
//! function, the first byte choosing the parser, so one binary and one
//! corpus cover them all. Built only with the `fuzzing` feature; a panic
//! anywhere here is a bug.

use std::net::Ipv4Addr;

/// A parser's name and its entry point.
type Target = (&'static str, fn(&[u8]));

/// The parsers, in the order the first byte picks them (modulo their
/// number).
const TARGETS: &[Target] = &[
    ("proxy", |d| {
        let _ = crate::proxy_proto::parse(d);
    }),
    ("vrrp", |d| {
        let _ = crate::vrrp::packet::decode_ip(d);
    }),
    ("cli", crate::admin::fuzz_cli),
    ("stats-http", crate::admin::fuzz_http),
    ("config", |d| {
        let _ = crate::config::parse_with_env("fuzz.cfg", &String::from_utf8_lossy(d), &|_| None);
    }),
    ("logformat", |d| {
        let _ = crate::config::logformat::parse(&String::from_utf8_lossy(d));
    }),
    ("agent", |d| {
        let _ = crate::health::agent::parse_agent(&String::from_utf8_lossy(d));
    }),
    ("dns", crate::dns::fuzz_response),
    ("peers", |d| {
        let mut rest = d;
        while let Ok(Some((_, used))) = crate::peers::codec::frame(rest) {
            if used == 0 {
                break;
            }
            rest = &rest[used.min(rest.len())..];
        }
    }),
    ("mysql", |d| {
        let mut c = crate::mysql::proto::Client::new("monitor", "secret");
        if c.receive(d).is_ok() {
            while c.poll_event().is_some() {}
        }
    }),
    ("client-hello", |d| {
        use crate::rules::hello;
        let _ = hello::ssl_hello_type(d);
        let _ = hello::ssl_ver(d);
        let _ = hello::ssl_sni(d);
        let _ = hello::ssl_alpn_names(d);
        let _ = hello::ssl_ec_ext(d);
    }),
];

/// The name of the parser `data` goes to (`scripts/fuzz` reports it).
pub fn target_of(data: &[u8]) -> &'static str {
    data.first()
        .map_or("none", |&pick| TARGETS[usize::from(pick) % TARGETS.len()].0)
}

/// Runs the parser the first byte picks on the rest.
pub fn one(data: &[u8]) {
    if let Some((&pick, rest)) = data.split_first() {
        (TARGETS[usize::from(pick) % TARGETS.len()].1)(rest);
    }
}

/// A starting corpus: one well-formed input per parser (file name, bytes
/// with the picking byte first).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let pick = |name: &str| TARGETS.iter().position(|t| t.0 == name).unwrap() as u8;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, n: usize, body: &[u8]| {
        let mut v = vec![pick(name)];
        v.extend_from_slice(body);
        out.push((format!("{name}-{n}"), v));
    };
    add(
        "proxy",
        1,
        b"PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\nGET / HTTP/1.0\r\n\r\n",
    );
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[
        0x21, 0x11, 0, 12, 192, 0, 2, 1, 192, 0, 2, 2, 0x9c, 0x40, 0, 80,
    ]);
    add("proxy", 2, &v2);
    let advert = crate::vrrp::packet::Advert {
        vrid: 51,
        priority: 150,
        interval_cs: 100,
        addrs: vec![Ipv4Addr::new(192, 0, 2, 100)],
    };
    let (src, dst) = (Ipv4Addr::new(192, 0, 2, 11), Ipv4Addr::new(224, 0, 0, 18));
    let msg = advert.encode(src, dst);
    let mut ip = vec![
        0x45,
        0,
        0,
        (20 + msg.len()) as u8,
        0,
        0,
        0,
        0,
        255,
        112,
        0,
        0,
    ];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&msg);
    add("vrrp", 1, &ip);
    add(
        "cli",
        1,
        b"show stat; set server web/w1 state drain;show info typed\n",
    );
    add(
        "cli",
        2,
        b"set ssl cert a.pem <<\n-----BEGIN CERTIFICATE-----\n\n",
    );
    add(
        "stats-http",
        1,
        b"GET /stats;csv?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YTpi\r\n\r\n",
    );
    add(
        "stats-http",
        2,
        b"POST /stats HTTP/1.1\r\nContent-Length: 9\r\n\r\ns=w1&b=#2",
    );
    add(
        "config",
        1,
        b"global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout client 5s\n\
          frontend fe\n    bind :80\n    tcp-request connection reject if { src 10.0.0.0/8 }\n\
          default_backend be\nbackend be\n    balance leastconn\n    server s1 127.0.0.1:8080 check\n",
    );
    add(
        "logformat",
        1,
        b"%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %{+Q}r",
    );
    add("agent", 1, b"up 75% drain # maintenance soon");
    add("dns", 1, &crate::dns::fuzz_seed());
    add("peers", 1, &[0, 1, 0, 2, 0x0a, 0x01, 0x02]);
    add(
        "mysql",
        1,
        b"\x4a\0\0\0\x0a10.11.6-MariaDB\0\x08\0\0\0abcdefgh\0\xfe\xf7\x08\x02\0\xff\x81\x15\0\0\0\0\0\0\x1d\0\0\0ijklmnopqrst\0mysql_native_password\0",
    );
    add(
        "client-hello",
        1,
        &crate::rules::hello::client_hello(Some("www.foobar.com"), &["h2", "http/1.1"], 0),
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_seed_runs_and_every_parser_has_one() {
        let seeds = super::seeds();
        for (name, data) in &seeds {
            assert!(!data.is_empty(), "{name}");
            super::one(data);
        }
        for (name, _) in super::TARGETS {
            assert!(
                seeds
                    .iter()
                    .any(|(s, _)| s.starts_with(&format!("{name}-"))),
                "no seed for {name}"
            );
        }
    }
}
