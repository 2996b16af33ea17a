//! HTTP health checks (`option httpchk`) against real Nginx servers: a sick
//! server is marked DOWN with HAProxy's log line, gets no traffic while
//! DOWN, and gets traffic again once healed; `http-check expect` decides
//! what "healthy" means; a server killed under load costs no client a
//! request when retries and redispatch are on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::nginx::{self, Nginx};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// A `listen NAME` section with `lines` and one checked server per nginx.
fn section(name: &str, lines: &str, servers: &[&Nginx], params: &str) -> String {
    let mut s = format!("listen {name}\n    bind 127.0.0.1:0\n{lines}\n");
    for n in servers {
        s.push_str(&format!("    server {} {} {params}\n", n.name, n.addr));
    }
    s
}

fn three() -> Vec<Nginx> {
    ["n1", "n2", "n3"].map(Nginx::start).into()
}

fn count(t: &HashMap<String, usize>, name: &str) -> usize {
    t.get(name).copied().unwrap_or(0)
}

#[test]
fn sick_server_leaves_rotation_and_comes_back_when_healed() {
    if !nginx::available("sick_server_leaves_rotation") {
        return;
    }
    let n = three();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &section(
                "web",
                "    balance roundrobin\n    option httpchk GET /health",
                &[&n[0], &n[1], &n[2]],
                "check inter 200ms",
            ),
        ),
        &["web"],
    );
    let fe = sp.addr("web");
    let t = http_tally(fe, 30);
    for name in ["n1", "n2", "n3"] {
        assert!(
            count(&t, name) >= 5,
            "{name} got too little at first: {t:?}"
        );
    }

    n[1].set_healthy(false);
    let line = sp.wait_log(&["Server web/n2 is DOWN"], LIMIT);
    for part in [
        "reason: Layer7 wrong status",
        "code: 503",
        // The server's own reason phrase (nginx's).
        "info: \"Service Temporarily Unavailable\"",
        "2 active and 0 backup servers left",
    ] {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
    let t = http_tally(fe, 30);
    assert_eq!(count(&t, "n2"), 0, "the DOWN server got traffic: {t:?}");
    assert_eq!(count(&t, "error"), 0, "clients saw errors: {t:?}");
    assert_eq!(count(&t, "n1") + count(&t, "n3"), 30, "{t:?}");

    n[1].set_healthy(true);
    let line = sp.wait_log(&["Server web/n2 is UP"], LIMIT);
    for part in ["reason: Layer7 check passed", "code: 200"] {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
    let t = http_tally(fe, 30);
    assert!(
        count(&t, "n2") >= 5,
        "the healed server got no traffic: {t:?}"
    );
    assert_eq!(count(&t, "error"), 0, "{t:?}");
}

/// `http-check expect string` judges the body: a 200 page without the
/// string is a failure, and the log says which check step did not match.
#[test]
fn expect_string_judges_the_body() {
    if !nginx::available("expect_string_judges_the_body") {
        return;
    }
    let n = [Nginx::start("n1"), Nginx::start("n2")];
    let sp = Splicer::start(
        &config(
            "",
            "",
            &section(
                "web",
                "    option httpchk GET /health\n    http-check expect string healthy",
                &[&n[0], &n[1]],
                "check inter 200ms",
            ),
        ),
        &["web"],
    );
    n[0].set_health_text(Some("degraded\n"));
    let line = sp.wait_log(&["Server web/n1 is DOWN"], LIMIT);
    // HAProxy: a body mismatch is an invalid response, without a code.
    for part in [
        "reason: Layer7 invalid response",
        "info: \"HTTP content check did not match\"",
    ] {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
    let t = http_tally(sp.addr("web"), 10);
    assert_eq!(count(&t, "n2"), 10, "{t:?}");

    n[0].set_health_text(Some("healthy again\n"));
    sp.wait_log(&["Server web/n1 is UP", "Layer7 check passed"], LIMIT);
    assert!(
        sp.log_lines("Server web/n2 is DOWN").is_empty(),
        "{}",
        sp.log_text()
    );
}

/// Without `http-check expect`, any 2xx or 3xx passes; `expect status 200`
/// turns a redirect into a failure. Both proxies check the same nginx URL
/// (`/app` answers 301).
#[test]
fn expect_status_rejects_what_the_default_accepts() {
    if !nginx::available("expect_status_rejects") {
        return;
    }
    let n = Nginx::start("n1");
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "{}{}",
                section(
                    "lax",
                    "    option httpchk GET /app",
                    &[&n],
                    "check inter 100ms"
                ),
                section(
                    "strict",
                    "    option httpchk GET /app\n    http-check expect status 200,204",
                    &[&n],
                    "check inter 100ms"
                ),
            ),
        ),
        &["lax", "strict"],
    );
    let line = sp.wait_log(&["Server strict/n1 is DOWN"], LIMIT);
    for part in ["reason: Layer7 wrong status", "code: 301"] {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
    sp.wait_log(&["proxy strict has no server available!"], LIMIT);
    // Both proxies have checked several times: the lenient one kept it UP.
    wait_for("10 checks of /app", LIMIT, || n.requests("/app") >= 10);
    assert!(
        sp.log_lines("Server lax/n1 is DOWN").is_empty(),
        "{}",
        sp.log_text()
    );
    assert_eq!(served_by(sp.addr("lax")).unwrap(), "n1");
}

/// `option log-health-checks` logs each check result that moves the health
/// counter, and then the DOWN line itself is short.
#[test]
fn log_health_checks_logs_each_failure() {
    if !nginx::available("log_health_checks_logs_each_failure") {
        return;
    }
    let n = Nginx::start("w1");
    let sp = Splicer::start(
        &config(
            "",
            "",
            &section(
                "web2",
                "    option httpchk GET /health\n    option log-health-checks",
                &[&n],
                "check inter 200ms rise 2 fall 2",
            ),
        ),
        &["web2"],
    );
    // The first result is logged (the status changed from "not checked").
    sp.wait_log(
        &[
            "Health check for server web2/w1 succeeded",
            "status: 2/2 UP",
        ],
        LIMIT,
    );
    n.set_healthy(false);
    let fail = sp.wait_log(
        &["Health check for server web2/w1 failed", "status: 1/2 UP"],
        LIMIT,
    );
    for part in ["reason: Layer7 wrong status", "code: 503"] {
        assert!(fail.contains(part), "{part:?} missing in {fail:?}");
    }
    let down = sp.wait_log(&["Server web2/w1 is DOWN."], LIMIT);
    assert!(!down.contains("reason:"), "long DOWN line: {down:?}");
    sp.wait_log(
        &["Health check for server web2/w1 failed", "status: 0/2 DOWN"],
        LIMIT,
    );

    n.set_healthy(true);
    sp.wait_log(
        &[
            "Health check for server web2/w1 succeeded",
            "status: 1/2 DOWN",
        ],
        LIMIT,
    );
    let up = sp.wait_log(&["Server web2/w1 is UP."], LIMIT);
    assert!(!up.contains("reason:"), "long UP line: {up:?}");
}

/// Three nginx under a steady stream of requests; one is killed with
/// SIGKILL. With `retries 3` and `option redispatch`, no request that
/// started after the kill fails, and the dead server is marked DOWN.
#[test]
fn killing_a_server_under_load_costs_no_request() {
    if !nginx::available("killing_a_server_under_load") {
        return;
    }
    let mut n = three();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &section(
                "web",
                "    balance roundrobin\n    retries 3\n    option redispatch\n    \
                 option httpchk GET /health",
                &[&n[0], &n[1], &n[2]],
                "check inter 200ms",
            ),
        ),
        &["web"],
    );
    let fe = sp.addr("web");
    let stop = Arc::new(AtomicBool::new(false));
    let results: Results = Arc::default();
    let client = {
        let (stop, results) = (stop.clone(), results.clone());
        thread::spawn(move || client_loop(fe, &stop, &results))
    };
    let served = |name: &str, since: Instant| {
        let r = results.lock().unwrap();
        r.iter()
            .filter(|(t, r)| *t > since && r.as_deref() == Ok(name))
            .count()
    };
    let t0 = Instant::now();
    wait_for("n2 to serve under load", LIMIT, || served("n2", t0) >= 5);
    // Requests already under way when the process dies may fail; those
    // started once it is gone (kill9 waits for it) must not.
    n[1].kill9();
    let killed_at = Instant::now();
    sp.wait_log(
        &["Server web/n2 is DOWN", "Layer4 connection problem"],
        LIMIT,
    );
    let down_at = Instant::now();
    wait_for("load to go on after DOWN", LIMIT, || {
        served("n1", down_at) + served("n3", down_at) >= 30
    });
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();

    assert_eq!(served("n2", down_at), 0, "a dead server answered?");
    let results = results.lock().unwrap();
    let after: Vec<_> = results.iter().filter(|(t, _)| *t > killed_at).collect();
    let failed: Vec<_> = after.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests after the kill failed, e.g. {:?}",
        failed.len(),
        after.len(),
        failed.first()
    );
}

type Results = Arc<std::sync::Mutex<Vec<(Instant, Result<String, String>)>>>;

/// Sequential `GET /` until `stop` (at most 20000 requests or 60 s): when
/// each started and who answered.
fn client_loop(fe: SocketAddr, stop: &AtomicBool, results: &Results) {
    let end = Instant::now() + Duration::from_secs(60);
    for _ in 0..20_000 {
        if stop.load(Ordering::SeqCst) || Instant::now() > end {
            return;
        }
        let t = Instant::now();
        let r = served_by(fe).map_err(|e| e.to_string());
        results.lock().unwrap().push((t, r));
    }
}
