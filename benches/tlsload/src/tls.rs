//! The client side's rustls configuration: the provider the crate was built
//! with, one protocol version, one AEAD, X25519 first, and no certificate
//! verification. The load generator must cost less than the proxy it
//! measures: skipping the chain and signature checks leaves the client a
//! key exchange and the symmetric work per handshake, while the server also
//! signs (ECDSA or RSA). Both proxies are asked for the same things, so
//! they negotiate the same suite and group.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme, SupportedCipherSuite};

#[cfg(feature = "aws")]
pub use rustls::crypto::aws_lc_rs as provider;
#[cfg(all(feature = "ring", not(feature = "aws")))]
#[allow(deprecated)] // rustls 0.23.48 deprecates ring's provider (no post-quantum groups)
pub use rustls::crypto::ring as provider;

/// The record protection the client offers (only that one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    Aes128,
    Aes256,
    Chacha20,
}

impl std::str::FromStr for Aead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "aes128" => Ok(Aead::Aes128),
            "aes256" => Ok(Aead::Aes256),
            "chacha20" => Ok(Aead::Chacha20),
            _ => Err(format!("unknown AEAD '{s}' (aes128, aes256, chacha20)")),
        }
    }
}

/// What a client asks for.
#[derive(Debug, Clone, Copy)]
pub struct ClientTls {
    /// 12 or 13.
    pub version: u8,
    pub aead: Aead,
    /// Keep sessions (tickets and session ids) and offer them again.
    pub resume: bool,
}

#[allow(deprecated)]
fn base_provider() -> CryptoProvider {
    provider::default_provider()
}

fn suites(aead: Aead) -> Vec<SupportedCipherSuite> {
    use provider::cipher_suite as cs;
    match aead {
        Aead::Aes128 => vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        Aead::Aes256 => vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        Aead::Chacha20 => vec![
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
    }
}

pub fn client_config(want: ClientTls) -> Result<Arc<ClientConfig>, String> {
    let mut p = base_provider();
    p.cipher_suites = suites(want.aead);
    // X25519 for the key exchange; P-256 is only listed because TLS 1.2
    // reads this list as the curves the client accepts for an ECDSA
    // certificate too (RFC 8422), and OpenSSL then refuses a P-256 one.
    p.kx_groups = vec![provider::kx_group::X25519, provider::kx_group::SECP256R1];
    let algs = p.signature_verification_algorithms;
    let version = match want.version {
        12 => &rustls::version::TLS12,
        13 => &rustls::version::TLS13,
        v => return Err(format!("TLS version {v}: 12 or 13")),
    };
    let mut c = ClientConfig::builder_with_provider(Arc::new(p))
        .with_protocol_versions(&[version])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(algs)))
        .with_no_client_auth();
    c.resumption = if want.resume {
        rustls::client::Resumption::in_memory_sessions(1024)
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(Arc::new(c))
}

/// The name a session sends (SNI) and keys its saved session by: one per
/// slot, so that concurrent sessions do not queue for the same few TLS 1.3
/// tickets (rustls keeps 8 per name) and fall back to full handshakes.
/// Neither proxy has certificates to choose by name.
pub fn server_name(slot: usize) -> ServerName<'static> {
    ServerName::try_from(format!("s{slot}.localhost")).expect("a valid name")
}

/// Accepts any certificate and any signature: see the module comment.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
