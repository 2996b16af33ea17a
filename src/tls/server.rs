//! The client side of a `server ... ssl` (and `check-ssl`): one rustls
//! client config per server, with its own resumption cache, so a
//! reconnection to the same server resumes its TLS session.
//!
//! `verify required` checks the chain against `ca-file`; the name checked
//! is the SNI sent, else `verifyhost`; with neither, HAProxy checks no
//! name, and neither does splicer. `verify none` accepts any certificate but
//! still checks the handshake's signatures (TLS needs them).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::config::{ServerTls, Verify};

/// TLS sessions remembered per server for resumption.
const RESUMPTION_CACHE: usize = 64;

/// What a TLS connection to one server needs.
pub(crate) struct ServerContext {
    /// For the traffic (`ssl`, `alpn`).
    pub traffic: Arc<ClientConfig>,
    /// For health checks (`check-ssl`, `check-alpn`).
    pub check: Arc<ClientConfig>,
    /// `check-sni`.
    pub check_sni: Option<String>,
}

impl std::fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerContext")
    }
}

impl ServerContext {
    pub(crate) fn build(t: &ServerTls) -> Result<Self, String> {
        let s = &t.settings;
        let provider = Arc::new(super::provider(s)?);
        let inner = match s.verify {
            Verify::None => None,
            _ => {
                let ca = s
                    .ca_file
                    .as_ref()
                    .ok_or("verify is enabled but no CA file specified")?;
                let roots = Arc::new(super::load::roots(ca)?);
                let mut b = WebPkiServerVerifier::builder_with_provider(roots, provider.clone());
                if let Some(crl) = &s.crl_file {
                    b = b.with_crls(super::load::crls(crl)?);
                }
                Some(b.build().map_err(|e| e.to_string())?)
            }
        };
        let host = t
            .verifyhost
            .as_ref()
            .map(|h| ServerName::try_from(h.clone()).map_err(|_| format!("bad verifyhost '{h}'")))
            .transpose()?;
        let verifier = Arc::new(Verifier {
            inner,
            host,
            algs: provider.signature_verification_algorithms,
        });
        let client_cert = t.crt.as_ref().map(|p| super::load::read(p)).transpose()?;
        let make = |alpn: &[Vec<u8>]| -> Result<Arc<ClientConfig>, String> {
            let b = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&super::versions(s))
                .map_err(|e| super::error_text(&e))?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone());
            let mut cfg = match &client_cert {
                Some(c) => b
                    .with_client_auth_cert(c.key.cert.clone(), key_der(c)?)
                    .map_err(|e| super::error_text(&e))?,
                None => b.with_no_client_auth(),
            };
            cfg.alpn_protocols = alpn.to_vec();
            cfg.resumption = if t.no_reuse {
                rustls::client::Resumption::disabled()
            } else {
                rustls::client::Resumption::in_memory_sessions(RESUMPTION_CACHE)
            };
            if s.no_tickets {
                cfg.resumption = cfg
                    .resumption
                    .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
            }
            Ok(Arc::new(cfg))
        };
        let traffic = make(&s.alpn)?;
        let check = make(&t.check_alpn)?;
        Ok(ServerContext {
            traffic,
            check,
            check_sni: t.check_sni.clone(),
        })
    }
}

/// A client certificate's key, for `with_client_auth_cert` (which takes
/// the DER, not the loaded signer): read again from the loaded chain's file.
fn key_der(c: &super::load::Loaded) -> Result<rustls::pki_types::PrivateKeyDer<'static>, String> {
    c.key_der
        .as_ref()
        .map(|k| k.clone_key())
        .ok_or_else(|| "the client certificate has no private key".to_string())
}

#[derive(Debug)]
struct Verifier {
    /// `None`: `verify none`.
    inner: Option<Arc<WebPkiServerVerifier>>,
    /// `verifyhost`.
    host: Option<ServerName<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        // HAProxy checks the SNI sent, else `verifyhost`; with neither (the
        // connection was made with the server's address as its name) no name.
        let sni = matches!(server_name, ServerName::DnsName(_));
        let name = match (&self.host, sni) {
            (Some(h), false) => h,
            _ => server_name,
        };
        let check_name = self.host.is_some() || sni;
        match inner.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
