//! TLS settings of binds and servers as the config states them, resolved:
//! the global `ssl-default-bind-*` / `ssl-default-server-*` first, then
//! `default-server`, then the line (then a crt-list line). Paths carry
//! `crt-base` / `ca-base` already. Files are not read here: the `tls`
//! module loads certificates and keys, so a reload and the runtime API
//! read them the same way.

use std::path::PathBuf;

use super::{Location, SampleExpr};

/// A protocol version, in order (`ssl-min-ver` / `ssl-max-ver` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// HAProxy's word (`ssl-min-ver TLSv1.2`), also what `ssl_fc_protocol`
    /// and `%sslv` print.
    pub fn word(self) -> &'static str {
        match self {
            TlsVersion::Ssl3 => "SSLv3",
            TlsVersion::Tls10 => "TLSv1.0",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// Versions the TLS library speaks (rustls: 1.2 and 1.3).
pub const TLS_VERSION_FLOOR: TlsVersion = TlsVersion::Tls12;

/// `verify` on a bind (client certificates) or a server (its certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Bind: no client certificate asked. Server: its certificate is not checked.
    #[default]
    None,
    /// Bind only: a client certificate is asked and checked if sent.
    Optional,
    Required,
}

/// A cipher suite the TLS library implements (IANA name in the comment;
/// the OpenSSL names of `ciphers`/`ciphersuites` map onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// TLS_AES_128_GCM_SHA256
    Tls13Aes128Gcm,
    /// TLS_AES_256_GCM_SHA384
    Tls13Aes256Gcm,
    /// TLS_CHACHA20_POLY1305_SHA256
    Tls13Chacha20,
    /// ECDHE-ECDSA-AES128-GCM-SHA256
    EcdheEcdsaAes128Gcm,
    /// ECDHE-ECDSA-AES256-GCM-SHA384
    EcdheEcdsaAes256Gcm,
    /// ECDHE-ECDSA-CHACHA20-POLY1305
    EcdheEcdsaChacha20,
    /// ECDHE-RSA-AES128-GCM-SHA256
    EcdheRsaAes128Gcm,
    /// ECDHE-RSA-AES256-GCM-SHA384
    EcdheRsaAes256Gcm,
    /// ECDHE-RSA-CHACHA20-POLY1305
    EcdheRsaChacha20,
}

/// A key exchange group (`curves`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    X25519,
    /// P-256 (prime256v1, secp256r1)
    P256,
    /// P-384 (secp384r1)
    P384,
}

/// The settings a bind, a crt-list line or a server line can give.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// `ca-file`: trusted CAs (bind: for client certificates; server: for
    /// the server's certificate). `@system-ca`: the system's trusted CAs
    /// (HAProxy 2.6's word, kept as written).
    pub ca_file: Option<PathBuf>,
    /// `crl-file`.
    pub crl_file: Option<PathBuf>,
    pub verify: Verify,
    /// `alpn`: protocol names in preference order (empty: no ALPN).
    pub alpn: Vec<Vec<u8>>,
    /// `ssl-min-ver` / `ssl-max-ver` (and `no-tlsv1x` / `force-tlsv1x`),
    /// already clamped to what the library speaks.
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// `ciphers` (TLS 1.2 suites) in preference order; `None`: the library's.
    pub ciphers: Option<Vec<Suite>>,
    /// `ciphersuites` (TLS 1.3 suites); `None`: the library's.
    pub ciphersuites: Option<Vec<Suite>>,
    /// `curves`; `None`: the library's.
    pub curves: Option<Vec<Group>>,
    /// `no-tls-tickets`: no stateless resumption tickets (session ids still resume).
    pub no_tickets: bool,
    /// `prefer-client-ciphers` (bind): the client's order wins.
    pub prefer_client_ciphers: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            ca_file: None,
            crl_file: None,
            verify: Verify::None,
            alpn: Vec::new(),
            // HAProxy 2.6's default floor is TLSv1.2 too.
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            ciphers: None,
            ciphersuites: None,
            curves: None,
            no_tickets: false,
            prefer_client_ciphers: false,
        }
    }
}

/// `bind ... ssl crt ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct BindTls {
    /// `crt` and `crt-list` lines in the order written: the first
    /// certificate loaded is the default one (no SNI, or no match).
    pub certs: Vec<CertRef>,
    pub settings: TlsSettings,
    /// `strict-sni`: no certificate for the name means no handshake.
    pub strict_sni: bool,
}

/// One certificate source of a bind.
#[derive(Debug, Clone, PartialEq)]
pub struct CertRef {
    /// A PEM file (certificate, chain, and key unless a `PATH.key` file
    /// holds it), or a directory whose every such file is loaded.
    pub path: PathBuf,
    /// Where it was named: the `bind` line, or the crt-list's line.
    pub location: Location,
    /// From a crt-list line: its settings (the bind's with the line's
    /// `[...]` options over them) and its SNI filters.
    pub list: Option<CrtListEntry>,
}

/// What a crt-list line adds to its certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CrtListEntry {
    /// The crt-list file.
    pub file: PathBuf,
    pub settings: TlsSettings,
    /// SNI filters: names (`*.example.com` wildcards) this certificate
    /// answers for instead of its own CN/SAN; `!name` excludes. Empty: its
    /// own names.
    pub filters: Vec<String>,
    /// The line as written, for `show ssl crt-list`.
    pub text: CrtListText,
}

/// A crt-list line's options and filters as written (HAProxy's runtime
/// API shows them so).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CrtListText {
    /// The `[...]` options in order, each with its value (empty for a
    /// flag; files after `ca-base`); `None`: the line has no brackets.
    pub options: Option<Vec<(String, String)>>,
    /// The SNI filters, in their case.
    pub filters: Vec<String>,
}

/// A server's TLS settings (`ssl` and its companions; also what
/// `check-ssl` uses).
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    /// `ssl`: the server connection speaks TLS.
    pub enabled: bool,
    pub settings: TlsSettings,
    /// `verifyhost`: the name the certificate must carry when no SNI is sent
    /// (with an SNI, the SNI is checked, as in HAProxy).
    pub verifyhost: Option<String>,
    /// `sni EXPR`: evaluated per session for the server name sent.
    pub sni: Option<SampleExpr>,
    /// `crt`: a client certificate (PEM with key) shown to the server.
    pub crt: Option<PathBuf>,
    /// `no-ssl-reuse`: no session resumption to this server.
    pub no_reuse: bool,
    /// `check-ssl`: health checks speak TLS too (on a server without `ssl`).
    pub check_ssl: bool,
    /// `check-sni NAME`.
    pub check_sni: Option<String>,
    /// `check-alpn LIST`.
    pub check_alpn: Vec<Vec<u8>>,
    /// `set server ssl off` (runtime API) on a server with `ssl`: its TLS
    /// context is kept for `set server ssl on`.
    pub switched_off: bool,
}

/// What a TLS fetch (`ssl_fc_*`, `ssl_c_*`) asks of the client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFetch {
    /// `ssl_fc`: the client connection is TLS.
    Fc,
    /// `ssl_fc_sni`
    FcSni,
    /// `ssl_fc_alpn`
    FcAlpn,
    /// `ssl_fc_protocol`: `TLSv1.3`...
    FcProtocol,
    /// `ssl_fc_cipher`: the OpenSSL name of the suite.
    FcCipher,
    /// `ssl_c_used`: the client sent a certificate.
    CUsed,
    /// `ssl_c_verify`: 0 when its certificate verified (or none was sent).
    CVerify,
    /// `ssl_c_s_dn`: the client certificate's subject, `/C=../CN=..`.
    CSubjectDn,
    /// `ssl_c_i_dn`: its issuer.
    CIssuerDn,
}
