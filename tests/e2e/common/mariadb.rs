//! A real, throw-away MariaDB server: a fresh data directory made by
//! `mariadb-install-db`, `mariadbd` on a port of 127.0.0.1 (the same port
//! across stop/start, so a proxy config keeps pointing at it), its socket,
//! pid file and error log in the same scratch directory. Killed on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, free_port, require_tools, scratch_dir, wait_for};

const TOOLS: [&str; 3] = ["mariadb-install-db", "mariadbd", "mariadb"];

pub struct MariaDb {
    pub addr: SocketAddr,
    dir: PathBuf,
    install_db: PathBuf,
    mariadbd: PathBuf,
    client: PathBuf,
    /// Options given to `mariadbd` after the ones every server gets.
    args: Vec<String>,
    proc: Option<ChildGuard>,
}

/// What `MariaDb::start` adds for a lone server behind health checks:
/// users matched on 127.0.0.1, not on a resolved name, and a check that
/// connects and leaves never gets the host blocked.
const LONE_SERVER_ARGS: [&str; 2] = ["--skip-name-resolve", "--max-connect-errors=1000000"];

fn running_as_root() -> bool {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    unsafe { libc::getuid() == 0 }
}

impl MariaDb {
    /// Creates a data directory and starts the server on it. `None` (with a
    /// printed reason) when MariaDB is not installed outside CI; under CI a
    /// missing MariaDB fails the test.
    pub fn start(test: &str) -> Option<MariaDb> {
        Self::start_with(test, LONE_SERVER_ARGS.map(String::from).to_vec())
    }

    /// `start` with `args` given to `mariadbd` (every start, restarts
    /// included) instead of the lone server's.
    pub fn start_with(test: &str, args: Vec<String>) -> Option<MariaDb> {
        let tools = require_tools(test, &TOOLS)?;
        let dir = scratch_dir("mariadb");
        let mut db = MariaDb {
            addr: "127.0.0.1:0".parse().unwrap(),
            dir,
            install_db: tools[0].clone(),
            mariadbd: tools[1].clone(),
            client: tools[2].clone(),
            args,
            proc: None,
        };
        db.install();
        let mut started = false;
        for _ in 0..5 {
            db.addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            if db.try_start() {
                started = true;
                break;
            }
        }
        assert!(started, "mariadbd did not start:\n{}", db.error_log());
        Some(db)
    }

    fn install(&self) {
        let mut cmd = Command::new(&self.install_db);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            // Each server its own tmpdir: a starting mariadbd deletes the
            // `#sql*` files it finds there, another instance's included.
            .arg(format!("--tmpdir={}", self.dir.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db");
        if running_as_root() {
            cmd.arg("--user=root");
        }
        let out = cmd.output().expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// Starts mariadbd on `self.addr`; false if it exited (port taken).
    fn try_start(&mut self) -> bool {
        let _ = std::fs::remove_file(self.socket());
        let mut cmd = Command::new(&self.mariadbd);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            // Each server its own tmpdir: a starting mariadbd deletes the
            // `#sql*` files it finds there, another instance's included.
            .arg(format!("--tmpdir={}", self.dir.display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--port={}", self.addr.port()))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .arg("--innodb-buffer-pool-size=32M")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            cmd.arg("--user=root");
        }
        let mut proc = ChildGuard::spawn("mariadbd", &mut cmd);
        let mut exited = false;
        wait_for(
            "mariadbd to accept clients",
            Duration::from_secs(60),
            || {
                exited = proc.exited().is_some();
                exited || (self.socket().exists() && self.try_sql("SELECT 1").is_ok())
            },
        );
        if exited {
            return false;
        }
        self.proc = Some(proc);
        true
    }

    /// Starts it again on the same port and data after `stop`.
    pub fn restart(&mut self) {
        assert!(self.proc.is_none(), "mariadbd is running");
        assert!(
            self.try_start(),
            "mariadbd did not restart:\n{}",
            self.error_log()
        );
    }

    /// SIGKILL (a crash: no shutdown, InnoDB recovers at the next start),
    /// waited for.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGSTOP (`true`: a server that hangs, its sockets open, as on a
    /// stalled disk or VM) or SIGCONT (`false`).
    pub fn freeze(&self, frozen: bool) {
        let Some(p) = &self.proc else {
            panic!("mariadbd is not running");
        };
        let sig = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on our own child's pid, not reaped (we hold it).
        let rc = unsafe { libc::kill(p.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    /// A clean shutdown (SIGTERM), waited for.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(30));
        }
    }

    /// The `mariadb` client program.
    pub fn client(&self) -> &std::path::Path {
        &self.client
    }

    /// Runs `sql` as root over the socket: its output, or the client's
    /// error message.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(&self.client)
            .arg("--no-defaults")
            .arg("-S")
            .arg(self.socket())
            .args(["-u", "root", "-N", "-B", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs `sql` as root over the socket; returns its output.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"))
    }

    /// `SELECT VERSION()`, e.g. `10.11.6-MariaDB-0+deb12u1`.
    pub fn version(&self) -> String {
        self.sql("SELECT VERSION()")
    }

    /// A user without password that may log in from 127.0.0.1 (what
    /// `option mysql-check user NAME` needs).
    pub fn create_check_user(&self, name: &str) {
        self.sql(&format!("CREATE USER '{name}'@'127.0.0.1'"));
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // The data directory is large; the server is killed first (by the
        // guard) so nothing writes into it while it goes.
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
