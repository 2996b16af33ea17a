//! Validation mode: with `SPLICER_TEST_BIN=haproxy`, `Splicer::start` runs
//! the real HAProxy on the same config instead of splicer, to check that a
//! test encodes HAProxy's behaviour and not a guess. Splicer learns its ports
//! from its own log; HAProxy does not print them, so each `bind
//! 127.0.0.1:0` gets a free port here, and HAProxy gets the `log` lines it
//! needs to print server state changes on stdout.
//!
//! Not used by default: CI runs the tests against splicer only.

use std::net::SocketAddr;
use std::process::Command;

use super::{Splicer, find_tool, free_port, scratch_dir};

pub fn enabled() -> bool {
    std::env::var("SPLICER_TEST_BIN").is_ok_and(|v| v == "haproxy")
}

/// The config HAProxy gets, and the address each frontend will listen on.
pub fn rewrite(config: &str) -> (String, Vec<(String, SocketAddr)>) {
    let mut out = String::new();
    let mut listening = Vec::new();
    let mut section = String::new();
    for line in config.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with([' ', '\t']) && !words.is_empty() {
            section = words.get(1).unwrap_or(&"").to_string();
            out.push_str(line);
            out.push('\n');
            match words[0] {
                "global" => out.push_str("    log stdout format raw local0 info\n"),
                "defaults" => out.push_str("    log global\n"),
                _ => {}
            }
            continue;
        }
        if words.first() == Some(&"bind") && line.contains("127.0.0.1:0") {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            listening.push((section.clone(), addr));
            out.push_str(&line.replace("127.0.0.1:0", &addr.to_string()));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, listening)
}

/// Starts HAProxy in the foreground on `config` (rewritten) and waits until
/// every frontend in `frontends` listens.
pub fn start(config: &str, frontends: &[&str], extra_args: &[&str]) -> Splicer {
    launch(config, frontends, |bin, path| {
        let mut cmd = Command::new(bin);
        cmd.arg("-db").arg("-f").arg(path).args(extra_args);
        (cmd, false)
    })
}

/// As [`start`], through `sh -c "PREFIX; exec haproxy -db -f CONFIG"`
/// (e.g. a lower resource limit).
pub fn start_wrapped(config: &str, frontends: &[&str], shell_prefix: &str) -> Splicer {
    launch(config, frontends, |bin, path| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{shell_prefix}; exec \"$0\" -db -f \"$1\""))
            .arg(bin)
            .arg(path);
        (cmd, true)
    })
}

/// HAProxy on `config` (rewritten for it), run by the command `command`
/// makes from its binary and the config file (and whether its stderr goes
/// in the log), waited for until every frontend in `frontends` listens.
fn launch(
    config: &str,
    frontends: &[&str],
    command: impl FnOnce(&std::path::Path, &std::path::Path) -> (Command, bool),
) -> Splicer {
    let (config, listening) = rewrite(config);
    let dir = scratch_dir("haproxy");
    let config_path = dir.join("haproxy.cfg");
    std::fs::write(&config_path, config).unwrap();
    let bin = find_tool("haproxy").expect("SPLICER_TEST_BIN=haproxy but haproxy is not installed");
    let (cmd, stderr_in_log) = command(&bin, &config_path);
    let mut s = Splicer::spawn_logged(cmd, config_path, listening, stderr_in_log);
    // Connecting to learn that it listens would start a session (and pick a
    // server); the kernel's socket table says it without side effects.
    s.wait_listening(frontends, listens);
    s
}

/// True when a socket is in LISTEN state on `addr` (IPv4 only).
fn listens(addr: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = addr else {
        return false;
    };
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.len() > 3 && cols[1] == local && cols[3] == "0A"
    })
}
