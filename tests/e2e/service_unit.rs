//! The service unit operators already have: Debian's haproxy.service, with
//! only the binary's path changed, starts, reloads and stops splicer the
//! way systemd would run it (`Type=notify`, `ExecReload=` lines in order,
//! `KillMode=mixed`). The test plays systemd's part: it reads the unit,
//! sets the variables an /etc/default/haproxy would, listens on a
//! `NOTIFY_SOCKET`, and runs the unit's commands.
//!
//! As root, the config has Debian's stock global section (chroot
//! /var/lib/haproxy, user and group haproxy, daemon): `-Ws` keeps it in the
//! foreground, and the notifications come from the privileged parent.
//! Needs the unit file (the haproxy package; installed under CI).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::privileges::{children, serving, status, uid_of};

const UNIT: &str = "/lib/systemd/system/haproxy.service";
const LIMIT: Duration = Duration::from_secs(10);

/// What the test uses of a unit's `[Service]` section.
#[derive(Default)]
struct Unit {
    env: Vec<(String, String)>,
    exec_start: String,
    exec_reload: Vec<String>,
    kill_mode: String,
    kind: String,
    success: Vec<i32>,
}

/// Splits systemd's quoted words: `"A=1 2" B=3` is `A=1 2` and `B=3`.
fn quoted_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_unit(text: &str) -> Unit {
    let mut u = Unit::default();
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "Environment" => {
                for w in quoted_words(value) {
                    let (k, v) = w.split_once('=').unwrap();
                    u.env.push((k.into(), v.into()));
                }
            }
            "ExecStart" => u.exec_start = value.into(),
            "ExecReload" => u.exec_reload.push(value.into()),
            "KillMode" => u.kill_mode = value.into(),
            "Type" => u.kind = value.into(),
            "SuccessExitStatus" => {
                u.success = value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            }
            _ => {}
        }
    }
    u
}

/// systemd's expansion of a command line: `$VAR` becomes as many words as
/// the value has, `${VAR}` one word.
fn expand(line: &str, env: &HashMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for word in line.split_whitespace() {
        if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
            out.push(env.get(name).cloned().unwrap_or_default());
        } else if let Some(name) = word.strip_prefix('$') {
            let v = env.get(name).cloned().unwrap_or_default();
            out.extend(v.split_whitespace().map(String::from));
        } else {
            out.push(word.to_string());
        }
    }
    out
}

/// systemd's side of one service.
struct Manager {
    unit: Unit,
    env: HashMap<String, String>,
    notify: UnixDatagram,
    notify_path: PathBuf,
    main: Option<Child>,
    log: PathBuf,
}

impl Manager {
    fn command(&self, line: &str) -> Command {
        let argv = expand(line, &self.env);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .envs(&self.env)
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        cmd
    }

    fn start(&mut self) -> u32 {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = self
            .command(&self.unit.exec_start.clone())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.main = Some(child);
        self.env.insert("MAINPID".into(), pid.to_string());
        pid
    }

    /// Waits for a notification that has `state` as one of its lines.
    fn wait_state(&mut self, state: &str) -> String {
        self.notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let end = Instant::now() + LIMIT;
        let mut buf = [0u8; 512];
        while Instant::now() < end {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.lines().any(|l| l == state) {
                    return msg;
                }
            }
            if let Some(st) = self.main.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the service exited ({st}) before {state}:\n{}",
                    self.log_text()
                );
            }
        }
        panic!("no {state} within {LIMIT:?}:\n{}", self.log_text());
    }

    fn reload(&mut self) {
        for line in self.unit.exec_reload.clone() {
            let out = self.command(&line).output().unwrap();
            assert!(
                out.status.success(),
                "ExecReload={line}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.is_empty(), "-q printed: {:?}", out.stdout);
        }
    }

    /// `systemctl stop`: SIGTERM to the main process (KillMode=mixed);
    /// returns its exit code.
    fn stop(&mut self) -> i32 {
        assert_eq!(self.unit.kill_mode, "mixed");
        let main = self.main.as_mut().unwrap();
        kill(main.id(), libc::SIGTERM);
        let end = Instant::now() + LIMIT;
        loop {
            if let Some(st) = main.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                return st.code().unwrap_or(128 + st.signal().unwrap_or(0));
            }
            assert!(Instant::now() < end, "not stopped:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Some(c) = &mut self.main {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory arguments; the pid is our child's.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

/// The global section Debian's haproxy package ships, with the stats
/// socket moved to the test's directory.
fn debian_global(dir: &Path) -> String {
    format!(
        "global\n\tlog /dev/log\tlocal0\n\tlog /dev/log\tlocal1 notice\n\tchroot /var/lib/haproxy\n\
         \tstats socket {}/admin.sock mode 660 level admin\n\tstats timeout 30s\n\
         \tuser haproxy\n\tgroup haproxy\n\tdaemon\n",
        dir.display()
    )
}

#[test]
fn debians_unit_starts_reloads_and_stops_splicer() {
    let Ok(text) = std::fs::read_to_string(UNIT) else {
        assert!(!in_ci(), "{UNIT} is missing (the haproxy package)");
        eprintln!("SKIPPED service unit: {UNIT} is missing (install haproxy)");
        return;
    };
    // SPLICER_TEST_BIN=haproxy runs the unit as shipped: HAProxy itself.
    let text = if haproxy::enabled() {
        text
    } else {
        text.replace("/usr/sbin/haproxy", splicer_bin())
    };
    let unit = parse_unit(&text);
    assert_eq!(unit.kind, "notify");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let jailed = root && Path::new("/var/lib/haproxy").is_dir() && uid_of("haproxy").is_some();

    let dir = scratch_dir("unit");
    let web = Backend::named("web1");
    let port = free_port();
    let global = if jailed {
        debian_global(&dir)
    } else {
        format!(
            "global\n\tstats socket {}/admin.sock mode 660 level admin\n\tdaemon\n",
            dir.display()
        )
    };
    let proxies = |binds: &str| {
        format!(
            "defaults\n\tmode tcp\n\ttimeout connect 1s\n\ttimeout client 5s\n\ttimeout server 5s\n\
             listen web\n{binds}\tserver web1 {}\n",
            web.addr
        )
    };
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!("{global}{}", proxies(&format!("\tbind 127.0.0.1:{port}\n"))),
    )
    .unwrap();

    let notify_path = dir.join("notify");
    let mut env: HashMap<String, String> = unit.env.iter().cloned().collect();
    // What an /etc/default/haproxy would set (EnvironmentFile= wins over
    // Environment=).
    env.insert("CONFIG".into(), config.display().to_string());
    env.insert(
        "PIDFILE".into(),
        dir.join("haproxy.pid").display().to_string(),
    );
    env.insert(
        "EXTRAOPTS".into(),
        format!("-S {}/master.sock", dir.display()),
    );
    let mut m = Manager {
        notify: UnixDatagram::bind(&notify_path).unwrap(),
        notify_path,
        unit,
        env,
        main: None,
        log: dir.join("service.log"),
    };

    let pid = m.start();
    let ready = m.wait_state("READY=1");
    assert!(ready.contains(&format!("MAINPID={pid}")), "{ready}");
    let pidfile = std::fs::read_to_string(dir.join("haproxy.pid")).unwrap();
    assert_eq!(pidfile.trim(), pid.to_string());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(server_name(addr), "web1");
    // The master socket: routed runtime API commands, and the process list
    // with the main pid as the master.
    let master = dir.join("master.sock");
    assert!(ask(&master, "@1 show info").contains("Name: "));
    let procs = ask(&master, "show proc");
    assert!(
        procs
            .lines()
            .any(|l| l.starts_with(&format!("{pid} ")) && l.contains("master")),
        "{procs}"
    );
    if jailed {
        let child =
            serving(pid, uid_of("haproxy").unwrap()).expect("a serving process running as haproxy");
        assert_ne!(child, pid);
        let root = std::fs::read_link(format!("/proc/{child}/root")).unwrap();
        assert_eq!(root, Path::new("/var/lib/haproxy"));
        assert_eq!(status(child, "CapEff").unwrap(), "0000000000000000");
    }

    // systemctl reload: the check, then USR2 to the main pid.
    let port2 = free_port();
    std::fs::write(
        &config,
        format!(
            "{global}{}",
            proxies(&format!(
                "\tbind 127.0.0.1:{port}\n\tbind 127.0.0.1:{port2}\n"
            ))
        ),
    )
    .unwrap();
    m.reload();
    m.wait_state("RELOADING=1");
    m.wait_state("READY=1");
    let addr2: SocketAddr = format!("127.0.0.1:{port2}").parse().unwrap();
    assert_eq!(server_name(addr2), "web1");

    // systemctl stop.
    let code = m.stop();
    m.wait_state("STOPPING=1");
    assert!(
        code == 0 || m.unit.success.contains(&code),
        "exit status {code}:\n{}",
        m.log_text()
    );
    if jailed {
        wait_for("the serving process to end", LIMIT, || {
            children(pid).is_empty()
        });
    }
}

#[test]
fn unit_lines_expand_as_systemd_does() {
    let env: HashMap<String, String> = [
        ("CONFIG", "/etc/haproxy/haproxy.cfg"),
        ("EXTRAOPTS", "-S /run/haproxy-master.sock"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        expand("/usr/sbin/haproxy -Ws -f $CONFIG $EXTRAOPTS", &env),
        [
            "/usr/sbin/haproxy",
            "-Ws",
            "-f",
            "/etc/haproxy/haproxy.cfg",
            "-S",
            "/run/haproxy-master.sock"
        ]
    );
    assert_eq!(
        quoted_words("\"CONFIG=/a\" \"EXTRAOPTS=-S /b\""),
        ["CONFIG=/a", "EXTRAOPTS=-S /b"]
    );
}
