//! The command line: config check, version, missing arguments, pidfile,
//! start-up failures.

use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

fn run(args: &[&str]) -> Output {
    Command::new(splicer_bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn write_cfg(text: &str) -> String {
    let p = scratch_dir("cli").join("test.cfg");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GOOD: &str = "global\n    maxconn 100\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    balance leastconn\n    server s1 127.0.0.1:8080 weight 2 maxconn 10\n    server s2 127.0.0.1:8081 backup\n";

#[test]
fn check_good_config() {
    let cfg = write_cfg(GOOD);
    let o = run(&["-c", "-f", &cfg]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Configuration file is valid"));
}

/// Every error is reported with its file and line, not only the first.
#[test]
fn check_bad_config_reports_every_error_with_line() {
    let cfg = write_cfg(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen fe\n    bind 127.0.0.1:0\n    frobnicate 3\n    server s1 127.0.0.1:99999\n",
    );
    let o = run(&["-c", "-f", &cfg]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{cfg}:8:")) && err.contains("frobnicate"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{cfg}:9:")) && err.contains("99999"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("valid"));
}

#[test]
fn check_suggests_keyword_for_typo() {
    let cfg = write_cfg(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen fe\n    bind 127.0.0.1:0\n    balanse roundrobin\n    server s1 127.0.0.1:80\n",
    );
    let o = run(&["-c", "-f", &cfg]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{cfg}:8:")) && err.contains("balance"),
        "{err}"
    );
}

/// HTTP-only settings are errors naming the line, never silently ignored.
#[test]
fn check_rejects_http_mode() {
    let cfg =
        write_cfg("listen fe\n    mode http\n    bind 127.0.0.1:0\n    server s1 127.0.0.1:80\n");
    let o = run(&["-c", "-f", &cfg]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains(&format!("{cfg}:2:")), "{}", stderr(&o));
}

#[test]
fn check_missing_file() {
    let o = run(&["-c", "-f", "/nonexistent/splicer.cfg"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("/nonexistent/splicer.cfg"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn version() {
    for flag in ["-v", "-vv", "--version"] {
        let o = run(&[flag]);
        assert!(o.status.success());
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(env!("CARGO_PKG_VERSION")), "{flag}: {out:?}");
    }
}

#[test]
fn no_config_file_is_an_error() {
    let o = run(&[]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("-f"), "{}", stderr(&o));
}

#[test]
fn pidfile_holds_pid() {
    let pidfile = scratch_dir("pid").join("splicer.pid");
    let sp = Splicer::start_with(GOOD, &["fe"], &["-p", pidfile.to_str().unwrap()]);
    wait_for("pidfile", Duration::from_secs(5), || pidfile.exists());
    let text = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(text.trim(), sp.pid().to_string());
}

/// A bind address already taken: splicer exits non-zero naming it.
#[test]
fn bind_conflict_fails_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let cfg = write_cfg(&GOOD.replace("127.0.0.1:0", &addr.to_string()));
    let mut child = Command::new(splicer_bin())
        .args(["-f", &cfg])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let o = child.wait_with_output().unwrap();
    let status =
        status.unwrap_or_else(|| panic!("splicer kept running on a taken address: {}", stderr(&o)));
    assert!(!status.success());
    assert!(stderr(&o).contains(&addr.to_string()), "{}", stderr(&o));
}
