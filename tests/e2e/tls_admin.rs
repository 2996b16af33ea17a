//! The runtime API for certificates end to end, what an ACME client needs
//! to renew without a reload: `show ssl cert`, `set ssl cert FILE <<` with
//! the PEM as a payload, `commit`/`abort ssl cert`, `show ssl crt-list`,
//! on the real binary and its stats socket, with real TLS clients (rustls)
//! doing fresh handshakes while the certificate changes. Certificates are
//! made by the openssl CLI in a scratch directory. The same tests pass
//! against HAProxy 2.6.12 (`SPLICER_TEST_BIN=haproxy`); where it answers
//! otherwise for a reason splicer does not follow, the test says so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Serial numbers of the certificates below, as `show ssl cert` prints them.
const A_SERIAL: &str = "1001";
const NEW_SERIAL: &str = "2002";
const B_SERIAL: &str = "3003";

/// The certificates of a test: `a.pem` (`CN=a.test` by `ca.crt`: chain and
/// key), `new.pem` (its renewal: `CN=a.test/O=Renewed`, by the same CA),
/// `b.pem` (self-signed RSA `CN=b.test`), and their pieces.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    /// `None` (and the reason printed) when openssl is missing.
    fn make(tag: &str) -> Option<Certs> {
        let tools = require_tools(tag, &["openssl"])?;
        let openssl = &tools[0];
        let dir = scratch_dir(&format!("tls-admin-{tag}"));
        let run = |args: &[&str]| {
            let st = Command::new(openssl)
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run openssl");
            assert!(st.success(), "openssl {args:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-days", "30", "-subj", "/C=FR/O=Lab/CN=Lab CA"],
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat());
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:a.test\n").unwrap();
        for (name, subject, serial) in [
            ("a", "/CN=a.test", A_SERIAL),
            ("new", "/CN=a.test/O=Renewed", NEW_SERIAL),
        ] {
            let (key, csr, crt) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
            );
            run(&[
                &["req"][..],
                &ec,
                &["-subj", subject, "-keyout", &key, "-out", &csr],
            ]
            .concat());
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &format!("0x{serial}"),
                "-days",
                "10",
                "-extfile",
                "san.ext",
                "-out",
                &crt,
            ]);
        }
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "5",
            "-subj",
            "/O=Lab/CN=b.test",
            "-set_serial",
            &format!("0x{B_SERIAL}"),
            "-keyout",
            "b.key",
            "-out",
            "b.crt",
        ]);
        let c = Certs { dir };
        c.join(&["a.crt", "ca.crt", "a.key"], "a.pem");
        c.join(&["new.crt", "ca.crt", "new.key"], "new.pem");
        c.join(&["b.crt", "b.key"], "b.pem");
        Some(c)
    }

    fn join(&self, parts: &[&str], to: &str) {
        let text: String = parts.iter().map(|p| self.read(p)).collect();
        std::fs::write(self.dir.join(to), text).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    /// What `openssl x509` prints after `KEY=` for certificate `name`.
    fn x509(&self, name: &str, what: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", what, "-in"])
            .arg(self.dir.join(name))
            .output()
            .expect("run openssl x509");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        text.split_once('=')
            .map(|(_, v)| v.to_string())
            .unwrap_or(text)
    }
}

/// A splicer (or HAProxy) whose frontend `fe` serves `a.pem` then `b.pem`
/// in front of an echo server, with its stats sockets.
struct Lab {
    api: Api,
    fe: SocketAddr,
    _echo: Backend,
}

impl Lab {
    fn start(c: &Certs, extra_binds: &str) -> Lab {
        Self::start_on(c, "127.0.0.1:0", extra_binds)
    }

    /// With the first bind on `addr`.
    fn start_on(c: &Certs, addr: &str, extra_binds: &str) -> Lab {
        let echo = Backend::echo();
        let rest = format!(
            "frontend fe\n    bind {addr} ssl crt {} crt {}\n{extra_binds}    default_backend be\n\
             backend be\n    server echo {}\n",
            c.path("a.pem"),
            c.path("b.pem"),
            echo.addr
        );
        let api = Api::start("", &rest, &["fe"]);
        let fe = api.sp.addr("fe");
        Lab {
            api,
            fe,
            _echo: echo,
        }
    }

    fn ask(&self, request: &str) -> String {
        self.api.ask(request)
    }
}

/// Accepts any server certificate: the tests look at which one came. Keeps
/// the last OCSP response stapled.
#[derive(Debug, Default)]
struct AnyCert {
    stapled: std::sync::Mutex<Vec<u8>>,
}

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        ocsp: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.stapled.lock().unwrap() = ocsp.to_vec();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PKCS1_SHA384,
        ]
    }
}

fn client_config() -> Arc<rustls::ClientConfig> {
    client_config_with(Arc::new(AnyCert::default()))
}

fn client_config_with(verifier: Arc<AnyCert>) -> Arc<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Every handshake a full one: a resumed session shows no certificate.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// A TLS session to `at`, for SNI `a.test`, once its handshake is done.
struct Session {
    conn: rustls::ClientConnection,
    sock: TcpStream,
}

impl Session {
    fn open(at: SocketAddr, cfg: &Arc<rustls::ClientConfig>) -> Result<Session, String> {
        let mut sock =
            TcpStream::connect_timeout(&at, LIMIT).map_err(|e| format!("connect: {e}"))?;
        sock.set_read_timeout(Some(LIMIT)).unwrap();
        sock.set_write_timeout(Some(LIMIT)).unwrap();
        let name = ServerName::try_from("a.test").unwrap();
        let mut conn =
            rustls::ClientConnection::new(cfg.clone(), name).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)
                .map_err(|e| format!("handshake: {e}"))?;
        }
        Ok(Session { conn, sock })
    }

    /// The serial number of the certificate the server showed, in hex.
    fn serial(&self) -> String {
        let der = &self.conn.peer_certificates().expect("a certificate")[0];
        let (_, cert) = x509_parser::parse_x509_certificate(der).expect("a certificate");
        cert.tbs_certificate
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// Bytes through the session and back from the echo server.
    fn echo(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut tls = rustls::Stream::new(&mut self.conn, &mut self.sock);
        tls.write_all(bytes).map_err(|e| format!("write: {e}"))?;
        tls.flush().map_err(|e| format!("flush: {e}"))?;
        let mut back = vec![0u8; bytes.len()];
        tls.read_exact(&mut back)
            .map_err(|e| format!("read: {e}"))?;
        (back == bytes)
            .then_some(())
            .ok_or_else(|| "echo differs".to_string())
    }
}

/// One fresh handshake and a round trip: the serial the server showed.
fn handshake(at: SocketAddr, cfg: &Arc<rustls::ClientConfig>) -> Result<String, String> {
    let mut s = Session::open(at, cfg)?;
    s.echo(b"ping")?;
    Ok(s.serial())
}

/// `request` on a UNIX socket, then the socket half-closed, and the whole
/// answer; unlike `Api::ask`, `request` is sent as it is.
fn ask_raw(path: &Path, request: &str) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn show_lists_and_describes_the_certificates() {
    let Some(c) = Certs::make("show") else { return };
    let lab = Lab::start(&c, "");
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    assert_eq!(
        lab.ask("show ssl cert"),
        format!("# filename\n{a}\n{b}\n\n")
    );
    let want = format!(
        "Filename: {a}\nStatus: Used\nSerial: {A_SERIAL}\nnotBefore: {}\nnotAfter: {}\n\
         Subject Alternative Name: DNS:a.test\nAlgorithm: EC256\nSHA1 FingerPrint: {}\n\
         Subject: /CN=a.test\nIssuer: /C=FR/O=Lab/CN=Lab CA\n\
         Chain Subject: /C=FR/O=Lab/CN=Lab CA\nChain Issuer: /C=FR/O=Lab/CN=Lab CA\n\
         OCSP Response Key: \n\n",
        c.x509("a.crt", "-startdate"),
        c.x509("a.crt", "-enddate"),
        c.x509("a.crt", "-fingerprint").replace(':', ""),
    );
    assert_eq!(lab.ask(&format!("show ssl cert {a}")), want);
    let rsa = lab.ask(&format!("show ssl cert {b}"));
    assert!(rsa.contains(&format!("\nSerial: {B_SERIAL}\n")), "{rsa}");
    assert!(rsa.contains("\nAlgorithm: RSA2048\n"), "{rsa}");
    assert_eq!(
        lab.ask("show ssl cert /nowhere.pem"),
        "Can't display the certificate: Not found or the certificate is a bundle!\n\n"
    );
    assert_eq!(
        ask_raw(&lab.api.sock("user"), "show ssl cert\n"),
        "Can't allocate memory!\n\n",
        "HAProxy's answer below the operator level"
    );
    assert_eq!(
        ask_raw(
            &lab.api.sock("oper"),
            &format!("set ssl cert {a} <<\nx\n\n")
        ),
        "Permission denied\n\n"
    );
    // A bind with `crt` files only has no crt-list.
    assert_eq!(lab.ask("show ssl crt-list"), "\n");
}

#[test]
fn crt_lists_and_directories_show_as_haproxy_dumps_them() {
    let Some(c) = Certs::make("crtlist") else {
        return;
    };
    std::fs::create_dir_all(c.dir.join("d")).unwrap();
    std::fs::copy(c.dir.join("b.pem"), c.dir.join("d/b.pem")).unwrap();
    std::fs::copy(c.dir.join("new.pem"), c.dir.join("d/new.pem")).unwrap();
    let (a, b, list, d) = (
        c.path("a.pem"),
        c.path("b.pem"),
        c.path("list"),
        c.path("d"),
    );
    std::fs::write(
        c.dir.join("list"),
        format!("{a} [ssl-min-ver TLSv1.2 alpn h2 verify none] a.test\n\n{b}\n"),
    )
    .unwrap();
    let lab = Lab::start(
        &c,
        &format!("    bind 127.0.0.1:0 ssl crt-list {list} crt {d}/\n"),
    );
    assert_eq!(lab.ask("show ssl crt-list"), format!("{d}\n{list}\n\n"));
    // HAProxy prints the NUL that ends its ALPN list.
    assert_eq!(
        lab.ask(&format!("show ssl crt-list -n {list}")),
        format!("# {list}\n{a}:1 [alpn h2\0 verify none ssl-min-ver TLSv1.2] a.test\n{b}:3\n\n")
    );
    assert_eq!(
        lab.ask(&format!("show ssl crt-list {d}/")),
        format!("# {d}\n{d}/b.pem\n{d}/new.pem\n\n")
    );
    assert_eq!(
        lab.ask("show ssl crt-list nowhere"),
        "didn't find the specified filename\n\n"
    );
    // a.pem: its `crt`, and its crt-list line: a dot for each.
    lab.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.pem")));
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!("Committing {a}..\nSuccess!\n\n")
    );
}

#[test]
fn commit_under_fresh_handshakes_loses_none() {
    let Some(c) = Certs::make("commit") else {
        return;
    };
    let lab = Lab::start(&c, "");
    let a = c.path("a.pem");
    let cfg = client_config();
    assert_eq!(handshake(lab.fe, &cfg).unwrap(), A_SERIAL);
    // A session up before the change keeps going after it.
    let mut before = Session::open(lab.fe, &cfg).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let fe = lab.fe;
    let client = {
        let (stop, done, cfg) = (stop.clone(), done.clone(), cfg.clone());
        thread::spawn(move || {
            // (when it started, when it ended, the serial or the failure)
            let mut seen: Vec<(Instant, Instant, Result<String, String>)> = Vec::new();
            while !stop.load(Ordering::Relaxed) && seen.len() < 400 {
                let start = Instant::now();
                let got = handshake(fe, &cfg);
                seen.push((start, Instant::now(), got));
                done.fetch_add(1, Ordering::Relaxed);
            }
            seen
        })
    };
    let wait_done = |n: usize| {
        wait_for("handshakes", LIMIT, || done.load(Ordering::Relaxed) >= n);
    };
    wait_done(50);
    assert_eq!(
        lab.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.pem"))),
        format!("Transaction created for certificate {a}!\n\n")
    );
    let listed = lab.ask("show ssl cert");
    assert!(
        listed.starts_with(&format!("# transaction\n*{a}\n# filename\n")),
        "{listed}"
    );
    let pending = lab.ask(&format!("show ssl cert *{a}"));
    assert!(
        pending.starts_with(&format!(
            "Filename: *{a}\nStatus: Unused\nSerial: {NEW_SERIAL}\n"
        )),
        "{pending}"
    );
    let from = done.load(Ordering::Relaxed);
    wait_done(from + 20);
    let committing = Instant::now();
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!("Committing {a}.\nSuccess!\n\n")
    );
    let committed = Instant::now();
    let from = done.load(Ordering::Relaxed);
    wait_done(from + 50);
    stop.store(true, Ordering::Relaxed);
    let seen = client.join().unwrap();

    let failures: Vec<&String> = seen
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} handshakes failed: {failures:?}",
        failures.len(),
        seen.len()
    );
    // A handshake in flight during the commit may see either.
    for (start, end, serial) in &seen {
        let serial = serial.as_ref().unwrap();
        if *end < committing {
            assert_eq!(serial, A_SERIAL, "before the commit");
        } else if *start > committed {
            assert_eq!(serial, NEW_SERIAL, "after the commit");
        }
    }
    assert!(seen.len() >= 120, "{} handshakes", seen.len());
    assert_eq!(before.serial(), A_SERIAL);
    before.echo(b"still here").unwrap();
    let shown = lab.ask(&format!("show ssl cert {a}"));
    assert!(
        shown.contains(&format!("\nSerial: {NEW_SERIAL}\n"))
            && shown.contains("\nSubject: /CN=a.test/O=Renewed\n"),
        "{shown}"
    );
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!("No ongoing transaction! !\nCan't commit {a}!\n\n")
    );
}

#[test]
fn abort_and_refusals_keep_the_old_certificate() {
    let Some(c) = Certs::make("abort") else {
        return;
    };
    let lab = Lab::start(&c, "");
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    let cfg = client_config();
    let answers = [
        (
            format!("set ssl cert {a} <<\nhello\n"),
            format!(
                "unable to load certificate from file '{a}'.\nCan't load the payload\nCan't update {a}!\n\n"
            ),
        ),
        (
            format!("set ssl cert {a}"),
            "'set ssl cert expects a filename and a certificate as a payload\n\n".to_string(),
        ),
        (
            format!("set ssl cert {a}<<\n{}", c.read("new.pem")),
            "'set ssl cert expects a filename and a certificate as a payload\n\n".to_string(),
        ),
        (
            format!(
                "set ssl cert {}/nowhere.pem <<\n{}",
                c.dir.display(),
                c.read("new.pem")
            ),
            format!(
                "Can't replace a certificate which is not referenced by the configuration!\nCan't update {}/nowhere.pem!\n\n",
                c.dir.display()
            ),
        ),
        (
            format!("abort ssl cert {a}"),
            "No ongoing transaction!\n\n".to_string(),
        ),
    ];
    for (request, want) in &answers {
        assert_eq!(&lab.ask(request), want, "{request}");
        assert_eq!(
            lab.ask("show ssl cert"),
            format!("# filename\n{a}\n{b}\n\n")
        );
    }
    assert_eq!(
        lab.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.pem"))),
        format!("Transaction created for certificate {a}!\n\n")
    );
    assert_eq!(
        lab.ask(&format!("abort ssl cert {b}")),
        format!(
            "The ongoing transaction is about '{a}' but you are trying to abort a transaction for '{b}'\n\n"
        )
    );
    assert_eq!(
        lab.ask(&format!("abort ssl cert {a}")),
        format!("Transaction aborted for certificate '{a}'!\n\n")
    );
    assert_eq!(
        lab.ask("show ssl cert"),
        format!("# filename\n{a}\n{b}\n\n")
    );
    assert_eq!(handshake(lab.fe, &cfg).unwrap(), A_SERIAL);
}

#[test]
fn a_key_comes_apart_and_must_match() {
    let Some(c) = Certs::make("key") else { return };
    let lab = Lab::start(&c, "");
    let a = c.path("a.pem");
    let cfg = client_config();
    assert_eq!(
        lab.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.crt"))),
        format!("Transaction created for certificate {a}!\n\n")
    );
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!(
            "The transaction must contain at least a certificate and a private key!\nCan't commit {a}!\n\n"
        )
    );
    assert_eq!(
        lab.ask(&format!("set ssl cert {a}.key <<\n{}", c.read("a.key"))),
        format!("Transaction updated for certificate {a}!\n\n")
    );
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!(
            "inconsistencies between private key and certificate loaded '{a}'.\nCan't commit {a}!\n\n"
        )
    );
    assert_eq!(handshake(lab.fe, &cfg).unwrap(), A_SERIAL);
    assert_eq!(
        lab.ask(&format!("set ssl cert {a}.key <<\n{}", c.read("new.key"))),
        format!("Transaction updated for certificate {a}!\n\n")
    );
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!("Committing {a}.\nSuccess!\n\n")
    );
    assert_eq!(handshake(lab.fe, &cfg).unwrap(), NEW_SERIAL);
}

#[test]
fn one_transaction_at_a_time() {
    let Some(c) = Certs::make("busy") else { return };
    let lab = Lab::start(&c, "");
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    lab.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.pem")));
    assert_eq!(
        lab.ask(&format!("commit ssl cert {b}")),
        format!(
            "The ongoing transaction is about '{a}' but you are trying to set '{b}'\nCan't commit {b}!\n\n"
        )
    );
    let other = lab.ask(&format!("set ssl cert {b} <<\n{}", c.read("b.pem")));
    if haproxy::enabled() {
        // HAProxy 2.6.12 puts b.pem's payload into a.pem's transaction
        // ("BUG/MINOR: ssl/cli: 'set ssl cert' does not check the
        // transaction name correctly", fixed in 3.1 and backported);
        // splicer answers as the fixed versions do.
        assert_eq!(
            other,
            format!("Transaction updated for certificate {a}!\n\n")
        );
        return;
    }
    assert_eq!(
        other,
        format!(
            "The ongoing transaction is about '{a}' but you are trying to set '{b}'\nCan't update {b}!\n\n"
        )
    );
    let t = lab.ask(&format!("show ssl cert *{a}"));
    assert!(t.contains("/CN=a.test/O=Renewed"), "unchanged: {t}");
}

#[test]
fn payloads_in_prompt_mode_are_asked_for_line_by_line() {
    let Some(c) = Certs::make("prompt") else {
        return;
    };
    let lab = Lab::start(&c, "");
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    let three: String = c
        .read("new.crt")
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    let got = ask_raw(
        &lab.api.sock("admin"),
        &format!("prompt\nset ssl cert {a} <<\n{three}\nshow ssl cert\n"),
    );
    assert_eq!(
        got,
        format!(
            "\n> + + + + unable to load certificate from file '{a}'.\nCan't load the payload\nCan't update {a}!\n\n> # filename\n{a}\n{b}\n\n> "
        )
    );
    // After a ';' the rest of the line is the payload's first line; the
    // commands after the payload's end run too.
    let got = ask_raw(
        &lab.api.sock("admin"),
        "show ssl cert <<; show info\nxx\n\nshow ssl cert\n",
    );
    let list = format!("# filename\n{a}\n{b}\n\n");
    assert_eq!(got, format!("{list}{list}"));
    // A payload without its empty line is not run.
    let got = ask_raw(
        &lab.api.sock("admin"),
        &format!("set ssl cert {a} <<\n{}", c.read("new.pem")),
    );
    assert_eq!(got, "");
    assert_eq!(lab.ask("show ssl cert"), list);
}

#[test]
fn a_reload_reads_the_files_again() {
    if haproxy::enabled() {
        // HAProxy reloads through its master process; the harness runs it
        // in the foreground without one. A reload is a new process there:
        // the files are read again too.
        return;
    }
    let Some(c) = Certs::make("reload") else {
        return;
    };
    // A fixed port: a reload binds `:0` anew.
    let lab = Lab::start_on(&c, &format!("127.0.0.1:{}", free_port()), "");
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    let cfg = client_config();
    lab.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.pem")));
    lab.ask(&format!("commit ssl cert {a}"));
    assert_eq!(handshake(lab.fe, &cfg).unwrap(), NEW_SERIAL);
    lab.ask(&format!("set ssl cert {b} <<\n{}", c.read("b.pem")));
    assert!(lab.ask("show ssl cert").starts_with("# transaction\n"));
    lab.api.sp.signal("HUP");
    lab.api
        .sp
        .wait_log_count(&["configuration reloaded"], 1, LIMIT);
    // The committed change was in memory only, as in HAProxy; the open
    // transaction is gone with the old config.
    assert_eq!(
        lab.ask("show ssl cert"),
        format!("# filename\n{a}\n{b}\n\n")
    );
    let deadline = Instant::now() + LIMIT;
    loop {
        match handshake(lab.fe, &cfg) {
            Ok(s) if s == A_SERIAL => break,
            other => assert!(Instant::now() < deadline, "still {other:?}"),
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_client_certificate_is_one_of_them() {
    let Some(c) = Certs::make("server") else {
        return;
    };
    let echo = Backend::echo();
    let (a, b) = (c.path("a.pem"), c.path("b.pem"));
    // Two servers show b.pem to their (never reached) TLS servers.
    let rest = format!(
        "frontend fe\n    bind 127.0.0.1:0 ssl crt {a}\n    default_backend be\n\
         backend be\n    server s1 {e} ssl verify none crt {b}\n    server s2 {e} ssl verify none crt {b}\n",
        e = echo.addr
    );
    let api = Api::start("", &rest, &["fe"]);
    assert_eq!(
        api.ask("show ssl cert"),
        format!("# filename\n{a}\n{b}\n\n")
    );
    let shown = api.ask(&format!("show ssl cert {b}"));
    assert!(
        shown.starts_with(&format!(
            "Filename: {b}\nStatus: Used\nSerial: {B_SERIAL}\n"
        )),
        "{shown}"
    );
    assert_eq!(
        api.ask(&format!("set ssl cert {b} <<\n{}", c.read("new.pem"))),
        format!("Transaction created for certificate {b}!\n\n")
    );
    assert_eq!(
        api.ask(&format!("commit ssl cert {b}")),
        format!("Committing {b}..\nSuccess!\n\n")
    );
    let shown = api.ask(&format!("show ssl cert {b}"));
    assert!(
        shown.contains(&format!("\nSerial: {NEW_SERIAL}\n")),
        "{shown}"
    );
}

/// What `openssl s_server -www` says of the client certificate splicer
/// (or HAProxy) showed it on a new connection through `fe`: the page's
/// `Subject:` line.
fn client_subject(fe: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&fe, LIMIT).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut page = Vec::new();
    let _ = s.read_to_end(&mut page);
    let page = String::from_utf8_lossy(&page);
    let client = page
        .split_once("Client certificate")
        .map(|(_, c)| c)
        .ok_or_else(|| format!("no client certificate in {page:?}"))?;
    client
        .lines()
        .find_map(|l| l.trim().strip_prefix("Subject: "))
        .map(str::to_string)
        .ok_or_else(|| format!("no subject in {client:?}"))
}

#[test]
fn a_committed_client_certificate_goes_to_the_next_connections() {
    let Some(c) = Certs::make("client") else {
        return;
    };
    let openssl = find_tool("openssl").unwrap();
    let port = free_port();
    // A TLS server asking for a client certificate by the lab's CA.
    let _server = ChildGuard::spawn(
        "openssl s_server",
        Command::new(openssl)
            .args(["s_server", "-www", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", "b.crt", "-key", "b.key", "-Verify", "1"])
            .args(["-CAfile", "ca.crt"])
            .current_dir(&c.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for("openssl s_server", LIMIT, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let a = c.path("a.pem");
    let rest = format!(
        "frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    server s 127.0.0.1:{port} ssl verify none crt {a}\n"
    );
    let api = Api::start("", &rest, &["fe"]);
    let fe = api.sp.addr("fe");
    // Twice: the second connection resumes the first one's session.
    for _ in 0..2 {
        assert_eq!(client_subject(fe).unwrap(), "CN=a.test");
    }
    api.ask(&format!("set ssl cert {a} <<\n{}", c.read("new.pem")));
    assert_eq!(
        api.ask(&format!("commit ssl cert {a}")),
        format!("Committing {a}.\nSuccess!\n\n")
    );
    // The sessions to resume went with the old certificate: the next
    // connection shows the new one.
    for _ in 0..2 {
        assert_eq!(client_subject(fe).unwrap(), "CN=a.test, O=Renewed");
    }
}

#[test]
fn an_ocsp_response_set_apart_is_stapled_after_the_commit() {
    let Some(c) = Certs::make("ocsp") else { return };
    let openssl = find_tool("openssl").unwrap();
    let run = |args: &[&str]| {
        let st = Command::new(&openssl)
            .args(args)
            .current_dir(&c.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "openssl {args:?}");
    };
    // The CA says a.crt is good.
    std::fs::write(
        c.dir.join("index.txt"),
        format!("V\t301231235959Z\t\t{A_SERIAL}\tunknown\t/CN=a.test\n"),
    )
    .unwrap();
    run(&[
        "ocsp",
        "-issuer",
        "ca.crt",
        "-cert",
        "a.crt",
        "-no_nonce",
        "-reqout",
        "req.der",
    ]);
    run(&[
        "ocsp",
        "-index",
        "index.txt",
        "-CA",
        "ca.crt",
        "-rsigner",
        "ca.crt",
        "-rkey",
        "ca.key",
        "-reqin",
        "req.der",
        "-respout",
        "resp.der",
        "-ndays",
        "2",
    ]);
    let der = std::fs::read(c.dir.join("resp.der")).unwrap();
    let base64 = Command::new("base64")
        .args(["-w", "64"])
        .arg(c.dir.join("resp.der"))
        .output()
        .unwrap();
    let base64 = String::from_utf8(base64.stdout).unwrap();

    let lab = Lab::start(&c, "");
    let a = c.path("a.pem");
    assert_eq!(
        lab.ask(&format!("set ssl cert {a}.ocsp <<\n{base64}")),
        format!("Transaction created for certificate {a}!\n\n")
    );
    // The key is the response's CertID, as encoded in it.
    let shown = lab.ask(&format!("show ssl cert *{a}"));
    let key = shown
        .lines()
        .find_map(|l| l.strip_prefix("OCSP Response Key: "))
        .unwrap_or_default()
        .to_string();
    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
    assert!(key.starts_with("30") && hex.contains(&key), "{shown}");
    assert!(
        key.ends_with(&format!("0202{A_SERIAL}")),
        "its serial: {key}"
    );
    let verifier = Arc::new(AnyCert::default());
    let cfg = client_config_with(verifier.clone());
    handshake(lab.fe, &cfg).unwrap();
    assert!(verifier.stapled.lock().unwrap().is_empty(), "none yet");
    assert_eq!(
        lab.ask(&format!("commit ssl cert {a}")),
        format!("Committing {a}.\nSuccess!\n\n")
    );
    assert!(
        lab.ask(&format!("show ssl cert {a}"))
            .contains(&format!("\nOCSP Response Key: {key}\n"))
    );
    handshake(lab.fe, &cfg).unwrap();
    assert_eq!(*verifier.stapled.lock().unwrap(), der, "stapled as given");
}
