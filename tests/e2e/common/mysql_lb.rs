//! splicer in front of a replicated MariaDB set ([`Replicated`]), for the
//! `mysql-cluster` tests: the config (a cluster `db` whose servers are
//! `db1`, `db2`... for servers 0, 1..., frontends `write` and `read`), and
//! `show mysql` on its stats socket read by column name; for the failover
//! tests, a config with `failover auto` on short timers and the steps
//! they share (a kill that fails over, a reload, a watch that nothing
//! happens).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use super::mariadb_set::{MON_PASS, MON_USER, Replicated, SetOptions};
use super::statspage::send;
use super::{Splicer, ask, config, haproxy, scratch_dir, wait_for};

/// One monitor round per server.
pub const INTERVAL: &str = "200ms";
/// "Within a few rounds", with room for a slow, shared machine.
pub const ROUNDS: Duration = Duration::from_secs(5);
/// A MariaDB restart, replication catching up.
pub const SLOW: Duration = Duration::from_secs(30);

/// Prints why a test is skipped against HAProxy; true when it must be.
pub fn haproxy_has_none(test: &str) -> bool {
    if haproxy::enabled() {
        eprintln!("SKIPPED {test}: mysql-cluster is splicer's own, HAProxy has no such section");
    }
    haproxy::enabled()
}

/// The set's servers as the config names them: `db1` is server 0.
pub fn servers(set: &Replicated) -> Vec<(String, SocketAddr)> {
    (0..set.len())
        .map(|i| (format!("db{}", i + 1), set.addr(i)))
        .collect()
}

/// A `mysql-cluster db` section with `auth` (the password line) and
/// `extra` lines, frontends `write` and `read`, and their backends
/// `db_write` (`mysql-role writer`) and `db_read` (`mysql-role reader`,
/// with `reader_opts`).
pub fn cluster_config(
    servers: &[(String, SocketAddr)],
    auth: &str,
    extra: &str,
    reader_opts: &str,
) -> String {
    let server_lines: String = servers
        .iter()
        .map(|(name, addr)| format!("    server {name} {addr}\n"))
        .collect();
    format!(
        "mysql-cluster db\n    user {MON_USER}\n    {auth}\n    replication-user repl\n    \
         replication-password replpass\n    interval {INTERVAL}\n    timeout 1s\n    \
         max-lag 10s\n{extra}{server_lines}\
         frontend write\n    bind 127.0.0.1:0\n    default_backend db_write\n\
         frontend read\n    bind 127.0.0.1:0\n    default_backend db_read\n\
         backend db_write\n    mysql-role writer cluster db\n{server_lines}\
         backend db_read\n    mysql-role reader cluster db {reader_opts}\n{server_lines}"
    )
}

/// The usual cluster: the right password, readers bounded at 2 s.
pub fn plain_config(set: &Replicated) -> String {
    cluster_config(
        &servers(set),
        &format!("password \"{MON_PASS}\""),
        "",
        "max-lag 2s",
    )
}

/// One server's line of `show mysql`, by column name.
pub type Row = HashMap<String, String>;

/// Parses `show mysql`: a `# ` header naming the columns, then one line
/// per server; the last column (the error) may contain spaces.
pub fn parse_show_mysql(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| format!("no `# ` header in {text:?}"))?;
    let names: Vec<&str> = header.split_whitespace().collect();
    let Some((last, first)) = names.split_last() else {
        return Err(format!("an empty header in {text:?}"));
    };
    let mut rows = Vec::new();
    // Other `#` lines (a cluster's summary) are no server's.
    for line in lines.filter(|l| !l.starts_with('#')) {
        let mut row = Row::new();
        let mut rest = line.trim();
        for name in first {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            row.insert(name.to_string(), rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        row.insert(last.to_string(), rest.to_string());
        rows.push(row);
    }
    Ok(rows)
}

pub fn writable(row: &Row) -> bool {
    matches!(
        row["read_only"].to_ascii_lowercase().as_str(),
        "0" | "off" | "no" | "false"
    )
}

/// The `lag` column in seconds; `None` for `-` and `null`.
pub fn lag(row: &Row) -> Option<f64> {
    row["lag"].trim_end_matches('s').parse().ok()
}

/// splicer with a stats socket, in front of a cluster.
pub struct Lb {
    // Declared first, dropped first: splicer goes before its socket's
    // directory.
    pub sp: Splicer,
    dir: Scratch,
}

/// A scratch directory removed on drop, also when a test panics before
/// the value that uses it is complete.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        Scratch(scratch_dir(tag))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Lb {
    pub fn start(rest: &str) -> Lb {
        Self::start_env(rest, "")
    }

    /// With `shell` run before splicer starts (`export VAR=...`), if any.
    pub fn start_env(rest: &str, shell: &str) -> Lb {
        Self::start_by(rest, |cfg, fes| {
            if shell.is_empty() {
                Splicer::start(cfg, fes)
            } else {
                Splicer::start_wrapped(cfg, fes, shell)
            }
        })
    }

    /// With splicer started by `launch` on the whole config and the
    /// frontends to wait for (e.g. inside a network namespace).
    pub fn start_by(rest: &str, launch: impl FnOnce(&str, &[&str]) -> Splicer) -> Lb {
        let dir = Scratch::new("mysql-lb");
        let global = format!(
            "    stats socket {}/admin.sock level admin\n",
            dir.0.display()
        );
        let cfg = config(&global, "", rest);
        let sp = launch(&cfg, &["write", "read"]);
        let sock = dir.0.join("admin.sock");
        wait_for("the stats socket", Duration::from_secs(10), || {
            UnixStream::connect(&sock).is_ok()
        });
        Lb { sp, dir }
    }

    pub fn write(&self) -> SocketAddr {
        self.sp.addr("write")
    }

    pub fn read(&self) -> SocketAddr {
        self.sp.addr("read")
    }

    pub fn show(&self) -> String {
        self.ask("show mysql")
    }

    /// One request on the stats socket (level admin): the whole answer.
    pub fn ask(&self, request: &str) -> String {
        ask(&self.dir.0.join("admin.sock"), request)
    }

    /// The `# db: ...` lines of `show mysql`: the primary, the failover
    /// setting, the last failover and its steps.
    pub fn summary(&self) -> String {
        self.show()
            .lines()
            .filter(|l| l.starts_with("# db: "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Server `name`'s row of `show mysql` (cluster `db`).
    pub fn row(&self, name: &str) -> Result<Row, String> {
        let text = self.show();
        parse_show_mysql(&text)?
            .into_iter()
            .find(|r| r.get("cluster").map(String::as_str) == Some("db") && r["server"] == name)
            .ok_or_else(|| format!("no row for db/{name} in {text:?}"))
    }

    /// Polls `f` until it gives a value; on timeout panics with its last
    /// complaint, `show mysql` and the log.
    pub fn poll<T>(
        &self,
        what: &str,
        limit: Duration,
        mut f: impl FnMut() -> Result<T, String>,
    ) -> T {
        let end = Instant::now() + limit;
        loop {
            match f() {
                Ok(v) => return v,
                Err(e) if Instant::now() >= end => panic!(
                    "timed out after {limit:?} waiting for {what}; last: {e}\n\
                     show mysql:\n{}\nlog:\n{}",
                    self.show(),
                    self.sp.log_text()
                ),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Waits until server `name`'s row satisfies `cond`; returns it.
    pub fn wait_row(
        &self,
        name: &str,
        what: &str,
        limit: Duration,
        cond: impl Fn(&Row) -> bool,
    ) -> Row {
        self.poll(&format!("db/{name}: {what}"), limit, || {
            let row = self.row(name)?;
            if cond(&row) {
                Ok(row)
            } else {
                Err(format!("{row:?}"))
            }
        })
    }

    /// Waits until connections through `fe` land on the server with
    /// `server_id` `id`.
    pub fn wait_served_by(&self, set: &Replicated, fe: &str, id: u32, limit: Duration) {
        let addr = self.sp.addr(fe);
        self.poll(
            &format!("`{fe}` to reach server_id {id}"),
            limit,
            || match set.server_id_at(addr)? {
                got if got == id => Ok(()),
                got => Err(format!("server_id {got}")),
            },
        );
    }

    /// Log lines about both `a` and `b` and writers/writable.
    pub fn writer_conflict_lines(&self, a: &str, b: &str) -> Vec<String> {
        self.sp
            .log_lines(a)
            .into_iter()
            .filter(|l| l.contains(b) && l.to_ascii_lowercase().contains("writ"))
            .collect()
    }
}

/// Starts a set of a primary and `replicas` replicas and splicer on the
/// usual cluster, and waits until the monitor sees the primary and every
/// replica up.
pub fn start_both(test: &str, replicas: usize) -> Option<(Replicated, Lb)> {
    if haproxy_has_none(test) {
        return None;
    }
    let set = Replicated::start(test, replicas)?;
    let lb = Lb::start(&plain_config(&set));
    wait_roles(&lb, &set, 0);
    Some((set, lb))
}

/// Waits until `show mysql` has server `primary` up as the primary and
/// every other one up as a replica.
pub fn wait_roles(lb: &Lb, set: &Replicated, primary: usize) {
    for (i, (name, _)) in servers(set).iter().enumerate() {
        let role = if i == primary { "primary" } else { "replica" };
        lb.wait_row(name, &format!("up, {role}"), ROUNDS, |r| {
            r["state"] == "up" && r["role"] == role
        });
    }
}

/// The monitor's timers of the failover tests: a round each 100 ms, a server that
/// misses 3 is dead, a replica that heard nothing for 1 s has lost it.
pub const TIMERS: &str = "    interval 100ms\n    timeout 500ms\n    failover auto\n    \
                      failover-after 3\n    failover-confirm 1s\n";

/// How long a test watches for something that must not happen (a
/// promotion): well past `failover-after` rounds plus `failover-confirm`.
pub const NOTHING_HAPPENS: Duration = Duration::from_secs(3);

/// The cluster `db` over `servers`, the usual guards plus `cluster_extra`
/// lines, frontends `write` and `read`, the writer backend holding new
/// sessions up to `queue` while the primary changes, and a stats listener
/// serving /metrics.
pub fn failover_config(
    servers: &[(String, SocketAddr)],
    cluster_extra: &str,
    queue: &str,
) -> String {
    let lines: String = servers
        .iter()
        .map(|(name, addr)| format!("    server {name} {addr}\n"))
        .collect();
    format!(
        "mysql-cluster db\n    user {MON_USER}\n    password \"{MON_PASS}\"\n    \
         replication-user repl\n    replication-password replpass\n{TIMERS}{cluster_extra}{lines}\
         frontend write\n    bind 127.0.0.1:0\n    default_backend db_write\n\
         frontend read\n    bind 127.0.0.1:0\n    default_backend db_read\n\
         backend db_write\n    mysql-role writer cluster db\n    timeout queue {queue}\n{lines}\
         backend db_read\n    mysql-role reader cluster db\n{lines}\
         listen stats\n    mode http\n    bind 127.0.0.1:0\n    \
         http-request use-service prometheus-exporter if {{ path /metrics }}\n"
    )
}

/// A set of a primary and `replicas` replicas (a skip, with the reason
/// printed, against HAProxy or without MariaDB), splicer in front on
/// [`failover_config`], once the monitor sees every role.
pub fn start_failover(
    test: &str,
    replicas: usize,
    opts: SetOptions,
    cluster_extra: &str,
) -> Option<(Replicated, Lb)> {
    if haproxy_has_none(test) {
        return None;
    }
    let set = Replicated::start_with(test, replicas, opts)?;
    let lb = Lb::start(&failover_config(&servers(&set), cluster_extra, "5s"));
    wait_roles(&lb, &set, 0);
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    Some((set, lb))
}

/// `/metrics?scope=mysql` of [`failover_config`]'s stats listener.
pub fn mysql_metrics(lb: &Lb) -> String {
    wait_for("the stats listener", ROUNDS, || {
        !lb.sp.addrs("stats").is_empty()
    });
    let reply = send(
        lb.sp.addr("stats"),
        b"GET /metrics?scope=mysql HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

/// Kills server `from` (kill -9) and waits until splicer has promoted
/// `to` and the writers use it.
pub fn kill_and_fail_over(set: &mut Replicated, lb: &Lb, from: usize, to: usize) {
    let (old, new) = (format!("db{}", from + 1), format!("db{}", to + 1));
    set.kill9(from);
    lb.sp
        .wait_log(&[&format!("failover from {old} to {new} done in")], ROUNDS);
    lb.wait_row(&new, "primary", ROUNDS, |r| r["role"] == "primary");
    lb.wait_served_by(set, "write", set.server_id(to), ROUNDS);
}

/// Watches for [`NOTHING_HAPPENS`]: `ok` must hold on every look (it says
/// what is wrong).
pub fn holds_for(lb: &Lb, what: &str, ok: impl Fn() -> Result<(), String>) {
    holds_until(lb, what, Instant::now() + NOTHING_HAPPENS, ok);
}

/// Watches until `end`: `ok` must hold on every look.
pub fn holds_until(lb: &Lb, what: &str, end: Instant, ok: impl Fn() -> Result<(), String>) {
    while Instant::now() < end {
        if let Err(e) = ok() {
            panic!(
                "{what}: {e}\nshow mysql:\n{}\nlog:\n{}",
                lb.show(),
                lb.sp.log_text()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Reloads splicer on its config file (SIGUSR2) and waits for the `n`-th
/// "configuration reloaded".
pub fn reload(lb: &Lb, n: usize) {
    lb.sp.signal("USR2");
    lb.sp.wait_log_count(&["configuration reloaded"], n, ROUNDS);
}
