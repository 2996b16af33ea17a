//! The stats page end to end: the real binary with a `mode http` stats
//! listen next to a TCP listen, real HTTP clients (a raw socket, and
//! headless Chromium for the rendered page), and the stats socket to
//! change server states. Each test asserts what an operator sees:
//! authentication, state colours that follow `set server`, the CSV, admin
//! actions, and bad requests that hurt nothing. Metrics: `stats_metrics.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::statspage::*;
use crate::common::*;

#[test]
fn the_page_asks_for_a_password_and_shows_every_server() {
    let lab = Lab::start(
        "    stats enable\n    stats uri /stats\n    stats realm Splicer\\ LB\n    stats auth admin:secret\n    stats show-desc <script>alert(1)</script>",
    );
    let r = lab.get("/stats", None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Splicer LB\"")
    );
    // admin:wrong
    assert_eq!(lab.get("/stats", Some("YWRtaW46d3Jvbmc=")).status, 401);
    lab.wait_w2_down();
    let r = lab.get("/stats", Some(ADMIN_SECRET));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(row_class(&r.body, "w1"), "server active up");
    assert_eq!(row_class(&r.body, "w2"), "server active down");
    assert_eq!(row_class(&r.body, "w3"), "server backup nocheck");
    assert!(r.body.contains("L4CON"), "w2's last check is shown");
    // The description is the operator's text, shown as text.
    assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!r.body.contains("<script>"));
    // Anything but the stats URI is HAProxy's 503 of a proxy without servers.
    assert_eq!(lab.get("/other", Some(ADMIN_SECRET)).status, 503);
}

#[test]
fn state_colours_follow_the_runtime_api() {
    let lab = Lab::start("    stats enable\n    stats refresh 3s");
    let page = || lab.get("/haproxy?stats", None).body;
    wait_for("w1 up on the page", LIMIT, || {
        row_class(&page(), "w1") == "server active up"
    });
    assert!(
        page().contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "stats refresh reloads the page"
    );
    // (command, w1's row class after it)
    let steps = [
        ("set server web/w1 state maint", "server active maint"),
        ("set server web/w1 state drain", "server active drain"),
        ("set server web/w1 state ready", "server active up"),
    ];
    for (cmd, want) in steps {
        assert_eq!(lab.ask(cmd), "\n", "{cmd}");
        assert_eq!(row_class(&page(), "w1"), want, "after {cmd}");
    }
    // ;up hides the servers that take no session; ;norefresh drops the reload.
    lab.wait_w2_down();
    let up = lab.get("/haproxy?stats;up;norefresh", None).body;
    assert!(up.contains(">w1</td>") && !up.contains(">w2</td>"), "{up}");
    assert!(!up.contains("http-equiv=\"refresh\""));
}

#[test]
fn the_csv_variant_is_show_stat() {
    let lab = Lab::start("    stats enable\n    stats uri /st");
    lab.wait_w2_down();
    let r = lab.get("/st;csv", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let csv = lab.ask("show stat");
    let key = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split(',')
                    .take(2)
                    .chain(l.split(',').nth(17))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    // Same header, same rows (proxy, server, status) in the same order.
    assert_eq!(r.body.lines().next(), csv.lines().next());
    assert_eq!(key(&r.body), key(&csv));
    assert!(
        key(&r.body).contains(&"web,w2,DOWN".to_string()),
        "{}",
        r.body
    );
    assert!(key(&r.body).contains(&"stats,FRONTEND,OPEN".to_string()));
}
#[test]
fn scope_hide_version_and_legends_shape_the_page() {
    let lab = Lab::start(
        "    stats enable\n    stats scope web\n    stats hide-version\n    stats show-legends\n    stats show-node lb-one",
    );
    let page = lab.get("/haproxy?stats", None).body;
    assert!(page.contains("id=\"web\""), "web is in scope");
    assert!(
        !page.contains("id=\"stats\""),
        "stats is out of scope:\n{page}"
    );
    assert!(page.contains("<h1>splicer</h1>"), "no version");
    assert!(page.contains(" on lb-one</h2>"));
    // show-legends: a server's address on its name.
    let w3 = lab
        .ask("show stat")
        .lines()
        .find(|l| l.starts_with("web,w3,"))
        .map(|l| l.split(',').nth(73).unwrap().to_string())
        .unwrap();
    assert!(
        page.contains(&format!("<td class=\"name\" title=\"{w3}\">w3</td>")),
        "{page}"
    );
    let csv = lab.get("/haproxy?stats;csv", None).body;
    assert!(csv.lines().skip(1).all(|l| l.starts_with("web,")), "{csv}");
}

#[test]
fn the_admin_form_changes_server_states_when_allowed() {
    let lab = Lab::start("    stats enable\n    stats uri /s\n    stats admin if LOCALHOST");
    // Before its first check, a drained w1 shows `DRAIN 1/3`.
    lab.wait_checked("w1");
    let page = lab.get("/s", None).body;
    assert!(
        page.contains("<input type=\"checkbox\" name=\"s\" value=\"w1\">"),
        "{page}"
    );
    let iid = page
        .split("name=\"b\" value=\"#")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let post = |body: &str| {
        send(
            lab.stats(),
            format!(
                "POST /s HTTP/1.1\r\nHost: lb\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let r = post(&format!("s=w1&s=w3&action=drain&b=%23{iid}"));
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/s;st=DONE"));
    let csv = lab.ask("show stat");
    for sv in ["w1", "w3"] {
        assert!(
            csv.lines()
                .any(|l| l.starts_with(&format!("web,{sv},")) && l.contains(",DRAIN,")),
            "{sv}:\n{csv}"
        );
    }
    let done = lab.get("/s;st=DONE", None).body;
    assert!(done.contains("Action processed successfully."));
    assert_eq!(row_class(&done, "w1"), "server active drain");
    // Checks go off on any server, back on only where one is configured
    // (w3 has none).
    let r = post(&format!("s=w1&s=w3&action=dhlth&b=%23{iid}"));
    assert_eq!(r.header("location"), Some("/s;st=DONE"));
    let r = post(&format!("s=w1&s=w3&action=ehlth&b=%23{iid}"));
    assert_eq!(r.header("location"), Some("/s;st=PART"));
    let r = post("s=w1&action=shutdown&b=%23999");
    assert_eq!(r.header("location"), Some("/s;st=ERRP"));
    let r = post(&format!("s=w1&action=ready&b=%23{iid}"));
    assert_eq!(r.header("location"), Some("/s;st=DONE"));
    // Kill Sessions closes what runs on the server (w1, the one active
    // server taking sessions now).
    let mut client = TcpStream::connect(lab.sp.addr("web")).unwrap();
    client.write_all(b"ping").unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).unwrap();
    let r = post(&format!("s=w1&action=shutdown&b=%23{iid}"));
    assert_eq!(r.header("location"), Some("/s;st=DONE"));
    // Cut: EOF or a reset at once, not the read timeout of a live session.
    let mut rest = Vec::new();
    let end = client.read_to_end(&mut rest);
    assert!(
        !end.as_ref().is_err_and(is_timeout),
        "the session is still open: {end:?}"
    );
    lab.sp
        .wait_log(&["sessions on server web/w1 killed"], LIMIT);
    assert!(
        lab.ask("show stat")
            .lines()
            .any(|l| l.starts_with("web,w1,") && l.contains(",UP,"))
    );
}

#[test]
fn a_reload_applies_new_stats_settings() {
    let lab = Lab::start("    stats enable\n    stats uri /s");
    assert_eq!(lab.get("/s", None).status, 200);
    let cfg = lab.config_with("    stats enable\n    stats uri /s\n    stats auth admin:secret");
    std::fs::write(&lab.sp.config_path, cfg).unwrap();
    lab.sp.signal("HUP");
    lab.sp.wait_log(&["configuration reloaded"], LIMIT);
    assert_eq!(lab.get("/s", None).status, 401);
    let r = lab.get("/s", Some(ADMIN_SECRET));
    assert_eq!(r.status, 200);
    assert!(r.body.contains(">w1</td>"));
}

#[test]
fn without_stats_admin_the_form_is_denied() {
    let lab =
        Lab::start("    stats enable\n    stats uri /s\n    stats admin if { src 192.0.2.1 }");
    let page = lab.get("/s", None).body;
    assert!(
        !page.contains("type=\"checkbox\""),
        "no form for this client"
    );
    let body = "s=w1&action=maint&b=web";
    let r = send(
        lab.stats(),
        format!(
            "POST /s HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(r.header("location"), Some("/s;st=DENY"));
    assert!(!lab.ask("show stat").contains(",MAINT,"), "nothing changed");
}

#[test]
fn bad_requests_get_400_and_hurt_nothing() {
    let lab = Lab::start("    stats enable\n    timeout http-request 300ms");
    let huge = format!(
        "GET /haproxy?stats HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let no_end = "A".repeat(40_000);
    // (what, request)
    let cases: &[(&str, &[u8])] = &[
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        ),
        ("no version", b"GET /haproxy?stats\r\n\r\n"),
        ("oversized header", huge.as_bytes()),
        ("no end of head", no_end.as_bytes()),
        (
            "bad length",
            b"POST /haproxy?stats HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        ),
    ];
    for (what, raw) in cases {
        let r = send(lab.stats(), raw);
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(r.header("connection"), Some("close"), "{what}");
    }
    // A request that stops halfway gets a 408 at `timeout http-request`.
    let start = Instant::now();
    let mut slow = TcpStream::connect(lab.stats()).unwrap();
    slow.write_all(b"GET /haproxy?stats HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(LIMIT)).unwrap();
    let mut bytes = Vec::new();
    let _ = slow.read_to_end(&mut bytes);
    assert_eq!(parse_reply(&bytes).status, 408);
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    // A client that connects and says nothing is closed at the same time,
    // without an answer (as HAProxy does).
    let mut silent = TcpStream::connect(lab.stats()).unwrap();
    silent.set_read_timeout(Some(LIMIT)).unwrap();
    let mut bytes = Vec::new();
    assert_eq!(silent.read_to_end(&mut bytes).unwrap(), 0);
    // Nothing else was disturbed: the stats socket and the page answer,
    // and the frontend counted the refused requests (`ereq`).
    assert!(lab.ask("show info").contains("Name: splicer"));
    let ereq = lab
        .ask("show stat")
        .lines()
        .find(|l| l.starts_with("stats,FRONTEND,"))
        .map(|l| l.split(',').nth(12).unwrap_or("").to_string());
    assert_eq!(
        ereq.as_deref(),
        Some("6"),
        "5 bad requests and one too slow"
    );
    assert_eq!(lab.get("/haproxy?stats", None).status, 200);
    assert!(lab.sp.log_lines("panicked").is_empty());
}
/// Runs headless Chromium with `args` on `url`, at most 60 s; its stdout.
fn chromium(bin: &Path, profile: &Path, args: &[String], url: &str) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "chromium {args:?} exited with {st}");
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().unwrap()
}

#[test]
fn chromium_renders_the_page() {
    let Some(tools) = require_tools("stats page in chromium", &["chromium"]) else {
        return;
    };
    let lab = Lab::start("    stats enable\n    stats uri /stats\n    stats admin if TRUE");
    lab.wait_w2_down();
    lab.ask("set server web/w3 state maint");
    let url = format!("http://{}/stats", lab.stats());
    let profile = lab.dir.join("chromium");
    let png = lab.dir.join("stats.png");
    chromium(
        &tools[0],
        &profile,
        &[format!("--screenshot={}", png.display())],
        &url,
    );
    let image = std::fs::read(&png).expect("the screenshot");
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    let dim = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), (1400, 900));
    // A blank page of this size is a few KiB; tables in colour are more.
    assert!(image.len() > 30_000, "screenshot of {} bytes", image.len());
    if let Ok(keep) = std::env::var("SPLICER_STATS_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
    let dom = chromium(&tools[0], &profile, &["--dump-dom".into()], &url);
    for want in [
        "<div class=\"pxname\" id=\"web\">web</div>",
        "<tr class=\"server active up\">",
        "<tr class=\"server active down\">",
        "<tr class=\"server backup maint\">",
        "<tr class=\"frontend\">",
        "<tr class=\"backend\">",
        "<option value=\"maint\">Set state to MAINT</option>",
    ] {
        assert!(
            dom.contains(want),
            "{want} missing from the rendered DOM:\n{dom}"
        );
    }
}

/// `monitor-uri` on a `mode http` frontend that does nothing else, as
/// kubespray, ceph and Cloud Foundry configure it for cloud load
/// balancers' probes: that URI, and only it, gets HAProxy's "Service
/// ready." page; anything else the 503 of a frontend with no server.
#[test]
fn monitor_uri_answers_cloud_probes() {
    let lab = Lab::start("    monitor-uri /healthz");
    let r = lab.get("/healthz", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    for other in ["/healthz?full=1", "/", "/haproxy?stats"] {
        let r = lab.get(other, None);
        assert_eq!(r.status, 503, "{other}: {}", r.body);
        assert!(
            r.body.contains("No server is available"),
            "{other}: {}",
            r.body
        );
    }
}

/// `monitor fail unless COND`: the monitor URI says 503 while the
/// condition fails the service, and 200 again once it holds (here: while
/// the operator keeps w1 in maintenance).
#[test]
fn monitor_fail_turns_the_probe_down() {
    let lab = Lab::start("    monitor-uri /healthz\n    monitor fail unless { srv_is_up(web/w1) }");
    wait_for("w1 up, probe 200", LIMIT, || {
        lab.get("/healthz", None).status == 200
    });
    assert_eq!(lab.ask("set server web/w1 state maint"), "\n");
    let r = lab.get("/healthz", None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("No server is available"), "{}", r.body);
    assert_eq!(lab.ask("set server web/w1 state ready"), "\n");
    wait_for("w1 back, probe 200", LIMIT, || {
        lab.get("/healthz", None).status == 200
    });
}
