//! The condition of a `.if` or `.elif` line (HAProxy 2.6 configuration
//! manual, section 2.4): words in, true or false out.
//!
//! The grammar and its messages follow HAProxy's `cfgcond.c` closely, so
//! that an error names the same text and position: `||` of `&&` of terms; a
//! term is `!`*, then an integer (C's `strtol`, base 0: zero is false), a
//! parenthesised expression, or a predicate with arguments in parentheses
//! (`defined`, `feature`, `streq`, `strneq`, `version_atleast`,
//! `version_before`). The whole expression is parsed first, so a syntax error
//! anywhere is reported; evaluation then stops early like C's `&&` and `||`.

/// The HAProxy version whose configuration format splicer follows, for
/// `version_atleast()` and `version_before()`. Only the branch: a condition
/// on a patch release (`version_atleast(2.6.5)`) answers as for 2.6.0.
pub(super) const HAPROXY_VERSION: &str = "2.6";

/// The names `feature()` is true for: the entries of `haproxy -vv`'s feature
/// list that splicer provides itself. Everything else is false, notably
/// OPENSSL (splicer terminates no TLS), LUA and PCRE (no scripts, no regex
/// ACLs), so a config can keep its TLS parts behind `.if feature(OPENSSL)`.
/// `SPLICER` is splicer's own: one file can hold splicer's extensions
/// (`mysql-cluster`, `mysql-role`) behind `.if feature(SPLICER)` and stay
/// valid for HAProxy, for which that feature is false.
pub(super) const FEATURES: &[&str] = &["EPOLL", "LINUX_SPLICE", "THREAD", "SYSTEMD", "SPLICER"];

/// HAProxy's `MAX_CFG_RECURSION`: how deep the parser may go.
const MAX_DEPTH: i32 = 1024;

/// Why a condition cannot be evaluated; `at` is the byte of the condition
/// text HAProxy points at (0-based).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct CondError {
    pub message: String,
    pub at: usize,
}

#[derive(Debug, Clone, Copy)]
enum Pred {
    Defined,
    Feature,
    StrEq,
    StrNeq,
    VersionAtLeast,
    VersionBefore,
    OpensslVersionAtLeast,
    OpensslVersionBefore,
    SsllibNameStartsWith,
}

/// HAProxy's predicates and how many string arguments each takes.
const PREDICATES: &[(&str, Pred, usize)] = &[
    ("defined", Pred::Defined, 1),
    ("feature", Pred::Feature, 1),
    ("streq", Pred::StrEq, 2),
    ("strneq", Pred::StrNeq, 2),
    ("version_atleast", Pred::VersionAtLeast, 1),
    ("version_before", Pred::VersionBefore, 1),
    ("openssl_version_atleast", Pred::OpensslVersionAtLeast, 1),
    ("openssl_version_before", Pred::OpensslVersionBefore, 1),
    ("ssllib_name_startswith", Pred::SsllibNameStartsWith, 1),
];

enum Kind {
    Const(bool),
    Pred(&'static str, Pred, Vec<String>),
    Paren(Expr),
}

struct Term {
    neg: bool,
    kind: Kind,
}

/// `||` of `&&` of terms.
type Expr = Vec<Vec<Term>>;

/// Evaluates the condition `text` (the words after `.if`, joined by one
/// blank, as HAProxy re-merges them). An empty condition is false.
pub(super) fn evaluate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, CondError> {
    if text.is_empty() {
        return Ok(false);
    }
    let p = Parser { s: text.as_bytes() };
    let mut at = 0;
    let Some(expr) = p.expr(&mut at, MAX_DEPTH)? else {
        return Err(p.error("unparsable conditional expression '{}'", 0, at));
    };
    let end = p.blanks(at);
    if let Some(&c) = p.s.get(end) {
        return Err(CondError {
            message: format!(
                "unexpected character '{}' at the end of conditional expression '{text}'",
                char::from(c)
            ),
            at: end,
        });
    }
    eval_expr(&expr, env).map_err(|message| CondError { message, at: 0 })
}

struct Parser<'a> {
    s: &'a [u8],
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn blanks(&self, mut i: usize) -> usize {
        while matches!(self.at(i), b' ' | b'\t') {
            i += 1;
        }
        i
    }

    fn rest(&self, i: usize) -> String {
        String::from_utf8_lossy(self.s.get(i..).unwrap_or_default()).into_owned()
    }

    /// `template` with `{}` replaced by the text from `from`, pointing at `at`.
    fn error(&self, template: &str, from: usize, at: usize) -> CondError {
        CondError {
            message: template.replacen("{}", &self.rest(from), 1),
            at,
        }
    }

    /// `Ok(None)`: nothing to parse at `*text` (C's return 0); `*text` is
    /// moved past what was parsed, sometimes even then.
    fn expr(&self, text: &mut usize, depth: i32) -> Result<Option<Expr>, CondError> {
        let mut i = *text;
        if i >= self.s.len() {
            return Ok(None);
        }
        if depth <= 0 {
            return Err(self.error("unparsable conditional expression '{}'", i, i));
        }
        let Some(left) = self.and(&mut i, depth - 1)? else {
            return Err(self.error("unparsable conditional expression '{}'", i, i));
        };
        i = self.blanks(i);
        *text = i;
        if !self.s[i..].starts_with(b"||") {
            return Ok(Some(vec![left]));
        }
        i = self.blanks(i + 2);
        let Some(right) = self.expr(&mut i, depth - 1)? else {
            return Ok(None);
        };
        *text = i;
        Ok(Some(std::iter::once(left).chain(right).collect()))
    }

    fn and(&self, text: &mut usize, depth: i32) -> Result<Option<Vec<Term>>, CondError> {
        let mut i = *text;
        if i >= self.s.len() {
            return Ok(None);
        }
        if depth <= 0 {
            return Err(self.error("unparsable conditional sub-expression '{}'", i, i));
        }
        let Some(left) = self.term(&mut i, depth - 1)? else {
            return Err(self.error("unparsable conditional sub-expression '{}'", i, i));
        };
        i = self.blanks(i);
        *text = i;
        if !self.s[i..].starts_with(b"&&") {
            return Ok(Some(vec![left]));
        }
        i = self.blanks(i + 2);
        let Some(right) = self.and(&mut i, depth - 1)? else {
            return Ok(None);
        };
        *text = i;
        Ok(Some(std::iter::once(left).chain(right).collect()))
    }

    fn term(&self, text: &mut usize, depth: i32) -> Result<Option<Term>, CondError> {
        let start = *text;
        let mut i = self.blanks(start);
        if i >= self.s.len() {
            return Ok(None);
        }
        let unparsable = || Err(self.error("unparsable conditional expression '{}'", start, start));
        if depth <= 0 {
            return unparsable();
        }
        let mut neg = false;
        while self.at(i) == b'!' {
            neg = !neg;
            i = self.blanks(i + 1);
        }
        if let Some((value, end)) = strtol(self.s, i) {
            *text = end;
            let kind = Kind::Const(value);
            return Ok(Some(Term { neg, kind }));
        }
        if self.at(i) == b'(' {
            i = self.blanks(i + 1);
            let Some(expr) = self.expr(&mut i, depth - 1)? else {
                return unparsable();
            };
            i = self.blanks(i);
            if self.at(i) != b')' {
                let msg = "expected ')' after conditional expression '{}'";
                return Err(self.error(msg, start, start));
            }
            *text = self.blanks(i + 1);
            let kind = Kind::Paren(expr);
            return Ok(Some(Term { neg, kind }));
        }
        let word_len = self.s[i..]
            .iter()
            .position(|c| matches!(c, b' ' | b'('))
            .unwrap_or(self.s.len() - i);
        let word = &self.s[i..i + word_len];
        let Some(&(name, pred, nargs)) = PREDICATES.iter().find(|p| p.0.as_bytes() == word) else {
            return unparsable();
        };
        match self.args(i + word_len, nargs) {
            Ok((args, end)) => {
                *text = end;
                let kind = Kind::Pred(name, pred, args);
                Ok(Some(Term { neg, kind }))
            }
            Err((msg, arg, at)) => Err(CondError {
                message: format!(
                    "{msg} in argument {arg} of predicate '{name}' used in conditional expression"
                ),
                at,
            }),
        }
    }

    /// HAProxy's `make_arg_list` for `n` mandatory strings: `(a,b)`, with
    /// quotes and backslashes. Err: (message, argument number, position).
    fn args(&self, mut i: usize, n: usize) -> Result<(Vec<String>, usize), (String, usize, usize)> {
        // Without `(`, the predicate gets one empty argument.
        let bounded = self.at(i) == b'(';
        if !bounded {
            if n > 1 {
                let msg = format!("missing arguments (got 1/{n}), type 'string' expected");
                return Err((msg, 1, i));
            }
            return Ok((vec![String::new()], i));
        }
        i += 1;
        let mut args = Vec::new();
        while args.len() < n {
            let (mut squote, mut dquote) = (false, false);
            let mut out = Vec::new();
            while i < self.s.len() {
                let c = self.s[i];
                match c {
                    b'"' if !squote => dquote = !dquote,
                    b'\'' if !dquote => squote = !squote,
                    b'\\' if !squote => {
                        let next = self.at(i + 1);
                        match next {
                            0 => {
                                let msg = format!(
                                    "failed to parse '{}' after '{}' as type 'string' at position {}",
                                    self.rest(i),
                                    String::from_utf8_lossy(&out),
                                    args.len() + 1
                                );
                                return Err((msg, args.len(), i));
                            }
                            b'\\' | b' ' | b'"' | b'\'' => out.push(next),
                            b'r' => out.push(b'\r'),
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            _ => {
                                out.push(c);
                                i += 1;
                                continue;
                            }
                        }
                        i += 1;
                    }
                    b',' | b')' if !squote && !dquote => break,
                    _ => out.push(c),
                }
                i += 1;
            }
            args.push(String::from_utf8_lossy(&out).into_owned());
            if i >= self.s.len() || self.s[i] == b')' || args.len() >= n {
                break;
            }
            i += 1;
        }
        let pos = args.len();
        if pos < n {
            let msg = format!("missing arguments (got {pos}/{n}), type 'string' expected");
            return Err((msg, pos, i));
        }
        if self.at(i) == b')' {
            return Ok((args, i + 1));
        }
        let msg = match self.rest(i) {
            rest if rest.is_empty() => "expected ')'".to_string(),
            rest => format!("expected ')' before '{rest}'"),
        };
        Err((msg, if pos > 1 { pos - 1 } else { pos }, i))
    }
}

/// C's `strtol(s + i, &end, 0)`: `Some((value != 0, end))` when digits were
/// read. Decimal, `0x` hexadecimal or `0` octal, with an optional sign.
fn strtol(s: &[u8], i: usize) -> Option<(bool, usize)> {
    let mut j = i;
    if matches!(s.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let hex = s.get(j) == Some(&b'0')
        && matches!(s.get(j + 1), Some(b'x' | b'X'))
        && s.get(j + 2).is_some_and(u8::is_ascii_hexdigit);
    let (digits_start, radix) = match s.get(j) {
        _ if hex => (j + 2, 16),
        Some(b'0') => (j, 8),
        _ => (j, 10),
    };
    let len = s[digits_start.min(s.len())..]
        .iter()
        .take_while(|c| char::from(**c).is_digit(radix))
        .count();
    if len == 0 {
        return None;
    }
    let digits = &s[digits_start..digits_start + len];
    Some((digits.iter().any(|c| *c != b'0'), digits_start + len))
}

fn eval_expr(expr: &Expr, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    for and in expr {
        let mut all = true;
        for term in and {
            if !eval_term(term, env)? {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eval_term(term: &Term, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    let value = match &term.kind {
        Kind::Const(v) => *v,
        Kind::Paren(e) => eval_expr(e, env)?,
        Kind::Pred(name, pred, args) => match pred {
            Pred::Defined => env(&args[0]).is_some(),
            Pred::Feature => FEATURES.contains(&args[0].as_str()),
            Pred::StrEq => args[0] == args[1],
            Pred::StrNeq => args[0] != args[1],
            Pred::VersionAtLeast => compare_version(&args[0]) <= 0,
            Pred::VersionBefore => compare_version(&args[0]) > 0,
            // As in an HAProxy built without OpenSSL: no library name
            // matches, and a library version cannot be compared.
            Pred::SsllibNameStartsWith => false,
            Pred::OpensslVersionAtLeast | Pred::OpensslVersionBefore => {
                return Err(format!(
                    "predicate '{name}' needs an SSL library and splicer has none (it terminates no TLS); test feature(OPENSSL) first"
                ));
            }
        },
    };
    Ok(value != term.neg)
}

/// HAProxy's `split_version`: `a.b.c.d-tagN-commit` as seven numbers; a tag
/// counts `dev` 1, `rc`/`pre` 2, none 3. `None` when unparsable.
fn split_version(v: &str) -> Option<[u32; 7]> {
    let s = v.as_bytes();
    let mut out = [0, 0, 0, 0, 3, 0, 0];
    if s.is_empty() {
        return None;
    }
    let mut p = 0;
    // Up to four dotted numbers; each either ends the text or is followed
    // by `.` (not after the fourth) or by `-` and a tag.
    for (k, slot) in out.iter_mut().take(4).enumerate() {
        let (n, end) = strtol10(s, p);
        *slot = n;
        match s.get(end) {
            None => return Some(out),
            Some(b'-') => {
                p = end + 1;
                break;
            }
            Some(b'.') if k < 3 => p = end + 1,
            Some(_) => return None,
        }
    }
    if !s.get(p).is_some_and(u8::is_ascii_digit) {
        let tag = [("dev", 1), ("rc", 2), ("pre", 2)]
            .into_iter()
            .find(|(t, _)| s[p..].starts_with(t.as_bytes()));
        if let Some((t, value)) = tag {
            out[4] = value;
            let (n, end) = strtol10(s, p + t.len());
            out[5] = n;
            match s.get(end) {
                None => return Some(out),
                Some(b'-') => p = end + 1,
                Some(_) => return None,
            }
        }
    }
    // The commit count: after the last `-`, else the rest.
    let from = match s[p..].iter().rposition(|c| *c == b'-') {
        Some(dash) if p + dash + 1 == s.len() => return None,
        Some(dash) => p + dash + 1,
        None => p,
    };
    let (n, end) = strtol10(s, from);
    out[6] = if end == s.len() { n } else { 0 };
    Some(out)
}

/// C's `strtol(s + i, &end, 10)` cast to `unsigned int`: (value, end).
fn strtol10(s: &[u8], i: usize) -> (u32, usize) {
    let mut j = i;
    let neg = s.get(j) == Some(&b'-');
    if matches!(s.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let len = s[j.min(s.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if len == 0 {
        return (0, i);
    }
    let value = s[j..j + len].iter().fold(0u32, |acc, c| {
        acc.wrapping_mul(10).wrapping_add(u32::from(c - b'0'))
    });
    (if neg { value.wrapping_neg() } else { value }, j + len)
}

/// HAProxy's `compare_current_version`: -1 when `v` is older than
/// [`HAPROXY_VERSION`], 0 when the same, 1 when newer, -3 when unparsable
/// (so `version_atleast(junk)` is true and `version_before(junk)` false, as
/// in HAProxy).
fn compare_version(v: &str) -> i32 {
    let ours = split_version(HAPROXY_VERSION).expect("HAPROXY_VERSION parses");
    let Some(theirs) = split_version(v) else {
        return -3;
    };
    match theirs.cmp(&ours) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}
