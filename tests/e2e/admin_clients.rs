//! Real clients of the runtime API: `hatop` (Debian's curses monitor for
//! HAProxy) run in a terminal against splicer's socket, and HAProxy 2.6
//! itself, whose `show stat typed` / `show stat json` for the same config
//! splicer's must match field for field (positions, names, tags, types).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(15);

fn wait_socket(path: &Path) {
    wait_for("the stats socket", LIMIT, || {
        UnixStream::connect(path).is_ok()
    });
}

/// One field of a typed line `K.iid.sid.pos.name.proc:tags:type:value`,
/// by the name in its head.
fn typed_value<'a>(typed: &'a str, head_prefix: &str, name: &str) -> Option<&'a str> {
    typed.lines().find_map(|l| {
        let (head, rest) = l.split_once(':')?;
        let mut parts = head.split('.');
        let prefix: Vec<&str> = parts.by_ref().take(3).collect();
        let _pos = parts.next()?;
        if prefix.join(".") != head_prefix || parts.next()? != name {
            return None;
        }
        Some(rest.splitn(3, ':').nth(2).unwrap_or(""))
    })
}

/// A tmux server of our own (its own socket name), killed on drop.
struct Tmux {
    name: String,
    bin: PathBuf,
}

impl Tmux {
    fn run(bin: PathBuf, command: &str) -> Tmux {
        let t = Tmux {
            name: format!("splicer-test-{}", std::process::id()),
            bin,
        };
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-x", "200", "-y", "50", command])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        // Our own server, without the user's configuration.
        c.arg("-L").arg(&self.name).arg("-f").arg("/dev/null");
        c
    }

    /// The terminal's text now.
    fn screen(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .arg("send-keys")
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys {keys:?}");
    }

    /// Waits until the screen shows a line for which `want` holds.
    fn wait_line(&self, what: &str, want: impl Fn(&str) -> bool) {
        let end = std::time::Instant::now() + LIMIT;
        loop {
            let screen = self.screen();
            if screen.lines().any(&want) {
                return;
            }
            assert!(
                std::time::Instant::now() < end,
                "hatop never showed {what}; its screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// A server row of hatop's status screen: name, weight, status, check
/// (or, with no check shown, the next column).
fn row_is(line: &str, name: &str, status: &str, check: &str) -> bool {
    let cols: Vec<&str> = line.split_whitespace().collect();
    cols.len() > 4 && cols[0] == name && cols[2] == status && cols[3] == check
}

#[test]
fn hatop_shows_the_servers_and_runs_commands() {
    let Some(tools) = require_tools("hatop", &["hatop", "tmux"]) else {
        return;
    };
    let up = Backend::echo();
    let dead = dead_addr();
    let dir = scratch_dir("hatop");
    let sock = dir.join("admin.sock");
    let cfg = config(
        &format!("    stats socket {} level admin", sock.display()),
        "",
        &listen(
            "",
            &[
                ("up", up.addr, "check inter 100ms"),
                ("dead", dead, "check inter 100ms"),
            ],
        ),
    );
    let sp = Splicer::start(&cfg, &["fe"]);
    wait_socket(&sock);
    // A live session for the CLI view.
    let client = std::net::TcpStream::connect(sp.addr("fe")).unwrap();
    let tmux = Tmux::run(
        tools[1].clone(),
        &format!("{} -s {} -i 1", tools[0].display(), sock.display()),
    );
    // The header reads `show info`, the table `show stat`.
    tmux.wait_line("the process header", |l| {
        l.contains(" Version: ") && l.contains("PID: ")
    });
    tmux.wait_line("the proxy", |l| l.trim() == ">>> fe");
    tmux.wait_line("up as UP", |l| row_is(l, "up", "UP", "L4OK"));
    tmux.wait_line("dead as DOWN", |l| row_is(l, "dead", "DOWN", "L4CON"));
    tmux.wait_line("the frontend open", |l| {
        l.split_whitespace().take(3).collect::<Vec<_>>() == ["FRONTEND", "0", "OPEN"]
    });
    // Its embedded CLI (prompt mode): a command that changes state, and
    // one that reads the live sessions.
    tmux.keys(&["5"]);
    tmux.wait_line("the CLI view", |l| l.contains("haproxy command line"));
    tmux.keys(&["disable server fe/up", "Enter"]);
    tmux.keys(&["show sess", "Enter"]);
    let port = client.local_addr().unwrap().port();
    tmux.wait_line("the client's session", |l| {
        l.contains(&format!("src=127.0.0.1:{port} fe=fe be=fe srv=up "))
    });
    tmux.keys(&["Escape", "1"]);
    // In maintenance its check is paused: no check result is shown.
    tmux.wait_line("up in maintenance", |l| row_is(l, "up", "MAINT", "1"));
    assert!(
        !tmux.screen().contains("Traceback") && !tmux.screen().contains("error"),
        "{}",
        tmux.screen()
    );
    drop(tmux);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The config both programs run (each with its own socket).
fn compared_config(sock: &Path, up: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
    let mut rest = listen(
        "    balance leastconn",
        &[
            ("up", up, "check inter 100ms weight 20 maxconn 10"),
            ("dead", dead, "check inter 100ms"),
            ("spare", up, "backup"),
            ("off", up, "disabled"),
        ],
    );
    rest.push_str(&format!(
        "frontend front\n    bind 127.0.0.1:0\n    maxconn 100\n    default_backend back\n\
         backend back\n    server b1 {up}\n"
    ));
    config(
        &format!(
            "    stats socket {} level admin\n    maxconn 500",
            sock.display()
        ),
        "",
        &rest,
    )
}

#[test]
fn typed_and_json_stats_have_haproxys_fields_tags_and_types() {
    let Some(_) = require_tools("typed stats against HAProxy", &["haproxy"]) else {
        return;
    };
    let up = Backend::echo();
    let dead = dead_addr();
    let dir = scratch_dir("typed");
    let (ours, theirs) = (dir.join("splicer.sock"), dir.join("haproxy.sock"));
    let _sp = Splicer::start(&compared_config(&ours, up.addr, dead), &["fe", "front"]);
    let _hap = haproxy::start(
        &compared_config(&theirs, up.addr, dead),
        &["fe", "front"],
        &[],
    );
    for sock in [&ours, &theirs] {
        wait_socket(sock);
        // Both have checked each server at least once.
        wait_for("the checks to settle", LIMIT, || {
            let t = ask(sock, "show stat typed");
            typed_value(&t, "S.2.2", "status") == Some("DOWN")
                && typed_value(&t, "S.2.1", "check_status") == Some("L4OK")
        });
    }
    let (a, b) = (
        ask(&ours, "show stat typed"),
        ask(&theirs, "show stat typed"),
    );
    // Position, name, tags and type of every field of every row, in order.
    let shape = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
            .collect()
    };
    assert_eq!(shape(&a), shape(&b), "splicer:\n{a}\nHAProxy:\n{b}");
    // Values that mean the same in both.
    for (row, field) in [
        ("F.2.0", "status"),
        ("F.3.0", "slim"),
        ("S.2.1", "status"),
        ("S.2.1", "weight"),
        ("S.2.1", "slim"),
        ("S.2.2", "status"),
        ("S.2.2", "check_status"),
        ("S.2.3", "bck"),
        ("S.2.4", "status"),
        ("S.2.1", "addr"),
        ("B.2.0", "algo"),
        ("B.2.0", "act"),
        ("B.4.0", "status"),
    ] {
        assert_eq!(
            typed_value(&a, row, field),
            typed_value(&b, row, field),
            "{row} {field}"
        );
    }
    // JSON: the same objects once values are taken out.
    let value = regex::Regex::new(r#","value":("(?:[^"\\]|\\.)*"|-?[0-9]+)\}\}"#).unwrap();
    let strip = |j: &str| value.replace_all(j, "}}").into_owned();
    let (ja, jb) = (ask(&ours, "show stat json"), ask(&theirs, "show stat json"));
    assert!(ja.starts_with("[[{\"objType\":\"Frontend\""), "{ja}");
    assert_eq!(strip(&ja), strip(&jb));
    assert_eq!(
        ask(&ours, "show stat 99 -1 -1 json"),
        ask(&theirs, "show stat 99 -1 -1 json"),
        "nothing selected"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
