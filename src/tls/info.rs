//! What a certificate says, in the words `show ssl cert`, the TLS fetches
//! and SNI selection use: HAProxy's (OpenSSL's) serial, dates, names, key
//! algorithm and fingerprint, read with x509-parser.

use rustls::pki_types::CertificateDer;

/// What a certificate says, in the words `show ssl cert` and the fetches
/// print.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CertInfo {
    /// Uppercase hex of the serial number's bytes (OpenSSL's, without the
    /// DER sign byte), no separators.
    pub serial: String,
    /// `Oct 10 12:00:00 2026 GMT`.
    pub not_before: String,
    pub not_after: String,
    /// Unix seconds of `not_after`.
    pub expires: i64,
    /// `/C=FR/O=Lab/CN=name`.
    pub subject: String,
    pub issuer: String,
    /// The subject's CN values.
    pub common_names: Vec<String>,
    /// DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
    /// Every subjectAltName entry in order: the DNS names, `None` for the
    /// other kinds (`show ssl cert` leaves those empty, as HAProxy).
    pub alt_names: Vec<Option<String>>,
    /// `EC256`, `RSA2048`, `DSA1024`; `None` for other key types (HAProxy
    /// stops its description there).
    pub algorithm: Option<String>,
    /// SHA-1 of the DER, uppercase hex.
    pub sha1: String,
}

impl CertInfo {
    /// The names SNI matches this certificate by: its SAN DNS names, and
    /// its CN when it has none (HAProxy reads both; lowercased).
    pub(crate) fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.dns_names.iter().map(|n| n.to_lowercase()).collect();
        for cn in &self.common_names {
            let cn = cn.to_lowercase();
            if !out.contains(&cn) {
                out.push(cn);
            }
        }
        out
    }
}

/// The subject and issuer of each certificate of a chain (`Chain Subject`,
/// `Chain Issuer` of `show ssl cert`); one that does not parse is left out.
pub(crate) fn chain_names(chain: &[CertificateDer<'_>]) -> Vec<(String, String)> {
    use x509_parser::prelude::*;
    chain
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok())
        .map(|(_, c)| {
            (
                super::names::dn_string(c.subject()),
                super::names::dn_string(c.issuer()),
            )
        })
        .collect()
}

/// Reads what a DER certificate says; `Err` when it is not one.
pub(crate) fn describe(der: &[u8]) -> Result<CertInfo, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    let validity = cert.validity();
    let common_names = cert
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    let alt_names: Vec<Option<String>> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let sha1 = {
        use sha1::Digest;
        hex(&sha1::Sha1::digest(der))
    };
    Ok(CertInfo {
        serial: hex(serial_bytes(cert.raw_serial())),
        not_before: super::names::asn1_date(validity.not_before.timestamp()),
        not_after: super::names::asn1_date(validity.not_after.timestamp()),
        expires: validity.not_after.timestamp(),
        subject: super::names::dn_string(cert.subject()),
        issuer: super::names::dn_string(cert.issuer()),
        common_names,
        dns_names: alt_names.iter().flatten().cloned().collect(),
        alt_names,
        algorithm: algorithm(cert.public_key()),
        sha1,
    })
}

/// The serial number of a DER certificate as encoded (an OCSP response
/// names it the same way).
pub(crate) fn raw_serial(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.raw_serial().to_vec())
}

/// The serial number's bytes as OpenSSL keeps them: without the zero that
/// DER puts before a high first byte.
fn serial_bytes(raw: &[u8]) -> &[u8] {
    match raw {
        [0, next, ..] if *next >= 0x80 => &raw[1..],
        _ => raw,
    }
}

/// HAProxy's name of a key: `RSA2048`, `EC256`, `DSA1024` (OpenSSL's bit
/// counts: the modulus, the curve's order); `None` otherwise.
fn algorithm(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<String> {
    use x509_parser::public_key::PublicKey;
    /// Bits of a number given big-endian.
    fn bits(n: &[u8]) -> usize {
        let n = &n[n.iter().take_while(|&&b| b == 0).count()..];
        n.first()
            .map_or(0, |b| 8 * n.len() - b.leading_zeros() as usize)
    }
    match spki.parsed().ok()? {
        PublicKey::RSA(k) => Some(format!("RSA{}", bits(k.modulus))),
        PublicKey::EC(point) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let size = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => 256,
                Some("1.3.132.0.34") => 384,
                Some("1.3.132.0.35") => 521,
                _ => point.key_size(),
            };
            Some(format!("EC{size}"))
        }
        // rustls signs with no DSA key: such a certificate is only ever
        // seen in a transaction, and the public value's size is near
        // enough to the prime's.
        PublicKey::DSA(y) => Some(format!("DSA{}", bits(y))),
        _ => None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_lose_the_der_sign_byte_only() {
        let cases: &[(&[u8], &[u8])] = &[
            (&[0x10, 0x01], &[0x10, 0x01]),
            (&[0x00, 0x80, 0x01], &[0x80, 0x01]),
            (&[0x00, 0x7f], &[0x00, 0x7f]),
            (&[0x00], &[0x00]),
        ];
        for (der, want) in cases {
            assert_eq!(serial_bytes(der), *want, "{der:02x?}");
        }
    }
}
