//! Checks below HTTP: a plain connect, `tcp-check` scripts and
//! `option redis-check` against a scripted Redis, `option ssl-hello-chk`
//! against `openssl s_server`, and `timeout check` against a server that
//! never answers.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::common::fake::{FakeRedis, RedisRole, redis_role};
use crate::common::tls::{make_cert, tls_server};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

fn assert_parts(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
}

/// Without a check option, a check is a TCP connect: a server whose port
/// closes is DOWN ("Connection refused"), and UP again once it listens.
#[test]
fn connect_check_follows_the_port() {
    let s1 = Backend::named("s1");
    let addr = s1.addr;
    let s2 = Backend::named("s2");
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen(
                "    balance roundrobin",
                &[
                    ("s1", addr, "check inter 200ms"),
                    ("s2", s2.addr, "check inter 200ms"),
                ],
            ),
        ),
        &["fe"],
    );
    drop(s1);
    let down = sp.wait_log(&["Server fe/s1 is DOWN"], LIMIT);
    assert_parts(
        &down,
        &[
            "reason: Layer4 connection problem",
            "info: \"Connection refused\"",
            "1 active and 0 backup servers left",
        ],
    );
    for _ in 0..10 {
        assert_eq!(server_name(sp.addr("fe")), "s2");
    }
    let _s1 = Backend::spawn_on(addr, |mut s| {
        let _ = s.write_all(b"s1\n");
    });
    let up = sp.wait_log(&["Server fe/s1 is UP"], LIMIT);
    assert_parts(
        &up,
        &["reason: Layer4 check passed", "2 active and 0 backup"],
    );
    wait_for("s1 to get traffic again", LIMIT, || {
        server_name(sp.addr("fe")) == "s1"
    });
}

const REDIS_SCRIPT: &str = "    option tcp-check
    tcp-check connect
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    tcp-check send info\\ replication\\r\\n
    tcp-check expect string role:master
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK";

/// The classic tcp-check script that sends writes to the Redis master only:
/// the replica is DOWN, and when roles swap, so do the states.
#[test]
fn tcp_check_script_finds_the_redis_master() {
    let r1 = FakeRedis::start(RedisRole::Master);
    let r2 = FakeRedis::start(RedisRole::Replica);
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "listen redis\n    bind 127.0.0.1:0\n{REDIS_SCRIPT}\n    \
                 server r1 {} check inter 200ms\n    server r2 {} check inter 200ms\n",
                r1.addr(),
                r2.addr()
            ),
        ),
        &["redis"],
    );
    let down = sp.wait_log(&["Server redis/r2 is DOWN"], LIMIT);
    assert_parts(
        &down,
        &["role:master", "1 active and 0 backup servers left"],
    );
    for _ in 0..10 {
        assert_eq!(redis_role(sp.addr("redis")).unwrap(), "master");
    }
    assert!(sp.log_lines("Server redis/r1 is DOWN").is_empty());

    // Failover: r2 is promoted, r1 demoted.
    r1.set_role(RedisRole::Replica);
    r2.set_role(RedisRole::Master);
    sp.wait_log(&["Server redis/r1 is DOWN"], LIMIT);
    let up = sp.wait_log(&["Server redis/r2 is UP"], LIMIT);
    assert_parts(&up, &["reason: Layer7 check passed"]);
    for _ in 0..10 {
        assert_eq!(redis_role(sp.addr("redis")).unwrap(), "master");
    }
}

/// `option redis-check`: `PING` must get `+PONG`; a Redis still loading
/// its data answers an error and is DOWN until it is ready.
#[test]
fn redis_check_waits_for_pong() {
    let r1 = FakeRedis::start(RedisRole::Loading);
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "listen redis\n    bind 127.0.0.1:0\n    option redis-check\n    \
                 server r1 {} check inter 200ms\n",
                r1.addr()
            ),
        ),
        &["redis"],
    );
    let down = sp.wait_log(&["Server redis/r1 is DOWN"], LIMIT);
    assert_parts(&down, &["reason: Layer7"]);
    sp.wait_log(&["proxy redis has no server available!"], LIMIT);
    r1.set_role(RedisRole::Master);
    let up = sp.wait_log(&["Server redis/r1 is UP"], LIMIT);
    assert_parts(&up, &["reason: Layer7 check passed"]);
    assert_eq!(redis_role(sp.addr("redis")).unwrap(), "master");
}

/// `option ssl-hello-chk` sends a TLS ClientHello: a TLS server answers with
/// a TLS record and is UP; a plain HTTP server answers text and is DOWN.
#[test]
fn ssl_hello_check_tells_tls_from_plain() {
    let Some(tools) = require_tools("ssl_hello_check_tells_tls_from_plain", &["openssl"]) else {
        return;
    };
    let dir = scratch_dir("tls");
    make_cert(&tools[0], &dir);
    // An HTTP server answering garbage with a 400, as nginx does.
    let plain = Backend::spawn(|mut s| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
    let tls_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "listen tls\n    bind 127.0.0.1:0\n    option ssl-hello-chk\n    \
                 server t1 {tls_addr} check inter 200ms\n\
                 listen plain\n    bind 127.0.0.1:0\n    option ssl-hello-chk\n    \
                 server p1 {} check inter 200ms\n",
                plain.addr
            ),
        ),
        &["tls", "plain"],
    );
    let down = sp.wait_log(&["Server plain/p1 is DOWN"], LIMIT);
    assert_parts(&down, &["reason: Layer6 invalid response"]);
    // Nothing listens on the TLS port yet: DOWN at layer 4 ...
    sp.wait_log(
        &["Server tls/t1 is DOWN", "Layer4 connection problem"],
        LIMIT,
    );
    // ... until the TLS server starts.
    let mut server = tls_server(&tools[0], &dir, tls_addr);
    let up = sp.wait_log(&["Server tls/t1 is UP"], LIMIT);
    assert_parts(&up, &["reason: Layer6 check passed"]);
    assert!(server.exited().is_none(), "s_server exited");
    assert!(sp.log_lines("Server plain/p1 is UP").is_empty());
}

/// `timeout check` bounds how long a check waits for the answer: a server
/// that accepts and stays silent is DOWN with a layer-7 timeout, after
/// about that long (not after `inter`).
#[test]
fn timeout_check_fails_a_silent_server() {
    let silent = Backend::spawn(|s| {
        let _ = std::io::copy(&mut &s, &mut std::io::sink());
    });
    let sp = Splicer::start(
        &config(
            "",
            "    timeout check 1s",
            &format!(
                "listen web\n    bind 127.0.0.1:0\n    option httpchk GET /health\n    \
                 server w3 {} check inter 200ms\n",
                silent.addr
            ),
        ),
        &["web"],
    );
    let down = sp.wait_log(&["Server web/w3 is DOWN"], LIMIT);
    assert_parts(&down, &["reason: Layer7 timeout"]);
    let ms = duration_ms(&down);
    assert!(
        (900..5000).contains(&ms),
        "check duration {ms}ms, expected about 1000ms: {down:?}"
    );
}

/// The `check duration: Nms` of a log line.
fn duration_ms(line: &str) -> u64 {
    let rest = line
        .split("check duration: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no check duration in {line:?}"));
    rest.split("ms").next().unwrap().parse().unwrap()
}
