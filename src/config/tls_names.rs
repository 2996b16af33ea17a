//! OpenSSL's names for cipher suites and key exchange groups, as HAProxy
//! passes them to OpenSSL (`ciphers`, `ciphersuites`, `curves`, `ecdhe` and
//! their `ssl-default-*` forms), turned into what rustls implements
//! ([`Suite`], [`Group`]). Nothing is dropped silently: a name rustls lacks
//! is a warning, and a list left empty is an error.
//!
//! `ciphers` follows OpenSSL's cipher list language (`ciphers(1)`): words
//! separated by `:`, `,`, `;` or spaces; `A+B` selects what both select;
//! a bare word appends what it selects and is not yet there, `+X` moves
//! what it selects to the end, `-X` takes it out (a later word may add it
//! back), `!X` takes it out for good, `@STRENGTH` sorts by key length. The
//! word meanings (`HIGH`, `ECDHE`, `aRSA`...) are OpenSSL 3's restricted to
//! the six TLS 1.2 suites rustls has, and the base order is OpenSSL's
//! (checked with `openssl ciphers -s -tls1_2 WORDS`).

use super::model::{Group, Suite};

/// A list of names read: what rustls implements, in order, and one warning
/// per name it does not (`'KEYWORD': 'NAME' has no equivalent in rustls;
/// ignored`).
#[derive(Debug, PartialEq)]
pub(super) struct Chosen<T> {
    pub list: Vec<T>,
    pub warnings: Vec<String>,
}

/// The TLS 1.2 suites rustls implements, in OpenSSL's base order (the
/// order `ALL` or `HIGH` gives them); bit `i` of a [`Mask`] is `TLS12[i]`.
const TLS12: [(Suite, &str); 6] = [
    (Suite::EcdheEcdsaAes256Gcm, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    (Suite::EcdheRsaAes256Gcm, "ECDHE-RSA-AES256-GCM-SHA384"),
    (Suite::EcdheEcdsaChacha20, "ECDHE-ECDSA-CHACHA20-POLY1305"),
    (Suite::EcdheRsaChacha20, "ECDHE-RSA-CHACHA20-POLY1305"),
    (Suite::EcdheEcdsaAes128Gcm, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (Suite::EcdheRsaAes128Gcm, "ECDHE-RSA-AES128-GCM-SHA256"),
];

/// A set of [`TLS12`] suites.
type Mask = u8;

const ALL: Mask = 0b11_1111;
const ECDSA: Mask = 0b01_0101;
const RSA_AUTH: Mask = 0b10_1010;
const AES256: Mask = 0b00_0011;
const CHACHA20: Mask = 0b00_1100;
const AES128: Mask = 0b11_0000;

/// OpenSSL's words that select some of the six. Every other word (`DHE`,
/// `SHA256`, `CAMELLIA`, `RSA`, which OpenSSL reads as `kRSA`...) selects
/// none of them.
const ALIASES: &[(&str, Mask)] = &[
    ("ALL", ALL),
    // OpenSSL only reads `DEFAULT` first in a list; it selects the six.
    ("DEFAULT", ALL),
    ("HIGH", ALL),
    ("ECDHE", ALL),
    ("EECDH", ALL),
    ("kECDHE", ALL),
    ("kEECDH", ALL),
    ("ECDH", ALL),
    ("TLSv1.2", ALL),
    // Red Hat's OpenSSL: the system's crypto policy, that is the library's
    // defaults (RHEL's stock haproxy.cfg has `PROFILE=SYSTEM`).
    ("PROFILE=SYSTEM", ALL),
    ("AESGCM", AES128 | AES256),
    ("AES", AES128 | AES256),
    ("FIPS", AES128 | AES256),
    ("AES128", AES128),
    ("AES256", AES256),
    ("CHACHA20", CHACHA20),
    ("aECDSA", ECDSA),
    ("ECDSA", ECDSA),
    ("aRSA", RSA_AUTH),
    ("SUITEB128", ECDSA & (AES128 | AES256)),
    ("SUITEB128ONLY", ECDSA & AES128),
    ("SUITEB192", ECDSA & AES256),
];

/// Key length in bits, what `@STRENGTH` sorts by (AES-256 and ChaCha20
/// tie, as in OpenSSL).
fn strength(i: usize) -> u16 {
    if (AES128 >> i) & 1 == 1 { 128 } else { 256 }
}

/// What one word (without its prefix, `A+B` included) selects.
fn select(word: &str) -> Mask {
    word.split('+').fold(ALL, |acc, part| {
        let exact = TLS12.iter().position(|(_, n)| *n == part).map(|i| 1 << i);
        let alias = ALIASES.iter().find(|(n, _)| *n == part).map(|(_, m)| *m);
        acc & exact.or(alias).unwrap_or(0)
    })
}

fn ignored(keyword: &str, name: &str) -> String {
    format!("'{keyword}': '{name}' has no equivalent in rustls; ignored")
}

/// `ciphers` (TLS 1.2 and below), in OpenSSL's language.
pub(super) fn ciphers(keyword: &str, text: &str) -> Result<Chosen<Suite>, String> {
    // The six in their current order, each active or not; `!` removes one
    // from the list for good.
    let mut list: Vec<(usize, bool)> = (0..TLS12.len()).map(|i| (i, false)).collect();
    let mut warnings = Vec::new();
    for word in text.split([':', ',', ';', ' ']).filter(|w| !w.is_empty()) {
        if word == "@STRENGTH" {
            list.sort_by_key(|(i, _)| std::cmp::Reverse(strength(*i)));
            continue;
        }
        if word.starts_with('@') {
            warnings.push(format!(
                "'{keyword}': '{word}' has no meaning with rustls; ignored"
            ));
            continue;
        }
        let (op, name) = match word.as_bytes()[0] {
            b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
            _ => (0, word),
        };
        let mask = select(name);
        let hit = |i: usize| (mask >> i) & 1 == 1;
        match op {
            b'!' => list.retain(|(i, _)| !hit(*i)),
            b'-' => {
                // Taken out to the front, in order: OpenSSL gives the most
                // recently removed the best place when they come back.
                let (out, keep): (Vec<_>, Vec<_>) = list.iter().partition(|(i, on)| *on && hit(*i));
                list = out
                    .into_iter()
                    .map(|(i, _)| (i, false))
                    .chain(keep)
                    .collect();
            }
            b'+' => {
                let (moved, keep): (Vec<_>, Vec<_>) =
                    list.iter().partition(|(i, on)| *on && hit(*i));
                list = keep.into_iter().chain(moved).collect();
            }
            _ => {
                if mask == 0 {
                    warnings.push(ignored(keyword, word));
                }
                let (added, keep): (Vec<_>, Vec<_>) =
                    list.iter().partition(|(i, on)| !*on && hit(*i));
                list = keep
                    .into_iter()
                    .chain(added.into_iter().map(|(i, _)| (i, true)))
                    .collect();
            }
        }
    }
    let chosen: Vec<Suite> = list
        .iter()
        .filter(|(_, on)| *on)
        .map(|(i, _)| TLS12[*i].0)
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "'{text}' leaves no TLS 1.2 cipher suite rustls implements"
        ));
    }
    Ok(Chosen {
        list: chosen,
        warnings,
    })
}

/// `ciphersuites` (TLS 1.3): names separated by `:`.
pub(super) fn ciphersuites(keyword: &str, text: &str) -> Result<Chosen<Suite>, String> {
    let mut chosen = Vec::new();
    let mut warnings = Vec::new();
    for name in text.split(':').filter(|n| !n.is_empty()) {
        let suite = match name {
            "TLS_AES_128_GCM_SHA256" => Suite::Tls13Aes128Gcm,
            "TLS_AES_256_GCM_SHA384" => Suite::Tls13Aes256Gcm,
            "TLS_CHACHA20_POLY1305_SHA256" => Suite::Tls13Chacha20,
            // The CCM suites, and names OpenSSL does not know (it skips them).
            _ => {
                warnings.push(ignored(keyword, name));
                continue;
            }
        };
        if !chosen.contains(&suite) {
            chosen.push(suite);
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "'{text}' leaves no TLS 1.3 cipher suite rustls implements"
        ));
    }
    Ok(Chosen {
        list: chosen,
        warnings,
    })
}

/// Groups OpenSSL knows and rustls does not implement: a warning.
const OTHER_GROUPS: &[&str] = &[
    "P-521",
    "secp521r1",
    "X448",
    "ffdhe2048",
    "ffdhe3072",
    "ffdhe4096",
    "ffdhe6144",
    "ffdhe8192",
    "P-224",
    "secp224r1",
    "P-192",
    "secp192r1",
    "prime192v1",
    "secp256k1",
    "brainpoolP256r1",
    "brainpoolP384r1",
    "brainpoolP512r1",
];

/// `curves` and `ecdhe`: group names separated by `:`, as OpenSSL's
/// `SSL_CTX_set1_curves_list` reads both. A name OpenSSL does not know
/// either is an error, as it is for HAProxy.
pub(super) fn curves(keyword: &str, text: &str) -> Result<Chosen<Group>, String> {
    let mut chosen = Vec::new();
    let mut warnings = Vec::new();
    for name in text.split(':').filter(|n| !n.is_empty()) {
        let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
        let group = if is(&["X25519"]) {
            Group::X25519
        } else if is(&["P-256", "prime256v1", "secp256r1"]) {
            Group::P256
        } else if is(&["P-384", "secp384r1"]) {
            Group::P384
        } else if is(OTHER_GROUPS) {
            warnings.push(ignored(keyword, name));
            continue;
        } else {
            return Err(format!("unknown curve '{name}'"));
        };
        if !chosen.contains(&group) {
            chosen.push(group);
        }
    }
    if chosen.is_empty() {
        return Err(format!("'{text}' leaves no curve rustls implements"));
    }
    Ok(Chosen {
        list: chosen,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Suite::*;

    const KW: &str = "ciphers";

    /// The TLS 1.2 lists, each checked against
    /// `openssl ciphers -s -tls1_2 'TEXT'` (OpenSSL 3.0) restricted to the
    /// six suites rustls has.
    #[test]
    fn cipher_lists_read_as_openssl_does() {
        let all = vec![
            EcdheEcdsaAes256Gcm,
            EcdheRsaAes256Gcm,
            EcdheEcdsaChacha20,
            EcdheRsaChacha20,
            EcdheEcdsaAes128Gcm,
            EcdheRsaAes128Gcm,
        ];
        let cases: &[(&str, &str, Vec<Suite>)] = &[
            ("HIGH", "HIGH", all.clone()),
            ("DEFAULT", "DEFAULT", all.clone()),
            ("ECDHE", "ECDHE", all.clone()),
            ("HIGH:!aNULL", "HIGH:!aNULL:!MD5", all.clone()),
            (
                "an exact name first",
                "ECDHE-RSA-AES128-GCM-SHA256:HIGH",
                vec![
                    EcdheRsaAes128Gcm,
                    EcdheEcdsaAes256Gcm,
                    EcdheRsaAes256Gcm,
                    EcdheEcdsaChacha20,
                    EcdheRsaChacha20,
                    EcdheEcdsaAes128Gcm,
                ],
            ),
            (
                "AESGCM",
                "AESGCM",
                vec![
                    EcdheEcdsaAes256Gcm,
                    EcdheRsaAes256Gcm,
                    EcdheEcdsaAes128Gcm,
                    EcdheRsaAes128Gcm,
                ],
            ),
            (
                "AES128",
                "AES128",
                vec![EcdheEcdsaAes128Gcm, EcdheRsaAes128Gcm],
            ),
            (
                "AES256",
                "AES256",
                vec![EcdheEcdsaAes256Gcm, EcdheRsaAes256Gcm],
            ),
            (
                "CHACHA20",
                "CHACHA20",
                vec![EcdheEcdsaChacha20, EcdheRsaChacha20],
            ),
            (
                "aECDSA",
                "aECDSA",
                vec![EcdheEcdsaAes256Gcm, EcdheEcdsaChacha20, EcdheEcdsaAes128Gcm],
            ),
            (
                "aRSA",
                "aRSA",
                vec![EcdheRsaAes256Gcm, EcdheRsaChacha20, EcdheRsaAes128Gcm],
            ),
            (
                "an intersection",
                "kEECDH+AESGCM+aRSA",
                vec![EcdheRsaAes256Gcm, EcdheRsaAes128Gcm],
            ),
            (
                "+ moves to the end",
                "HIGH:+CHACHA20",
                vec![
                    EcdheEcdsaAes256Gcm,
                    EcdheRsaAes256Gcm,
                    EcdheEcdsaAes128Gcm,
                    EcdheRsaAes128Gcm,
                    EcdheEcdsaChacha20,
                    EcdheRsaChacha20,
                ],
            ),
            (
                "- then back at the end",
                "HIGH:-aRSA:aRSA",
                vec![
                    EcdheEcdsaAes256Gcm,
                    EcdheEcdsaChacha20,
                    EcdheEcdsaAes128Gcm,
                    EcdheRsaAes256Gcm,
                    EcdheRsaChacha20,
                    EcdheRsaAes128Gcm,
                ],
            ),
            (
                "! is for good",
                "HIGH:!aRSA:aRSA",
                vec![EcdheEcdsaAes256Gcm, EcdheEcdsaChacha20, EcdheEcdsaAes128Gcm],
            ),
            (
                "DEFAULT:!ECDSA",
                "DEFAULT:!ECDSA",
                vec![EcdheRsaAes256Gcm, EcdheRsaChacha20, EcdheRsaAes128Gcm],
            ),
            (
                "@STRENGTH",
                "AES128:AES256:@STRENGTH",
                vec![
                    EcdheEcdsaAes256Gcm,
                    EcdheRsaAes256Gcm,
                    EcdheEcdsaAes128Gcm,
                    EcdheRsaAes128Gcm,
                ],
            ),
            (
                "commas and spaces",
                "ECDHE-RSA-AES128-GCM-SHA256,ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-RSA-CHACHA20-POLY1305",
                vec![EcdheRsaAes128Gcm, EcdheEcdsaAes128Gcm, EcdheRsaChacha20],
            ),
            (
                "RSA is OpenSSL's kRSA: it removes none of the six",
                "HIGH:!RSA",
                all.clone(),
            ),
            ("the RHEL system profile", "PROFILE=SYSTEM", all.clone()),
        ];
        for (what, text, want) in cases {
            let got = ciphers(KW, text).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(&got.list, want, "{what}");
            assert!(got.warnings.is_empty(), "{what}: {:?}", got.warnings);
        }
    }

    #[test]
    fn cipher_names_rustls_lacks_are_warned() {
        // Mozilla's intermediate list (HAProxy's own examples use it).
        let got = ciphers(
            "ssl-default-bind-ciphers",
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:AES128-SHA:@SECLEVEL=2",
        )
        .unwrap();
        assert_eq!(got.list, vec![EcdheEcdsaAes128Gcm, EcdheRsaAes128Gcm]);
        assert_eq!(
            got.warnings,
            vec![
                "'ssl-default-bind-ciphers': 'DHE-RSA-AES128-GCM-SHA256' has no equivalent in rustls; ignored",
                "'ssl-default-bind-ciphers': 'AES128-SHA' has no equivalent in rustls; ignored",
                "'ssl-default-bind-ciphers': '@SECLEVEL=2' has no meaning with rustls; ignored",
            ]
        );
        // Removing what rustls lacks is no news.
        assert!(ciphers(KW, "HIGH:!DHE:-SHA1").unwrap().warnings.is_empty());
    }

    #[test]
    fn cipher_lists_with_nothing_left_are_refused() {
        let cases = [
            (
                "FOO",
                "'FOO' leaves no TLS 1.2 cipher suite rustls implements",
            ),
            (
                "AES128-SHA:DHE-RSA-AES256-GCM-SHA384",
                "'AES128-SHA:DHE-RSA-AES256-GCM-SHA384' leaves no TLS 1.2 cipher suite rustls implements",
            ),
            (
                "HIGH:!ECDHE",
                "'HIGH:!ECDHE' leaves no TLS 1.2 cipher suite rustls implements",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(ciphers(KW, text).unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn tls13_suites() {
        type Case = (&'static str, Result<(Vec<Suite>, usize), &'static str>);
        let cases: &[Case] = &[
            (
                "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
                Ok((vec![Tls13Aes128Gcm, Tls13Aes256Gcm, Tls13Chacha20], 0)),
            ),
            (
                "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256",
                Ok((vec![Tls13Chacha20], 1)),
            ),
            ("TLS_AES_128_CCM_8_SHA256", Err("leaves no TLS 1.3")),
            // OpenSSL splits on ':' only.
            (
                "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384",
                Err("leaves no TLS 1.3"),
            ),
        ];
        for (text, want) in cases {
            match (ciphersuites("ciphersuites", text), want) {
                (Ok(got), Ok((list, warned))) => {
                    assert_eq!((&got.list, got.warnings.len()), (list, *warned), "{text}")
                }
                (Err(e), Err(part)) => assert!(e.contains(part), "{text}: {e}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }

    #[test]
    fn curve_lists() {
        use Group::*;
        type Case = (&'static str, Result<(Vec<Group>, usize), &'static str>);
        let cases: &[Case] = &[
            ("X25519:P-256:P-384", Ok((vec![X25519, P256, P384], 0))),
            ("prime256v1", Ok((vec![P256], 0))),
            ("secp384r1:secp256r1", Ok((vec![P384, P256], 0))),
            ("X25519:X448:P-521", Ok((vec![X25519], 2))),
            (
                "ffdhe2048",
                Err("'ffdhe2048' leaves no curve rustls implements"),
            ),
            ("FOO:X25519", Err("unknown curve 'FOO'")),
        ];
        for (text, want) in cases {
            match (curves("curves", text), want) {
                (Ok(got), Ok((list, warned))) => {
                    assert_eq!((&got.list, got.warnings.len()), (list, *warned), "{text}")
                }
                (Err(e), Err(msg)) => assert_eq!(e, *msg, "{text}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }
}
