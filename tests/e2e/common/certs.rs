//! A test PKI, made once per test process with the openssl CLI: two CAs,
//! server certificates (ECDSA P-256 and RSA-2048 for `a.test`, a wildcard
//! `*.b.test`, `default.test`, `backend.test` from either CA), client
//! certificates from either CA, and a directory of server certificates
//! for `crt DIR`. Every server or client PEM holds the certificate, its
//! chain (the CA) and its key in one file, as HAProxy's `crt` wants.
//! Tests issue more certificates (a renewal) with [`Pki::issue`].
//!
//! The files live in `CARGO_TARGET_TMPDIR/tls-pki-PID`; a directory left
//! by a process that is gone is removed when the next one starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::require_tools;

/// Which CA signs a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ca {
    /// "Splicer Test CA": the one the proxies trust.
    Main,
    /// "Splicer Other CA": trusted by nobody.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// ECDSA on P-256.
    Ec,
    Rsa2048,
}

/// What a new leaf certificate says.
pub struct Leaf<'a> {
    /// `/C=FR/O=Lab/CN=client1` form.
    pub subject: &'a str,
    /// DNS names of the subjectAltName.
    pub dns: &'a [&'a str],
    pub key: Key,
    pub ca: Ca,
}

/// A certificate written by [`Pki::issue`].
#[derive(Clone, Debug)]
pub struct Issued {
    /// Certificate, CA certificate and key, in that order.
    pub pem: PathBuf,
    /// The certificate alone.
    pub cert: PathBuf,
    /// Upper-case hex, as `openssl x509 -serial`, Python's `serialNumber`
    /// and HAProxy's `show ssl cert FILE` print it.
    pub serial: String,
}

/// The PKI shared by the TLS tests.
pub struct Pki {
    pub dir: PathBuf,
    openssl: PathBuf,
    /// CA certificates alone (for `ca-file`).
    pub ca: PathBuf,
    pub ca2: PathBuf,
    pub a_ecdsa: Issued,
    pub a_rsa: Issued,
    /// `*.b.test`.
    pub wildcard: Issued,
    pub default: Issued,
    /// `/C=FR/O=Lab/CN=client1`, from the main CA.
    pub client1: Issued,
    /// `/C=FR/O=Lab/CN=intruder`, from the other CA.
    pub intruder: Issued,
    /// `backend.test` from the main CA, and from the other one.
    pub backend: Issued,
    pub backend_other: Issued,
    /// `crt DIR`: the `a.test` pair, the wildcard and `00-default.test.pem`,
    /// written last but first in the alphabetical order HAProxy loads a
    /// directory in, so the default certificate.
    pub sni_dir: PathBuf,
}

pub const CA_SUBJECT: &str = "/CN=Splicer Test CA";
pub const CA2_SUBJECT: &str = "/CN=Splicer Other CA";

/// The PKI, made on first use; `None` (the test is skipped) when openssl or
/// python3 is missing outside CI, as [`require_tools`] says.
pub fn require(test: &str) -> Option<&'static Pki> {
    require_tools(test, &["openssl", "python3"])?;
    static PKI: OnceLock<Pki> = OnceLock::new();
    Some(PKI.get_or_init(Pki::make))
}

impl Pki {
    fn make() -> Pki {
        let openssl = super::find_tool("openssl").expect("openssl");
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale(root);
        let dir = root.join(format!("tls-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = make_ca(&openssl, &dir, "ca", CA_SUBJECT);
        let ca2 = make_ca(&openssl, &dir, "ca2", CA2_SUBJECT);
        let leaf = |name: &str, subject: &str, dns: &str, key, ca| {
            let leaf = Leaf {
                subject,
                dns: &[dns],
                key,
                ca,
            };
            issue(&openssl, &dir, &dir, name, &leaf)
        };
        let a_ecdsa = leaf("a.test.ecdsa", "/CN=a.test", "a.test", Key::Ec, Ca::Main);
        let a_rsa = leaf("a.test.rsa", "/CN=a.test", "a.test", Key::Rsa2048, Ca::Main);
        let wildcard = leaf("wild.b.test", "/CN=*.b.test", "*.b.test", Key::Ec, Ca::Main);
        let default = leaf(
            "default.test",
            "/CN=default.test",
            "default.test",
            Key::Ec,
            Ca::Main,
        );
        let client1 = leaf(
            "client1",
            "/C=FR/O=Lab/CN=client1",
            "client1",
            Key::Ec,
            Ca::Main,
        );
        let intruder = leaf(
            "intruder",
            "/C=FR/O=Lab/CN=intruder",
            "intruder",
            Key::Ec,
            Ca::Other,
        );
        let backend = leaf(
            "backend.test",
            "/CN=backend.test",
            "backend.test",
            Key::Ec,
            Ca::Main,
        );
        let backend_other = leaf(
            "backend.test.other",
            "/CN=backend.test",
            "backend.test",
            Key::Ec,
            Ca::Other,
        );
        let sni_dir = dir.join("sni");
        std::fs::create_dir_all(&sni_dir).unwrap();
        for (from, name) in [
            (&wildcard, "wild.b.test.pem"),
            (&a_rsa, "a.test.rsa.pem"),
            (&a_ecdsa, "a.test.ecdsa.pem"),
            (&default, "00-default.test.pem"),
        ] {
            std::fs::copy(&from.pem, sni_dir.join(name)).unwrap();
        }
        Pki {
            dir,
            openssl,
            ca,
            ca2,
            a_ecdsa,
            a_rsa,
            wildcard,
            default,
            client1,
            intruder,
            backend,
            backend_other,
            sni_dir,
        }
    }

    /// A new leaf certificate `dir/NAME.pem` (with chain and key) and
    /// `dir/NAME.crt` (the certificate alone), with a fresh serial.
    pub fn issue(&self, dir: &Path, name: &str, leaf: &Leaf) -> Issued {
        issue(&self.openssl, &self.dir, dir, name, leaf)
    }

    /// `openssl x509 -noout ARGS -in CERT`'s answer after its `=`, e.g.
    /// `-startdate` gives `Dec  5 00:34:24 2026 GMT`.
    pub fn x509_field(&self, cert: &Path, arg: &str) -> String {
        let out = Command::new(&self.openssl)
            .args(["x509", "-noout", arg, "-in"])
            .arg(cert)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl x509 {arg}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let (_, value) = text
            .trim()
            .split_once('=')
            .unwrap_or_else(|| panic!("openssl x509 {arg}: {text}"));
        value.to_string()
    }

    pub fn openssl_bin(&self) -> &Path {
        &self.openssl
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn run_openssl(openssl: &Path, args: &[&str]) {
    let out = Command::new(openssl).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`Pki::issue`], with the CAs in `pki`.
fn issue(openssl: &Path, pki: &Path, dir: &Path, name: &str, leaf: &Leaf) -> Issued {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join(format!("{name}.ext"));
    let cert = dir.join(format!("{name}.crt"));
    let pem = dir.join(format!("{name}.pem"));
    match leaf.key {
        Key::Ec => run_openssl(
            openssl,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                s(&key),
            ],
        ),
        Key::Rsa2048 => run_openssl(
            openssl,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                s(&key),
            ],
        ),
    }
    run_openssl(
        openssl,
        &[
            "req",
            "-new",
            "-key",
            s(&key),
            "-subj",
            leaf.subject,
            "-out",
            s(&csr),
        ],
    );
    let sans: Vec<String> = leaf.dns.iter().map(|d| format!("DNS:{d}")).collect();
    // Strict verifiers (webpki) want a leaf that is no CA and says what
    // it is for.
    std::fs::write(
        &ext,
        format!(
            "subjectAltName={}\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
            sans.join(",")
        ),
    )
    .unwrap();
    let (ca_cert, ca_key) = match leaf.ca {
        Ca::Main => (pki.join("ca.pem"), pki.join("ca.key")),
        Ca::Other => (pki.join("ca2.pem"), pki.join("ca2.key")),
    };
    let serial = fresh_serial();
    run_openssl(
        openssl,
        &[
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&ca_cert),
            "-CAkey",
            s(&ca_key),
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            "30",
            "-extfile",
            s(&ext),
            "-out",
            s(&cert),
        ],
    );
    let mut text = std::fs::read_to_string(&cert).unwrap();
    text.push_str(&std::fs::read_to_string(&ca_cert).unwrap());
    text.push_str(&std::fs::read_to_string(&key).unwrap());
    std::fs::write(&pem, text).unwrap();
    Issued { pem, cert, serial }
}

fn make_ca(openssl: &Path, dir: &Path, name: &str, subject: &str) -> PathBuf {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    run_openssl(
        openssl,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            subject,
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    cert
}

/// 16 hex digits, the first in 1..=7: positive and never padded with a
/// leading zero byte, so every tool prints it the same way.
fn fresh_serial() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut x = nanos
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ N.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64's finalizer: neighbouring inputs give unrelated serials.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let top = (x >> 60) % 7 + 1;
    format!("{:X}{:015X}", top, x & 0x0FFF_FFFF_FFFF_FFFF)
}

/// Removes `tls-pki-PID` directories of processes that are gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("tls-pki-")
            && pid.parse::<u32>().is_ok()
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
