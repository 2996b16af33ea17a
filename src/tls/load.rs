//! Certificates from PEM text: the chain and key of a `crt` file (the key
//! may sit in `FILE.key`, an OCSP response in `FILE.ocsp`, as HAProxy
//! loads them), and what the runtime API and SNI selection read of a
//! certificate ([`CertInfo`]).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// One certificate file, ready for handshakes.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
    /// An OCSP response (`FILE.ocsp`) is stapled.
    pub has_ocsp: bool,
    /// The private key as read (a server's client certificate hands it to
    /// rustls again).
    pub key_der: Option<PrivateKeyDer<'static>>,
}

/// What a certificate says, in the words `show ssl cert` and the fetches
/// print.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CertInfo {
    /// Uppercase hex, no separators.
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
    /// `EC256`, `RSA2048`.
    pub algorithm: String,
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

/// Reads `path` (and `path.key`, `path.ocsp` when they exist) and builds
/// the certificate.
pub(crate) fn read(path: &Path) -> Result<Loaded, String> {
    let text = crate::host::read_file(path).map_err(|e| {
        format!(
            "unable to load SSL certificate from PEM file '{}': {e}",
            path.display()
        )
    })?;
    let key_path = with_suffix(path, "key");
    let key_text = if pem_has_key(text.as_bytes()) {
        None
    } else {
        crate::host::read_file(&key_path).ok()
    };
    let ocsp = std::fs::read(with_suffix(path, "ocsp")).ok();
    let mut loaded =
        parse_pem(text.as_bytes(), key_text.as_deref().map(str::as_bytes)).map_err(|e| {
            format!(
                "unable to load SSL certificate from PEM file '{}': {e}",
                path.display()
            )
        })?;
    if let Some(ocsp) = ocsp {
        let mut key = (*loaded.key).clone();
        key.ocsp = Some(ocsp);
        loaded.key = Arc::new(key);
        loaded.has_ocsp = true;
    }
    Ok(loaded)
}

fn with_suffix(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn pem_has_key(text: &[u8]) -> bool {
    sections(text).is_ok_and(|s| s.iter().any(|(k, _)| is_key(*k)))
}

fn is_key(k: SectionKind) -> bool {
    matches!(
        k,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

fn sections(mut text: &[u8]) -> Result<Vec<(SectionKind, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let rd: &mut dyn BufRead = &mut text;
    loop {
        match pem::from_buf(rd) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => return Ok(out),
            Err(e) => return Err(format!("bad PEM: {e}")),
        }
    }
}

/// Builds a certificate from PEM text: certificates (leaf first, then its
/// chain) and a private key, in `text` or in `key_text`.
pub(crate) fn parse_pem(text: &[u8], key_text: Option<&[u8]>) -> Result<Loaded, String> {
    let mut chain = Vec::new();
    let mut key = None;
    let mut all = sections(text)?;
    if let Some(k) = key_text {
        all.extend(sections(k)?);
    }
    for (kind, der) in all {
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs8(der.into()));
            }
            SectionKind::RsaPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs1(der.into()));
            }
            SectionKind::EcPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Sec1(der.into()));
            }
            _ => {}
        }
    }
    if chain.is_empty() {
        return Err("no certificate found".into());
    }
    let key = key.ok_or("no private key found (in the file or a '.key' beside it)")?;
    let info = describe(&chain[0])?;
    let provider = super::backend::default_provider();
    let key_der = Some(key.clone_key());
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not match the certificate".to_string()
        }
        e => format!("unusable private key: {e}"),
    })?;
    Ok(Loaded {
        key: Arc::new(certified),
        info,
        has_ocsp: false,
        key_der,
    })
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
    let dns_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let algorithm = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(k)) => format!("RSA{}", k.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(k)) => format!("EC{}", k.key_size()),
        _ => "unknown".to_string(),
    };
    let sha1 = {
        use sha1::Digest;
        hex(&sha1::Sha1::digest(der))
    };
    Ok(CertInfo {
        serial: hex(cert.raw_serial()),
        not_before: super::names::asn1_date(validity.not_before.timestamp()),
        not_after: super::names::asn1_date(validity.not_after.timestamp()),
        expires: validity.not_after.timestamp(),
        subject: super::names::dn_string(cert.subject()),
        issuer: super::names::dn_string(cert.issuer()),
        common_names,
        dns_names,
        algorithm,
        sha1,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Where Debian (and OpenSSL's default setup on it) keeps the system's CAs.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The CA certificates of a `ca-file`.
pub(crate) fn roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    // HAProxy's `@system-ca`: the system's trust store (Debian's bundle).
    let path = if path == Path::new("@system-ca") {
        Path::new(SYSTEM_CA_BUNDLE)
    } else {
        path
    };
    let what = |e: String| format!("unable to load CA file '{}': {e}", path.display());
    let text = crate::host::read_file(path).map_err(|e| what(e.to_string()))?;
    let mut store = rustls::RootCertStore::empty();
    for (kind, der) in sections(text.as_bytes()).map_err(what)? {
        if kind == SectionKind::Certificate {
            store
                .add(CertificateDer::from(der))
                .map_err(|e| what(e.to_string()))?;
        }
    }
    if store.is_empty() {
        return Err(what("no certificate in it".into()));
    }
    Ok(store)
}

/// The revocation lists of a `crl-file`.
pub(crate) fn crls(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>, String> {
    let what = |e: String| format!("unable to load CRL file '{}': {e}", path.display());
    let text = crate::host::read_file(path).map_err(|e| what(e.to_string()))?;
    let list: Vec<_> = sections(text.as_bytes())
        .map_err(what)?
        .into_iter()
        .filter(|(k, _)| *k == SectionKind::Crl)
        .map(|(_, der)| der.into())
        .collect();
    if list.is_empty() {
        return Err(what("no CRL in it".into()));
    }
    Ok(list)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A throwaway certificate and key made by the openssl CLI, or `None`
    /// where it is missing (the tests then say so).
    pub(crate) fn openssl_pem() -> Option<(Vec<u8>, Vec<u8>)> {
        openssl_pem_for("/C=FR/O=Lab/CN=a.test", "DNS:a.test,DNS:*.b.test")
    }

    /// A certificate for `subject` with these subjectAltNames, and its key.
    pub(crate) fn openssl_pem_for(subject: &str, san: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("splicer-tls-load-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let (key, cert) = (dir.join("k.pem"), dir.join("c.pem"));
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", subject])
            .args(["-addext", &format!("subjectAltName={san}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?
            .success();
        let out = ok.then(|| Some((std::fs::read(&cert).ok()?, std::fs::read(&key).ok()?)))?;
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    #[test]
    fn a_pem_says_its_names_and_dn() {
        let Some((cert, key)) = openssl_pem() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "openssl is missing under CI"
            );
            eprintln!("skipped: the openssl CLI is missing");
            return;
        };
        let both = [cert.clone(), key.clone()].concat();
        let l = parse_pem(&both, None).expect("cert and key in one file");
        assert_eq!(l.info.subject, "/C=FR/O=Lab/CN=a.test");
        assert_eq!(l.info.names(), vec!["a.test", "*.b.test"]);
        assert_eq!(l.info.algorithm, "EC256");
        assert_eq!(l.info.sha1.len(), 40);
        let apart = parse_pem(&cert, Some(&key)).expect("the key in a '.key' file");
        assert_eq!(apart.info, l.info);
        let e = parse_pem(&cert, None).unwrap_err();
        assert!(e.contains("no private key"), "{e}");
    }

    proptest! {
        /// A PEM payload comes from the runtime API: any bytes give an
        /// error or a certificate, never a panic.
        #[test]
        fn arbitrary_pem_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_pem(&bytes, None);
            let mut armoured = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            armoured.extend_from_slice(&bytes);
            armoured.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
            let _ = parse_pem(&armoured, None);
        }

        /// Client certificates are described for the fetches: any DER gives
        /// an error or a description.
        #[test]
        fn arbitrary_der_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = describe(&bytes);
        }
    }
}
