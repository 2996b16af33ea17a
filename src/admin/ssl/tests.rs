//! The certificate commands on a runtime built from a config over
//! certificates made by the openssl CLI (skipped where it is missing, as
//! the other TLS tests): answers in HAProxy 2.6.12's words (captured from
//! it on the same kind of files), and what `openssl x509` says of the same
//! certificate for the details.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::admin::cli::{Session, run_request};
use crate::config::{Level, parse_str};
use crate::runtime::Runtime;

/// A scratch directory with the certificates of the tests:
/// `a.pem` (leaf by `ca.crt`, chain and key), `b.pem` (self-signed, RSA),
/// `n.pem` (another self-signed, the renewal), `n.crt` / `n.key` apart.
struct Certs {
    dir: PathBuf,
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(args: &[&str], dir: &Path) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Certs {
    fn make() -> Option<Certs> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("splicer-admin-ssl-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).ok()?;
        let c = Certs { dir };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let ok = openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-days", "30", "-subj", "/C=FR/O=Lab/CN=Lab CA"],
            ]
            .concat()
            .into_iter()
            .chain(["-keyout", "ca.key", "-out", "ca.crt"])
            .collect::<Vec<_>>(),
            &c.dir,
        ) && openssl(
            &[
                &["req"],
                &ec[..],
                &["-subj", "/CN=a.test", "-keyout", "a.key", "-out", "a.csr"],
            ]
            .concat(),
            &c.dir,
        ) && std::fs::write(
            c.dir.join("a.ext"),
            "subjectAltName=DNS:a.test,DNS:www.a.test,IP:127.0.0.1\n",
        )
        .is_ok()
            && openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    "a.csr",
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    "0x9001",
                    "-days",
                    "10",
                    "-extfile",
                    "a.ext",
                    "-out",
                    "a.crt",
                ],
                &c.dir,
            )
            && openssl(
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "5",
                    "-subj",
                    "/O=Lab/CN=b.test",
                    "-keyout",
                    "b.key",
                    "-out",
                    "b.crt",
                ],
                &c.dir,
            )
            && openssl(
                &[
                    &["req", "-x509"],
                    &ec[..],
                    &["-days", "3", "-subj", "/CN=a.test/O=New"],
                ]
                .concat()
                .into_iter()
                .chain([
                    "-addext",
                    "subjectAltName=DNS:a.test",
                    "-keyout",
                    "n.key",
                    "-out",
                    "n.crt",
                ])
                .collect::<Vec<_>>(),
                &c.dir,
            );
        if !ok {
            return None;
        }
        let cat = |parts: &[&str], to: &str| {
            let text: String = parts.iter().map(|p| c.read(p)).collect();
            std::fs::write(c.dir.join(to), text).ok()
        };
        cat(&["a.crt", "ca.crt", "a.key"], "a.pem")?;
        cat(&["b.crt", "b.key"], "b.pem")?;
        cat(&["n.crt", "n.key"], "n.pem")?;
        cat(&["b.crt", "b.key"], "d/b.pem")?;
        cat(&["n.crt", "n.key"], "d/n.pem")?;
        Some(c)
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// What `openssl x509` says of certificate file `name`.
    fn x509(&self, name: &str, what: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-nameopt", "compat", what, "-in"])
            .arg(self.dir.join(name))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        out.split_once('=')
            .map(|(_, v)| v.to_string())
            .unwrap_or(out)
    }
}

/// The certificates, or the reason the test is skipped.
fn certs() -> Option<Certs> {
    let c = Certs::make();
    if c.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is missing under CI"
        );
        eprintln!("skipped: the openssl CLI is missing");
    }
    c
}

/// Two binds share `a.pem`; the second also loads a directory; a third
/// reads a crt-list.
fn runtime(c: &Certs) -> Runtime {
    std::fs::write(
        c.dir.join("list.txt"),
        format!(
            "# comment\n{a} [verify none alpn h2,http/1.1 ssl-min-ver TLSv1.2] A.test !x.a.test\n{b}\n\n{n} [ ] *.n.test\n{b} [ciphers ECDHE-RSA-AES128-GCM-SHA256 ssl-max-ver TLSv1.3 alpn h2]\n",
            a = c.path("a.pem"),
            b = c.path("b.pem"),
            n = c.path("n.pem"),
        ),
    )
    .unwrap();
    let config = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
frontend fe\n    bind 127.0.0.1:0 ssl crt {a} crt {b}\n    bind 127.0.0.1:0 ssl crt {a} crt {d}/\n    bind 127.0.0.1:0 ssl crt-list {list}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:18001\n",
        a = c.path("a.pem"),
        b = c.path("b.pem"),
        d = c.path("d"),
        list = c.path("list.txt"),
    );
    let config = parse_str("t.cfg", &config)
        .unwrap_or_else(|e| panic!("{:#?}", e.errors))
        .config;
    let tls = crate::tls::Contexts::load(&config).unwrap_or_else(|e| panic!("{e:#?}"));
    Runtime::first(config).with_tls(tls)
}

/// One command, with its payload; the answer without the empty line that
/// ends it.
fn ask(rt: &Runtime, level: Level, line: &str, payload: Option<&str>) -> String {
    let mut session = Session::new(level);
    let mut out = String::new();
    run_request(
        line.as_bytes(),
        payload.map(str::as_bytes),
        rt,
        &[],
        &mut session,
        &mut out,
    );
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

fn admin(rt: &Runtime, line: &str) -> String {
    ask(rt, Level::Admin, line, None)
}

#[test]
fn show_lists_the_files_then_one_as_openssl_reads_it() {
    let Some(c) = certs() else { return };
    let rt = runtime(&c);
    let want = format!(
        "# filename\n{}\n{}\n{}\n{}\n{}\n",
        c.path("a.pem"),
        c.path("b.pem"),
        c.path("d/b.pem"),
        c.path("d/n.pem"),
        c.path("n.pem"),
    );
    assert_eq!(
        admin(&rt, "show ssl cert"),
        want,
        "by name, as HAProxy's tree"
    );
    let fingerprint = c.x509("a.crt", "-fingerprint").replace(':', "");
    let want = format!(
        "Filename: {}\nStatus: Used\nSerial: 9001\nnotBefore: {}\nnotAfter: {}\n\
Subject Alternative Name: DNS:a.test, DNS:www.a.test, \nAlgorithm: EC256\n\
SHA1 FingerPrint: {fingerprint}\nSubject: /CN=a.test\nIssuer: /C=FR/O=Lab/CN=Lab CA\n\
Chain Subject: /C=FR/O=Lab/CN=Lab CA\nChain Issuer: /C=FR/O=Lab/CN=Lab CA\nOCSP Response Key: \n",
        c.path("a.pem"),
        c.x509("a.crt", "-startdate"),
        c.x509("a.crt", "-enddate"),
    );
    assert_eq!(
        admin(&rt, &format!("show ssl cert {}", c.path("a.pem"))),
        want
    );
    let b = admin(&rt, &format!("show ssl cert {}", c.path("b.pem")));
    assert!(b.contains("\nAlgorithm: RSA2048\n"), "{b}");
    assert!(b.contains("\nSubject Alternative Name: \n"), "{b}");
    assert!(!b.contains("Chain"), "{b}");
    let serial = c.x509("b.crt", "-serial");
    assert!(b.contains(&format!("\nSerial: {serial}\n")), "{b}");
    // (description, request, answer)
    let cases = [
        ("unknown file", "show ssl cert /nope.pem".to_string(), ""),
        (
            "no transaction",
            format!("show ssl cert *{}", c.path("a.pem")),
            "",
        ),
        (
            "OCSP of a file without",
            format!("show ssl cert {}.ocsp", c.path("a.pem")),
            "ok",
        ),
    ];
    for (what, req, want) in cases {
        let got = admin(&rt, &req);
        if want == "ok" {
            assert_eq!(got, "", "{what}");
        } else {
            assert_eq!(
                got, "Can't display the certificate: Not found or the certificate is a bundle!\n",
                "{what}"
            );
        }
    }
}

#[test]
fn levels_are_haproxys() {
    let Some(c) = certs() else { return };
    let rt = runtime(&c);
    let a = c.path("a.pem");
    assert_eq!(
        ask(&rt, Level::User, "show ssl cert", None),
        "Can't allocate memory!\n"
    );
    assert!(ask(&rt, Level::Operator, "show ssl cert", None).starts_with("# filename\n"));
    for req in [
        format!("set ssl cert {a}"),
        format!("commit ssl cert {a}"),
        format!("abort ssl cert {a}"),
        "show ssl crt-list".to_string(),
    ] {
        assert_eq!(
            ask(&rt, Level::Operator, &req, Some("x")),
            "Permission denied\n",
            "{req}"
        );
    }
}

#[test]
fn a_transaction_replaces_the_certificate_everywhere_at_commit() {
    let Some(c) = certs() else { return };
    let rt = runtime(&c);
    let a = c.path("a.pem");
    let slot = rt.tls.store.named(&a).unwrap();
    let before = slot.current().info.serial.clone();
    assert_eq!(
        ask(
            &rt,
            Level::Admin,
            &format!("set ssl cert {a}"),
            Some(&c.read("n.pem"))
        ),
        format!("Transaction created for certificate {a}!\n")
    );
    assert_eq!(
        admin(&rt, "show ssl cert")
            .lines()
            .take(3)
            .collect::<Vec<_>>(),
        ["# transaction", &format!("*{a}"), "# filename"]
    );
    let t = admin(&rt, &format!("show ssl cert *{a}"));
    assert!(
        t.starts_with(&format!("Filename: *{a}\nStatus: Unused\n")),
        "{t}"
    );
    assert!(t.contains("\nSubject: /CN=a.test/O=New\n"), "{t}");
    assert_eq!(slot.current().info.serial, before, "not before the commit");
    assert_eq!(
        ask(
            &rt,
            Level::Admin,
            &format!("set ssl cert {a}"),
            Some(&c.read("n.pem"))
        ),
        format!("Transaction updated for certificate {a}!\n")
    );
    // Two binds and a crt-list line name a.pem: one dot each.
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {a}")),
        format!("Committing {a}...\nSuccess!\n")
    );
    assert_eq!(slot.current().info.subject, "/CN=a.test/O=New");
    assert!(!admin(&rt, "show ssl cert").contains('*'));
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {a}")),
        format!("No ongoing transaction! !\nCan't commit {a}!\n")
    );
    // b.pem: in the first bind and twice in the crt-list.
    let b = c.path("b.pem");
    ask(
        &rt,
        Level::Admin,
        &format!("set ssl cert {b}"),
        Some(&c.read("b.pem")),
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {b}")),
        format!("Committing {b}...\nSuccess!\n")
    );
}

#[test]
fn key_apart_and_mismatch_as_haproxy() {
    let Some(c) = certs() else { return };
    let rt = runtime(&c);
    let a = c.path("a.pem");
    let set = |name: &str, payload: &str| {
        ask(
            &rt,
            Level::Admin,
            &format!("set ssl cert {name}"),
            Some(payload),
        )
    };
    assert_eq!(
        set(&a, &c.read("n.crt")),
        format!("Transaction created for certificate {a}!\n"),
        "a certificate without its key is taken"
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {a}")),
        format!(
            "The transaction must contain at least a certificate and a private key!\nCan't commit {a}!\n"
        )
    );
    assert_eq!(
        set(&format!("{a}.key"), &c.read("a.key")),
        format!("Transaction updated for certificate {a}!\n")
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {a}")),
        format!(
            "inconsistencies between private key and certificate loaded '{a}'.\nCan't commit {a}!\n"
        )
    );
    assert_eq!(
        set(&format!("{a}.key"), &c.read("n.key")),
        format!("Transaction updated for certificate {a}!\n")
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {a}")),
        format!("Committing {a}...\nSuccess!\n")
    );
    let slot = rt.tls.store.named(&a).unwrap();
    assert_eq!(slot.current().info.subject, "/CN=a.test/O=New");
}

#[test]
fn refusals_change_nothing() {
    let Some(c) = certs() else { return };
    let rt = runtime(&c);
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    let set = |name: &str, payload: Option<&str>| {
        ask(&rt, Level::Admin, &format!("set ssl cert {name}"), payload)
    };
    let usage = "'set ssl cert expects a filename and a certificate as a payload\n";
    let bad_chain = format!(
        "{}-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
        c.read("n.crt")
    );
    // (description, name, payload, answer)
    let cases: Vec<(&str, String, Option<&str>, String)> = vec![
        ("no payload", a.clone(), None, usage.into()),
        ("no name", String::new(), Some("x"), usage.into()),
        (
            "not PEM",
            a.clone(),
            Some("hello"),
            format!(
                "unable to load certificate from file '{a}'.\nCan't load the payload\nCan't update {a}!\n"
            ),
        ),
        (
            "a bad chain",
            a.clone(),
            Some(&bad_chain),
            format!(
                "unable to load certificate chain from file '{a}'.\nCan't load the payload\nCan't update {a}!\n"
            ),
        ),
        (
            "a file the config does not name",
            c.path("zz.pem"),
            Some("x"),
            format!(
                "Can't replace a certificate which is not referenced by the configuration!\nCan't update {}!\n",
                c.path("zz.pem")
            ),
        ),
        (
            "no key in a key payload",
            format!("{a}.key"),
            Some("hello"),
            format!(
                "unable to load private key from file '{a}'.\nCan't load the payload\nCan't update {a}.key!\n"
            ),
        ),
        (
            "an OCSP response not in base64",
            format!("{a}.ocsp"),
            Some("!!!!"),
            format!(
                "Error reading OCSP response in base64 formatCan't load the payload\nCan't update {a}.ocsp!\n"
            ),
        ),
        (
            "an issuer that is no certificate",
            format!("{a}.issuer"),
            Some("xx"),
            format!(
                "'{a}' cannot be read or parsed'.\nCan't load the payload\nCan't update {a}.issuer!\n"
            ),
        ),
        (
            "SCTs",
            format!("{a}.sctl"),
            Some("xx"),
            format!("Can't load the payload\nCan't update {a}.sctl!\n"),
        ),
        (
            "an extension HAProxy does not know is part of the name",
            format!("{a}.foo"),
            Some("xx"),
            format!(
                "Can't replace a certificate which is not referenced by the configuration!\nCan't update {a}.foo!\n"
            ),
        ),
    ];
    for (what, name, payload, want) in cases {
        assert_eq!(set(&name, payload), want, "{what}");
        assert!(rt.tls.store.pending().is_none(), "{what}: no transaction");
    }
    assert_eq!(
        set(&a, Some(&c.read("n.pem"))),
        format!("Transaction created for certificate {a}!\n")
    );
    let busy = format!("The ongoing transaction is about '{a}' but you are trying to set '{b}'\n");
    assert_eq!(
        set(&b, Some(&c.read("b.pem"))),
        format!("{busy}Can't update {b}!\n"),
        "one transaction at a time"
    );
    assert_eq!(
        set(&format!("{b}.key"), Some(&c.read("b.key"))),
        format!("{busy}Can't update {b}.key!\n")
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {b}")),
        format!("{busy}Can't commit {b}!\n")
    );
    assert_eq!(
        admin(&rt, &format!("abort ssl cert {b}")),
        format!(
            "The ongoing transaction is about '{a}' but you are trying to abort a transaction for '{b}'\n"
        )
    );
    // A refused payload keeps the transaction as it was.
    assert_eq!(
        set(&a, Some("hello")),
        format!(
            "unable to load certificate from file '{a}'.\nCan't load the payload\nCan't update {a}!\n"
        )
    );
    let t = admin(&rt, &format!("show ssl cert *{a}"));
    assert!(t.contains("/CN=a.test/O=New"), "{t}");
    assert_eq!(
        admin(&rt, &format!("abort ssl cert {a}")),
        format!("Transaction aborted for certificate '{a}'!\n")
    );
    assert_eq!(
        admin(&rt, &format!("abort ssl cert {a}")),
        "No ongoing transaction!\n"
    );
    let slot = rt.tls.store.named(&a).unwrap();
    assert_eq!(
        slot.current().info.subject,
        "/CN=a.test",
        "the old one stays"
    );
    for (req, want) in [
        ("commit ssl cert", "'commit ssl cert expects a filename\n"),
        ("abort ssl cert", "'abort ssl cert' expects a filename\n"),
    ] {
        assert_eq!(admin(&rt, req), want);
    }
}

#[test]
fn a_crt_file_is_named_with_crt_twice() {
    let Some(c) = certs() else { return };
    std::fs::copy(c.dir.join("n.pem"), c.dir.join("x.crt")).unwrap();
    let config = format!(
        "defaults\n    mode tcp\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n\
frontend fe\n    bind 127.0.0.1:0 ssl crt {}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:1\n",
        c.path("x.crt")
    );
    let config = parse_str("t.cfg", &config).unwrap().config;
    let tls = crate::tls::Contexts::load(&config).unwrap();
    let rt = Runtime::first(config).with_tls(tls);
    let x = c.path("x.crt");
    let pem = c.read("b.pem");
    assert_eq!(
        ask(&rt, Level::Admin, &format!("set ssl cert {x}"), Some(&pem)),
        format!(
            "Can't replace a certificate which is not referenced by the configuration!\nCan't update {x}!\n"
        ),
        "HAProxy 2.6 takes '.crt' off the name"
    );
    assert_eq!(
        ask(
            &rt,
            Level::Admin,
            &format!("set ssl cert {x}.crt"),
            Some(&pem)
        ),
        format!("Transaction created for certificate {x}!\n")
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {x}")),
        format!("Committing {x}.\nSuccess!\n")
    );
}

#[test]
fn crt_lists_show_as_haproxy_dumps_them() {
    let Some(c) = certs() else { return };
    let rt = runtime(&c);
    let (list, d) = (c.path("list.txt"), c.path("d"));
    let mut both = [d.clone(), list.clone()];
    both.sort();
    assert_eq!(
        admin(&rt, "show ssl crt-list"),
        format!("{}\n{}\n", both[0], both[1])
    );
    let (a, b, n) = (c.path("a.pem"), c.path("b.pem"), c.path("n.pem"));
    assert_eq!(
        admin(&rt, &format!("show ssl crt-list {list}")),
        format!(
            "# {list}\n{a} [alpn h2,http/1.1\0 verify none ssl-min-ver TLSv1.2] A.test !x.a.test\n{b}\n{n} [] *.n.test\n{b} [alpn h2\0 ciphers ECDHE-RSA-AES128-GCM-SHA256 ssl-max-ver TLSv1.3]\n"
        )
    );
    assert_eq!(
        admin(&rt, &format!("show ssl crt-list -n {list}")),
        format!(
            "# {list}\n{a}:2 [alpn h2,http/1.1\0 verify none ssl-min-ver TLSv1.2] A.test !x.a.test\n{b}:3\n{n}:5 [] *.n.test\n{b}:6 [alpn h2\0 ciphers ECDHE-RSA-AES128-GCM-SHA256 ssl-max-ver TLSv1.3]\n"
        )
    );
    let dir = format!("# {d}\n{}\n{}\n", c.path("d/b.pem"), c.path("d/n.pem"));
    assert_eq!(admin(&rt, &format!("show ssl crt-list {d}/")), dir);
    assert_eq!(
        admin(&rt, &format!("show ssl crt-list -n {d}")),
        format!("# {d}\n{}:0\n{}:0\n", c.path("d/b.pem"), c.path("d/n.pem"))
    );
    for (req, want) in [
        (
            "show ssl crt-list -n",
            "'show ssl crt-list -n' expects a filename or a directory\n",
        ),
        (
            "show ssl crt-list /nope",
            "didn't find the specified filename\n",
        ),
    ] {
        assert_eq!(admin(&rt, req), want);
    }
}

#[test]
fn a_server_client_certificate_is_one_of_them() {
    let Some(c) = certs() else { return };
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    let config = format!(
        "defaults\n    mode tcp\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n\
frontend fe\n    bind 127.0.0.1:0 ssl crt {a}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:1 ssl verify none crt {b}\n    server s2 127.0.0.1:2 ssl verify none crt {b}\n"
    );
    let config = parse_str("t.cfg", &config).unwrap().config;
    let tls = crate::tls::Contexts::load(&config).unwrap();
    let rt = Runtime::first(config).with_tls(tls);
    assert_eq!(
        admin(&rt, "show ssl cert"),
        format!("# filename\n{a}\n{b}\n")
    );
    assert!(admin(&rt, &format!("show ssl cert {b}")).contains("\nStatus: Used\n"));
    ask(
        &rt,
        Level::Admin,
        &format!("set ssl cert {b}"),
        Some(&c.read("n.pem")),
    );
    assert_eq!(
        admin(&rt, &format!("commit ssl cert {b}")),
        format!("Committing {b}..\nSuccess!\n"),
        "a dot per server"
    );
    let slot = rt.tls.store.named(&b).unwrap();
    assert_eq!(slot.current().info.subject, "/CN=a.test/O=New");
}
