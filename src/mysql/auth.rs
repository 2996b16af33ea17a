//! The authentication plugins the monitor speaks, and what it answers to
//! each: `mysql_native_password` (MariaDB's default) and the fast path of
//! `caching_sha2_password` (MySQL 8's default). Both prove the password
//! by hashing it with the server's 20-byte nonce, so nothing here sees
//! the network; `proto` picks the plugin and sends the answer.
//!
//! Plugins that need the password in clear or RSA-encrypted
//! (`sha256_password`, `caching_sha2_password`'s full authentication,
//! `mysql_clear_password`, `dialog`) or another algorithm
//! (`client_ed25519`, `mysql_old_password`) are refused by name.

use sha1::{Digest, Sha1};
use sha2::Sha256;

/// Length of the nonce ("scramble") both plugins hash with.
pub(crate) const NONCE_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plugin {
    Native,
    CachingSha2,
}

impl Plugin {
    pub(crate) fn from_name(name: &[u8]) -> Option<Plugin> {
        match name {
            b"mysql_native_password" => Some(Plugin::Native),
            b"caching_sha2_password" => Some(Plugin::CachingSha2),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Plugin::Native => "mysql_native_password",
            Plugin::CachingSha2 => "caching_sha2_password",
        }
    }

    /// The auth response to the server's nonce. An empty password is sent
    /// as an empty response, which both plugins read as "no password".
    pub(crate) fn answer(self, password: &str, nonce: &[u8]) -> Vec<u8> {
        if password.is_empty() {
            return Vec::new();
        }
        match self {
            Plugin::Native => native_password(password.as_bytes(), nonce).to_vec(),
            Plugin::CachingSha2 => caching_sha2_password(password.as_bytes(), nonce).to_vec(),
        }
    }
}

/// `SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))`: the server keeps
/// `SHA1(SHA1(pw))`, so it can undo the XOR and hash the result to check it.
pub(crate) fn native_password(password: &[u8], nonce: &[u8]) -> [u8; 20] {
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mask = Sha1::new()
        .chain_update(nonce)
        .chain_update(stage2)
        .finalize();
    xor(&stage1, &mask)
}

/// `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)`. The order inside
/// the second hash is the one MySQL's server computes (the hash first,
/// then the nonce); MariaDB's page on the plugin writes it the other way.
pub(crate) fn caching_sha2_password(password: &[u8], nonce: &[u8]) -> [u8; 32] {
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mask = Sha256::new()
        .chain_update(stage2)
        .chain_update(nonce)
        .finalize();
    xor(&stage1, &mask)
}

fn xor<const N: usize>(a: &[u8], b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}
