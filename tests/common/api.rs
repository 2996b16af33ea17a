//! The runtime API as the tests speak to it: one request on a UNIX stats
//! socket, and a field of `show stat`'s CSV.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

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
