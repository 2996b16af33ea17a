//! In-process cost of rustls's SERVER side, per crypto provider (feature
//! `aws`, the default, or `ring`): client and server connections talk over
//! in-memory buffers, and only the server's calls are timed, on this
//! thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), so time spent descheduled
//! by a noisy neighbour does not count. `provider-bench.sh` beside
//! Cargo.toml builds it both ways, runs both in turn and prints medians.
//!
//!     tls-provider CERTDIR [SECONDS_PER_CASE [CASE_PREFIX]]
//!
//! CERTDIR holds ca.pem, and ecdsa.pem/ecdsa.key and rsa.pem/rsa.key
//! issued by it for `localhost`. Prints TSV lines: provider case value unit.
//! Cases: full and resumed handshakes per second of server CPU; rustls
//! records encrypted and decrypted (GB/s of plaintext, 16 KiB records);
//! the provider's AEAD alone on the same records; live heap bytes per
//! idle ServerConnection (a counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig, ServerConnection,
};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

#[cfg(feature = "aws")]
use rustls::crypto::aws_lc_rs as prov;
#[cfg(all(feature = "ring", not(feature = "aws")))]
#[allow(deprecated)]
use rustls::crypto::ring as prov;

#[cfg(feature = "aws")]
const NAME: &str = "aws-lc-rs";
#[cfg(all(feature = "ring", not(feature = "aws")))]
const NAME: &str = "ring";

// --- a counting allocator: live heap bytes ---------------------------------
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// --- configs -----------------------------------------------------------------
struct Certs {
    ca: CertificateDer<'static>,
    ecdsa: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    rsa: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

fn load(dir: &str) -> Certs {
    let chain = |f: &str| {
        CertificateDer::pem_file_iter(format!("{dir}/{f}"))
            .expect("cert file")
            .collect::<Result<Vec<_>, _>>()
            .expect("cert pem")
    };
    let key = |f: &str| PrivateKeyDer::from_pem_file(format!("{dir}/{f}")).expect("key pem");
    Certs {
        ca: chain("ca.pem").remove(0),
        ecdsa: (chain("ecdsa.pem"), key("ecdsa.key")),
        rsa: (chain("rsa.pem"), key("rsa.key")),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kx {
    X25519,
    P256,
    Default,
}

#[derive(Clone, Copy, PartialEq)]
enum Resume {
    None,
    Tickets,
    Stateful,
}

struct Case {
    rsa: bool,
    version: &'static SupportedProtocolVersion,
    suite: Option<SupportedCipherSuite>,
    /// The key-exchange group: X25519, P-256, or the provider's default
    /// order (aws-lc-rs: X25519MLKEM768 first; ring: P-384 first).
    kx: Kx,
    resume: Resume,
}

fn provider(case: &Case) -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    let mut p = prov::default_provider();
    match case.kx {
        Kx::X25519 => p.kx_groups = vec![prov::kx_group::X25519],
        Kx::P256 => p.kx_groups = vec![prov::kx_group::SECP256R1],
        Kx::Default => {}
    }
    if let Some(s) = case.suite {
        p.cipher_suites = vec![s];
    }
    Arc::new(p)
}

fn configs(certs: &Certs, case: &Case) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let p = provider(case);
    let (chain, key) = if case.rsa { &certs.rsa } else { &certs.ecdsa };
    let mut s = ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[case.version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key.clone_key())
        .unwrap();
    match case.resume {
        Resume::Tickets => s.ticketer = prov::Ticketer::new().unwrap(),
        Resume::Stateful => {}
        Resume::None => {
            s.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            s.send_tls13_tickets = 0;
        }
    }
    let mut roots = RootCertStore::empty();
    roots.add(certs.ca.clone()).unwrap();
    let mut c = ClientConfig::builder_with_provider(p)
        .with_protocol_versions(&[case.version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if case.resume == Resume::None {
        c.resumption = rustls::client::Resumption::disabled();
    }
    (Arc::new(s), Arc::new(c))
}

// --- moving bytes ------------------------------------------------------------
/// Client → server; the server's part is timed into `t`.
fn c2s(c: &mut ClientConnection, s: &mut ServerConnection, buf: &mut Vec<u8>, t: &mut u64) {
    buf.clear();
    while c.wants_write() {
        c.write_tls(buf).unwrap();
    }
    let t0 = cpu_ns();
    let mut rd = &buf[..];
    while !rd.is_empty() {
        s.read_tls(&mut rd).unwrap();
        s.process_new_packets().unwrap();
    }
    *t += cpu_ns() - t0;
}

/// Server → client; the server's part is timed into `t`.
fn s2c(s: &mut ServerConnection, c: &mut ClientConnection, buf: &mut Vec<u8>, t: &mut u64) {
    buf.clear();
    let t0 = cpu_ns();
    while s.wants_write() {
        s.write_tls(buf).unwrap();
    }
    *t += cpu_ns() - t0;
    let mut rd = &buf[..];
    while !rd.is_empty() {
        c.read_tls(&mut rd).unwrap();
        c.process_new_packets().unwrap();
    }
}

fn handshake(
    sc: &Arc<ServerConfig>,
    cc: &Arc<ClientConfig>,
    buf: &mut Vec<u8>,
    t: &mut u64,
) -> (ServerConnection, ClientConnection) {
    let t0 = cpu_ns();
    let mut s = ServerConnection::new(sc.clone()).unwrap();
    *t += cpu_ns() - t0;
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = ClientConnection::new(cc.clone(), name).unwrap();
    while c.is_handshaking() || s.is_handshaking() {
        c2s(&mut c, &mut s, buf, t);
        s2c(&mut s, &mut c, buf, t);
    }
    // TLS 1.3 tickets come after the handshake: the client must have them.
    s2c(&mut s, &mut c, buf, t);
    (s, c)
}

/// Server CPU handshakes/s: as many handshakes as fit in `secs` of server CPU.
fn handshakes(certs: &Certs, case: &Case, secs: f64) -> f64 {
    let (sc, cc) = configs(certs, case);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut warm = 0;
    handshake(&sc, &cc, &mut buf, &mut warm); // primes the client's session cache
    let (mut t, mut n) = (0u64, 0u64);
    while (t as f64) < secs * 1e9 {
        let (s, c) = handshake(&sc, &cc, &mut buf, &mut t);
        let resumed = s.handshake_kind() == Some(HandshakeKind::Resumed);
        assert_eq!(
            resumed,
            case.resume != Resume::None,
            "resumption not as asked"
        );
        let t0 = cpu_ns();
        drop(s);
        t += cpu_ns() - t0;
        drop(c);
        n += 1;
    }
    n as f64 / (t as f64 / 1e9)
}

/// Server encrypt and decrypt GB/s (1e9 bytes of plaintext per second of
/// server CPU) of full 16 KiB records.
fn bulk(certs: &Certs, case: &Case, secs: f64) -> (f64, f64) {
    let (sc, cc) = configs(certs, case);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut skip = 0;
    let (mut s, mut c) = handshake(&sc, &cc, &mut buf, &mut skip);
    let data = vec![0x5au8; 16384];
    let mut sink = vec![0u8; 1 << 16];
    const BATCH: usize = 4; // records per round: under rustls's 64 KiB buffer limit

    let (mut t, mut bytes) = (0u64, 0u64);
    let mut checked = false;
    while (t as f64) < secs * 1e9 {
        buf.clear();
        let t0 = cpu_ns();
        for _ in 0..BATCH {
            s.writer().write_all(&data).unwrap();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
        }
        t += cpu_ns() - t0;
        bytes += (BATCH * data.len()) as u64;
        if !checked {
            // Once: the ciphertext decrypts to what was sent.
            let mut rd = &buf[..];
            let mut got = 0;
            while !rd.is_empty() {
                c.read_tls(&mut rd).unwrap();
                c.process_new_packets().unwrap();
                loop {
                    match c.reader().read(&mut sink) {
                        Ok(0) => break,
                        Ok(k) => {
                            assert!(sink[..k].iter().all(|&b| b == 0x5a));
                            got += k;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            assert_eq!(got, BATCH * data.len());
            checked = true;
        }
    }
    let enc = bytes as f64 / (t as f64 / 1e9) / 1e9;

    let (mut t, mut bytes) = (0u64, 0u64);
    while (t as f64) < secs * 1e9 {
        buf.clear();
        for _ in 0..BATCH {
            c.writer().write_all(&data).unwrap();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
        }
        let t0 = cpu_ns();
        let mut rd = &buf[..];
        let mut got = 0;
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
            s.process_new_packets().unwrap();
            loop {
                match s.reader().read(&mut sink) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        t += cpu_ns() - t0;
        assert_eq!(got, BATCH * data.len());
        bytes += got as u64;
    }
    let dec = bytes as f64 / (t as f64 / 1e9) / 1e9;
    (enc, dec)
}

/// Live heap bytes per idle ServerConnection (boxed, as a slab entry would
/// hold it or its owner) after the handshake, and after 64 B each way. The
/// clients keep no session (their cache would count), the server sends
/// tickets as configured.
fn memory(certs: &Certs, case: &Case, n: usize) -> (f64, f64) {
    let (sc, cc) = configs(certs, case);
    let mut cc = (*cc).clone();
    cc.resumption = rustls::client::Resumption::disabled();
    let cc = Arc::new(cc);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut skip = 0;
    drop(handshake(&sc, &cc, &mut buf, &mut skip));

    let base = LIVE.load(Ordering::Relaxed);
    let mut servers: Vec<Box<ServerConnection>> = Vec::with_capacity(n);
    for _ in 0..n {
        let (s, c) = handshake(&sc, &cc, &mut buf, &mut skip);
        servers.push(Box::new(s));
        drop(c);
    }
    let idle = (LIVE.load(Ordering::Relaxed) - base) as f64 / n as f64;
    drop(servers);

    let base = LIVE.load(Ordering::Relaxed);
    let mut servers: Vec<Box<ServerConnection>> = Vec::with_capacity(n);
    let mut clients: Vec<ClientConnection> = Vec::with_capacity(n);
    let msg = [0x41u8; 64];
    let mut sink = [0u8; 256];
    for _ in 0..n {
        let (mut s, mut c) = handshake(&sc, &cc, &mut buf, &mut skip);
        c.writer().write_all(&msg).unwrap();
        c2s(&mut c, &mut s, &mut buf, &mut skip);
        let k = s.reader().read(&mut sink).unwrap();
        s.writer().write_all(&sink[..k]).unwrap();
        s2c(&mut s, &mut c, &mut buf, &mut skip);
        assert_eq!(c.reader().read(&mut sink).unwrap(), 64);
        servers.push(Box::new(s));
        clients.push(c);
    }
    drop(clients);
    let echo = (LIVE.load(Ordering::Relaxed) - base) as f64 / n as f64;
    drop(servers);
    (idle, echo)
}

#[cfg(feature = "aws")]
use aws_lc_rs as raw;
#[cfg(all(feature = "ring", not(feature = "aws")))]
use ring as raw;

/// The provider's AEAD alone, seal and open in place on 16 KiB records
/// (what a record costs without rustls's buffering and copies): GB/s.
fn aead(alg: &'static raw::aead::Algorithm, secs: f64) -> (f64, f64) {
    use raw::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(alg, &[7u8; 32][..alg.key_len()]).unwrap());
    let mut rec = vec![0x5au8; 16384];
    let nonce = |i: u64| {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&i.to_be_bytes());
        Nonce::assume_unique_for_key(n)
    };
    let (mut t, mut n) = (0u64, 0u64);
    let mut tags = Vec::new();
    while (t as f64) < secs * 1e9 {
        let t0 = cpu_ns();
        for _ in 0..64 {
            let tag = key
                .seal_in_place_separate_tag(nonce(n), Aad::from([23u8, 3, 3, 0x40, 0x11]), &mut rec)
                .unwrap();
            if tags.is_empty() {
                tags.push((rec.clone(), tag));
            }
            n += 1;
        }
        t += cpu_ns() - t0;
    }
    let seal = (n * 16384) as f64 / (t as f64 / 1e9) / 1e9;
    let (sealed, tag) = tags.pop().unwrap();
    let mut buf = sealed.clone();
    buf.extend_from_slice(tag.as_ref());
    let (mut t, mut k) = (0u64, 0u64);
    let mut work = buf.clone();
    while (t as f64) < secs * 1e9 {
        let t0 = cpu_ns();
        for _ in 0..64 {
            work.copy_from_slice(&buf); // open() overwrites in place; 16 KiB memcpy is small beside it
            let p = key
                .open_in_place(nonce(0), Aad::from([23u8, 3, 3, 0x40, 0x11]), &mut work)
                .unwrap();
            assert_eq!(p.len(), 16384);
            k += 1;
        }
        t += cpu_ns() - t0;
    }
    let open = (k * 16384) as f64 / (t as f64 / 1e9) / 1e9;
    (seal, open)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let certs = load(&args[1]);
    let secs: f64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(0.5);
    let only = args.get(3).cloned().unwrap_or_default();
    let v13 = &rustls::version::TLS13;
    let v12 = &rustls::version::TLS12;
    let full = |rsa, version, kx| Case {
        rsa,
        version,
        suite: None,
        kx,
        resume: Resume::None,
    };
    let out = |case: &str, v: f64, unit: &str| println!("{NAME}\t{case}\t{v:.3}\t{unit}");
    let want = |k: &str| only.is_empty() || k.starts_with(&only);

    if want("full") {
        for (label, case) in [
            ("full_tls13_ecdsa", full(false, v13, Kx::X25519)),
            ("full_tls13_rsa", full(true, v13, Kx::X25519)),
            ("full_tls12_ecdsa", full(false, v12, Kx::X25519)),
            ("full_tls12_rsa", full(true, v12, Kx::X25519)),
            ("full_tls13_ecdsa_p256kx", full(false, v13, Kx::P256)),
            ("full_tls13_ecdsa_defaultkx", full(false, v13, Kx::Default)),
        ] {
            out(label, handshakes(&certs, &case, secs), "hs/s");
        }
    }
    if want("resumed") {
        for (label, version, resume) in [
            ("resumed_tls13_tickets", v13, Resume::Tickets),
            ("resumed_tls13_stateful", v13, Resume::Stateful),
            ("resumed_tls12_tickets", v12, Resume::Tickets),
            ("resumed_tls12_sessionid", v12, Resume::Stateful),
        ] {
            let case = Case {
                rsa: false,
                version,
                suite: None,
                kx: Kx::X25519,
                resume,
            };
            out(label, handshakes(&certs, &case, secs), "hs/s");
        }
    }
    if want("bulk") {
        for (label, suite) in [
            ("aes128gcm", prov::cipher_suite::TLS13_AES_128_GCM_SHA256),
            ("aes256gcm", prov::cipher_suite::TLS13_AES_256_GCM_SHA384),
            (
                "chacha20",
                prov::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            ),
        ] {
            let case = Case {
                rsa: false,
                version: v13,
                suite: Some(suite),
                kx: Kx::X25519,
                resume: Resume::None,
            };
            let (e, d) = bulk(&certs, &case, secs);
            out(&format!("bulk_{label}_encrypt"), e, "GB/s");
            out(&format!("bulk_{label}_decrypt"), d, "GB/s");
        }
    }
    if want("aead") {
        for (label, alg) in [
            ("aes128gcm", &raw::aead::AES_128_GCM),
            ("aes256gcm", &raw::aead::AES_256_GCM),
            ("chacha20", &raw::aead::CHACHA20_POLY1305),
        ] {
            let (e, d) = aead(alg, secs);
            out(&format!("aead_{label}_seal"), e, "GB/s");
            out(&format!("aead_{label}_open"), d, "GB/s");
        }
    }
    if want("mem") {
        for (label, case) in [
            (
                "mem_tls13",
                Case {
                    rsa: false,
                    version: v13,
                    suite: None,
                    kx: Kx::X25519,
                    resume: Resume::Tickets,
                },
            ),
            (
                "mem_tls12",
                Case {
                    rsa: false,
                    version: v12,
                    suite: None,
                    kx: Kx::X25519,
                    resume: Resume::Tickets,
                },
            ),
        ] {
            let (idle, echo) = memory(&certs, &case, 1000);
            out(&format!("{label}_idle"), idle, "B/conn");
            out(&format!("{label}_echo"), echo, "B/conn");
        }
        println!(
            "{NAME}\tsize_of_ServerConnection\t{}\tB",
            std::mem::size_of::<ServerConnection>()
        );
    }
}
