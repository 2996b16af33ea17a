//! Certificates over the runtime API: `show ssl cert` (the list, and one
//! file's details), `show ssl crt-list`, and renewal in place with
//! `set ssl cert FILE <<` + `commit ssl cert` (or `abort ssl cert`) while
//! clients keep handshaking. The answers are HAProxy 2.6's, word for word
//! where a script would read them; every expectation was checked against
//! it (`SPLICER_TEST_BIN=haproxy`).

use std::time::Duration;

use crate::common::certs::{self, CA_SUBJECT, Ca, Issued, Key, Leaf, Pki};
use crate::common::tls_peer::TlsClient;
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// A proxy with the admin sockets, serving `crt` on one TLS bind.
fn serving(crt: &Issued, echo: &Backend) -> Api {
    let rest = format!(
        "listen fe\n    bind 127.0.0.1:0 ssl crt {}\n    server s1 {}\n",
        crt.pem.display(),
        echo.addr
    );
    Api::start("", &rest, &["fe"])
}

/// A renewed `a.test` certificate (same names, new key and serial).
fn renewed(pki: &Pki) -> Issued {
    let leaf = Leaf {
        subject: "/CN=a.test",
        dns: &["a.test"],
        key: Key::Ec,
        ca: Ca::Main,
    };
    pki.issue(&scratch_dir("renew"), "a.test.renewed", &leaf)
}

/// `set ssl cert FILE <<` with `pem`'s text as the payload (the empty line
/// that ends a payload comes from `ask`'s final newline).
fn set_cert(api: &Api, file: &Issued, pem: &str) -> String {
    assert!(!pem.contains("\n\n"), "an empty line would end the payload");
    api.ask(&format!("set ssl cert {} <<\n{pem}", file.pem.display()))
}

/// The serial of the certificate a fresh handshake gets.
fn served_serial(api: &Api, pki: &Pki) -> String {
    let r = TlsClient::new(api.sp.addr("fe"))
        .sni("a.test")
        .ca(&pki.ca)
        .send("ping")
        .run();
    r.expect_ok("a handshake");
    r.get("serial").unwrap().to_string()
}

/// `show ssl cert` lists every certificate file the binds loaded (a `crt`
/// file and the lines of a crt-list); `show ssl cert FILE` details one;
/// `show ssl crt-list` lists the crt-lists and, given one, its lines.
#[test]
fn show_ssl_cert_and_crt_list_describe_what_is_loaded() {
    let Some(pki) = certs::require("show_ssl_cert_and_crt_list_describe_what_is_loaded") else {
        return;
    };
    let list = scratch_dir("showcrt").join("list.txt");
    std::fs::write(
        &list,
        format!(
            "{}\n{} [alpn h2] a.test\n{} foo.test !bar.b.test\n",
            pki.default.pem.display(),
            pki.a_rsa.pem.display(),
            pki.wildcard.pem.display()
        ),
    )
    .unwrap();
    let echo = Backend::echo();
    let rest = format!(
        "frontend fe\n    bind 127.0.0.1:0 ssl crt {}\n    bind 127.0.0.1:0 ssl crt-list {}\n\
         \x20   default_backend be\nbackend be\n    server s1 {}\n",
        pki.a_ecdsa.pem.display(),
        list.display(),
        echo.addr
    );
    let api = Api::start("", &rest, &["fe"]);

    let all = api.ask("show ssl cert");
    let mut lines: Vec<&str> = all.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.first(), Some(&"# filename"), "{all}");
    lines.remove(0);
    lines.sort();
    let mut want: Vec<String> = [&pki.a_ecdsa, &pki.a_rsa, &pki.default, &pki.wildcard]
        .iter()
        .map(|c| c.pem.display().to_string())
        .collect();
    want.sort();
    assert_eq!(lines, want, "show ssl cert:\n{all}");

    for (cert, algo, san, subject) in [
        (&pki.a_ecdsa, "EC256", "DNS:a.test", "/CN=a.test"),
        (&pki.a_rsa, "RSA2048", "DNS:a.test", "/CN=a.test"),
        (&pki.wildcard, "EC256", "DNS:*.b.test", "/CN=*.b.test"),
    ] {
        let one = api.ask(&format!("show ssl cert {}", cert.pem.display()));
        let fingerprint = pki.x509_field(&cert.cert, "-fingerprint").replace(':', "");
        for want in [
            format!("Filename: {}", cert.pem.display()),
            "Status: Used".to_string(),
            format!("Serial: {}", cert.serial),
            format!("notBefore: {}", pki.x509_field(&cert.cert, "-startdate")),
            format!("notAfter: {}", pki.x509_field(&cert.cert, "-enddate")),
            format!("Subject Alternative Name: {san}"),
            format!("Algorithm: {algo}"),
            format!("SHA1 FingerPrint: {fingerprint}"),
            format!("Subject: {subject}"),
            format!("Issuer: {CA_SUBJECT}"),
            format!("Chain Subject: {CA_SUBJECT}"),
            format!("Chain Issuer: {CA_SUBJECT}"),
        ] {
            assert!(
                one.lines().any(|l| l == want),
                "no line {want:?} in show ssl cert:\n{one}"
            );
        }
    }

    let lists = api.ask("show ssl crt-list");
    assert_eq!(lists.trim_end(), list.display().to_string(), "{lists}");
    // HAProxy 2.6 prints the ALPN of a line with its terminating NUL
    // (`[alpn h2\0]`); splicer does not copy that.
    let (d, r, w) = (
        pki.default.pem.display(),
        pki.a_rsa.pem.display(),
        pki.wildcard.pem.display(),
    );
    let shown = api.ask(&format!("show ssl crt-list {}", list.display()));
    assert_eq!(
        shown.replace('\0', "").trim_end(),
        format!(
            "# {}\n{d}\n{r} [alpn h2] a.test\n{w} foo.test !bar.b.test",
            list.display()
        )
    );
    let numbered = api.ask(&format!("show ssl crt-list -n {}", list.display()));
    assert_eq!(
        numbered.replace('\0', "").trim_end(),
        format!(
            "# {}\n{d}:1\n{r}:2 [alpn h2] a.test\n{w}:3 foo.test !bar.b.test",
            list.display()
        )
    );
}

/// A renewal under load: clients handshake in a loop while the new
/// certificate is set, then committed. No handshake fails; until the
/// commit every client gets the old certificate, and once one gets the
/// new one, every later one does.
#[test]
fn set_and_commit_renew_a_certificate_without_a_failed_handshake() {
    let Some(pki) = certs::require("set_and_commit_renew_a_certificate_without_a_failed_handshake")
    else {
        return;
    };
    let echo = Backend::echo();
    let api = serving(&pki.a_ecdsa, &echo);
    let old = &pki.a_ecdsa.serial;
    let new = renewed(pki);
    let mut clients = TlsClient::new(api.sp.addr("fe"))
        .sni("a.test")
        .ca(&pki.ca)
        .send("ping")
        .spawn_loop();
    clients.wait_count("handshakes before the renewal", 5, LIMIT);

    let pem = std::fs::read_to_string(&new.pem).unwrap();
    let answer = set_cert(&api, &pki.a_ecdsa, &pem);
    let path = pki.a_ecdsa.pem.display();
    assert_eq!(
        answer.trim_end(),
        format!("Transaction created for certificate {path}!")
    );
    let before_commit = clients.reports().len();
    clients.wait_count(
        "handshakes between set and commit",
        before_commit + 3,
        LIMIT,
    );
    assert!(
        clients
            .reports()
            .iter()
            .all(|r| r.get("serial") == Some(old)),
        "a client got the new certificate before the commit"
    );
    let answer = api.ask(&format!("commit ssl cert {path}"));
    assert_eq!(
        answer.trim_end(),
        format!("Committing {path}.\nSuccess!"),
        "commit ssl cert"
    );
    let first_new = clients.wait_report("a handshake with the new certificate", LIMIT, |r| {
        r.get("serial") == Some(&new.serial)
    });
    let at: usize = first_new.get("n").unwrap().parse().unwrap();
    let reports = clients.wait_count("handshakes after the renewal", at + 11, LIMIT);
    clients.stop();
    let failed: Vec<_> = reports.iter().filter(|r| !r.ok()).collect();
    assert!(
        failed.is_empty(),
        "{} handshakes failed: {failed:?}",
        failed.len()
    );
    let stale: Vec<_> = reports[at..]
        .iter()
        .filter(|r| r.get("serial") != Some(&new.serial))
        .collect();
    assert!(stale.is_empty(), "the old certificate came back: {stale:?}");
    assert_eq!(served_serial(&api, pki), new.serial);
    let shown = api.ask(&format!("show ssl cert {path}"));
    assert!(
        shown
            .lines()
            .any(|l| l == format!("Serial: {}", new.serial)),
        "{shown}"
    );
}

/// `abort ssl cert` drops the transaction: the old certificate stays, and
/// there is nothing left to commit. While it is open, `show ssl cert`
/// lists it as `*FILE`, and `show ssl cert *FILE` shows the new one,
/// `Unused`.
#[test]
fn abort_keeps_the_old_certificate() {
    let Some(pki) = certs::require("abort_keeps_the_old_certificate") else {
        return;
    };
    let echo = Backend::echo();
    let api = serving(&pki.a_ecdsa, &echo);
    let new = renewed(pki);
    let path = pki.a_ecdsa.pem.display();
    let pem = std::fs::read_to_string(&new.pem).unwrap();
    set_cert(&api, &pki.a_ecdsa, &pem);
    let again = set_cert(&api, &pki.a_ecdsa, &pem);
    assert_eq!(
        again.trim_end(),
        format!("Transaction updated for certificate {path}!")
    );
    let list = api.ask("show ssl cert");
    assert_eq!(
        list.trim_end(),
        format!("# transaction\n*{path}\n# filename\n{path}")
    );
    let pending = api.ask(&format!("show ssl cert *{path}"));
    for want in [
        format!("Filename: *{path}"),
        "Status: Unused".to_string(),
        format!("Serial: {}", new.serial),
    ] {
        assert!(
            pending.lines().any(|l| l == want),
            "no {want:?} in:\n{pending}"
        );
    }
    assert_eq!(
        served_serial(&api, pki),
        pki.a_ecdsa.serial,
        "before the abort"
    );

    let answer = api.ask(&format!("abort ssl cert {path}"));
    assert_eq!(
        answer.trim_end(),
        format!("Transaction aborted for certificate '{path}'!")
    );
    assert_eq!(
        api.ask("show ssl cert").trim_end(),
        format!("# filename\n{path}")
    );
    assert_eq!(
        served_serial(&api, pki),
        pki.a_ecdsa.serial,
        "after the abort"
    );
    let answer = api.ask(&format!("commit ssl cert {path}"));
    assert!(answer.contains("No ongoing transaction!"), "{answer}");
    assert!(
        answer.contains(&format!("Can't commit {path}!")),
        "{answer}"
    );
}

/// A payload with a certificate but no key is refused at commit, and the
/// old certificate keeps serving; a file no bind uses cannot be set.
#[test]
fn a_renewal_without_its_key_is_refused() {
    let Some(pki) = certs::require("a_renewal_without_its_key_is_refused") else {
        return;
    };
    let echo = Backend::echo();
    let api = serving(&pki.a_ecdsa, &echo);
    let new = renewed(pki);
    let path = pki.a_ecdsa.pem.display();
    let cert_only = std::fs::read_to_string(&new.cert).unwrap();
    let answer = set_cert(&api, &pki.a_ecdsa, &cert_only);
    assert_eq!(
        answer.trim_end(),
        format!("Transaction created for certificate {path}!")
    );
    let answer = api.ask(&format!("commit ssl cert {path}"));
    assert_eq!(
        answer.trim_end(),
        format!(
            "The transaction must contain at least a certificate and a private key!\n\
             Can't commit {path}!"
        )
    );
    api.ask(&format!("abort ssl cert {path}"));
    assert_eq!(served_serial(&api, pki), pki.a_ecdsa.serial);

    let stranger = pki.default.pem.display();
    let pem = std::fs::read_to_string(&new.pem).unwrap();
    let answer = api.ask(&format!("set ssl cert {stranger} <<\n{pem}"));
    assert_eq!(
        answer.trim_end(),
        format!(
            "Can't replace a certificate which is not referenced by the configuration!\n\
             Can't update {stranger}!"
        )
    );
}
