//! A replicated MariaDB set on 127.0.0.1: a primary (server 0) and N
//! replicas, each a [`MariaDb`] of its own, set up as an operator would
//! bootstrap GTID replication: every server starts `read_only`, the
//! accounts and the test database are made on the primary before the
//! replicas start (so they reach them through replication), then the
//! primary is made writable. The servers keep MariaDB's defaults where a
//! test may want to see them (`max_connect_errors`, name resolution: a
//! client other than 127.0.0.1 can get its host blocked, as in production).
//!
//! Accounts (all from 127.0.0.1; MariaDB never resolves or blocks
//! 127.0.0.1 itself, it is `localhost` to it):
//! - `repl`/`replpass`: REPLICATION SLAVE, what the replicas log in as;
//! - `splicer_mon`/`monpass` (mysql_native_password, also from localhost):
//!   what a monitor needs to read every server and to run a switchover
//!   ([`MONITOR_GRANTS`]);
//! - `app`/`apppass`: ALL on database `t`, which has `t.w (id, v)`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::mariadb::MariaDb;
use super::require_tools;

pub const REPL_USER: &str = "repl";
pub const REPL_PASS: &str = "replpass";
pub const MON_USER: &str = "splicer_mon";
pub const MON_PASS: &str = "monpass";
pub const APP_USER: &str = "app";
pub const APP_PASS: &str = "apppass";

/// The monitor account's privileges on MariaDB 10.11, each needed by a
/// statement a monitor or a switchover runs there (checked by
/// `mysql_cluster::the_monitor_account_can_run_a_switchover`):
/// - SLAVE MONITOR: `SHOW [ALL] SLAVE[S] STATUS`;
/// - BINLOG MONITOR: `SHOW BINARY LOGS`, `SHOW MASTER STATUS`;
/// - PROCESS: `SHOW PROCESSLIST` of every user;
/// - READ_ONLY ADMIN: `SET GLOBAL read_only` (SUPER no longer implies it
///   since 10.11.0);
/// - REPLICATION SLAVE ADMIN: `STOP/START SLAVE`, `CHANGE MASTER TO`,
///   `SET GLOBAL gtid_slave_pos`, `rpl_semi_sync_slave_enabled`;
/// - REPLICATION MASTER ADMIN: `SET GLOBAL rpl_semi_sync_master_enabled`;
/// - RELOAD: `RESET SLAVE [ALL]` (REPLICATION SLAVE ADMIN is not enough);
/// - SUPER: `KILL` of other users' sessions, and what older scripts expect.
pub const MONITOR_GRANTS: &str = "SLAVE MONITOR, BINLOG MONITOR, PROCESS, READ_ONLY ADMIN, \
     REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, RELOAD, SUPER";

/// How long replication, a restart or a role change may take on a slow,
/// shared machine.
const LIMIT: Duration = Duration::from_secs(30);

/// How a set is made.
#[derive(Clone, Copy, Default)]
pub struct SetOptions {
    /// Semi-synchronous replication (built into MariaDB 10.11): every
    /// server may act as either side, with wait point AFTER_SYNC; the
    /// primary waits for an acknowledgement once its replicas have come.
    pub semi_sync: bool,
}

pub struct Replicated {
    servers: Vec<MariaDb>,
    opts: SetOptions,
}

impl Replicated {
    /// A primary and `replicas` replicas, replicating. `None` (with a
    /// printed reason) when MariaDB is not installed outside CI; under CI
    /// a missing MariaDB fails the test.
    pub fn start(test: &str, replicas: usize) -> Option<Replicated> {
        Self::start_with(test, replicas, SetOptions::default())
    }

    pub fn start_with(test: &str, replicas: usize, opts: SetOptions) -> Option<Replicated> {
        require_tools(test, &["mariadb-install-db", "mariadbd", "mariadb"])?;
        // Each server's install and first start are a few seconds of
        // mostly waiting: in parallel.
        let starts: Vec<_> = (0..=replicas)
            .map(|i| {
                let test = test.to_string();
                thread::spawn(move || MariaDb::start_with(&test, server_args(i, opts)))
            })
            .collect();
        let servers = starts
            .into_iter()
            .map(|t| t.join().expect("a MariaDB server thread").expect("tools"))
            .collect();
        let set = Replicated { servers, opts };
        set.bootstrap();
        Some(set)
    }

    fn bootstrap(&self) {
        let grant = |user: &str, host: &str, pass: &str, privs: &str, on: &str| {
            format!(
                "CREATE USER '{user}'@'{host}' IDENTIFIED VIA mysql_native_password \
                 USING PASSWORD('{pass}'); GRANT {privs} ON {on} TO '{user}'@'{host}';"
            )
        };
        let mut setup = String::new();
        setup += &grant(
            REPL_USER,
            "127.0.0.1",
            REPL_PASS,
            "REPLICATION SLAVE",
            "*.*",
        );
        for host in ["127.0.0.1", "localhost"] {
            setup += &grant(MON_USER, host, MON_PASS, MONITOR_GRANTS, "*.*");
        }
        setup += &grant(APP_USER, "127.0.0.1", APP_PASS, "ALL", "t.*");
        setup += "CREATE DATABASE t; \
                  CREATE TABLE t.w (id INT AUTO_INCREMENT PRIMARY KEY, v INT);";
        self.sql(0, &setup);
        self.sql(0, "SET GLOBAL read_only=0");
        for i in 1..self.servers.len() {
            self.replicate_from(i, 0);
        }
        for i in 1..self.servers.len() {
            self.wait_replicated(i);
        }
        if self.opts.semi_sync && self.servers.len() > 1 {
            self.sql(0, "SET GLOBAL rpl_semi_sync_master_enabled=1");
            let want = (self.servers.len() - 1).to_string();
            let clients = || {
                self.sql(
                    0,
                    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                     WHERE VARIABLE_NAME='Rpl_semi_sync_master_clients'",
                )
            };
            let end = Instant::now() + LIMIT;
            while clients() != want {
                assert!(
                    Instant::now() < end,
                    "semi-sync: {} of {want} replicas acknowledge",
                    clients()
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// How many servers (primary included).
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Server `i` (0: the primary the set started with).
    pub fn server(&self, i: usize) -> &MariaDb {
        &self.servers[i]
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.servers[i].addr
    }

    /// `@@server_id` of server `i`.
    pub fn server_id(&self, i: usize) -> u32 {
        i as u32 + 1
    }

    /// Runs `q` as root on server `i` over its socket; its output (`-N -B`).
    pub fn sql(&self, i: usize, q: &str) -> String {
        self.servers[i]
            .try_sql(q)
            .unwrap_or_else(|e| panic!("server {i}: `{q}` failed: {e}"))
    }

    pub fn try_sql(&self, i: usize, q: &str) -> Result<String, String> {
        self.servers[i].try_sql(q)
    }

    /// `SHOW SLAVE STATUS` of server `i` by column name; `None` when it is
    /// not a replica.
    pub fn slave_status(&self, i: usize) -> Option<HashMap<String, String>> {
        let out = Command::new(self.servers[i].client())
            .arg("--no-defaults")
            .arg("-S")
            .arg(self.servers[i].socket())
            .args(["-u", "root", "-B", "-e", "SHOW SLAVE STATUS"])
            .output()
            .expect("run mariadb");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let names = lines.next()?.split('\t');
        let values = lines.next()?.split('\t');
        Some(
            names
                .map(String::from)
                .zip(values.map(String::from))
                .collect(),
        )
    }

    /// Kills server `i` with SIGKILL (a crash).
    pub fn kill9(&mut self, i: usize) {
        self.servers[i].kill();
    }

    /// Freezes (SIGSTOP) or resumes (SIGCONT) server `i`.
    pub fn freeze(&self, i: usize, frozen: bool) {
        self.servers[i].freeze(frozen);
    }

    /// Starts server `i` again (same port and data) after `kill9`, and
    /// waits until it accepts clients. A replica resumes replicating by
    /// itself. (`start` makes a set.)
    pub fn restart(&mut self, i: usize) {
        self.servers[i].restart();
    }

    /// Waits until replica `i` has applied everything its primary (the
    /// server it replicates from) has in its binary log now.
    pub fn wait_replicated(&self, i: usize) {
        let status = self
            .slave_status(i)
            .unwrap_or_else(|| panic!("server {i} is not a replica"));
        let port: u16 = status["Master_Port"].parse().expect("Master_Port");
        let from = (0..self.len())
            .find(|j| self.addr(*j).port() == port)
            .unwrap_or_else(|| panic!("server {i} replicates from port {port}, not in the set"));
        let pos = self.sql(from, "SELECT @@gtid_binlog_pos");
        let secs = LIMIT.as_secs();
        let got = self.sql(i, &format!("SELECT MASTER_GTID_WAIT('{pos}', {secs})"));
        assert!(
            got == "0",
            "server {i} did not reach {pos} (server {from}) within {secs} s: {:?}\n{}",
            self.slave_status(i),
            self.servers[i].error_log()
        );
    }

    /// Makes server `i` a replica of server `from`, from where its own
    /// data ends (`@@gtid_current_pos`: a replica's applied position, or a
    /// former primary's last write), and starts replicating.
    pub fn replicate_from(&self, i: usize, from: usize) {
        self.sql(i, &change_master_sql(self.addr(from)));
    }

    /// An operator's promotion of replica `i`: it stops replicating,
    /// forgets its primary, and takes writes.
    pub fn promote(&self, i: usize) {
        self.sql(i, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0");
    }

    /// Runs `q` as the app user over TCP to `addr` (a server, or a proxy in
    /// front of one), in database `t`: its output (`-N -B`), or the
    /// client's error message.
    pub fn app_query(&self, addr: SocketAddr, q: &str) -> Result<String, String> {
        self.query_as(APP_USER, APP_PASS, addr, q)
    }

    /// Runs `q` as `user` over TCP to `addr`: its output (`-N -B`), or the
    /// client's error message.
    pub fn query_as(
        &self,
        user: &str,
        pass: &str,
        addr: SocketAddr,
        q: &str,
    ) -> Result<String, String> {
        query_with(self.servers[0].client(), user, pass, addr, q)
    }

    /// `SELECT @@server_id` as the app user through `addr`.
    pub fn server_id_at(&self, addr: SocketAddr) -> Result<u32, String> {
        let out = self.app_query(addr, "SELECT @@server_id")?;
        out.parse().map_err(|_| format!("not a server id: {out:?}"))
    }

    /// A session of the app user through `addr` that stays open between
    /// queries (the `mariadb` client reading from a pipe).
    pub fn session(&self, addr: SocketAddr) -> AppSession {
        AppSession::open(self.servers[0].client().into(), addr)
    }
}

/// [`Replicated::app_query`] without a set at hand (a load running on a
/// thread of its own): the `mariadb` client at `client`.
pub fn app_query_with(client: &Path, addr: SocketAddr, q: &str) -> Result<String, String> {
    query_with(client, APP_USER, APP_PASS, addr, q)
}

fn query_with(
    client: &Path,
    user: &str,
    pass: &str,
    addr: SocketAddr,
    q: &str,
) -> Result<String, String> {
    let out = Command::new(client)
        .args(client_args(user, pass, addr))
        .args(["-e", q])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The options of server `i` of a set (server_id `i + 1`).
fn server_args(i: usize, opts: SetOptions) -> Vec<String> {
    let mut args: Vec<String> = [
        format!("--server-id={}", i + 1),
        "--log-bin=mysql-bin".into(),
        "--relay-log=relay-bin".into(),
        "--log-slave-updates=1".into(),
        "--gtid-strict-mode=1".into(),
        "--binlog-format=ROW".into(),
        // Every server starts read-only; the bootstrap (or a test, or a
        // failover) makes one writable.
        "--read-only=1".into(),
        // A replica notices a dead primary within seconds, not a minute.
        "--slave-net-timeout=2".into(),
        "--rpl-semi-sync-master-wait-point=AFTER_SYNC".into(),
    ]
    .into();
    if opts.semi_sync {
        args.push("--rpl-semi-sync-slave-enabled=1".into());
    }
    args
}

/// What makes a server a replica of `primary` (see `replicate_from`).
pub fn change_master_sql(primary: SocketAddr) -> String {
    format!(
        "STOP SLAVE; SET GLOBAL gtid_slave_pos=@@gtid_current_pos; \
         CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{REPL_USER}', \
         MASTER_PASSWORD='{REPL_PASS}', MASTER_USE_GTID=slave_pos, \
         MASTER_HEARTBEAT_PERIOD=0.5, MASTER_CONNECT_RETRY=1; START SLAVE",
        primary.ip(),
        primary.port()
    )
}

/// The `mariadb` options of a TCP client to `addr` (in database `t` if
/// `user` is the app user).
fn client_args(user: &str, pass: &str, addr: SocketAddr) -> Vec<String> {
    let mut args = vec![
        "--no-defaults".into(),
        "--protocol=TCP".into(),
        format!("--host={}", addr.ip()),
        format!("--port={}", addr.port()),
        format!("--user={user}"),
        format!("--password={pass}"),
        "--connect-timeout=5".into(),
        "-N".into(),
        "-B".into(),
    ];
    if user == APP_USER {
        args.push("--database=t".into());
    }
    args
}

/// The end of a query's answer in an [`AppSession`].
const DONE: &str = "--done--";

/// An app user's session that stays open: the `mariadb` client reading
/// statements from a pipe, without reconnecting, so a connection that the
/// proxy cuts fails the next query instead of being replaced.
pub struct AppSession {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl AppSession {
    fn open(client: PathBuf, addr: SocketAddr) -> AppSession {
        let mut child = Command::new(client)
            .args(client_args(APP_USER, APP_PASS, addr))
            // Flush each answer at once; never log in again by itself.
            .args(["--unbuffered", "--skip-reconnect"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mariadb");
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        let out = child.stdout.take().expect("stdout");
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("stderr");
        let keep = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut text = keep.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        AppSession {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// Runs `q` (one statement, no `;`) in the session: its output, or the
    /// client's error once the session is gone (the client exits on the
    /// first error). Waits up to 10 s for the answer.
    pub fn query(&mut self, q: &str) -> Result<String, String> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.error());
        };
        if writeln!(stdin, "{q};\nSELECT '{DONE}';").is_err() {
            self.stdin = None;
            return Err(self.error());
        }
        let mut out = Vec::new();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == DONE => return Ok(out.join("\n")),
                Ok(line) => out.push(line),
                Err(RecvTimeoutError::Timeout) => panic!("no answer to `{q}` within 10 s"),
                Err(RecvTimeoutError::Disconnected) => {
                    self.stdin = None;
                    return Err(self.error());
                }
            }
        }
    }

    /// What the client printed on stderr, once it has exited.
    fn error(&mut self) -> String {
        let _ = self.child.wait();
        // The reader thread may still hold the last line.
        let end = Instant::now() + Duration::from_secs(2);
        loop {
            let text = self
                .stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if !text.is_empty() || Instant::now() > end {
                return text.trim().to_string();
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
