//! conf/foobar.cfg away from the lab: its `crt` and `ca-file` lines name
//! files under `"${FOOBAR_TLS_DIR}"`, which must exist for `-c` (HAProxy,
//! and splicer after it, load certificates while reading the config).
//! `scripts/lab tls DIR` makes them, as `scripts/lab up` does for the lab.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{require_tools, scratch_dir};

/// The variable conf/foobar.cfg's `crt-base` and `ca-base` read.
pub const TLS_DIR_VAR: &str = "FOOBAR_TLS_DIR";

/// A directory of throwaway TLS files (a lab CA, its certificates) for
/// conf/foobar.cfg, made once per test process; `None`, the test skipped,
/// where openssl is missing outside CI.
pub fn tls_dir(test: &str) -> Option<&'static Path> {
    require_tools(test, &["openssl"])?;
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = scratch_dir("foobar-tls");
        let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lab"))
            .arg("tls")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/lab tls");
        assert!(
            out.status.success(),
            "scripts/lab tls {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    });
    Some(dir)
}
