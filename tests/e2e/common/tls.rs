//! A TLS ClientHello builder for the SNI routing tests: one handshake
//! record (TLS 1.2, or TLS 1.3 with `supported_versions` and a key share)
//! carrying `server_name` and ALPN extensions, optionally padded to a size,
//! and a writer that sends it in several TCP segments. Deterministic: the
//! random and the key share come from [`Prng`], so a test can compare the
//! bytes a backend received with the bytes sent.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, Prng};

/// What goes into a ClientHello.
#[derive(Clone, Debug)]
pub struct Hello<'a> {
    /// The `server_name` extension's host name (none: no extension).
    pub sni: Option<&'a str>,
    /// ALPN protocol names, in order (empty: no extension).
    pub alpn: &'a [&'a str],
    /// Offer TLS 1.3 (`supported_versions`, `key_share`, a 32-byte legacy
    /// session id); else a plain TLS 1.2 hello.
    pub tls13: bool,
    /// Pad with a `padding` extension (RFC 7685) so the record is exactly
    /// this many bytes long (header included), if it is not longer already.
    pub size: Option<usize>,
    /// Seed of the random, session id and key share.
    pub seed: u64,
}

impl Default for Hello<'_> {
    fn default() -> Self {
        Hello {
            sni: None,
            alpn: &[],
            tls13: true,
            size: None,
            seed: 1,
        }
    }
}

fn u16be(v: usize) -> [u8; 2] {
    u16::try_from(v)
        .expect("field fits in 16 bits")
        .to_be_bytes()
}

fn ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u16be(data.len()));
    out.extend_from_slice(data);
}

/// The extensions block without its length prefix.
fn extensions(h: &Hello, prng: &mut Prng) -> Vec<u8> {
    let mut e = Vec::new();
    if let Some(name) = h.sni {
        let mut entry = vec![0u8]; // name_type host_name
        entry.extend_from_slice(&u16be(name.len()));
        entry.extend_from_slice(name.as_bytes());
        let mut data = u16be(entry.len()).to_vec();
        data.extend_from_slice(&entry);
        ext(&mut e, 0x0000, &data);
    }
    // supported_groups: x25519, secp256r1.
    ext(&mut e, 0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed.
    ext(&mut e, 0x000b, &[1, 0]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256,
    // rsa_pkcs1_sha256.
    ext(&mut e, 0x000d, &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]);
    if !h.alpn.is_empty() {
        let mut list = Vec::new();
        for p in h.alpn {
            list.push(u8::try_from(p.len()).expect("ALPN name under 256 bytes"));
            list.extend_from_slice(p.as_bytes());
        }
        let mut data = u16be(list.len()).to_vec();
        data.extend_from_slice(&list);
        ext(&mut e, 0x0010, &data);
    }
    if h.tls13 {
        // supported_versions: TLS 1.3, TLS 1.2.
        ext(&mut e, 0x002b, &[4, 0x03, 0x04, 0x03, 0x03]);
        // key_share: one x25519 share.
        let mut key = [0u8; 32];
        prng.fill(&mut key);
        let mut data = vec![0, 36, 0x00, 0x1d, 0, 32];
        data.extend_from_slice(&key);
        ext(&mut e, 0x0033, &data);
    }
    e
}

/// The ClientHello record described by `h`.
pub fn client_hello(h: &Hello) -> Vec<u8> {
    let mut prng = Prng::new(h.seed);
    let mut body = vec![0x03, 0x03]; // legacy_version TLS 1.2
    let mut random = [0u8; 32];
    prng.fill(&mut random);
    body.extend_from_slice(&random);
    if h.tls13 {
        let mut sid = [0u8; 32];
        prng.fill(&mut sid);
        body.push(32);
        body.extend_from_slice(&sid);
    } else {
        body.push(0);
    }
    let suites: &[u16] = if h.tls13 {
        &[0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc030]
    } else {
        &[0xc02b, 0xc02f, 0xc030, 0x009e]
    };
    body.extend_from_slice(&u16be(suites.len() * 2));
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = extensions(h, &mut prng);
    // Record header 5 + handshake header 4 + body + extensions length 2.
    let bare = 5 + 4 + body.len() + 2 + exts.len();
    if let Some(size) = h.size {
        // A padding extension costs 4 bytes of header.
        if size >= bare + 4 {
            ext(&mut exts, 0x0015, &vec![0u8; size - bare - 4]);
        }
    }
    body.extend_from_slice(&u16be(exts.len()));
    body.extend_from_slice(&exts);
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut hs = vec![0x01, len[1], len[2], len[3]];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&u16be(hs.len()));
    rec.extend_from_slice(&hs);
    rec
}

/// Writes `bytes` in `pieces` writes of about equal size, with TCP_NODELAY
/// and `pause` between writes, so that each goes out as its own segment.
pub fn write_split(s: &TcpStream, bytes: &[u8], pieces: usize, pause: Duration) {
    s.set_nodelay(true).unwrap();
    let step = bytes.len().div_ceil(pieces.max(1));
    for (i, chunk) in bytes.chunks(step).enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        (&*s).write_all(chunk).unwrap();
    }
}

/// The SNI of a ClientHello record, read back (for checking the builder).
pub fn sni_of(rec: &[u8]) -> Option<String> {
    let get = |i: usize| rec.get(i).copied().map(usize::from);
    let get16 = |i: usize| Some(get(i)? << 8 | get(i + 1)?);
    if get(0)? != 0x16 || get(5)? != 1 {
        return None;
    }
    let mut p = 9 + 2 + 32; // record, handshake headers, version, random
    p += 1 + get(p)?; // session id
    p += 2 + get16(p)?; // cipher suites
    p += 1 + get(p)?; // compression methods
    let end = p + 2 + get16(p)?;
    p += 2;
    while p + 4 <= end {
        let (kind, len) = (get16(p)?, get16(p + 2)?);
        if kind == 0 {
            let n = get16(p + 7)?;
            return String::from_utf8(rec.get(p + 9..p + 9 + n)?.to_vec()).ok();
        }
        p += 4 + len;
    }
    None
}

/// A self-signed certificate and key in `dir`.
pub fn make_cert(openssl: &Path, dir: &Path) {
    let st = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl req");
    assert!(st.success(), "openssl req failed");
}

/// `openssl s_server` on `addr` (in `-www` mode, so it needs no stdin).
pub fn tls_server(openssl: &Path, dir: &Path, addr: SocketAddr) -> ChildGuard {
    ChildGuard::spawn(
        "openssl s_server",
        Command::new(openssl)
            .args(["s_server", "-www", "-accept"])
            .arg(addr.to_string())
            .arg("-cert")
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}
