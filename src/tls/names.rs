//! The names TLS things go by in HAProxy's output: OpenSSL's cipher and
//! version names, OpenSSL's one-line distinguished names, certificate
//! dates, and SNI matching (exact and `*.` wildcard names).

use rustls::{CipherSuite, ProtocolVersion};
use x509_parser::x509::X509Name;

/// `TLSv1.3`, as `ssl_fc_protocol` and `%sslv` print it.
pub(crate) fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        ProtocolVersion::TLSv1_1 => "TLSv1.1",
        ProtocolVersion::TLSv1_0 => "TLSv1",
        _ => "unknown",
    }
}

/// OpenSSL's name of a suite (`ssl_fc_cipher`, `%sslc`).
pub(crate) fn cipher_name(s: CipherSuite) -> &'static str {
    match s {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        }
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => "unknown",
    }
}

/// OpenSSL's one-line form, HAProxy's default for `ssl_c_s_dn`:
/// `/C=FR/O=Lab/CN=client1`.
pub(crate) fn dn_string(name: &X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for attr in name.iter_attributes() {
        let oid = attr.attr_type();
        let key = x509_parser::objects::oid2abbrev(oid, registry)
            .or_else(|_| x509_parser::objects::oid2sn(oid, registry))
            .map(str::to_string)
            .unwrap_or_else(|_| oid.to_id_string());
        let value = attr
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|_| String::from_utf8_lossy(attr.as_slice()).into_owned());
        out.push('/');
        out.push_str(&key);
        out.push('=');
        out.push_str(&value);
    }
    out
}

/// `Oct 10 12:00:00 2026 GMT`, OpenSSL's `ASN1_TIME_print`.
pub(crate) fn asn1_date(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = crate::base::clock::utc(secs);
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[(c.month as usize).saturating_sub(1) % 12],
        c.day,
        c.hour,
        c.min,
        c.sec,
        c.year
    )
}

/// Whether certificate name `pattern` (`www.a.test`, `*.a.test`) covers
/// the SNI `name` (both lowercase): a wildcard covers exactly one label.
pub(crate) fn sni_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        let cases = [
            ("a.test", "a.test", true),
            ("a.test", "b.test", false),
            ("*.b.test", "x.b.test", true),
            ("*.b.test", "b.test", false),
            ("*.b.test", "y.x.b.test", false),
            ("*.b.test", ".b.test", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(sni_matches(pattern, name), want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn dates_print_as_openssl() {
        assert_eq!(asn1_date(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(asn1_date(1_791_806_400), "Oct 12 12:00:00 2026 GMT");
    }
}
