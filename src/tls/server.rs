//! The client side of a `server ... ssl` (and `check-ssl`): one rustls
//! client config per server, with its own resumption cache, so a
//! reconnection to the same server resumes its TLS session.
//!
//! A client certificate (`crt`) is a slot of the store, like a bind's: each
//! handshake reads it, so `commit ssl cert` changes it for the next
//! connections, and the commit forgets the server's sessions (as HAProxy
//! flushes them), which would otherwise resume under the old one.
//!
//! `verify required` checks the chain against `ca-file`; the name checked
//! is the SNI sent, else `verifyhost`; with neither, HAProxy checks no
//! name, and neither does splicer. `verify none` accepts any certificate but
//! still checks the handshake's signatures (TLS needs them).

use std::sync::Arc;

use parking_lot::RwLock;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert, Tls12ClientSessionValue,
    Tls13ClientSessionValue, WebPkiServerVerifier,
};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, NamedGroup, SignatureScheme};

use super::store::{CertSlot, Store};
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
    /// `crt`.
    client_cert: Option<Arc<CertSlot>>,
    /// The resumption caches of `traffic` and `check`.
    sessions: [Arc<Sessions>; 2],
}

impl std::fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerContext")
    }
}

impl ServerContext {
    /// The server's configs; its client certificate comes from `store`.
    pub(crate) fn build(t: &ServerTls, store: &Store) -> Result<Self, String> {
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
        let client_cert = t.crt.as_ref().map(|p| store.slot(p)).transpose()?;
        let make =
            |alpn: &[Vec<u8>], sessions: &Arc<Sessions>| -> Result<Arc<ClientConfig>, String> {
                let b = ClientConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(&super::versions(s))
                    .map_err(|e| super::error_text(&e))?
                    .dangerous()
                    .with_custom_certificate_verifier(verifier.clone());
                let mut cfg = match &client_cert {
                    Some(slot) => b.with_client_cert_resolver(Arc::new(ClientCert(slot.clone()))),
                    None => b.with_no_client_auth(),
                };
                cfg.alpn_protocols = alpn.to_vec();
                cfg.resumption = if t.no_reuse {
                    rustls::client::Resumption::disabled()
                } else {
                    rustls::client::Resumption::store(sessions.clone())
                };
                if s.no_tickets {
                    cfg.resumption = cfg
                        .resumption
                        .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
                }
                Ok(Arc::new(cfg))
            };
        let sessions = [Arc::new(Sessions::new()), Arc::new(Sessions::new())];
        let traffic = make(&s.alpn, &sessions[0])?;
        let check = make(&t.check_alpn, &sessions[1])?;
        Ok(ServerContext {
            traffic,
            check,
            check_sni: t.check_sni.clone(),
            client_cert,
            sessions,
        })
    }

    /// Whether the server shows the certificate of `slot` (`crt`).
    pub(crate) fn uses(&self, slot: &CertSlot) -> bool {
        self.client_cert
            .as_ref()
            .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), slot))
    }

    /// Forgets the sessions to resume (its client certificate changed).
    pub(crate) fn flush_sessions(&self) {
        for s in &self.sessions {
            s.flush();
        }
    }
}

/// A server's client certificate, as its slot holds it now.
#[derive(Debug)]
struct ClientCert(Arc<CertSlot>);

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        // As rustls's own single-certificate resolver: the certificate is
        // sent whatever the server asks for.
        Some(self.0.current().key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A server's TLS sessions to resume, which a commit of its client
/// certificate throws away.
#[derive(Debug)]
struct Sessions(RwLock<Arc<ClientSessionMemoryCache>>);

impl Sessions {
    fn new() -> Self {
        Sessions(RwLock::new(Arc::new(ClientSessionMemoryCache::new(
            RESUMPTION_CACHE,
        ))))
    }

    fn flush(&self) {
        *self.0.write() = Arc::new(ClientSessionMemoryCache::new(RESUMPTION_CACHE));
    }

    fn now(&self) -> Arc<ClientSessionMemoryCache> {
        self.0.read().clone()
    }
}

impl ClientSessionStore for Sessions {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.now().set_kx_hint(name, group);
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.now().kx_hint(name)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.now().set_tls12_session(name, value);
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.now().tls12_session(name)
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.now().remove_tls12_session(name);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.now().insert_tls13_ticket(name, value);
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.now().take_tls13_ticket(name)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_forgets_what_was_kept() {
        let s = Sessions::new();
        let name = ServerName::try_from("a.test").unwrap();
        s.set_kx_hint(name.clone(), NamedGroup::X25519);
        assert_eq!(s.kx_hint(&name), Some(NamedGroup::X25519));
        s.flush();
        assert_eq!(s.kx_hint(&name), None);
    }
}
