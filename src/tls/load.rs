//! Certificates from PEM text: the chain and key of a `crt` file (the key
//! may sit in `FILE.key`, an OCSP response in `FILE.ocsp`, as HAProxy
//! loads them), the [`Parts`] a runtime API transaction edits before they
//! are checked ([`Parts::build`]), and the CA and CRL files of `ca-file`
//! and `crl-file`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::info::{CertInfo, describe};

/// One certificate file, ready for handshakes.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
    /// The OCSP response as given (`FILE.ocsp`, `set ssl cert FILE.ocsp`),
    /// stapled or not (`key.ocsp` says).
    pub ocsp: Option<Vec<u8>>,
    /// The private key as read (a server's client certificate hands it to
    /// rustls again; a transaction starts from it).
    pub key_der: Option<PrivateKeyDer<'static>>,
}

impl Loaded {
    /// What this certificate is made of: where a transaction starts.
    pub(crate) fn parts(&self) -> Parts {
        Parts {
            chain: self.key.cert.clone(),
            key: self.key_der.as_ref().map(PrivateKeyDer::clone_key),
            ocsp: self.ocsp.clone(),
            issuer: None,
        }
    }
}

/// What a certificate file is made of before it is checked and put to
/// use: what `set ssl cert` edits in a transaction, part by part (the PEM,
/// `FILE.key`, `FILE.ocsp`, `FILE.issuer`), as HAProxy's `ckch` holds them.
#[derive(Debug)]
pub(crate) struct Parts {
    /// The certificate, then its chain, as in the file.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Option<PrivateKeyDer<'static>>,
    /// A DER OCSP response to staple.
    pub ocsp: Option<Vec<u8>>,
    /// The OCSP response's issuer when the chain does not hold it
    /// (`FILE.issuer`).
    pub issuer: Option<CertificateDer<'static>>,
}

impl Clone for Parts {
    fn clone(&self) -> Self {
        Parts {
            chain: self.chain.clone(),
            key: self.key.as_ref().map(PrivateKeyDer::clone_key),
            ocsp: self.ocsp.clone(),
            issuer: self.issuer.clone(),
        }
    }
}

/// Why parts do not make a usable certificate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BuildError {
    NoCertificate,
    NoKey,
    /// The key is not the certificate's.
    Mismatch,
    /// rustls cannot sign with the key, or the certificate is unreadable.
    Unusable(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::NoCertificate => f.write_str("no certificate found"),
            BuildError::NoKey => {
                f.write_str("no private key found (in the file or a '.key' beside it)")
            }
            BuildError::Mismatch => f.write_str("the private key does not match the certificate"),
            BuildError::Unusable(e) => f.write_str(e),
        }
    }
}

impl Parts {
    /// The certificate with its key, ready for handshakes; the OCSP
    /// response, if any, is stapled as it is.
    pub(crate) fn build(&self) -> Result<Loaded, BuildError> {
        let leaf = self.chain.first().ok_or(BuildError::NoCertificate)?;
        let key = self.key.as_ref().ok_or(BuildError::NoKey)?;
        let info = describe(leaf).map_err(BuildError::Unusable)?;
        let provider = super::backend::default_provider();
        let mut certified = CertifiedKey::from_der(self.chain.clone(), key.clone_key(), &provider)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => BuildError::Mismatch,
                e => BuildError::Unusable(format!("unusable private key: {e}")),
            })?;
        certified.ocsp = self.ocsp.clone();
        Ok(Loaded {
            key: Arc::new(certified),
            info,
            ocsp: self.ocsp.clone(),
            key_der: Some(key.clone_key()),
        })
    }

    /// The PEM payload of `set ssl cert FILE`, over these parts: its
    /// certificate and chain, and its key (none if it has none, as
    /// HAProxy's load leaves it); the OCSP response and issuer go.
    pub(crate) fn set_pem(&mut self, text: &[u8]) -> Result<(), PemError> {
        let mut chain = Vec::new();
        let mut key = None;
        let mut rd: &[u8] = text;
        loop {
            match pem::from_buf(&mut rd) {
                Ok(Some((SectionKind::Certificate, der))) => chain.push(CertificateDer::from(der)),
                Ok(Some((kind, der))) => {
                    if key.is_none() {
                        key = private_key(kind, der);
                    }
                }
                Ok(None) => break,
                Err(_) if chain.is_empty() => return Err(PemError::Certificate),
                Err(_) => return Err(PemError::Chain),
            }
        }
        match chain.first() {
            Some(leaf) if describe(leaf).is_ok() => {}
            _ => return Err(PemError::Certificate),
        }
        self.chain = chain;
        self.key = key;
        self.ocsp = None;
        self.issuer = None;
        Ok(())
    }

    /// The payload of `set ssl cert FILE.key`: the first private key in
    /// it; `false` when there is none.
    pub(crate) fn set_key(&mut self, text: &[u8]) -> bool {
        let key = sections(text).ok().and_then(|all| {
            all.into_iter()
                .find_map(|(kind, der)| private_key(kind, der))
        });
        key.map(|k| self.key = Some(k)).is_some()
    }

    /// The payload of `set ssl cert FILE.ocsp`: a DER response in base64
    /// (line breaks ignored); `false` when it is not base64.
    pub(crate) fn set_ocsp(&mut self, text: &[u8]) -> bool {
        let flat: Vec<u8> = text
            .iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        base64_strict(&flat)
            .map(|der| self.ocsp = Some(der))
            .is_some()
    }

    /// The payload of `set ssl cert FILE.issuer`: the certificate of the
    /// OCSP response's issuer; `false` when there is none.
    pub(crate) fn set_issuer(&mut self, text: &[u8]) -> bool {
        let cert = sections(text).ok().and_then(|all| {
            all.into_iter()
                .find(|(k, der)| *k == SectionKind::Certificate && describe(der).is_ok())
        });
        cert.map(|(_, der)| self.issuer = Some(der.into()))
            .is_some()
    }

    /// The certificate that issued the leaf, as HAProxy looks for it to
    /// name the OCSP response's certificate: in the chain, else `.issuer`.
    pub(crate) fn leaf_issuer(&self) -> Option<&CertificateDer<'static>> {
        use x509_parser::prelude::*;
        let (_, leaf) = X509Certificate::from_der(self.chain.first()?).ok()?;
        let issued = |der: &CertificateDer<'_>| {
            X509Certificate::from_der(der)
                .is_ok_and(|(_, c)| c.subject().as_raw() == leaf.issuer().as_raw())
        };
        self.chain[1..]
            .iter()
            .find(|c| issued(c))
            .or(self.issuer.as_ref().filter(|c| issued(c)))
    }
}

/// Why a PEM payload is refused, in HAProxy's two cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PemError {
    /// No readable certificate first.
    Certificate,
    /// A certificate, then something unreadable.
    Chain,
}

fn private_key(kind: SectionKind, der: Vec<u8>) -> Option<PrivateKeyDer<'static>> {
    match kind {
        SectionKind::PrivateKey => Some(PrivateKeyDer::Pkcs8(der.into())),
        SectionKind::RsaPrivateKey => Some(PrivateKeyDer::Pkcs1(der.into())),
        SectionKind::EcPrivateKey => Some(PrivateKeyDer::Sec1(der.into())),
        _ => None,
    }
}

/// Base64 as HAProxy's `base64dec` reads it: the standard alphabet, a
/// length in fours, padding only at the end.
fn base64_strict(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let last = text.len() / 4;
    for (n, quad) in text.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && n + 1 != last) {
            return None;
        }
        let mut v = 0u32;
        for (i, &c) in quad[..4 - pad].iter().enumerate() {
            v |= u32::from(value(c)?) << (18 - 6 * i);
        }
        out.extend_from_slice(&v.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
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
    let mut parts = pem_parts(text.as_bytes(), key_text.as_deref().map(str::as_bytes));
    if let Ok(p) = &mut parts {
        p.ocsp = ocsp;
    }
    parts
        .and_then(|p| p.build().map_err(|e| e.to_string()))
        .map_err(|e| {
            format!(
                "unable to load SSL certificate from PEM file '{}': {e}",
                path.display()
            )
        })
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

/// The certificates (leaf first, then its chain) and the first private
/// key of PEM text, the key possibly in `key_text`.
fn pem_parts(text: &[u8], key_text: Option<&[u8]>) -> Result<Parts, String> {
    let mut chain = Vec::new();
    let mut key = None;
    let mut all = sections(text)?;
    if let Some(k) = key_text {
        all.extend(sections(k)?);
    }
    for (kind, der) in all {
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            kind if key.is_none() => key = private_key(kind, der),
            _ => {}
        }
    }
    Ok(Parts {
        chain,
        key,
        ocsp: None,
        issuer: None,
    })
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

    /// A certificate from PEM text, its key in it or in `key_text`.
    fn parse_pem(text: &[u8], key_text: Option<&[u8]>) -> Result<Loaded, String> {
        pem_parts(text, key_text)?
            .build()
            .map_err(|e| e.to_string())
    }

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
        assert_eq!(l.info.algorithm.as_deref(), Some("EC256"));
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
