//! TLS in whole configs: `bind ... ssl`, servers with `ssl`, the global
//! defaults under them, the TLS fetches and log variables. Where a
//! judgement (refused or accepted) can be compared, the comment says what
//! `haproxy -c` (2.6.12, OpenSSL 3.0, with real certificate files) says.

use super::{HEAD, errors, ok, warnings};
use crate::config::pattern::MatchMethod;
use crate::config::sample::{self, MapFiles};
use crate::config::*;
use std::path::PathBuf;

struct NoMaps;

impl MapFiles for NoMaps {
    fn map_file(&mut self, _: &str, _: MatchMethod) -> Result<PatternRefId, String> {
        Err("no maps here".into())
    }
}

/// `global` lines, then a listen section `l` with `bind` (line 9 when
/// `global` is one line) and a server line (line 10).
fn config(global: &str, bind: &str, server: &str) -> String {
    format!("global\n{global}\n{HEAD}listen l\n {bind}\n server s 127.0.0.1:443 {server}\n")
}

fn bind_tls(global: &str, bind: &str) -> BindTls {
    let l = ok(&config(global, bind, ""));
    l.config.frontends[0].binds[0]
        .tls
        .clone()
        .expect("a TLS bind")
}

fn server_tls(global: &str, server: &str) -> ServerTls {
    let l = ok(&config(global, "bind :80", server));
    l.config.backends[0].servers[0].tls.clone()
}

#[test]
fn a_tls_bind() {
    let t = bind_tls(
        " crt-base /etc/certs\n ca-base /etc/ca",
        "bind :443 ssl crt site.pem crt /abs/other.pem ca-file clients.pem verify optional \
         alpn h2,http/1.1 ssl-min-ver TLSv1.3 ciphers ECDHE+AESGCM no-tls-tickets strict-sni",
    );
    let paths: Vec<_> = t.certs.iter().map(|c| c.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            PathBuf::from("/etc/certs/site.pem"),
            PathBuf::from("/abs/other.pem")
        ]
    );
    assert!(
        t.certs
            .iter()
            .all(|c| c.list.is_none() && c.location.line == 10)
    );
    let s = &t.settings;
    assert_eq!(s.ca_file, Some(PathBuf::from("/etc/ca/clients.pem")));
    assert_eq!(s.verify, Verify::Optional);
    assert_eq!(s.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(
        (s.min_version, s.max_version),
        (TlsVersion::Tls13, TlsVersion::Tls13)
    );
    assert_eq!(s.ciphers.as_ref().map(Vec::len), Some(4));
    assert!(s.no_tickets && t.strict_sni);
    // Every address of the line gets it.
    let l = ok(&config("", "bind :443,:8443 ssl crt a.pem", ""));
    assert!(l.config.frontends[0].binds.iter().all(|b| b.tls.is_some()));
}

#[test]
fn global_defaults_lie_under_the_bind() {
    let g = " ssl-default-bind-ciphers AES256\n ssl-default-bind-ciphersuites TLS_AES_256_GCM_SHA384\n \
             ssl-default-bind-curves X25519\n ssl-default-bind-options ssl-max-ver TLSv1.2 prefer-client-ciphers";
    let t = bind_tls(g, "bind :443 ssl crt a.pem");
    let s = &t.settings;
    assert_eq!(
        s.ciphers,
        Some(vec![Suite::EcdheEcdsaAes256Gcm, Suite::EcdheRsaAes256Gcm])
    );
    assert_eq!(s.ciphersuites, Some(vec![Suite::Tls13Aes256Gcm]));
    assert_eq!(s.curves, Some(vec![Group::X25519]));
    assert_eq!(
        (s.min_version, s.max_version),
        (TlsVersion::Tls12, TlsVersion::Tls12)
    );
    assert!(s.prefer_client_ciphers);
    // The line's own settings win.
    let t = bind_tls(
        g,
        "bind :443 ssl crt a.pem ciphers CHACHA20 ssl-max-ver TLSv1.3",
    );
    assert_eq!(
        t.settings.ciphers,
        Some(vec![Suite::EcdheEcdsaChacha20, Suite::EcdheRsaChacha20])
    );
    assert_eq!(t.settings.max_version, TlsVersion::Tls13);
    // No `ssl`: the defaults do not make a TLS bind.
    let l = ok(&config(g, "bind :80", ""));
    assert!(l.config.frontends[0].binds[0].tls.is_none());
    // A default read after the proxy does not reach it (HAProxy copies them
    // when it reads `ssl`).
    let text = format!(
        "{HEAD}listen l\n bind :443 ssl crt a.pem\n server s 127.0.0.1:1\nglobal\n ssl-default-bind-ciphers AES128\n"
    );
    let l = ok(&text);
    assert_eq!(
        l.config.frontends[0].binds[0]
            .tls
            .as_ref()
            .unwrap()
            .settings
            .ciphers,
        None
    );
}

#[test]
fn tls_bind_problems() {
    // (description, global, bind line, first error)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl",
            "t.cfg:9: Proxy 'l': no SSL certificate specified for bind ':443' (use 'crt').",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt a.pem verify required",
            "t.cfg:9: Proxy 'l': verify is enabled but no CA file specified for bind ':443'.",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt a.pem ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2",
            "t.cfg:9: Proxy 'l': all SSL/TLS versions are disabled for bind ':443'.",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt a.pem no-tlsv12 no-tlsv13",
            "t.cfg:9: Proxy 'l': all SSL/TLS versions are disabled for bind ':443'.",
        ),
        (
            "haproxy -c: 'TLSv1.4' : unknown ssl/tls version",
            "",
            "bind :443 ssl crt a.pem ssl-min-ver TLSv1.4",
            "t.cfg:9: 'bind :443': 'ssl-min-ver': 'TLSv1.4' : unknown ssl/tls version",
        ),
        (
            "haproxy -c accepts it (OpenSSL speaks TLS 1.1)",
            "",
            "bind :443 ssl crt a.pem ssl-max-ver TLSv1.1",
            "t.cfg:9: 'bind :443': 'ssl-max-ver': 'TLSv1.1': rustls speaks TLSv1.2 and TLSv1.3 only",
        ),
        (
            "haproxy -c accepts it",
            "",
            "bind :443 ssl crt a.pem force-tlsv11",
            "t.cfg:9: 'bind :443': 'force-tlsv11': rustls speaks TLSv1.2 and TLSv1.3 only",
        ),
        (
            "haproxy -c: unable to set SSL cipher list to 'FOO'",
            "",
            "bind :443 ssl crt a.pem ciphers FOO",
            "t.cfg:9: 'bind :443': 'ciphers': 'FOO' leaves no TLS 1.2 cipher suite rustls implements",
        ),
        (
            "haproxy -c accepts it (OpenSSL has the suite); a list that leaves nothing is refused where a bind uses it",
            " ssl-default-bind-ciphers DHE-RSA-AES128-SHA",
            "bind :443 ssl crt a.pem",
            "t.cfg:9: Proxy 'l': bind ':443': 'ssl-default-bind-ciphers' (t.cfg:2): 'DHE-RSA-AES128-SHA' leaves no TLS 1.2 cipher suite rustls implements",
        ),
        (
            "haproxy -c: unable to set SSL curves list",
            "",
            "bind :443 ssl crt a.pem curves FOO:X25519",
            "t.cfg:9: 'bind :443': 'curves': unknown curve 'FOO'",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt a.pem verify maybe",
            "t.cfg:9: 'bind :443': 'verify': unknown verify method 'maybe', only 'none', 'optional', and 'required' are supported",
        ),
        (
            "splicer's own refusal",
            "",
            "bind :443 ssl crt a.pem generate-certificates",
            "t.cfg:9: 'bind :443': 'generate-certificates' is not supported yet",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt",
            "t.cfg:9: 'bind :443': 'crt' : missing certificate location",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt-list /no/such/list.txt",
            "t.cfg:9: 'bind :443': 'crt-list' : cannot open file '/no/such/list.txt' : No such file or directory (os error 2)",
        ),
        (
            "a typo",
            "",
            "bind :443 ssl crt a.pem stict-sni",
            "t.cfg:9: 'bind :443' in section 'listen': unknown keyword 'stict-sni'; did you mean 'strict-sni'?",
        ),
    ];
    for (what, global, bind, want) in cases {
        let errs = errors(&config(global, bind, ""));
        assert_eq!(
            errs.first().map(String::as_str),
            Some(*want),
            "{what}: {errs:#?}"
        );
    }
}

#[test]
fn tls_bind_warnings() {
    // (description, global, bind line, a warning)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl strict-sni",
            "t.cfg:9: Proxy 'l': no SSL certificate specified for bind ':443', ssl connections will fail (use 'crt').",
        ),
        (
            "haproxy -c: the same words",
            "",
            "bind :443 ssl crt a.pem no-tlsv10 ssl-min-ver TLSv1.2",
            "t.cfg:9: Proxy 'l': no-sslv3/no-tlsv1x are ignored for bind ':443'. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix.",
        ),
        (
            "haproxy -c accepts it silently: it loads the file and listens in clear",
            "",
            "bind :443 crt a.pem",
            "t.cfg:9: 'bind :443': a certificate was specified but SSL was not enabled (use 'ssl'); the bind listens in clear",
        ),
        (
            "haproxy -c accepts it: OpenSSL speaks TLS 1.0",
            "",
            "bind :443 ssl crt a.pem ssl-min-ver TLSv1.0",
            "t.cfg:9: 'bind :443': 'ssl-min-ver TLSv1.0': rustls speaks TLSv1.2 and TLSv1.3 only; the minimum is TLSv1.2",
        ),
        (
            "haproxy -c accepts it",
            "",
            "bind :443 ssl crt a.pem ciphers ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA",
            "t.cfg:9: 'bind :443': 'ciphers': 'AES128-SHA' has no equivalent in rustls; ignored",
        ),
        (
            "haproxy -c accepts it",
            "",
            "bind :443 ssl crt a.pem npn h2",
            "t.cfg:9: 'bind :443': 'npn' ignored: rustls has no NPN (use 'alpn')",
        ),
        (
            "haproxy -c accepts it",
            "",
            "bind :443 ssl crt a.pem allow-0rtt",
            "t.cfg:9: 'bind :443': 'allow-0rtt' ignored: 0-RTT is not offered",
        ),
    ];
    for (what, global, bind, want) in cases {
        let text = config(global, bind, "");
        let w = warnings(&text);
        assert!(w.iter().any(|w| w == want), "{what}: {w:#?}");
    }
    // The clamped minimum is what the bind gets.
    let t = bind_tls("", "bind :443 ssl crt a.pem ssl-min-ver TLSv1.0");
    assert_eq!(t.settings.min_version, TLS_VERSION_FLOOR);
}

#[test]
fn tls_servers() {
    // `verify none` on the line; a client certificate under crt-base; the
    // CA under ca-base.
    let t = server_tls(
        " crt-base /etc/certs\n ca-base /etc/ca",
        "ssl verify none crt client.pem sni str(www.example.com) verifyhost www.example.com \
         alpn h2 no-ssl-reuse no-tls-tickets ssl-max-ver TLSv1.2",
    );
    assert!(t.enabled && t.no_reuse && t.settings.no_tickets);
    assert_eq!(t.settings.verify, Verify::None);
    assert_eq!(t.crt, Some(PathBuf::from("/etc/certs/client.pem")));
    assert_eq!(t.verifyhost.as_deref(), Some("www.example.com"));
    assert_eq!(
        t.sni.as_ref().map(|s| s.text.as_str()),
        Some("str(www.example.com)")
    );
    assert_eq!(t.settings.alpn, vec![b"h2".to_vec()]);
    assert_eq!(t.settings.max_version, TlsVersion::Tls12);
    // Verified against a CA (haproxy -c: valid).
    let t = server_tls(" ca-base /etc/ca", "ssl ca-file ca.pem crl-file crl.pem");
    assert_eq!(t.settings.verify, Verify::Required);
    assert_eq!(t.settings.ca_file, Some(PathBuf::from("/etc/ca/ca.pem")));
    assert_eq!(t.settings.crl_file, Some(PathBuf::from("/etc/ca/crl.pem")));
    // `ssl-server-verify none` (haproxy -c: valid).
    let t = server_tls(" ssl-server-verify none", "ssl");
    assert_eq!(t.settings.verify, Verify::None);
    // Health checks in TLS only.
    let t = server_tls(
        "",
        "check check-ssl check-sni chk.example.com check-alpn h2,http/1.1 verify none",
    );
    assert!(!t.enabled && t.check_ssl);
    assert_eq!(t.check_sni.as_deref(), Some("chk.example.com"));
    assert_eq!(t.check_alpn.len(), 2);
    // The sni expression may read what the client said first.
    let t = server_tls("", "ssl verify none sni req.ssl_sni,lower");
    assert!(matches!(
        t.sni.map(|s| s.fetch),
        Some(Fetch::Payload(Direction::Request, PayloadFetch::SslSni))
    ));
    let t = server_tls("", "ssl verify none sni ssl_fc_sni");
    assert_eq!(t.sni.map(|s| s.fetch), Some(Fetch::Tls(TlsFetch::FcSni)));
}

#[test]
fn server_defaults_and_inheritance() {
    let g = " ssl-default-server-ciphers CHACHA20\n ssl-default-server-options no-tls-tickets ssl-min-ver TLSv1.3";
    let text = format!(
        "global\n{g}\n{HEAD}frontend f\n bind :80\n default_backend b\nbackend b\n default-server ssl verify none alpn h2\n \
         server s1 127.0.0.1:443\n server s2 127.0.0.1:444 no-ssl\n server s3 127.0.0.1:445 tls-tickets ciphers AES128\n"
    );
    let l = ok(&text);
    let s: Vec<&ServerTls> = l.config.backends[0]
        .servers
        .iter()
        .map(|s| &s.tls)
        .collect();
    assert!(s[0].enabled && !s[1].enabled && s[2].enabled);
    assert_eq!(s[0].settings.alpn, vec![b"h2".to_vec()]);
    assert_eq!(
        s[0].settings.ciphers,
        Some(vec![Suite::EcdheEcdsaChacha20, Suite::EcdheRsaChacha20])
    );
    assert!(s[0].settings.no_tickets && !s[2].settings.no_tickets);
    assert_eq!(s[0].settings.min_version, TlsVersion::Tls13);
    assert_eq!(
        s[2].settings.ciphers,
        Some(vec![Suite::EcdheEcdsaAes128Gcm, Suite::EcdheRsaAes128Gcm])
    );
    // A server in clear takes no global TLS default.
    assert_eq!(s[1].settings.ciphers, None);
}

#[test]
fn tls_server_problems() {
    // (description, global, server parameters, first error)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "haproxy -c: the same words",
            "",
            "check check-ssl",
            "t.cfg:10: server 'l/s': verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.",
        ),
        (
            "haproxy -c: the same words",
            " ssl-server-verify none",
            "ssl verify required",
            "t.cfg:10: server 'l/s': verify is enabled but no CA file specified.",
        ),
        (
            "haproxy -c: the same words",
            "",
            "ssl verify optional",
            "t.cfg:10: server 'l/s': 'verify': unknown verify method 'optional', only 'none' and 'required' are supported",
        ),
        (
            "haproxy -c: error detected while parsing sni expression : unknown fetch method 'foo'",
            "",
            "ssl verify none sni foo(bar)",
            "t.cfg:10: server 'l/s': error detected while parsing sni expression : unknown fetch method 'foo'",
        ),
        (
            "a server's sni comes before its bytes",
            "",
            "ssl verify none sni res.payload(0,4)",
            "t.cfg:10: server 'l/s': error detected while parsing sni expression : 'res.payload(0,4)' fetches response data",
        ),
        (
            "HAProxy: all SSL/TLS versions are disabled for server",
            "",
            "ssl verify none force-tlsv12 ssl-min-ver TLSv1.3",
            "t.cfg:10: server 'l/s': all SSL/TLS versions are disabled.",
        ),
        (
            "still refused",
            "",
            "ssl verify none send-proxy-v2-ssl",
            "t.cfg:10: server 'l/s': 'send-proxy-v2-ssl' is not supported yet",
        ),
        (
            "servers have no curves in HAProxy 2.6",
            "",
            "ssl verify none curves X25519",
            "t.cfg:10: server 'l/s': unknown parameter 'curves'",
        ),
    ];
    for (what, global, server, want) in cases {
        let errs = errors(&config(global, "bind :80", server));
        assert_eq!(
            errs.first().map(String::as_str),
            Some(*want),
            "{what}: {errs:#?}"
        );
    }
    // A server in clear is not checked (haproxy -c: valid).
    ok(&config("", "bind :80", "verify required"));
}

#[test]
fn no_tls_where_splicer_speaks_clear() {
    let cases: &[(&str, &str)] = &[
        (
            "global\n stats socket /tmp/s.sock ssl crt a.pem\n",
            "'ssl' is not supported yet",
        ),
        (
            "peers p\n peer me 127.0.0.1:10000\n peer other 127.0.0.1:10001 ssl\n",
            "peer 'p/other': 'ssl' is not supported yet",
        ),
        (
            "peers p\n bind 127.0.0.1:10000 ssl crt a.pem\n server me\n",
            "'bind 127.0.0.1:10000': 'ssl' is not supported yet",
        ),
        (
            "peers p\n default-bind ssl crt a.pem\n peer me 127.0.0.1:10000\n",
            "'default-bind ssl': 'ssl' is not supported yet",
        ),
    ];
    for (text, want) in cases {
        let errs = errors(&format!("global\n localpeer me\n{HEAD}{text}"));
        assert!(errs.iter().any(|e| e.contains(want)), "{text}: {errs:#?}");
    }
}

#[test]
fn tls_fetches_in_rules() {
    // haproxy -c: valid in tcp-request session and content, use_backend.
    let text = format!(
        "{HEAD}frontend f\n bind :443 ssl crt a.pem\n \
         tcp-request session reject if !{{ ssl_fc }}\n \
         tcp-request content reject if {{ ssl_c_verify gt 0 }}\n \
         use_backend b if {{ ssl_fc_sni -m end .example.com }} {{ ssl_fc_protocol TLSv1.3 }}\n \
         default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    );
    let l = ok(&text);
    let f = &l.config.frontends[0];
    // TLS facts need no client bytes: no waiting for the payload.
    assert!(!f.rules.use_backend_reads_payload);
    // haproxy -c: "acl will never match in 'tcp-request connection'".
    let text = format!(
        "{HEAD}frontend f\n bind :443 ssl crt a.pem\n tcp-request connection reject if {{ ssl_fc }}\n \
         default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    );
    let w = warnings(&text);
    assert!(
        w.iter().any(
            |w| w.starts_with("t.cfg:8: acl in 'tcp-request connection' rule will never match")
        ),
        "{w:#?}"
    );
}

#[test]
fn tls_log_variables() {
    let text = format!(
        "{HEAD}frontend f\n bind :443 ssl crt a.pem\n log stdout local0\n \
         log-format \"%ci %ft %sslv %sslc\"\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    );
    let l = ok(&text);
    let f = l.config.frontends[0].log.format.as_ref().unwrap();
    assert!(f.uses(logformat::Var::SslVersion) && f.uses(logformat::Var::SslCipher));
}

#[test]
fn tls_fetches() {
    type Case = (&'static str, TlsFetch, SampleType, MatchMethod);
    let cases: &[Case] = &[
        ("ssl_fc", TlsFetch::Fc, SampleType::Bool, MatchMethod::Bool),
        (
            "ssl_fc_sni",
            TlsFetch::FcSni,
            SampleType::Str,
            MatchMethod::Str,
        ),
        (
            "ssl_fc_alpn",
            TlsFetch::FcAlpn,
            SampleType::Str,
            MatchMethod::Str,
        ),
        (
            "ssl_fc_protocol",
            TlsFetch::FcProtocol,
            SampleType::Str,
            MatchMethod::Str,
        ),
        (
            "ssl_fc_cipher",
            TlsFetch::FcCipher,
            SampleType::Str,
            MatchMethod::Str,
        ),
        (
            "ssl_c_used",
            TlsFetch::CUsed,
            SampleType::Bool,
            MatchMethod::Bool,
        ),
        (
            "ssl_c_verify",
            TlsFetch::CVerify,
            SampleType::Int,
            MatchMethod::Int,
        ),
        (
            "ssl_c_s_dn",
            TlsFetch::CSubjectDn,
            SampleType::Str,
            MatchMethod::Str,
        ),
        (
            "ssl_c_i_dn",
            TlsFetch::CIssuerDn,
            SampleType::Str,
            MatchMethod::Str,
        ),
    ];
    for (name, fetch, output, method) in cases {
        let p = sample::parse(name, &mut NoMaps).unwrap();
        assert_eq!(p.expr.fetch, Fetch::Tls(*fetch), "{name}");
        assert_eq!(
            (p.output, p.method, p.stage),
            (*output, Some(*method), sample::Stage::Session),
            "{name}"
        );
    }
    let refused: &[(&str, &str)] = &[
        (
            "ssl_c_s_dn(CN)",
            "fetch method 'ssl_c_s_dn': arguments (an entry of the name, its format) are not supported yet",
        ),
        (
            "ssl_fc_sni(1)",
            "fetch method 'ssl_fc_sni': takes no argument",
        ),
        (
            "ssl_fc_has_crt",
            "fetch method 'ssl_fc_has_crt' needs mode http; splicer is a TCP load balancer",
        ),
        (
            "ssl_bc_alpn",
            "fetch method 'ssl_bc_alpn' needs mode http; splicer is a TCP load balancer",
        ),
    ];
    for (text, want) in refused {
        assert_eq!(
            sample::parse(text, &mut NoMaps).unwrap_err(),
            *want,
            "{text}"
        );
    }
}
