//! Certificate files that cannot be used: the config check (`-c`) fails
//! and names the config line, and a reload onto such a file keeps the
//! running config serving TLS. Checked against HAProxy 2.6
//! (`SPLICER_TEST_BIN=haproxy` runs `haproxy -c`, and reloads it in
//! master-worker mode).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::certs;
use crate::common::tls_peer::TlsClient;
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// The 1-based number of the first line of `text` containing `pat`.
fn line_of(text: &str, pat: &str) -> usize {
    text.lines()
        .position(|l| l.contains(pat))
        .unwrap_or_else(|| panic!("no {pat:?} in:\n{text}"))
        + 1
}

/// A certificate file holding no key (the certificate alone).
fn keyless(dir: &Path, pki: &certs::Pki) -> std::path::PathBuf {
    let path = dir.join("nokey.pem");
    std::fs::copy(&pki.a_ecdsa.cert, &path).unwrap();
    path
}

/// `-c` on a config whose `crt` file is missing, or holds no private key:
/// a non-zero exit, and an error that names the config file and line and
/// the certificate file.
#[test]
fn check_mode_names_the_line_of_an_unusable_crt() {
    let Some(pki) = certs::require("check_mode_names_the_line_of_an_unusable_crt") else {
        return;
    };
    let dir = scratch_dir("tlscheck");
    let missing = dir.join("missing.pem");
    let nokey = keyless(&dir, pki);
    let bin = if haproxy::enabled() {
        find_tool("haproxy").expect("haproxy")
    } else {
        splicer_bin().into()
    };
    for (what, crt, words) in [
        ("a missing file", &missing, &["missing.pem"][..]),
        ("a file without key", &nokey, &["nokey.pem", "key"]),
    ] {
        // Not run, only checked: HAProxy refuses port 0 in a config.
        let cfg_text = config(
            "",
            "",
            &format!(
                "listen fe\n    bind 127.0.0.1:{}\n    bind 127.0.0.1:{} ssl crt {}\n    server s1 127.0.0.1:9\n",
                free_port(),
                free_port(),
                crt.display()
            ),
        );
        let cfg = dir.join("check.cfg");
        std::fs::write(&cfg, &cfg_text).unwrap();
        let out = Command::new(&bin)
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{what}: -c passed:\n{text}");
        let at = format!("{}:{}", cfg.display(), line_of(&cfg_text, "ssl crt"));
        let line = text
            .lines()
            .find(|l| l.contains(&at))
            .unwrap_or_else(|| panic!("{what}: no error names {at}:\n{text}"));
        for w in words {
            assert!(
                line.to_lowercase().contains(w),
                "{what}: {w:?} missing in {line:?}"
            );
        }
    }
}

/// A reload onto a config whose certificate has no key is refused with the
/// line named, and the running config goes on serving TLS with its own
/// certificate.
#[test]
fn a_reload_onto_a_broken_certificate_keeps_serving_tls() {
    let Some(pki) = certs::require("a_reload_onto_a_broken_certificate_keeps_serving_tls") else {
        return;
    };
    let dir = scratch_dir("tlsreload");
    let nokey = keyless(&dir, pki);
    let echo = Backend::echo();
    let cfg = config(
        "",
        "",
        &format!(
            "listen fe\n    bind 127.0.0.1:0 ssl crt {}\n    server s1 {}\n",
            pki.a_ecdsa.pem.display(),
            echo.addr
        ),
    );
    // HAProxy reloads in master-worker mode; splicer on SIGUSR2 as well.
    let args: &[&str] = if haproxy::enabled() { &["-W"] } else { &[] };
    let sp = Splicer::start_with(&cfg, &["fe"], args);
    let client = || {
        TlsClient::new(sp.addr("fe"))
            .sni("a.test")
            .ca(&pki.ca)
            .send("ping")
            .run()
    };
    client().expect_ok("before the reload");
    // Edited in place: the file HAProxy runs has its ports rewritten.
    let running = std::fs::read_to_string(&sp.config_path).unwrap();
    let broken = running.replace(
        &pki.a_ecdsa.pem.display().to_string(),
        &nokey.display().to_string(),
    );
    std::fs::write(&sp.config_path, &broken).unwrap();
    sp.signal("USR2");
    let at = format!(
        "{}:{}",
        sp.config_path.display(),
        line_of(&broken, "nokey.pem")
    );
    sp.wait_output(&[&at, "nokey.pem"], LIMIT);
    // What each says once the reload is given up.
    let outcome = if haproxy::enabled() {
        "Loading failure!"
    } else {
        "reload aborted"
    };
    sp.wait_output(&[outcome], LIMIT);
    let r = client();
    r.expect_ok("after the failed reload");
    assert_eq!(r.get("received"), Some("ping"));
    assert_eq!(r.get("serial"), Some(&*pki.a_ecdsa.serial), "{r:?}");
}
