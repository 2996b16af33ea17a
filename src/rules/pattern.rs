//! Pattern lists compiled for matching (HAProxy 2.6 manual, 7.1 to 7.1.6):
//! [`Compiled::build`] takes the patterns the config layer parsed for one
//! method and `-i`, [`Compiled::lookup`] answers which one a sample
//! matches.
//!
//! The sample is first cast to what the method compares (an integer, an
//! address, bytes or text), as HAProxy does; a sample that does not cast
//! matches nothing. The index follows HAProxy's, since which pattern
//! matches decides a map's value: `str` and `bin` look the bytes up in a
//! hash (the first of equal patterns wins), `ip` in a prefix tree (the
//! longest network), `beg` without `-i` takes the longest matching prefix;
//! the others, and `beg -i`, take the first pattern that matches in order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use regex::bytes::Regex;

use super::Sample;
use super::iptree::IpTree;
use crate::config::pattern::{MatchMethod, Pattern};

/// One way of matching a pattern list.
#[derive(Debug)]
pub(crate) struct Compiled {
    method: MatchMethod,
    icase: bool,
    #[cfg(test)]
    len: usize,
    index: Index,
}

/// Patterns keep their number in the list (`usize`) beside them.
#[derive(Debug)]
enum Index {
    /// `found` and `bool`: no pattern takes part.
    Nothing,
    /// `int` and `len`: inclusive ranges.
    Ranges(Vec<(usize, Option<i64>, Option<i64>)>),
    Ip(IpTree),
    /// `str` (keys folded to lower case with `-i`) and `bin`.
    Exact(HashMap<Vec<u8>, usize>),
    /// `beg` without `-i`: the patterns by value, and their lengths,
    /// longest first.
    Prefixes {
        keys: HashMap<Vec<u8>, usize>,
        lengths: Vec<usize>,
    },
    /// `sub`, `end`, `dir`, `dom` (their patterns without leading and
    /// trailing delimiters) and `beg -i`.
    List(Vec<(usize, Vec<u8>)>),
    Reg(Vec<(usize, Regex)>),
}

/// The delimiters of `-m dir` and `-m dom` (HAProxy's `match_word`).
const DIR_DELIMS: &[u8] = b"/?";
const DOM_DELIMS: &[u8] = b"/?.:";

impl Compiled {
    /// The index of `patterns` (as `parse_pattern` made them for `method`
    /// and `icase`); a pattern of another kind than the method's is left
    /// out, keeping the numbers of the others.
    pub(crate) fn build(method: MatchMethod, icase: bool, patterns: &[Pattern]) -> Compiled {
        use MatchMethod as M;
        let bytes = || {
            patterns.iter().enumerate().filter_map(|(i, p)| match p {
                Pattern::Bytes(b) => Some((i, b)),
                _ => None,
            })
        };
        let first_of = |it: &mut dyn Iterator<Item = (usize, Vec<u8>)>| {
            let mut keys = HashMap::new();
            for (i, k) in it {
                keys.entry(k).or_insert(i);
            }
            keys
        };
        let index = match method {
            M::Found | M::Bool => Index::Nothing,
            M::Int | M::Len => Index::Ranges(
                patterns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| match *p {
                        Pattern::Int { lo, hi } => Some((i, lo, hi)),
                        _ => None,
                    })
                    .collect(),
            ),
            M::Ip => {
                let mut tree = IpTree::new();
                for (i, p) in patterns.iter().enumerate() {
                    if let Pattern::Ip(net) = p {
                        tree.insert(*net, i);
                    }
                }
                Index::Ip(tree)
            }
            M::Str if icase => Index::Exact(first_of(
                &mut bytes().map(|(i, b)| (i, b.to_ascii_lowercase())),
            )),
            M::Str | M::Bin => Index::Exact(first_of(&mut bytes().map(|(i, b)| (i, b.clone())))),
            M::Beg if !icase => {
                let keys = first_of(&mut bytes().map(|(i, b)| (i, b.clone())));
                let mut lengths: Vec<usize> = keys.keys().map(Vec::len).collect();
                lengths.sort_unstable_by(|a, b| b.cmp(a));
                lengths.dedup();
                Index::Prefixes { keys, lengths }
            }
            M::Dir | M::Dom => {
                let delims = if method == M::Dir {
                    DIR_DELIMS
                } else {
                    DOM_DELIMS
                };
                let trim = |b: &[u8]| {
                    let start = b.iter().position(|c| !delims.contains(c));
                    let end = b.iter().rposition(|c| !delims.contains(c));
                    match (start, end) {
                        (Some(s), Some(e)) => b[s..=e].to_vec(),
                        _ => Vec::new(),
                    }
                };
                Index::List(bytes().map(|(i, b)| (i, trim(b))).collect())
            }
            M::Beg | M::Sub | M::End => Index::List(bytes().map(|(i, b)| (i, b.clone())).collect()),
            M::Reg => Index::Reg(
                patterns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| match p {
                        Pattern::Reg(r) => Some((i, r.clone())),
                        _ => None,
                    })
                    .collect(),
            ),
        };
        Compiled {
            method,
            icase,
            #[cfg(test)]
            len: patterns.len(),
            index,
        }
    }

    /// The number of the pattern `sample` matches. `found` and `bool`
    /// involve no pattern, so they answer `None` here: ask [`matches`].
    ///
    /// [`matches`]: Compiled::matches
    pub(crate) fn lookup(&self, sample: &Sample) -> Option<usize> {
        use MatchMethod as M;
        let icase = self.icase;
        match &self.index {
            Index::Nothing => None,
            Index::Ranges(ranges) => {
                let v = match self.method {
                    M::Len => sample.to_bytes().len() as i64,
                    _ => as_int(sample)?,
                };
                ranges
                    .iter()
                    .find(|(_, lo, hi)| lo.is_none_or(|lo| lo <= v) && hi.is_none_or(|hi| v <= hi))
                    .map(|(i, ..)| *i)
            }
            Index::Ip(tree) => tree.lookup(sample.to_ip()?),
            Index::Exact(keys) => {
                let b = match self.method {
                    M::Bin => as_bin(sample)?,
                    _ => sample.to_bytes(),
                };
                match icase && self.method == M::Str {
                    true => keys.get(&b.to_ascii_lowercase()).copied(),
                    false => keys.get(&*b).copied(),
                }
            }
            Index::Prefixes { keys, lengths } => {
                let s = sample.to_bytes();
                lengths
                    .iter()
                    .filter(|&&l| l <= s.len())
                    .find_map(|&l| keys.get(&s[..l]).copied())
            }
            Index::List(list) => {
                let s = sample.to_bytes();
                let hit = |p: &[u8]| match self.method {
                    M::Beg => s.get(..p.len()).is_some_and(|h| eq(h, p, icase)),
                    M::End => s.len() >= p.len() && eq(&s[s.len() - p.len()..], p, icase),
                    M::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq(w, p, icase)),
                    M::Dir => word(&s, p, icase, DIR_DELIMS),
                    _ => word(&s, p, icase, DOM_DELIMS),
                };
                list.iter().find(|(_, p)| hit(p)).map(|(i, _)| *i)
            }
            Index::Reg(list) => {
                let s = sample.to_bytes();
                list.iter().find(|(_, r)| r.is_match(&s)).map(|(i, _)| *i)
            }
        }
    }

    /// Whether an ACL expression matches `sample` (a sample that was
    /// fetched): `found` always, `bool` when the sample as an integer is
    /// not zero, the others when a pattern matches.
    pub(crate) fn matches(&self, sample: &Sample) -> bool {
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Bool => as_int(sample).is_some_and(|v| v != 0),
            _ => self.lookup(sample).is_some(),
        }
    }

    /// The number of patterns it was built from.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

fn eq(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// HAProxy's cast to an integer: booleans and strings as the sample does,
/// an IPv4 address as its 32-bit number.
fn as_int(s: &Sample) -> Option<i64> {
    match s {
        Sample::Ip(IpAddr::V4(a)) => Some(u32::from(*a) as i64),
        _ => s.to_int(),
    }
}

/// HAProxy's cast to binary: strings as they are, an integer as 8 bytes in
/// network order, an address as its 4 or 16 bytes.
fn as_bin(s: &Sample) -> Option<Cow<'_, [u8]>> {
    match s {
        Sample::Str(b) | Sample::Bin(b) => Some(Cow::Borrowed(b)),
        Sample::Int(i) => Some(Cow::Owned(i.to_be_bytes().to_vec())),
        Sample::Ip(IpAddr::V4(a)) => Some(Cow::Owned(a.octets().to_vec())),
        Sample::Ip(IpAddr::V6(a)) => Some(Cow::Owned(a.octets().to_vec())),
        Sample::Bool(_) => None,
    }
}

/// Whether `pat` (already without leading and trailing delimiters) is a
/// run of whole components of `s`: it starts at the beginning or after a
/// delimiter and ends at the end or before one. HAProxy compares with the
/// byte after the sample (its terminating NUL), so an empty pattern
/// matches an empty sample or one that ends with a delimiter.
fn word(s: &[u8], pat: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_delim = |c: &u8| delims.contains(c);
    if pat.is_empty() {
        return s.last().is_none_or(is_delim);
    }
    (0..=s.len().saturating_sub(pat.len()))
        .filter(|&at| at == 0 || is_delim(&s[at - 1]))
        .any(|at| {
            let end = at + pat.len();
            end <= s.len() && eq(&s[at..end], pat, icase) && s.get(end).is_none_or(is_delim)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pattern::parse_pattern;
    use proptest::prelude::*;

    fn build(method: MatchMethod, icase: bool, texts: &[&str]) -> Compiled {
        let patterns: Vec<Pattern> = texts
            .iter()
            .map(|t| parse_pattern(method, None, icase, t).unwrap())
            .collect();
        Compiled::build(method, icase, &patterns)
    }

    fn s(text: &str) -> Sample {
        Sample::Str(text.as_bytes().to_vec())
    }

    fn ip(text: &str) -> Sample {
        Sample::Ip(text.parse().unwrap())
    }

    /// What a case is about, method, `-i`, patterns, sample, the match.
    type Case<'a> = (
        &'a str,
        MatchMethod,
        bool,
        &'a [&'a str],
        Sample,
        Option<usize>,
    );

    #[test]
    fn lookup_table() {
        use MatchMethod::*;
        let bin = |b: &[u8]| Sample::Bin(b.to_vec());
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("int: single value", Int, false, &["80", "443"], Sample::Int(443), Some(1)),
            ("int: range", Int, false, &["1024:65535"], Sample::Int(8080), Some(0)),
            ("int: open low bound", Int, false, &[":1023"], Sample::Int(-7), Some(0)),
            ("int: outside", Int, false, &["1:5", "7:"], Sample::Int(6), None),
            ("int: first of overlapping", Int, false, &["1:", ":9"], Sample::Int(5), Some(0)),
            ("int: '-5' is ':5'", Int, false, &["-5"], Sample::Int(-100), Some(0)),
            ("int: boolean true is 1", Int, false, &["1"], Sample::Bool(true), Some(0)),
            ("int: string read as integer", Int, false, &["17"], s("17abc"), Some(0)),
            ("int: string without digits", Int, false, &["0"], s("abc"), None),
            ("int: IPv4 as its number", Int, false, &["16909060"], ip("1.2.3.4"), Some(0)),
            ("int: IPv6 has none", Int, false, &["0:"], ip("::1"), None),
            ("len: string length", Len, false, &["3"], s("abc"), Some(0)),
            ("len: of an integer's text", Len, false, &["4:"], Sample::Int(-123), Some(0)),
            ("len: of binary", Len, false, &[":1"], bin(b"\0\0"), None),
            ("ip: longest network", Ip, false, &["10.0.0.0/8", "10.1.0.0/16"], ip("10.1.2.3"), Some(1)),
            ("ip: text sample", Ip, false, &["10.0.0.0/8"], s("10.9.9.9"), Some(0)),
            ("ip: text not an address", Ip, false, &["0.0.0.0/0"], s("ten"), None),
            ("ip: abbreviated pattern", Ip, false, &["10.12"], ip("10.0.0.12"), Some(0)),
            ("ip: v4-mapped sample", Ip, false, &["192.168.0.0/16"], ip("::ffff:192.168.1.1"), Some(0)),
            ("ip: v4 sample, ::ffff: net", Ip, false, &["::ffff:192.168.0.0/112"], ip("192.168.7.7"), Some(0)),
            ("ip: integer sample", Ip, false, &["0.0.0.0/0"], Sample::Int(1), None),
            ("bin: exact bytes", Bin, false, &["48656c6c6f0a"], bin(b"Hello\n"), Some(0)),
            ("bin: not a prefix match", Bin, false, &["4865"], bin(b"Hello\n"), None),
            ("bin: string sample", Bin, false, &["616263"], s("abc"), Some(0)),
            ("bin: integer as 8 bytes", Bin, false, &["0000000000000102"], Sample::Int(258), Some(0)),
            ("bin: address bytes", Bin, false, &["7f000001"], ip("127.0.0.1"), Some(0)),
            ("bin: ignores -i", Bin, true, &["41"], s("a"), None),
            ("str: exact", Str, false, &["foo", "bar"], s("bar"), Some(1)),
            ("str: case matters", Str, false, &["Foo"], s("foo"), None),
            ("str: -i", Str, true, &["Foo", "foo"], s("FOO"), Some(0)),
            ("str: first duplicate", Str, false, &["x", "y", "y"], s("y"), Some(1)),
            ("str: not a prefix", Str, false, &["foo"], s("foobar"), None),
            ("str: integer text", Str, false, &["443"], Sample::Int(443), Some(0)),
            ("str: address text", Str, false, &["10.0.0.1"], ip("10.0.0.1"), Some(0)),
            ("str: boolean text", Str, false, &["1"], Sample::Bool(true), Some(0)),
            ("str: non-ASCII stays exact with -i", Str, true, &["é"], s("É"), None),
            ("sub: inside", Sub, false, &["zz", "ell"], s("hello"), Some(1)),
            ("sub: -i, first in order", Sub, true, &["xY", "bc"], s("aBCxy"), Some(0)),
            ("sub: longer than sample", Sub, false, &["hello!"], s("hello"), None),
            ("beg: longest prefix without -i", Beg, false, &["a", "abc", "ab"], s("abcd"), Some(1)),
            ("beg: first of equal prefixes", Beg, false, &["ab", "a", "ab"], s("abx"), Some(0)),
            ("beg: none", Beg, false, &["b"], s("abc"), None),
            ("beg: -i, first in order", Beg, true, &["A", "abc"], s("abcd"), Some(0)),
            ("beg: pattern longer than sample", Beg, true, &["abcde"], s("abc"), None),
            ("end: suffix", End, false, &["c", "bc"], s("abc"), Some(0)),
            ("end: -i", End, true, &["bC"], s("ABC"), Some(0)),
            ("end: case matters", End, false, &["bC"], s("ABC"), None),
            ("dir: components", Dir, false, &["pn", "images/png"], s("/images/png/logo/32x32.png"), Some(1)),
            ("dir: last component", Dir, false, &["32x32.png"], s("/images/png/logo/32x32.png"), Some(0)),
            ("dir: not part of one", Dir, false, &["32x32", "png"], s("/images/pngx/32x32.png"), None),
            ("dir: slashes of the pattern ignored", Dir, false, &["/logo/"], s("/a/logo"), Some(0)),
            ("dir: '?' delimits too", Dir, false, &["a/b"], s("x?a/b"), Some(0)),
            ("dir: '.' does not", Dir, false, &["x"], s("x.y"), None),
            ("dir: -i", Dir, true, &["LOGO"], s("/a/logo/b"), Some(0)),
            ("dom: label", Dom, false, &["eu", "dc-eu"], s("http://www1.dc-eu.example.com:80/blah"), Some(1)),
            ("dom: several labels and port", Dom, false, &["example.com:80"], s("http://www1.dc-eu.example.com:80/blah"), Some(0)),
            // The manual says this one matches; HAProxy 2.6 says no (`get acl`).
            ("dom: labels must be contiguous", Dom, false, &["dc-eu.example:80"], s("http://www1.dc-eu.example.com:80/blah"), None),
            ("dom: delimiters of the pattern ignored", Dom, false, &[":www1:"], s("http://www1.dc-eu.example.com/"), Some(0)),
            ("dom: not part of a label", Dom, false, &["dc", "ample"], s("www1.dc-eu.example.com"), None),
            ("dom: '#' is no delimiter", Dom, false, &["y"], s("z#y"), None),
            ("dom: a lone dot: sample ending in one", Dom, false, &["."], s("a.b."), Some(0)),
            ("dom: a lone dot: other samples", Dom, false, &["."], s("a..b"), None),
            ("dom: -i", Dom, true, &["Example"], s("www.EXAMPLE.com"), Some(0)),
            ("reg: unanchored", Reg, false, &["^x", "b.d"], s("abcde"), Some(1)),
            ("reg: -i", Reg, true, &["^A.c$"], s("aBC"), Some(0)),
            ("reg: -i folds ASCII only", Reg, true, &["é"], s("É"), None),
            ("reg: bytes", Reg, false, &["\\x00\\xff"], bin(b"a\x00\xff"), Some(0)),
            ("reg: dot stops at newline", Reg, false, &["a.b"], s("a\nb"), None),
            ("found: no pattern involved", Found, false, &[], s(""), None),
            ("bool: no pattern involved", Bool, false, &["7"], Sample::Int(5), None),
        ];
        for (what, method, icase, texts, sample, want) in cases {
            let c = build(*method, *icase, texts);
            assert_eq!(c.len(), texts.len(), "{what}");
            assert_eq!(c.lookup(sample), *want, "{what}");
            if !matches!(method, Found | Bool) {
                assert_eq!(c.matches(sample), want.is_some(), "{what}");
            }
        }
    }

    #[test]
    fn found_and_bool_answer_without_patterns() {
        use MatchMethod::*;
        let cases: &[(&str, MatchMethod, Sample, bool)] = &[
            ("found: any sample", Found, s(""), true),
            ("found: false boolean", Found, Sample::Bool(false), true),
            ("bool: true", Bool, Sample::Bool(true), true),
            ("bool: false", Bool, Sample::Bool(false), false),
            ("bool: non-zero integer", Bool, Sample::Int(-3), true),
            ("bool: zero", Bool, Sample::Int(0), false),
            ("bool: numeric string", Bool, s("5"), true),
            ("bool: other string", Bool, s("yes"), false),
            ("bool: binary", Bool, Sample::Bin(vec![1]), false),
        ];
        for (what, method, sample, want) in cases {
            // Patterns given anyway are ignored, as HAProxy does.
            assert_eq!(
                build(*method, false, &["0"]).matches(sample),
                *want,
                "{what}"
            );
        }
    }

    /// HAProxy's `match_word` as written in C, over a NUL-terminated copy
    /// of the sample: the reference for [`word`].
    fn word_reference(s: &[u8], pat: &[u8], icase: bool, delims: &[u8]) -> bool {
        let s: Vec<u8> = s.iter().copied().chain([0]).collect();
        let n = s.len() - 1;
        let d = |c: u8| delims.contains(&c);
        let (mut start, mut end) = (0, pat.len());
        while start < end && d(pat[start]) {
            start += 1;
        }
        while end > start && d(pat[end - 1]) {
            end -= 1;
        }
        let (ps, pl) = (&pat[start..end], end - start);
        if pl > n {
            return false;
        }
        let first = ps.first().copied().unwrap_or(0);
        let mut may_match = true;
        for c in 0..=n - pl {
            if d(s[c]) {
                may_match = true;
                continue;
            }
            if !may_match {
                continue;
            }
            let same = |a: u8, b: u8| {
                if icase {
                    a.eq_ignore_ascii_case(&b)
                } else {
                    a == b
                }
            };
            if same(s[c], first)
                && ps.iter().zip(&s[c..c + pl]).all(|(&a, &b)| same(a, b))
                && (c == n - pl || d(s[c + pl]))
            {
                return true;
            }
            may_match = false;
        }
        false
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'B'), Just(b'.'), Just(b'/'), Just(b':')],
            0..12,
        )
    }

    proptest! {
        #[test]
        fn str_hash_is_linear_scan(
            keys in proptest::collection::vec("[aAbB]{0,3}", 0..20),
            probe in "[aAbB]{0,3}",
            icase in any::<bool>(),
        ) {
            let texts: Vec<&str> = keys.iter().map(String::as_str).collect();
            let c = build(MatchMethod::Str, icase, &texts);
            let scan = keys.iter().position(|k| eq(k.as_bytes(), probe.as_bytes(), icase));
            prop_assert_eq!(c.lookup(&s(&probe)), scan);
        }

        #[test]
        fn beg_tree_is_longest_then_first(
            keys in proptest::collection::vec("[ab]{0,4}", 0..20),
            probe in "[ab]{0,6}",
        ) {
            let texts: Vec<&str> = keys.iter().map(String::as_str).collect();
            let c = build(MatchMethod::Beg, false, &texts);
            let best = keys.iter().enumerate()
                .filter(|(_, k)| probe.starts_with(k.as_str()))
                .fold(None::<(usize, usize)>, |b, (i, k)| match b {
                    Some((l, _)) if l >= k.len() => b,
                    _ => Some((k.len(), i)),
                });
            prop_assert_eq!(c.lookup(&s(&probe)), best.map(|(_, i)| i));
        }

        #[test]
        fn dir_and_dom_follow_haproxy(
            sample in text(),
            pat in text(),
            icase in any::<bool>(),
            dom in any::<bool>(),
        ) {
            let (method, delims) = if dom { (MatchMethod::Dom, DOM_DELIMS) } else { (MatchMethod::Dir, DIR_DELIMS) };
            let p = String::from_utf8(pat.clone()).unwrap();
            let c = build(method, icase, &[&p]);
            prop_assert_eq!(
                c.lookup(&Sample::Str(sample.clone())).is_some(),
                word_reference(&sample, &pat, icase, delims)
            );
        }
    }
}
