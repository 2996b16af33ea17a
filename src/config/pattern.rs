//! ACL and map patterns as text (HAProxy 2.6 configuration manual, 7.1 to
//! 7.1.6, and the `map` converter in 7.3.1): the match methods (`-m`), one
//! pattern parsed for a method, and the pattern and map files.
//!
//! The config parser calls [`parse_pattern`] on every `acl` value and
//! every line of a `-f` file, and the runtime API on every `add acl` key;
//! what it returns is checked and typed, so the rule engine (`rules`) only
//! compiles it into indexes. Nothing is resolved here: HAProxy would look
//! up a host name written as an IP pattern, this refuses it.
// The types are `pub` for the public config model (`AclExpr` names a
// method); the module itself becomes public with it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a sample is compared with the patterns (`-m NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// The sample exists; patterns are ignored.
    Found,
    /// The sample, as an integer, is not zero; patterns are ignored.
    Bool,
    Int,
    Ip,
    /// Exact match of bytes written in hexadecimal.
    Bin,
    /// The length of the sample's text against integer patterns.
    Len,
    Str,
    Sub,
    Reg,
    Beg,
    End,
    /// A run of `/`-delimited (or `?`) components.
    Dir,
    /// A run of components delimited by `.`, `:`, `/` or `?`.
    Dom,
}

const METHODS: [(&str, MatchMethod); 13] = [
    ("found", MatchMethod::Found),
    ("bool", MatchMethod::Bool),
    ("int", MatchMethod::Int),
    ("ip", MatchMethod::Ip),
    ("bin", MatchMethod::Bin),
    ("len", MatchMethod::Len),
    ("str", MatchMethod::Str),
    ("sub", MatchMethod::Sub),
    ("reg", MatchMethod::Reg),
    ("beg", MatchMethod::Beg),
    ("end", MatchMethod::End),
    ("dir", MatchMethod::Dir),
    ("dom", MatchMethod::Dom),
];

impl MatchMethod {
    pub fn from_name(name: &str) -> Option<Self> {
        METHODS.iter().find(|(n, _)| *n == name).map(|&(_, m)| m)
    }

    pub fn name(self) -> &'static str {
        METHODS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("", |(n, _)| n)
    }
}

/// The integer operators of an `acl` line; one applies to every value
/// after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

/// One pattern, typed for its method.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `int` and `len`: an inclusive range, a missing bound is open.
    Int {
        lo: Option<i64>,
        hi: Option<i64>,
    },
    Ip(IpNet),
    /// `str`, `sub`, `beg`, `end`, `dir`, `dom` as written; `bin` decoded;
    /// `found` and `bool` keep the text, which they ignore as HAProxy does.
    Bytes(Vec<u8>),
    /// `reg`, compiled with `-i` when asked.
    Reg(regex::bytes::Regex),
}

/// An IPv4 or IPv6 network; a host is a network of its full length.
/// The address has no bit set past the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// The network of `addr` with `prefix` bits (clamped to the family's
    /// length), host bits cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> IpNet {
        match addr {
            IpAddr::V4(a) => {
                let prefix = prefix.min(32);
                let bits = u32::from(a) & (u64::MAX << (32 - prefix as u32)) as u32;
                IpNet {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    prefix,
                }
            }
            IpAddr::V6(a) => {
                let prefix = prefix.min(128);
                let mask = u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0);
                IpNet {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)),
                    prefix,
                }
            }
        }
    }

    /// Whether `ip` is inside the network; the families must be the same
    /// (the v4/v6 mappings of HAProxy are the index's business).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                IpNet::new(ip, self.prefix).addr == self.addr
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One pattern `text` for `method`. `op` is the integer operator in force
/// (`int` and `len` only); `icase` is `-i` (it changes how a regex is
/// compiled, the other methods fold case when matching). The error says
/// what is wrong with the text, in HAProxy's words.
pub fn parse_pattern(
    method: MatchMethod,
    op: Option<IntOp>,
    icase: bool,
    text: &str,
) -> Result<Pattern, String> {
    use MatchMethod::*;
    match method {
        Found | Bool | Str | Sub | Beg | End | Dir | Dom => Ok(Pattern::Bytes(text.into())),
        Int | Len => parse_int(op, text),
        Ip => parse_ip(text).map(Pattern::Ip),
        Bin => parse_hex(text).map(Pattern::Bytes),
        Reg => regex(text, icase).map(Pattern::Reg),
    }
}

/// A regex as HAProxy's PCRE (without UTF) reads it: on bytes, `-i`
/// folding ASCII only. A pattern that needs Unicode to compile here (a
/// class holding a non-ASCII character, which PCRE would read as bytes)
/// is compiled with it instead.
fn regex(text: &str, icase: bool) -> Result<regex::bytes::Regex, String> {
    let build = |unicode| {
        regex::bytes::RegexBuilder::new(text)
            .case_insensitive(icase)
            .unicode(unicode)
            .build()
    };
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| format!("regex '{text}' is invalid ({})", regex_error(&e)))
}

/// The one line of a regex error that says what is wrong.
fn regex_error(e: &regex::Error) -> String {
    let msg = e.to_string();
    msg.lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| msg.lines().last().unwrap_or(""))
        .trim()
        .to_string()
}

/// An integer pattern: `N`, `A:B`, `:B`, `A:`, with `-` also a range
/// separator as in HAProxy (so `-5` is `:5`; `--5` is `:-5`). An operator
/// other than `eq` turns a plain value into a range, reading it up to its
/// first dot (HAProxy's compatibility rewriting: `lt 1.5` is `:0`).
fn parse_int(op: Option<IntOp>, text: &str) -> Result<Pattern, String> {
    let plain = !text.contains([':', '-']);
    if let Some(op) = op.filter(|&op| op != IntOp::Eq && plain) {
        let digits = text.split('.').next().unwrap_or("");
        let v = number(digits)
            .ok_or_else(|| format!("'{text}' is neither a number nor a supported operator"))?;
        let out_of_range = || format!("'{text}' is out of range for this operator");
        let (lo, hi) = match op {
            IntOp::Eq | IntOp::Ge => (Some(v), None),
            IntOp::Gt => (Some(v.checked_add(1).ok_or_else(out_of_range)?), None),
            IntOp::Le => (None, Some(v)),
            IntOp::Lt => (None, Some(v.checked_sub(1).ok_or_else(out_of_range)?)),
        };
        return Ok(Pattern::Int { lo, hi });
    }
    let bad_range = || format!("'{text}' is not a valid number range");
    let Some(sep) = text.find([':', '-']) else {
        if text.is_empty() {
            return Err(bad_range());
        }
        let v = number(text).ok_or_else(|| format!("'{text}' is not a number"))?;
        return Ok(Pattern::Int {
            lo: Some(v),
            hi: Some(v),
        });
    };
    let (a, b) = (&text[..sep], &text[sep + 1..]);
    let (lo, hi) = match (sep == 0 && !b.is_empty(), b.is_empty()) {
        (true, _) => (None, Some(number(b).ok_or_else(bad_range)?)),
        (false, true) => (Some(number(a).ok_or_else(bad_range)?), None),
        (false, false) => {
            let (lo, hi) = (number(a), number(b));
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => (Some(lo), Some(hi)),
                _ => return Err(bad_range()),
            }
        }
    };
    Ok(Pattern::Int { lo, hi })
}

/// A decimal integer with an optional leading `-` (no `+`), none on
/// overflow.
fn number(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for d in digits.bytes().map(|b| (b - b'0') as i64) {
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// `-m bin`: pairs of hexadecimal digits.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("an even number of hex digit is expected".into());
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("an hex digit is expected (found '{c}')"));
    }
    let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    Ok(text
        .as_bytes()
        .chunks(2)
        .map(|p| digit(p[0]) << 4 | digit(p[1]))
        .collect())
}

/// An IP pattern: `ADDR`, `ADDR/LEN`, or IPv4 `ADDR/DOTTED-MASK`. IPv4
/// addresses may be abbreviated as `inet_aton` reads digits and dots
/// (`10.12` is 10.0.0.12, `010` is octal), as HAProxy accepts them.
fn parse_ip(text: &str) -> Result<IpNet, String> {
    let invalid = || format!("'{text}' is not a valid IPv4 or IPv6 address");
    let (addr, mask) = match text.rsplit_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (text, None),
    };
    if let Some(v4) = ipv4(addr) {
        let prefix = match mask {
            None => 32,
            Some(m) if m.contains('.') => {
                let m = u32::from(m.parse::<Ipv4Addr>().map_err(|_| invalid())?);
                if m.leading_ones() + m.trailing_zeros() != 32 {
                    return Err(format!(
                        "'{text}': a non-contiguous netmask is not supported"
                    ));
                }
                m.leading_ones() as u8
            }
            Some(m) => prefix_len(m, 32).ok_or_else(invalid)?,
        };
        return Ok(IpNet::new(IpAddr::V4(v4), prefix));
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let prefix = match mask {
            None => 128,
            Some(m) => prefix_len(m, 128).ok_or_else(invalid)?,
        };
        return Ok(IpNet::new(IpAddr::V6(v6), prefix));
    }
    Err(invalid())
}

/// Whether a refused IP pattern looks like a host name, which HAProxy's
/// config parser would resolve (splicer's says it does not; the runtime
/// API resolves nothing, as HAProxy's).
pub fn looks_like_host_name(text: &str) -> bool {
    let addr = text.split('/').next().unwrap_or(text);
    // A name's last label is not all digits (no numeric top-level domain).
    let last_label = addr.rsplit('.').next().unwrap_or("");
    last_label.bytes().any(|b| b.is_ascii_alphabetic())
        && addr
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// A prefix length in decimal digits, at most `max`.
fn prefix_len(m: &str, max: u8) -> Option<u8> {
    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len = m.parse::<u32>().ok().filter(|&l| l <= max as u32)?;
    Some(len as u8)
}

/// An IPv4 address as `inet_pton` reads it, or else as the resolver reads
/// a name made of digits and dots (`inet_aton`: 1 to 4 parts, the last
/// filling the remaining bytes, a leading `0` meaning octal).
fn ipv4(s: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    if s.is_empty() || s.ends_with('.') || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (radix, digits) = match p.strip_prefix('0') {
            Some(rest) if !rest.is_empty() => (8, rest),
            _ => (10, *p),
        };
        vals.push(u32::from_str_radix(digits, radix).ok()?);
    }
    let (last, head) = vals.split_last()?;
    let tail_bits = 8 * (4 - head.len() as u32);
    if head.iter().any(|&v| v > 255) || (tail_bits < 32 && *last >> tail_bits != 0) {
        return None;
    }
    let high = head
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &v)| acc | v << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(high | last))
}

/// A pattern file (`-f`): one pattern per line, numbered from 1. A line
/// starting with `#` is a comment, leading blanks are dropped (so ` #x`
/// is the pattern `#x`), the line ends at a carriage return, and what is
/// left empty is skipped. Trailing blanks stay part of the pattern, as in
/// HAProxy.
pub fn parse_pattern_file(text: &str) -> Vec<(usize, String)> {
    file_lines(text)
        .map(|(n, line)| (n, line.to_string()))
        .collect()
}

/// A map file: on each line of a pattern file, the key is the first word
/// and the value the rest after the blanks, its trailing blanks dropped
/// (maybe empty).
pub fn parse_map_file(text: &str) -> Vec<(usize, String, String)> {
    let blank = |c: char| c == ' ' || c == '\t';
    file_lines(text)
        .map(|(n, line)| {
            let (key, rest) = line.split_at(line.find(blank).unwrap_or(line.len()));
            let value = rest.trim_start_matches(blank).trim_end_matches(blank);
            (n, key.to_string(), value.to_string())
        })
        .collect()
}

/// The useful lines of a pattern or map file, with their numbers.
fn file_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().filter_map(|(i, line)| {
        if line.starts_with('#') {
            return None;
        }
        let line = line.trim_start_matches([' ', '\t']);
        // C strings: the line stops at the first CR or NUL.
        let line = &line[..line.find(['\r', '\0']).unwrap_or(line.len())];
        (!line.is_empty()).then_some((i + 1, line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A pattern in a form tests can compare.
    fn show(p: &Pattern) -> String {
        let bound = |b: Option<i64>| b.map_or(String::new(), |v| v.to_string());
        match p {
            Pattern::Int { lo, hi } => format!("{}:{}", bound(*lo), bound(*hi)),
            Pattern::Ip(net) => net.to_string(),
            Pattern::Bytes(b) => format!("{:?}", String::from_utf8_lossy(b)),
            Pattern::Reg(r) => format!("/{}/", r.as_str()),
        }
    }

    #[test]
    fn patterns() {
        use IntOp::*;
        use MatchMethod::*;
        #[rustfmt::skip]
        let cases: &[(&str, MatchMethod, Option<IntOp>, &str, &str)] = &[
            ("int value", Int, None, "80", "80:80"),
            ("range", Int, None, "1024:65535", "1024:65535"),
            ("open high", Int, None, "1024:", "1024:"),
            ("open low", Int, None, ":1023", ":1023"),
            ("dash range", Int, None, "1-5", "1:5"),
            ("leading dash is an open low bound", Int, None, "-5", ":5"),
            ("double dash", Int, None, "--5", ":-5"),
            ("negative high bound", Int, None, ":-1", ":-1"),
            ("trailing dash", Int, None, "5-", "5:"),
            ("eq keeps the text", Int, Some(Eq), "7", "7:7"),
            ("ge", Int, Some(Ge), "7", "7:"),
            ("gt", Int, Some(Gt), "7", "8:"),
            ("le", Int, Some(Le), "7", ":7"),
            ("lt", Int, Some(Lt), "0", ":-1"),
            ("operator reads up to the dot", Int, Some(Lt), "3.9", ":2"),
            ("operator and junk after the dot", Int, Some(Le), "1.x", ":1"),
            ("operator leaves a range alone", Int, Some(Lt), "1:5", "1:5"),
            ("operator leaves a dash alone", Int, Some(Lt), "-5", ":5"),
            ("len like int", Len, Some(Ge), "3", "3:"),
            ("ipv4 host", Ip, None, "10.0.0.1", "10.0.0.1/32"),
            ("ipv4 prefix, host bits cleared", Ip, None, "10.1.2.3/8", "10.0.0.0/8"),
            ("ipv4 dotted mask", Ip, None, "192.168.0.0/255.255.252.0", "192.168.0.0/22"),
            ("ipv4 mask 0", Ip, None, "1.2.3.4/0.0.0.0", "0.0.0.0/0"),
            ("abbreviated", Ip, None, "10.12", "10.0.0.12/32"),
            ("abbreviated 3 parts", Ip, None, "1.2.65535", "1.2.255.255/32"),
            ("abbreviated with mask", Ip, None, "127.1/8", "127.0.0.0/8"),
            ("one number", Ip, None, "16909060", "1.2.3.4/32"),
            ("leading zero is octal", Ip, None, "10.0.0.010", "10.0.0.8/32"),
            ("mask with leading zero", Ip, None, "1.2.3.4/08", "1.0.0.0/8"),
            ("mask with leading zeros", Ip, None, "::1/0064", "::/64"),
            ("ipv6", Ip, None, "2001:db8::1", "2001:db8::1/128"),
            ("ipv6 prefix", Ip, None, "2001:db8::1/32", "2001:db8::/32"),
            ("v4-mapped v6", Ip, None, "::ffff:1.2.3.4/120", "::ffff:1.2.3.0/120"),
            ("str as written", Str, None, " a b ", "\" a b \""),
            ("found ignores its text", Found, None, "x", "\"x\""),
            ("bin", Bin, None, "48656C6c6f0a", "\"Hello\\n\""),
            ("empty bin", Bin, None, "", "\"\""),
            ("regex", Reg, None, "^a.c$", "/^a.c$/"),
        ];
        for (what, method, op, text, want) in cases {
            let got = parse_pattern(*method, *op, false, text).map_or("ERR".into(), |p| show(&p));
            assert_eq!(got, *want, "{what}");
        }
    }

    #[test]
    fn errors_in_haproxys_words() {
        use IntOp::*;
        use MatchMethod::*;
        let bad_ip = |t: &str| format!("'{t}' is not a valid IPv4 or IPv6 address");
        #[rustfmt::skip]
        let cases: Vec<(&str, MatchMethod, Option<IntOp>, &str, String)> = vec![
            ("not a number", Int, None, "abc", "'abc' is not a number".into()),
            ("plus sign", Int, None, "+5", "'+5' is not a number".into()),
            ("decimal", Int, None, "1.5", "'1.5' is not a number".into()),
            ("eq does not cut at the dot", Int, Some(Eq), "1.5", "'1.5' is not a number".into()),
            ("overflow", Int, None, "99999999999999999999", "'99999999999999999999' is not a number".into()),
            ("reversed range", Int, None, "5:1", "'5:1' is not a valid number range".into()),
            ("bad bound", Int, None, "1:a", "'1:a' is not a valid number range".into()),
            ("bad low bound", Int, None, "a:", "'a:' is not a valid number range".into()),
            ("lone colon", Int, None, ":", "':' is not a valid number range".into()),
            ("lone dash", Int, None, "-", "'-' is not a valid number range".into()),
            ("dash then colon", Int, None, "-:5", "'-:5' is not a valid number range".into()),
            ("three parts", Int, None, "1:2:3", "'1:2:3' is not a valid number range".into()),
            ("empty", Int, None, "", "'' is not a valid number range".into()),
            ("operator and word", Int, Some(Lt), "abc", "'abc' is neither a number nor a supported operator".into()),
            ("gt the largest", Int, Some(Gt), "9223372036854775807", "'9223372036854775807' is out of range for this operator".into()),
            ("octet too big", Ip, None, "10.0.0.300", bad_ip("10.0.0.300")),
            ("prefix too long", Ip, None, "10.0.0.0/33", bad_ip("10.0.0.0/33")),
            ("empty mask", Ip, None, "10.0.0.0/", bad_ip("10.0.0.0/")),
            ("v6 prefix too long", Ip, None, "::1/129", bad_ip("::1/129")),
            ("v6 dotted mask", Ip, None, "::1/ffff::", bad_ip("::1/ffff::")),
            ("bad dotted mask", Ip, None, "1.2.3.4/1.2", bad_ip("1.2.3.4/1.2")),
            ("octal with a 9", Ip, None, "09.1.1.1", bad_ip("09.1.1.1")),
            ("hex part", Ip, None, "0x0a.0.0.1", bad_ip("0x0a.0.0.1")),
            ("trailing dot", Ip, None, "1.2.3.4.", bad_ip("1.2.3.4.")),
            ("brackets", Ip, None, "[::1]", bad_ip("[::1]")),
            ("zone", Ip, None, "fe80::1%lo", bad_ip("fe80::1%lo")),
            ("two masks", Ip, None, "1.2.3.4/32/8", bad_ip("1.2.3.4/32/8")),
            ("host name", Ip, None, "localhost", bad_ip("localhost")),
            ("non-contiguous mask", Ip, None, "10.0.0.0/255.0.255.0", "'10.0.0.0/255.0.255.0': a non-contiguous netmask is not supported".into()),
            ("odd hex", Bin, None, "123", "an even number of hex digit is expected".into()),
            ("not hex", Bin, None, "12zz", "an hex digit is expected (found 'z')".into()),
            ("regex", Reg, None, "a(b", "regex 'a(b' is invalid (unclosed group)".into()),
        ];
        for (what, method, op, text, want) in &cases {
            let got = parse_pattern(*method, *op, false, text).map(|p| show(&p));
            assert_eq!(got, Err(want.clone()), "{what}");
        }
    }

    #[test]
    fn regex_flags() {
        let reg = |icase, text| match parse_pattern(MatchMethod::Reg, None, icase, text) {
            Ok(Pattern::Reg(r)) => r,
            other => panic!("{other:?}"),
        };
        assert!(reg(true, "^abc$").is_match(b"AbC"));
        assert!(!reg(false, "^abc$").is_match(b"AbC"));
        // No UTF-8 needed in samples: `.` is any byte but a newline.
        assert!(reg(false, "^a.b$").is_match(b"a\xffb"));
        assert!(reg(false, "[é]").is_match("é".as_bytes()));
    }

    #[test]
    fn method_names() {
        for (name, m) in METHODS {
            assert_eq!(MatchMethod::from_name(name), Some(m));
            assert_eq!(m.name(), name);
        }
        assert_eq!(MatchMethod::from_name("regex"), None);
    }

    #[test]
    fn pattern_files() {
        // As HAProxy 2.6 loads it (checked with `show acl` on its runtime API).
        let text = "a  \n  b\t\n # c\n#d\n\n   \n\te\r\nf\rg\nh # i\nj\0k\n";
        let want: Vec<(usize, String)> = [
            (1, "a  "),
            (2, "b\t"),
            (3, "# c"),
            (7, "e"),
            (8, "f"),
            (9, "h # i"),
            (10, "j"),
        ]
        .iter()
        .map(|&(n, l)| (n, l.to_string()))
        .collect();
        assert_eq!(parse_pattern_file(text), want);
    }

    #[test]
    fn map_files() {
        let text = "k1 v1  \n  k2\t\tv 2 \t\n # k3 v3\n#k4 v4\nk5\nk6   \n\nk7\tv7\r\n";
        let want: Vec<(usize, String, String)> = [
            (1, "k1", "v1"),
            (2, "k2", "v 2"),
            (3, "#", "k3 v3"),
            (5, "k5", ""),
            (6, "k6", ""),
            (8, "k7", "v7"),
        ]
        .iter()
        .map(|&(n, k, v)| (n, k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parse_map_file(text), want);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            op in proptest::option::of(prop_oneof![
                Just(IntOp::Eq), Just(IntOp::Ge), Just(IntOp::Gt), Just(IntOp::Le), Just(IntOp::Lt)
            ]),
            icase in any::<bool>(),
        ) {
            let text = String::from_utf8_lossy(&bytes);
            for (_, m) in METHODS {
                let _ = parse_pattern(m, op, icase, &text);
            }
            let _ = parse_pattern_file(&text);
            let _ = parse_map_file(&text);
        }

        #[test]
        fn ip_like_text_never_panics(text in "[0-9a-f:./x]{0,24}") {
            if let Ok(Pattern::Ip(net)) = parse_pattern(MatchMethod::Ip, None, false, &text) {
                prop_assert!(net.contains(net.addr));
            }
        }
    }
}
