//! Syntax of one health-check line: `option httpchk` arguments, `http-check
//! send|expect` and `tcp-check` rules, read into model values. Pure
//! functions: a value or the message for the line; how lines combine is
//! `checks.rs`.
//!
//! Strings are passed through [`word_text`] or [`word_bytes`] so that `\xHH`
//! escapes reach the probe as the bytes they name.

use super::keywords::{did_you_mean, word_list};
use super::lexer::{word_bytes, word_text};
use super::model::*;

/// The HTTP check request as far as written; `None` = HAProxy's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Request {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    pub headers: Option<Vec<(String, String)>>,
    pub body: Option<String>,
}

impl Request {
    /// Takes every part `newer` sets.
    pub(super) fn overlay(&mut self, newer: Request) {
        let Request {
            method,
            uri,
            version,
            headers,
            body,
        } = newer;
        self.method = method.or(self.method.take());
        self.uri = uri.or(self.uri.take());
        self.version = version.or(self.version.take());
        self.headers = headers.or(self.headers.take());
        self.body = body.or(self.body.take());
    }

    /// `METHOD URI VERSION`, as the check sends it.
    pub(super) fn line(&self) -> String {
        format!(
            "{} {} {}",
            self.method.as_deref().unwrap_or(DEFAULT_HTTPCHK_METHOD),
            self.uri.as_deref().unwrap_or(DEFAULT_HTTPCHK_URI),
            self.version.as_deref().unwrap_or(DEFAULT_HTTPCHK_VERSION)
        )
    }
}

/// `option httpchk [[METHOD] URI [VERSION]]`. The second value is true when
/// headers or a body hide behind `\r\n` in the version (deprecated, still
/// honoured by HAProxy 2.6).
pub(super) fn httpchk_request(args: &[String]) -> Result<(Request, bool), String> {
    let text = |w: &String| Some(word_text(w));
    let mut request = match args {
        [] => Request::default(),
        [uri] => Request {
            uri: text(uri),
            ..Request::default()
        },
        [method, uri] => Request {
            method: text(method),
            uri: text(uri),
            ..Request::default()
        },
        [method, uri, version] => Request {
            method: text(method),
            uri: text(uri),
            version: text(version),
            ..Request::default()
        },
        [_, _, _, extra, ..] => {
            return Err(format!(
                "'option httpchk' cannot handle unexpected argument '{extra}'."
            ));
        }
    };
    let Some((version, mut rest)) = request
        .version
        .as_deref()
        .and_then(|v| v.split_once("\r\n"))
        .map(|(v, r)| (v.to_string(), r.to_string()))
    else {
        return Ok((request, false));
    };
    request.version = Some(version);
    let mut headers = Vec::new();
    while !rest.is_empty() {
        let (line, after) = rest.split_once("\r\n").unwrap_or((&rest, ""));
        if line.is_empty() {
            request.body = Some(after.to_string()).filter(|b| !b.is_empty());
            break;
        }
        let header = line
            .split_once(':')
            .filter(|(name, _)| !name.is_empty() && !name.contains([' ', '\t']));
        let Some((name, value)) = header else {
            return Err(format!(
                "'option httpchk' : cannot read the header '{line}' hidden in the version string (expected 'Name: value')."
            ));
        };
        headers.push((name.to_string(), value.trim_start().to_string()));
        rest = after.to_string();
    }
    request.headers = Some(headers).filter(|h| !h.is_empty());
    Ok((request, true))
}

/// An `http-check send` parameter.
enum SendParam {
    /// One string, and where it goes.
    One(fn(&mut Request, String)),
    /// `hdr NAME VALUE`.
    Header,
}

/// The `http-check send` parameters, in the order messages list them.
#[rustfmt::skip]
const SEND_PARAMS: &[(&str, SendParam)] = &[
    ("meth", SendParam::One(|r, v| r.method = Some(v))),
    ("uri", SendParam::One(|r, v| r.uri = Some(v))),
    ("ver", SendParam::One(|r, v| r.version = Some(v))),
    ("hdr", SendParam::Header),
    ("body", SendParam::One(|r, v| r.body = Some(v))),
    ("comment", SendParam::One(|_, _| {})),
];

/// `http-check send` arguments: `meth M`, `uri U`, `ver V`, `hdr NAME
/// VALUE`..., `body STRING`, `comment TEXT` (ignored).
pub(super) fn http_send(args: &[String]) -> Result<Request, String> {
    let mut request = Request::default();
    let mut headers = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let key = args[i].as_str();
        match SEND_PARAMS.iter().find(|(name, _)| *name == key) {
            Some((_, SendParam::Header)) => {
                let (Some(name), Some(value)) = (args.get(i + 1), args.get(i + 2)) else {
                    return Err("'hdr' expects <name> and <value> as arguments.".into());
                };
                headers.push((word_text(name), header_value(value)?));
                i += 3;
            }
            Some((_, SendParam::One(set))) => {
                let Some(value) = args.get(i + 1).map(|v| word_text(v)) else {
                    return Err(format!("'{key}' expects a string as argument."));
                };
                set(&mut request, value);
                i += 2;
            }
            None if matches!(key, "uri-lf" | "body-lf") => {
                return Err(format!(
                    "'{key}' (a log-format string) is not supported yet; use '{}'",
                    key.trim_end_matches("-lf")
                ));
            }
            None => {
                let names = SEND_PARAMS.iter().map(|(name, _)| format!("'{name}'"));
                return Err(format!(
                    "expects {} but got '{key}' as argument.",
                    word_list(names, "or")
                ));
            }
        }
    }
    request.headers = Some(headers).filter(|h| !h.is_empty());
    Ok(request)
}

/// A header value is a log-format string in HAProxy: `%%` is a `%`, any
/// other `%` starts an expression, which splicer does not evaluate.
fn header_value(value: &str) -> Result<String, String> {
    let text = word_text(value);
    if text.replace("%%", "").contains('%') {
        return Err(format!(
            "header value '{text}': log-format expressions are not supported yet (write '%%' for a '%')"
        ));
    }
    Ok(text.replace("%%", "%"))
}

/// Options of `http-check expect` / `tcp-check expect` that change how the
/// result is reported or when it is judged: not implemented.
const EXPECT_OPTIONS: &[&str] = &[
    "min-recv",
    "ok-status",
    "error-status",
    "tout-status",
    "on-success",
    "on-error",
    "status-code",
];

/// A match word of an `expect` line, and how it reads its pattern.
type Matcher<M> = (&'static str, fn(&str) -> Result<M, String>);

/// `[!] MATCH PATTERN` with `comment TEXT` anywhere: the negation, the
/// match and its pattern. `matches` are the words this directive knows,
/// `later` those it will know later.
fn expect_parts<'a, M>(
    args: &'a [String],
    matches: &'static [Matcher<M>],
    later: &[&str],
) -> Result<(bool, &'static Matcher<M>, &'a String), String> {
    let names = || matches.iter().map(|(name, _)| *name);
    let mut negate = false;
    let mut found: Option<(&Matcher<M>, &String)> = None;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        if word == "comment" {
            if args.get(i + 1).is_none() {
                return Err("'comment' expects a string as argument.".into());
            }
            i += 2;
            continue;
        }
        if EXPECT_OPTIONS.contains(&word) {
            return Err(format!("option '{word}' is not supported yet"));
        }
        if word == "!" {
            negate = true;
            i += 1;
            continue;
        }
        let (bang, name) = match word.strip_prefix('!') {
            Some(name) => (true, name),
            None => (false, word),
        };
        if later.contains(&name) {
            return Err(format!("'{name}' is not supported yet"));
        }
        if let Some(((first, _), _)) = found {
            return Err(format!(
                "unexpected argument '{word}' after the '{first}' pattern (one match per line)."
            ));
        }
        let Some(matcher) = matches.iter().find(|(known, _)| *known == name) else {
            let hint = did_you_mean(name, names());
            return Err(format!(
                "expects [!] {} followed by a pattern, or 'comment', but got '{word}'{hint}",
                names().collect::<Vec<_>>().join("|")
            ));
        };
        let Some(pattern) = args.get(i + 1) else {
            return Err(format!("'{name}' expects a <pattern> as argument."));
        };
        negate |= bang;
        found = Some((matcher, pattern));
        i += 2;
    }
    let (matcher, pattern) = found.ok_or_else(|| {
        format!(
            "expects [!] {} followed by a pattern",
            names().collect::<Vec<_>>().join("|")
        )
    })?;
    Ok((negate, matcher, pattern))
}

/// The match words of `http-check expect`, in the order messages list them.
const HTTP_MATCHES: &[Matcher<HttpMatch>] = &[
    ("status", |p| {
        status_list(&word_text(p)).map(HttpMatch::Status)
    }),
    ("rstatus", |p| regex(p).map(HttpMatch::RStatus)),
    ("string", |p| Ok(HttpMatch::String(word_text(p)))),
    ("rstring", |p| regex(p).map(HttpMatch::RString)),
];

/// `http-check expect` arguments.
pub(super) fn http_expect(args: &[String]) -> Result<HttpExpect, String> {
    let (negate, (_, read), pattern) =
        expect_parts(args, HTTP_MATCHES, &["hdr", "fhdr", "string-lf"])?;
    let matcher = read(pattern)?;
    Ok(HttpExpect { negate, matcher })
}

/// `200`, `200,301`, `200-399`, `200,300-310`: inclusive ranges. Empty items
/// are skipped and codes above 65535 saturate, as HAProxy accepts both.
fn status_list(text: &str) -> Result<Vec<(u16, u16)>, String> {
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_digit() || *c == ',' || *c == '-'))
    {
        return Err(format!(
            "invalid character '{c}' in the list of status codes '{text}'."
        ));
    }
    let code = |s: &str| -> Option<u16> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(s.parse::<u16>().unwrap_or(u16::MAX))
    };
    let mut ranges = Vec::new();
    for item in text.split(',').filter(|i| !i.is_empty()) {
        let (low, high) = item.split_once('-').unwrap_or((item, item));
        match (code(low), code(high)) {
            (Some(l), Some(h)) if l <= h => ranges.push((l, h)),
            _ => return Err(format!("invalid range of status codes '{item}'.")),
        }
    }
    Ok(ranges)
}

/// A regex from the config; the message keeps the regex crate's reason.
fn regex(pattern: &str) -> Result<Pattern, String> {
    let text = word_text(pattern);
    regex::bytes::Regex::new(&text).map(Pattern).map_err(|e| {
        let full = e.to_string();
        let reason = full
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(&full)
            .to_string();
        format!("regex '{text}' is invalid ({reason}).")
    })
}

/// Hex digits, two per byte, either case.
fn hex(text: &str) -> Result<Vec<u8>, String> {
    if let Some(c) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "'{text}' is not a hex string ('{c}' is not a hex digit)."
        ));
    }
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "'{text}' is not a hex string (an even number of digits is expected)."
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Actions HAProxy has that splicer does not implement yet, besides
/// `others`: the variable ones.
pub(super) fn is_unsupported_action(action: &str, others: &[&str]) -> bool {
    others.contains(&action)
        || ["set-var(", "set-var-fmt(", "unset-var("]
            .iter()
            .any(|p| action.starts_with(p))
}

/// A `tcp-check` action, given `'tcp-check ACTION'` for its messages and
/// the words after the action: a rule, or `None` for a comment.
pub(super) type TcpAction = fn(&str, &[String]) -> Result<Option<TcpCheckRule>, String>;

/// The `tcp-check` actions splicer implements, in the order messages list
/// them.
pub(super) const TCP_CHECK_ACTIONS: &[(&str, TcpAction)] = &[
    ("connect", |what, args| rule(what, tcp_connect(args))),
    ("send", |what, args| {
        tcp_send(what, args, |data| Ok(word_bytes(data)))
    }),
    ("send-binary", |what, args| tcp_send(what, args, hex)),
    ("expect", |what, args| rule(what, tcp_expect(args))),
    ("comment", |what, args| match args {
        [] => Err(format!("{what} expects a string as argument.")),
        _ => Ok(None),
    }),
];

/// One `tcp-check ACTION ARGS...` line; `None` for a comment. Messages
/// start with the directive (`'tcp-check send': ...`).
pub(super) fn tcp_rule(action: &str, args: &[String]) -> Result<Option<TcpCheckRule>, String> {
    let what = format!("'tcp-check {action}'");
    if let Some((_, parse)) = TCP_CHECK_ACTIONS.iter().find(|(name, _)| *name == action) {
        return parse(&what, args);
    }
    if is_unsupported_action(action, &["send-lf", "send-binary-lf"]) {
        return Err(format!("{what} is not supported yet"));
    }
    let names = || TCP_CHECK_ACTIONS.iter().map(|(name, _)| *name);
    let hint = did_you_mean(action, names());
    let supported = word_list(names(), "and");
    Err(format!(
        "'tcp-check' does not know '{action}'{hint} (splicer supports {supported})"
    ))
}

/// A rule, or its message after the directive.
fn rule(what: &str, parsed: Result<TcpCheckRule, String>) -> Result<Option<TcpCheckRule>, String> {
    parsed.map(Some).map_err(|e| format!("{what}: {e}"))
}

/// `send DATA [comment TEXT]`, with `encode` turning DATA into bytes.
fn tcp_send(
    what: &str,
    args: &[String],
    encode: fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Option<TcpCheckRule>, String> {
    let Some(data) = args.first() else {
        return Err(format!("{what} expects the data to send as argument."));
    };
    let parsed = trailing_comment(&args[1..]).and_then(|()| encode(data).map(TcpCheckRule::Send));
    rule(what, parsed)
}

/// After the data of a `send`: nothing, or `comment TEXT`.
fn trailing_comment(rest: &[String]) -> Result<(), String> {
    match rest {
        [] => Ok(()),
        [c] if c == "comment" => Err("'comment' expects a string as argument.".into()),
        [c, _] if c == "comment" => Ok(()),
        [c, _, extra, ..] if c == "comment" => Err(format!("unexpected argument '{extra}'.")),
        [extra, ..] => Err(format!("expects 'comment' but got '{extra}' as argument.")),
    }
}

/// `tcp-check connect [port N] [send-proxy] [comment TEXT]`.
fn tcp_connect(args: &[String]) -> Result<TcpCheckRule, String> {
    let mut port = None;
    let mut send_proxy = false;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        match word {
            "send-proxy" => send_proxy = true,
            "port" | "comment" => {
                let Some(value) = args.get(i + 1) else {
                    return Err(format!("'{word}' expects an argument."));
                };
                if word == "port" {
                    port = Some(connect_port(value)?);
                }
                i += 1;
            }
            "default" | "addr" | "ssl" | "sni" | "alpn" | "via-socks4" | "linger" | "proto" => {
                return Err(format!("'{word}' is not supported yet"));
            }
            _ => {
                return Err(format!(
                    "expects 'port', 'send-proxy' or 'comment' but got '{word}' as argument."
                ));
            }
        }
        i += 1;
    }
    Ok(TcpCheckRule::Connect { port, send_proxy })
}

fn connect_port(value: &str) -> Result<u16, String> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'port' expects a port number, got '{value}' (sample expressions are not supported yet)."
        ));
    }
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("expects a valid TCP port (from range 1 to 65535), got {value}."))
}

/// The match words of `tcp-check expect`, in the order messages list them.
const TCP_MATCHES: &[Matcher<TcpMatch>] = &[
    ("string", |p| Ok(TcpMatch::String(word_bytes(p)))),
    ("rstring", |p| regex(p).map(TcpMatch::RString)),
    ("binary", |p| hex(p).map(TcpMatch::Binary)),
    ("rbinary", |p| regex(p).map(TcpMatch::RBinary)),
];

/// `tcp-check expect [!] string|rstring|binary|rbinary PATTERN`.
fn tcp_expect(args: &[String]) -> Result<TcpCheckRule, String> {
    let (negate, (_, read), pattern) =
        expect_parts(args, TCP_MATCHES, &["string-lf", "binary-lf"])?;
    let matcher = read(pattern)?;
    Ok(TcpCheckRule::Expect { negate, matcher })
}
