//! The config corpus: realistic TCP-mode configs under `tests/configs/`.
//!
//! - `good/`: splicer loads them, and `haproxy -c` accepts them too.
//! - `bad/`: both refuse them; splicer's errors include every `# expect:
//!   LINE: text` of the file's header, and HAProxy blames the same lines.
//! - `unsupported/`: HAProxy accepts them but splicer refuses on purpose
//!   (HTTP mode, a stats socket...); only splicer is checked.
//! - `real/`: real-world TCP-mode configs from public repositories (each
//!   names its `# source:` and what was `# changed:`, addresses moved to
//!   127.0.0.0/8). HAProxy accepts every one; splicer loads those without a
//!   `# refused: KEYWORD (issue N)` line (or `(by design)`) and refuses the
//!   others: every error is a "not supported yet" or names a listed keyword,
//!   and every listed keyword is named by an error, so the test fails when a
//!   keyword becomes supported and its header was not updated. The test
//!   prints the share that loads.
//!
//! Header lines drive the test: `# env: NAME=value ...` sets variables for
//! both programs (splicer's parser gets them from the test, which leaves
//! the process environment, shared with the binary's other tests, alone),
//! `# check: backend|frontend NAME key=value ...` and
//! `# check: global key=value ...` assert fields of the loaded model.
//!
//! Without `/usr/sbin/haproxy` the comparison is skipped with a note, except
//! under `CI=true`, where it must be installed.

use splicer::config::LogFormat;
use splicer::config::{
    Balance, CheckKind, Config, HashType, LoadError, Loaded, ProxyVersion, TcpCheckRule,
    parse_time, parse_with_env,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const HAPROXY: &str = "/usr/sbin/haproxy";

#[derive(Default)]
struct Header {
    expects: Vec<(usize, String)>,
    env: Vec<(String, String)>,
    checks: Vec<String>,
    /// `# refused: KEYWORD (issue N)` lines: the keyword and its issue.
    refused: Vec<(String, String)>,
}

fn header(path: &Path) -> Header {
    let text = std::fs::read_to_string(path).unwrap();
    let mut h = Header::default();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(rest) = line.strip_prefix("# expect: ") {
            let (n, msg) = rest
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}: bad expect line", path.display()));
            h.expects.push((n.parse().unwrap(), msg.to_string()));
        } else if let Some(rest) = line.strip_prefix("# env: ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').unwrap();
                h.env.push((k.into(), v.into()));
            }
        } else if let Some(rest) = line.strip_prefix("# check: ") {
            h.checks.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("# refused: ") {
            let (kw, why) = rest
                .strip_suffix(')')
                .and_then(|r| r.rsplit_once(" ("))
                .filter(|(kw, why)| {
                    !kw.is_empty()
                        && (*why == "by design"
                            || why
                                .strip_prefix("issue ")
                                .is_some_and(|n| n.parse::<u32>().is_ok()))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{}: bad refused line '{line}' (want 'KEYWORD (issue N)' or 'KEYWORD (by design)')",
                        path.display()
                    )
                });
            h.refused.push((kw.to_string(), why.to_string()));
        }
    }
    h
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    files.sort();
    files
}

/// What splicer's `load(&[path])` returns with the variables of `all_env`
/// set (the last of a name wins) on top of the process environment, without
/// setting them: other tests of this binary run in the same process.
fn load_one(path: &Path, all_env: &[(String, String)]) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).unwrap();
    let env = |name: &str| {
        all_env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    parse_with_env(path.to_str().unwrap(), &text, &env)
}

/// `Some(exit success, stderr)` when haproxy is installed. haproxy gets
/// `all_env`, then the file's own `env` over it.
fn haproxy_check(
    path: &Path,
    all_env: &[(String, String)],
    env: &[(String, String)],
) -> Option<(bool, String)> {
    if !Path::new(HAPROXY).exists() {
        return None;
    }
    let out = Command::new(HAPROXY)
        .arg("-c")
        .arg("-f")
        .arg(path)
        .envs(all_env.iter().map(|(k, v)| (k, v)))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run haproxy -c");
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn corpus_agrees_with_haproxy() {
    let have_haproxy = Path::new(HAPROXY).exists();
    if !have_haproxy {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{HAPROXY} is required under CI=true to compare the config corpus"
        );
        eprintln!(
            "note: {HAPROXY} not found; comparison with haproxy -c skipped (splicer's own checks still run)"
        );
    }
    let (good, bad, unsupported) = (corpus("good"), corpus("bad"), corpus("unsupported"));
    assert!(
        good.len() + bad.len() + unsupported.len() >= 20,
        "the corpus shrank"
    );
    let all_env: Vec<(String, String)> = good
        .iter()
        .chain(&bad)
        .flat_map(|p| header(p).env)
        .collect();
    let mut failures = Vec::new();
    for path in &good {
        if let Err(e) = check_good(path, &all_env) {
            failures.push(e);
        }
    }
    for path in &bad {
        if let Err(e) = check_bad(path, true, &all_env) {
            failures.push(e);
        }
    }
    for path in &unsupported {
        if let Err(e) = check_bad(path, false, &all_env) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_good(path: &Path, all_env: &[(String, String)]) -> Result<(), String> {
    let name = path.display();
    let h = header(path);
    let loaded = load_one(path, all_env).map_err(|e| {
        let errors: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
        format!(
            "{name}: splicer refused a good config:\n  {}",
            errors.join("\n  ")
        )
    })?;
    if let Some((false, stderr)) = haproxy_check(path, all_env, &h.env) {
        return Err(format!(
            "{name}: haproxy -c refused a good config:\n{stderr}"
        ));
    }
    for check in &h.checks {
        model_check(&loaded.config, check).map_err(|e| format!("{name}: check '{check}': {e}"))?;
    }
    Ok(())
}

fn check_bad(path: &Path, compare: bool, all_env: &[(String, String)]) -> Result<(), String> {
    let name = path.display();
    let h = header(path);
    if h.expects.is_empty() {
        return Err(format!("{name}: no '# expect: LINE: text' header"));
    }
    let errors: Vec<String> = match load_one(path, all_env) {
        Ok(_) => return Err(format!("{name}: splicer accepted a config it must refuse")),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    };
    for (line, text) in &h.expects {
        let wanted = format!("{}:{line}: {text}", path.display());
        if !errors.iter().any(|e| e.starts_with(&wanted)) {
            return Err(format!(
                "{name}: no error starting with\n  {wanted}\ngot:\n  {}",
                errors.join("\n  ")
            ));
        }
    }
    if !compare {
        return Ok(());
    }
    if let Some((ok, stderr)) = haproxy_check(path, all_env, &h.env) {
        if ok {
            return Err(format!(
                "{name}: haproxy -c accepted a config splicer refuses"
            ));
        }
        // HAProxy names lines as `[FILE:LINE]`; when it names any, it must
        // name each line splicer is expected to blame.
        let tag = format!("{}:", path.display());
        if stderr.contains(&format!("[{tag}")) {
            for (line, _) in &h.expects {
                if !stderr.contains(&format!("{tag}{line}]")) {
                    return Err(format!(
                        "{name}: haproxy does not blame line {line}:\n{stderr}"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn real_world_configs() {
    let have_haproxy = Path::new(HAPROXY).exists();
    if !have_haproxy {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{HAPROXY} is required under CI=true to check the real-world corpus"
        );
        eprintln!(
            "note: {HAPROXY} not found; haproxy -c on the real-world corpus skipped (splicer's own checks still run)"
        );
    }
    let real = corpus("real");
    assert!(real.len() >= 30, "the real-world corpus shrank");
    let mut failures = Vec::new();
    let mut loaded = 0;
    for path in &real {
        match check_real(path) {
            Ok(true) => loaded += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    eprintln!("real-world corpus: {loaded} of {} load", real.len());
    assert!(
        failures.is_empty(),
        "{} real-world corpus failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether `text` names `keyword`: it occurs with no word character
/// (alphanumeric, `-`, `_`, `.`) right before or after it.
fn names(text: &str, keyword: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    text.match_indices(keyword)
        .any(|(i, _)| !text[..i].ends_with(word) && !text[i + keyword.len()..].starts_with(word))
}

/// `Ok(true)` when splicer loads it (and should), `Ok(false)` when splicer
/// refuses it exactly as its `# refused:` lines say.
fn check_real(path: &Path) -> Result<bool, String> {
    let name = path.display();
    let h = header(path);
    let text = std::fs::read_to_string(path).unwrap();
    if !text.starts_with("# source: https://github.com/") {
        return Err(format!(
            "{name}: no '# source: https://github.com/...' first line"
        ));
    }
    if let Some((false, stderr)) = haproxy_check(path, &[], &h.env) {
        return Err(format!("{name}: haproxy -c refused it:\n{stderr}"));
    }
    let diagnostics = match load_one(path, &h.env) {
        Ok(_) if h.refused.is_empty() => return Ok(true),
        Ok(_) => {
            let kws: Vec<&str> = h.refused.iter().map(|(k, _)| k.as_str()).collect();
            return Err(format!(
                "{name}: splicer loads it now; drop its '# refused:' lines ({})",
                kws.join(", ")
            ));
        }
        Err(e) => e.errors,
    };
    let errors: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    // Keywords are looked for in the message, not in the file name.
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    if h.refused.is_empty() {
        return Err(format!(
            "{name}: splicer refused it (add '# refused: KEYWORD (issue N)' lines or fix splicer):\n  {}",
            errors.join("\n  ")
        ));
    }
    let unexpected: Vec<&str> = messages
        .iter()
        .copied()
        .filter(|m| !m.contains("not supported yet") && !h.refused.iter().any(|(k, _)| names(m, k)))
        .collect();
    let unnamed: Vec<&str> = h
        .refused
        .iter()
        .filter(|(k, _)| !messages.iter().any(|m| names(m, k)))
        .map(|(k, _)| k.as_str())
        .collect();
    if !unexpected.is_empty() || !unnamed.is_empty() {
        return Err(format!(
            "{name}: the '# refused:' lines do not match splicer's errors\n  \
             errors naming no listed keyword: {unexpected:?}\n  \
             listed keywords no error names (supported now?): {unnamed:?}\n  \
             all errors:\n    {}",
            errors.join("\n    ")
        ));
    }
    Ok(false)
}

/// Evaluates one `# check:` line against the model.
fn model_check(c: &Config, check: &str) -> Result<(), String> {
    let mut words = check.split_whitespace();
    let what = words.next().ok_or("empty check")?;
    let (pairs, name): (Vec<&str>, Option<&str>) = match what {
        "global" => (words.collect(), None),
        _ => {
            let name = words.next().ok_or("missing proxy name")?;
            (words.collect(), Some(name))
        }
    };
    for pair in pairs {
        let (key, expected) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not key=value"))?;
        let actual = match (what, name) {
            ("global", _) => global_field(c, key)?,
            ("backend", Some(n)) => {
                let b = &c.backends[c
                    .backend(n)
                    .ok_or_else(|| format!("no backend '{n}'"))?
                    .index()];
                backend_field(b, key)?
            }
            ("frontend", Some(n)) => {
                let f = c
                    .frontends
                    .iter()
                    .find(|f| f.name == n)
                    .ok_or_else(|| format!("no frontend '{n}'"))?;
                frontend_field(c, f, key)?
            }
            _ => return Err(format!("unknown check target '{what}'")),
        };
        if !same(key, expected, &actual) {
            return Err(format!("{key}: expected {expected}, got {actual}"));
        }
    }
    Ok(())
}

/// Durations compare by value (`8h` = `28800s`); everything else as text.
fn same(key: &str, expected: &str, actual: &str) -> bool {
    let is_time =
        key.starts_with("timeout-") || matches!(key, "hard-stop-after" | "inter" | "stats-timeout");
    if !is_time {
        return expected == actual;
    }
    let parse = |list: &str| -> Vec<Option<Duration>> {
        list.split(',').map(|v| parse_time(v, 1000).ok()).collect()
    };
    parse(expected) == parse(actual)
}

fn dur(d: Option<Duration>) -> String {
    d.map(|d| format!("{}us", d.as_micros()))
        .unwrap_or_else(|| "none".into())
}

fn list<T>(items: impl Iterator<Item = T>, f: impl Fn(T) -> String) -> String {
    items.map(f).collect::<Vec<_>>().join(",")
}

fn global_field(c: &Config, key: &str) -> Result<String, String> {
    let g = &c.global;
    Ok(match key {
        "logs" => g.logs.len().to_string(),
        "nbthread" => g.nbthread.map_or("none".into(), |n| n.to_string()),
        "maxconn" => g.maxconn.to_string(),
        "maxpipes" => g.maxpipes.map_or("none".into(), |n| n.to_string()),
        "pipesize" => g.pipesize.to_string(),
        "nosplice" => g.nosplice.to_string(),
        "hard-stop-after" => dur(g.hard_stop_after),
        "spread-checks" => g.spread_checks.to_string(),
        "stats-sockets" => list(g.stats_sockets.iter(), |s| {
            let mode = s.mode.map_or("-".into(), |m| format!("{m:o}"));
            format!("{}:{}:{mode}", s.addr, s.level.name())
        }),
        "stats-timeout" => dur(Some(g.stats_timeout)),
        "uid" => g.uid.map_or("none".into(), |n| n.to_string()),
        "gid" => g.gid.map_or("none".into(), |n| n.to_string()),
        "chroot" => g
            .chroot
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string()),
        "daemon" => g.daemon.to_string(),
        _ => return Err(format!("unknown global key '{key}'")),
    })
}

fn backend_field(b: &splicer::config::Backend, key: &str) -> Result<String, String> {
    let s = &b.servers;
    let opt = |v: Option<bool>| v.map_or("-".to_string(), |v| v.to_string());
    Ok(match key {
        "balance" => match b.balance {
            Balance::RoundRobin => "roundrobin".into(),
            Balance::StaticRr => "static-rr".into(),
            Balance::LeastConn => "leastconn".into(),
            Balance::First => "first".into(),
            Balance::Source => "source".into(),
            Balance::Random { draws } => format!("random({draws})"),
        },
        "hash" => match b.hash_type {
            HashType::Consistent => "consistent".into(),
            HashType::MapBased => "map-based".into(),
        },
        "servers" => s.len().to_string(),
        "weights" => list(s.iter(), |s| s.weight.to_string()),
        "ports" => list(s.iter(), |s| s.addr.port().to_string()),
        "backups" => s.iter().filter(|s| s.backup).count().to_string(),
        "checks" => s.iter().filter(|s| s.check.enabled).count().to_string(),
        "disabled-servers" => s.iter().filter(|s| s.disabled).count().to_string(),
        "inter" => list(s.iter(), |s| dur(Some(s.check.inter))),
        "rise" => list(s.iter(), |s| s.check.rise.to_string()),
        "fall" => list(s.iter(), |s| s.check.fall.to_string()),
        "send-proxy" => list(s.iter(), |s| match s.send_proxy {
            Some(ProxyVersion::V1) => "v1".into(),
            Some(ProxyVersion::V2) => "v2".into(),
            None => "-".into(),
        }),
        "timeout-connect" => dur(Some(b.timeout_connect)),
        "timeout-server" => dur(b.timeout_server),
        "timeout-tunnel" => dur(b.timeout_tunnel),
        "retries" => b.retries.to_string(),
        "redispatch" => b.redispatch.to_string(),
        "allbackups" => b.allbackups.to_string(),
        "splice" => format!(
            "auto:{},request:{},response:{}",
            opt(b.splice.auto),
            opt(b.splice.request),
            opt(b.splice.response)
        ),
        "agent-send" => list(s.iter(), |s| {
            s.check
                .agent_send
                .as_deref()
                .map_or("-".into(), |a| a.escape_default().to_string())
        }),
        "log-health-checks" => b.log_health_checks.to_string(),
        "keepalive" => keepalive(&b.keepalive),
        "nolinger" => b.nolinger.to_string(),
        "smart-connect" => b.smart_connect.to_string(),
        "tfo" => list(s.iter(), |s| s.tfo.to_string()),
        _ => return check_field(&b.check, key),
    })
}

/// Keys about the backend's check type: `check=http`, `http-request=GET,/,HTTP/1.0`...
fn check_field(check: &CheckKind, key: &str) -> Result<String, String> {
    let wrong = || Err(format!("'{key}' does not apply to {check:?}"));
    Ok(match (key, check) {
        ("check", _) => match check {
            CheckKind::Connect => "connect",
            CheckKind::Http(_) => "http",
            CheckKind::Mysql { .. } => "mysql",
            CheckKind::Pgsql { .. } => "pgsql",
            CheckKind::Redis => "redis",
            CheckKind::SslHello => "ssl-hello",
            CheckKind::Tcp(_) => "tcp",
        }
        .into(),
        ("http-request", CheckKind::Http(h)) => format!("{},{},{}", h.method, h.uri, h.version),
        ("http-headers", CheckKind::Http(h)) => list(h.headers.iter(), |(n, v)| format!("{n}:{v}")),
        ("http-body", CheckKind::Http(h)) => h.body.clone().unwrap_or_else(|| "-".into()),
        ("http-expects", CheckKind::Http(h)) => h.expect.len().to_string(),
        ("disable-on-404", CheckKind::Http(h)) => h.disable_on_404.to_string(),
        ("mysql-user", CheckKind::Mysql { user, .. }) => user.clone().unwrap_or_else(|| "-".into()),
        ("post41", CheckKind::Mysql { post41, .. }) => post41.to_string(),
        ("pgsql-user", CheckKind::Pgsql { user }) => user.clone(),
        ("tcp-rules", CheckKind::Tcp(rules)) => list(rules.iter(), |r| {
            match r {
                TcpCheckRule::Connect { .. } => "connect",
                TcpCheckRule::Send(_) => "send",
                TcpCheckRule::Expect { .. } => "expect",
            }
            .to_string()
        }),
        ("http-request" | "http-headers" | "http-body" | "http-expects" | "disable-on-404", _)
        | ("mysql-user" | "post41" | "pgsql-user" | "tcp-rules", _) => return wrong(),
        _ => return Err(format!("unknown backend key '{key}'")),
    })
}

fn frontend_field(c: &Config, f: &splicer::config::Frontend, key: &str) -> Result<String, String> {
    Ok(match key {
        "binds" => f.binds.len().to_string(),
        "port" => f.binds.first().map_or("none".into(), |b| {
            b.addr
                .tcp()
                .map_or(b.addr.to_string(), |a| a.port().to_string())
        }),
        "backend" => f
            .default_backend
            .map_or("none".into(), |i| c.backends[i.index()].name.clone()),
        "timeout-client" => dur(f.timeout_client),
        "disabled" => f.disabled.to_string(),
        "log-targets" => f.log.targets.len().to_string(),
        "log-format" => match &f.log.format {
            None => "connect".into(),
            Some(fmt) if *fmt == LogFormat::tcplog() => "tcplog".into(),
            Some(_) => "custom".into(),
        },
        "dontlognull" => f.log.dontlognull.to_string(),
        "keepalive" => keepalive(&f.keepalive),
        "nolinger" => f.nolinger.to_string(),
        "backlog" => list(f.binds.iter(), |b| {
            b.backlog.map_or("-".into(), |n| n.to_string())
        }),
        "logasap" => f.log.logasap.to_string(),
        "dontlog-normal" => f.log.dontlog_normal.to_string(),
        "log-separate-errors" => f.log.separate_errors.to_string(),
        "log-format-sd" => f.log.format_sd.is_some().to_string(),
        "error-log-format" => f.log.error_format.is_some().to_string(),
        _ => return Err(format!("unknown frontend key '{key}'")),
    })
}

/// `on|off,COUNT,IDLE,INTERVAL` (`-` where the system's value stays).
fn keepalive(k: &splicer::config::Keepalive) -> String {
    let t = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{}s", d.as_secs()));
    let on = if k.enabled { "on" } else { "off" };
    let count = k.count.map_or("-".into(), |n| n.to_string());
    format!("{on},{count},{},{}", t(k.idle), t(k.interval))
}
