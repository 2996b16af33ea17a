//! The runtime API as the tests speak to it: one request on a UNIX stats
//! socket, a field of `show stat`'s CSV, a number of `show info`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The number `show info` (its answer `info`) gives for `field`.
pub fn info_number(info: &str, field: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(": "))
        .and_then(|v| v.trim().parse().ok())
}

/// One request on a UNIX socket: the line, a half-close, everything until
/// the server closes (at most 10 s of waiting).
pub fn ask(path: &Path, request: &str) -> String {
    let mut s = UnixStream::connect(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{request}\n").as_bytes()).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Field `field` of the `px`/`sv` row of a `show stat` answer.
pub fn stat_field(csv: &str, px: &str, sv: &str, field: &str) -> String {
    let header: Vec<&str> = csv.lines().next().unwrap()[2..].split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == field)
        .unwrap_or_else(|| panic!("no column {field}"));
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .unwrap_or_else(|| panic!("no row {px}/{sv} in\n{csv}"));
    row.split(',').nth(col).unwrap().to_string()
}

/// A splicer with three stats sockets in a scratch directory: `admin.sock`
/// (level admin, mode 600), `oper.sock` (the default level, operator) and
/// `user.sock` (level user).
pub struct Api {
    pub sp: super::Splicer,
    dir: std::path::PathBuf,
}

impl Api {
    pub fn start(global_extra: &str, rest: &str, frontends: &[&str]) -> Api {
        Self::start_with(global_extra, "", rest, frontends)
    }

    pub fn start_with(
        global_extra: &str,
        defaults_extra: &str,
        rest: &str,
        frontends: &[&str],
    ) -> Api {
        let dir = super::scratch_dir("admin");
        let global = format!(
            "    stats socket {d}/admin.sock level admin mode 600\n    stats socket {d}/oper.sock\n    stats socket {d}/user.sock level user\n{global_extra}",
            d = dir.display()
        );
        let config = super::config(&global, defaults_extra, rest);
        let sp = super::Splicer::start(&config, frontends);
        // The frontends listen before the admin thread opens its sockets.
        super::wait_for("the stats sockets", Duration::from_secs(10), || {
            ["admin", "oper", "user"]
                .iter()
                .all(|n| UnixStream::connect(dir.join(format!("{n}.sock"))).is_ok())
        });
        Api { sp, dir }
    }

    pub fn sock(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(format!("{name}.sock"))
    }

    /// Sends one request on the admin socket; returns the whole answer.
    pub fn ask(&self, request: &str) -> String {
        ask(&self.sock("admin"), request)
    }

    /// One field of one `show stat` row (`px`, `sv`).
    pub fn stat(&self, px: &str, sv: &str, field: &str) -> String {
        stat_field(&self.ask("show stat"), px, sv, field)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
