//! The auth plugins: scrambles against vectors computed with Python's
//! hashlib, and the login flows a live MariaDB cannot show (MySQL 8's
//! caching_sha2_password, switches to plugins the monitor refuses).
//! mysql_native_password is also checked by the recorded logins in
//! `proto_tests`, which a real server accepted.

use super::auth::{Plugin, caching_sha2_password, native_password};
use super::proto::{Client, Event, ProtoError};

/// The nonce of the vectors: bytes 1 to 20.
pub(super) const NONCE: [u8; 20] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
];

// pw = b"monpass"; nonce = bytes(range(1, 21))
// s1 = sha1(pw); (s1 XOR sha1(nonce + sha1(s1))).hex()
const NATIVE: &str = "d6f04a1f0be670fad5ebcb3570ae34fb5df84fcf";
// h1 = sha256(pw); (h1 XOR sha256(sha256(h1) + nonce)).hex()
const SHA2: &str = "98e3fbcdcb3dffbc5354d9c6f80099643e75d364817c3916bd9ea55c9f58f671";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// MySQL 8.0's capabilities, DEPRECATE_EOF and PLUGIN_AUTH included.
pub(super) const MYSQL8_CAPS: u32 = 0xDFFF_FFFF;

/// A handshake v10 as MySQL 8 sends it, with [`NONCE`].
pub(super) fn greeting(version: &str, caps: u32, plugin: &str) -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(&NONCE[..8]);
    p.push(0);
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(255);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(&NONCE[8..]);
    p.push(0);
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    frame(0, &p)
}

pub(super) const OK: [u8; 7] = [0, 0, 0, 2, 0, 0, 0];

/// The auth response and plugin name of a handshake response.
fn auth_of(response: &[u8], user: &str) -> (Vec<u8>, Vec<u8>) {
    let at = 4 + 32 + user.len() + 1;
    let len = usize::from(response[at]);
    let data = response[at + 1..at + 1 + len].to_vec();
    let name = &response[at + 1 + len..];
    (data, name[..name.len() - 1].to_vec())
}

fn take(c: &mut Client) -> Vec<u8> {
    let out = c.output().to_vec();
    c.written(out.len());
    out
}

#[test]
fn scrambles_match_the_vectors() {
    assert_eq!(hex(&native_password(b"monpass", &NONCE)), NATIVE);
    assert_eq!(hex(&caching_sha2_password(b"monpass", &NONCE)), SHA2);
    assert_eq!(hex(&Plugin::Native.answer("monpass", &NONCE)), NATIVE);
    assert!(Plugin::Native.answer("", &NONCE).is_empty());
    assert!(Plugin::CachingSha2.answer("", &NONCE).is_empty());
}

#[test]
fn the_greetings_plugin_picks_the_first_answer() {
    let cases = [
        ("mysql_native_password", NATIVE, "mysql_native_password"),
        ("caching_sha2_password", SHA2, "caching_sha2_password"),
        // Not spoken: answered as native; the server switches if need be.
        ("sha256_password", NATIVE, "mysql_native_password"),
    ];
    for (offered, answer, named) in cases {
        let mut c = Client::new("monitor", "monpass");
        c.receive(&greeting("8.0.36", MYSQL8_CAPS, offered))
            .unwrap();
        let out = take(&mut c);
        assert_eq!(out[3], 1, "{offered}");
        let (data, name) = auth_of(&out, "monitor");
        assert_eq!(hex(&data), answer, "{offered}");
        assert_eq!(name, named.as_bytes(), "{offered}");
        assert_eq!(c.server_version(), Some("8.0.36"));
        assert_eq!(c.connection_id(), Some(7));
    }
}

#[test]
fn caching_sha2_fast_auth_logs_in() {
    let mut c = Client::new("monitor", "monpass");
    c.query("SELECT 1");
    c.receive(&greeting("8.0.36", MYSQL8_CAPS, "caching_sha2_password"))
        .unwrap();
    take(&mut c);
    c.receive(&frame(2, &[1, 3])).unwrap();
    assert!(!c.logged_in(), "the OK is still due");
    assert!(c.output().is_empty());
    c.receive(&frame(3, &OK)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::LoggedIn));
    assert_eq!(take(&mut c), frame(0, b"\x03SELECT 1"));
}

#[test]
fn caching_sha2_full_auth_is_refused_with_a_reason() {
    let mut c = Client::new("monitor", "monpass");
    c.receive(&greeting("8.0.36", MYSQL8_CAPS, "caching_sha2_password"))
        .unwrap();
    take(&mut c);
    let error = c.receive(&frame(2, &[1, 4])).unwrap_err();
    assert_eq!(error, ProtoError::FullAuthRequired);
    let text = error.to_string();
    assert!(text.contains("caching_sha2_password") && text.contains("mysql_native_password"));
    assert!(c.output().is_empty(), "nothing more is sent");
}

#[test]
fn a_switch_to_caching_sha2_is_answered_with_the_new_nonce() {
    let mut c = Client::new("monitor", "monpass");
    let other = [9u8; 20];
    let mut g = greeting("8.0.36", MYSQL8_CAPS, "mysql_native_password");
    // The greeting's nonce is not the switch's: put another one in it.
    let at = g.len() - 1 - "mysql_native_password".len() - 1 - 12;
    g[at..at + 12].copy_from_slice(&other[..12]);
    c.receive(&g).unwrap();
    take(&mut c);
    let mut switch = b"\xFEcaching_sha2_password\0".to_vec();
    switch.extend_from_slice(&NONCE);
    switch.push(0);
    c.receive(&frame(2, &switch)).unwrap();
    let answer = take(&mut c);
    assert_eq!(answer[..4], [32, 0, 0, 3]);
    assert_eq!(hex(&answer[4..]), SHA2);
    c.receive(&frame(4, &[1, 3])).unwrap();
    c.receive(&frame(5, &OK)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::LoggedIn));
}

#[test]
fn switches_to_other_plugins_are_refused_by_name() {
    let cases: [(&[u8], &str); 5] = [
        (
            b"\xFEclient_ed25519\0nonce-nonce-nonce-nonce-nonce-nonce\0",
            "client_ed25519",
        ),
        (
            b"\xFEsha256_password\0abcdefghijklmnopqrst\0",
            "sha256_password",
        ),
        (b"\xFEdialog\0\x04Password: ", "dialog"),
        (b"\xFEmysql_clear_password\0", "mysql_clear_password"),
        (b"\xFE", "mysql_old_password"),
    ];
    for (switch, name) in cases {
        let mut c = Client::new("monitor", "monpass");
        c.receive(&greeting(
            "10.11.19-MariaDB",
            MYSQL8_CAPS,
            "mysql_native_password",
        ))
        .unwrap();
        take(&mut c);
        let error = c.receive(&frame(2, switch)).unwrap_err();
        assert_eq!(error, ProtoError::UnsupportedPlugin(name.to_owned()));
        assert!(c.output().is_empty(), "{name}");
    }
}

#[test]
fn a_switch_with_a_short_nonce_is_malformed() {
    let mut c = Client::new("monitor", "monpass");
    c.receive(&greeting("8.0.36", MYSQL8_CAPS, "mysql_native_password"))
        .unwrap();
    take(&mut c);
    let error = c
        .receive(&frame(2, b"\xFEmysql_native_password\0short\0"))
        .unwrap_err();
    assert_eq!(error, ProtoError::Malformed("auth switch request"));
}

#[test]
fn native_password_refuses_auth_data() {
    let mut c = Client::new("monitor", "monpass");
    c.receive(&greeting("8.0.36", MYSQL8_CAPS, "mysql_native_password"))
        .unwrap();
    let error = c.receive(&frame(2, &[1, 3])).unwrap_err();
    assert!(matches!(error, ProtoError::Unexpected(_)), "{error:?}");
}
