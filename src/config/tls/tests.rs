//! Options, drafts and the versions they resolve to.

use super::*;
use TlsVersion::*;

fn draft(place: Place, words: &str) -> (Draft, Vec<String>) {
    let global = TlsGlobal {
        ca_base: Some("/etc/ca".into()),
        ..TlsGlobal::default()
    };
    let mut cx = Ctx {
        global: &global,
        place,
        warnings: Vec::new(),
    };
    let mut d = Draft::default();
    let words: Vec<&str> = words.split_whitespace().collect();
    let mut i = 0;
    let mut errors = Vec::new();
    while i < words.len() {
        match option(&mut d, words[i], words.get(i + 1).copied(), &mut cx) {
            Some(Outcome::Done(n)) => i += n,
            Some(Outcome::Failed(n, e)) => {
                errors.push(format!("E: '{}': {e}", words[i]));
                i += n;
            }
            Some(Outcome::Missing) => {
                errors.push(format!("E: '{}' expects an argument", words[i]));
                i += 1;
            }
            None => {
                errors.push(format!("E: '{}' is no option here", words[i]));
                i += 1;
            }
        }
    }
    errors.extend(cx.warnings.into_iter().map(|w| format!("W: {w}")));
    (d, errors)
}

/// The versions a bind line comes to, checked against what `haproxy -c`
/// (2.6.12, OpenSSL 3.0) makes of the same line, where rustls can
/// follow.
#[test]
fn versions_as_haproxy_resolves_them() {
    type Case = (
        &'static str,
        Option<TlsVersion>,
        Result<(TlsVersion, TlsVersion), Issue>,
        bool,
    );
    let cases: &[Case] = &[
        ("", Some(Tls12), Ok((Tls12, Tls13)), false),
        (
            "ssl-min-ver TLSv1.3",
            Some(Tls12),
            Ok((Tls13, Tls13)),
            false,
        ),
        (
            "ssl-max-ver TLSv1.2",
            Some(Tls12),
            Ok((Tls12, Tls12)),
            false,
        ),
        ("force-tlsv12", Some(Tls12), Ok((Tls12, Tls12)), false),
        ("force-tlsv13", None, Ok((Tls13, Tls13)), false),
        ("no-tlsv13", Some(Tls12), Ok((Tls12, Tls12)), false),
        ("no-tlsv12", Some(Tls12), Ok((Tls13, Tls13)), false),
        (
            "no-sslv3 no-tlsv10 no-tlsv11",
            None,
            Ok((Tls12, Tls13)),
            false,
        ),
        // Clamped: asked below what rustls speaks (warned when read).
        (
            "ssl-min-ver TLSv1.0",
            Some(Tls12),
            Ok((Tls12, Tls13)),
            false,
        ),
        // haproxy -c: "no-sslv3/no-tlsv1x are ignored for bind".
        (
            "no-tlsv12 ssl-min-ver TLSv1.2",
            Some(Tls12),
            Ok((Tls12, Tls13)),
            true,
        ),
        // haproxy -c: "all SSL/TLS versions are disabled for bind".
        (
            "no-tlsv12 no-tlsv13",
            Some(Tls12),
            Err(Issue::AllDisabled),
            false,
        ),
        (
            "force-tlsv12 ssl-min-ver TLSv1.3",
            Some(Tls12),
            Err(Issue::AllDisabled),
            false,
        ),
        (
            "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2",
            Some(Tls12),
            Err(Issue::AllDisabled),
            false,
        ),
        // A server: TLS 1.0 and 1.1 would be left, rustls has neither.
        ("no-tlsv12 no-tlsv13", None, Err(Issue::BelowFloor), false),
    ];
    for (words, default_min, want, ignored) in cases {
        let (d, errors) = draft(Place::Bind, words);
        assert!(
            errors.iter().all(|e| e.starts_with("W:")),
            "{words}: {errors:?}"
        );
        let mut notes = Vec::new();
        let got = d.versions.resolve(*default_min, &mut notes);
        assert_eq!(&got, want, "{words}");
        assert_eq!(notes.contains(&Issue::FlagsIgnored), *ignored, "{words}");
    }
}

#[test]
fn options_report_problems() {
    let cases: &[(Place, &str, &str)] = &[
        (
            Place::Bind,
            "verify maybe",
            "E: 'verify': unknown verify method 'maybe', only 'none', 'optional', and 'required' are supported",
        ),
        (
            Place::Server,
            "verify optional",
            "E: 'verify': unknown verify method 'optional', only 'none' and 'required' are supported",
        ),
        (
            Place::Bind,
            "ssl-min-ver TLSv1.4",
            "E: 'ssl-min-ver': 'TLSv1.4' : unknown ssl/tls version",
        ),
        (
            Place::Bind,
            "ssl-max-ver TLSv1.1",
            "E: 'ssl-max-ver': 'TLSv1.1': rustls speaks TLSv1.2 and TLSv1.3 only",
        ),
        (
            Place::Server,
            "force-tlsv10",
            "E: 'force-tlsv10': rustls speaks TLSv1.2 and TLSv1.3 only",
        ),
        (
            Place::Bind,
            "ssl-min-ver SSLv3",
            "W: 'ssl-min-ver SSLv3': rustls speaks TLSv1.2 and TLSv1.3 only; the minimum is TLSv1.2",
        ),
        (
            Place::Bind,
            "ciphers FOO",
            "E: 'ciphers': 'FOO' leaves no TLS 1.2 cipher suite rustls implements",
        ),
        (
            Place::Bind,
            "ciphers HIGH:AES128-SHA",
            "W: 'ciphers': 'AES128-SHA' has no equivalent in rustls; ignored",
        ),
        (Place::Bind, "alpn", "E: 'alpn' expects an argument"),
        (
            Place::Bind,
            "alpn h2,,http/1.1",
            "W: 'alpn': empty protocol name in 'h2,,http/1.1' ignored",
        ),
        (
            Place::Bind,
            "npn h2",
            "W: 'npn' ignored: rustls has no NPN (use 'alpn')",
        ),
        (
            Place::CrtList,
            "allow-0rtt",
            "W: 'allow-0rtt' ignored: 0-RTT is not offered",
        ),
        (
            Place::Bind,
            "no-ca-names",
            "E: 'no-ca-names': not supported yet",
        ),
        (
            Place::Server,
            "curves X25519",
            "E: 'curves' is no option here",
        ),
        (
            Place::CrtList,
            "no-tlsv12",
            "E: 'no-tlsv12' is no option here",
        ),
        (
            Place::Server,
            "prefer-client-ciphers",
            "E: 'prefer-client-ciphers' is no option here",
        ),
    ];
    for (place, words, want) in cases {
        let (_, errors) = draft(*place, words);
        assert_eq!(
            errors.first().map(String::as_str),
            Some(*want),
            "{words}: {errors:?}"
        );
    }
}

#[test]
fn options_fill_the_draft() {
    let (d, errors) = draft(
        Place::Bind,
        "ca-file ca.pem crl-file /abs/crl.pem verify optional alpn h2,http/1.1 \
         ciphers ECDHE+AESGCM:!aRSA ciphersuites TLS_AES_256_GCM_SHA384 ecdhe prime256v1 \
         no-tls-tickets prefer-client-ciphers",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let s = d
        .resolve(Some(Tls12), Verify::None, &mut Vec::new())
        .unwrap();
    assert_eq!(s.ca_file, Some(PathBuf::from("/etc/ca/ca.pem")));
    assert_eq!(s.crl_file, Some(PathBuf::from("/abs/crl.pem")));
    assert_eq!(s.verify, Verify::Optional);
    assert_eq!(s.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(
        s.ciphers,
        Some(vec![Suite::EcdheEcdsaAes256Gcm, Suite::EcdheEcdsaAes128Gcm])
    );
    assert_eq!(s.ciphersuites, Some(vec![Suite::Tls13Aes256Gcm]));
    assert_eq!(s.curves, Some(vec![Group::P256]));
    assert!(s.no_tickets && s.prefer_client_ciphers);
    let (d, _) = draft(Place::Bind, "ca-file @system-ca curves X25519 ecdhe P-384");
    let s = d
        .resolve(Some(Tls12), Verify::None, &mut Vec::new())
        .unwrap();
    assert_eq!(s.ca_file, Some(PathBuf::from(SYSTEM_CA)));
    // `curves` over `ecdhe`, as in HAProxy.
    assert_eq!(s.curves, Some(vec![Group::X25519]));
}

#[test]
fn a_line_over_its_defaults() {
    let (global, _) = draft(
        Place::Bind,
        "ciphers AES256 no-tlsv10 ssl-max-ver TLSv1.2 no-tls-tickets",
    );
    let (line, _) = draft(Place::Server, "ciphers CHACHA20 no-tlsv11 tls-tickets");
    let d = line.over(&global);
    assert_eq!(d.versions.no, 0b110);
    assert_eq!(d.versions.max, Some(Tls12));
    assert_eq!(d.no_tickets, Some(false));
    assert_eq!(
        d.ciphers,
        Some(Ok(vec![Suite::EcdheEcdsaChacha20, Suite::EcdheRsaChacha20]))
    );
    // A global default that read nothing is an error where it is used.
    let bad = Draft {
        ciphers: Some(Err(
            "'ssl-default-server-ciphers' at g.cfg:2: 'FOO' ...".into()
        )),
        ..Draft::default()
    };
    let got = Draft::default()
        .over(&bad)
        .resolve(None, Verify::None, &mut Vec::new());
    assert!(matches!(got, Err(Issue::Global(e)) if e.contains("g.cfg:2")));
}
