//! A sample: the typed value a fetch returns and converters transform
//! (HAProxy's `boolean`, `integer`, `ip`, `string` and `binary` types), and
//! the casts between them that matching and converters rely on.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sample {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

impl Sample {
    /// HAProxy's cast to a string: integers in decimal, addresses in their
    /// usual text, booleans as `0`/`1`, binary bytes as they are.
    pub(crate) fn to_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match self {
            Sample::Bool(b) => Cow::Borrowed(if *b { b"1" } else { b"0" }),
            Sample::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Sample::Ip(ip) => Cow::Owned(ip.to_string().into_bytes()),
            Sample::Str(s) | Sample::Bin(s) => Cow::Borrowed(s),
        }
    }

    /// HAProxy's cast to an integer: a string is read as a leading signed
    /// decimal number (none: no integer); an address has none.
    pub(crate) fn to_int(&self) -> Option<i64> {
        match self {
            Sample::Bool(b) => Some(*b as i64),
            Sample::Int(i) => Some(*i),
            Sample::Ip(_) | Sample::Bin(_) => None,
            Sample::Str(s) => leading_int(s),
        }
    }

    /// HAProxy's cast to an address: a string holding an IPv4 or IPv6
    /// address in text.
    pub(crate) fn to_ip(&self) -> Option<IpAddr> {
        match self {
            Sample::Ip(ip) => Some(*ip),
            Sample::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A signed decimal number at the start of `s` (C's `strtoll` without the
/// leading blanks): `None` when there is no digit.
fn leading_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in &digits[..n] {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts() {
        let cases: &[(&str, Sample, Option<i64>, &[u8])] = &[
            ("int", Sample::Int(-42), Some(-42), b"-42"),
            ("bool", Sample::Bool(true), Some(1), b"1"),
            (
                "numeric string",
                Sample::Str(b"17abc".to_vec()),
                Some(17),
                b"17abc",
            ),
            ("text", Sample::Str(b"abc".to_vec()), None, b"abc"),
        ];
        for (what, s, int, bytes) in cases {
            assert_eq!(s.to_int(), *int, "{what}");
            assert_eq!(&*s.to_bytes(), *bytes, "{what}");
        }
        assert_eq!(
            Sample::Str(b"10.0.0.1".to_vec()).to_ip(),
            Some("10.0.0.1".parse().unwrap())
        );
    }
}
