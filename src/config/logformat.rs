//! `log-format` strings, parsed once when the config loads into a list of
//! [`Node`]s, which the logger thread renders (`crate::logging::format`).
//! `option tcplog` is the format [`TCPLOG`].

/// HAProxy's definition of `option tcplog`.
pub(crate) const TCPLOG: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// A `%` variable splicer can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    /// Our side of the server connection.
    BackendIp,
    BackendPort,
    ServerIp,
    ServerPort,
    /// `%t`: accept date, local time, milliseconds.
    AcceptDate,
    /// `%T`: accept date, GMT.
    GmtDate,
    /// `%Tl`: accept date, local time with its offset.
    LocalDate,
    /// `%Ts`: accept date as a Unix timestamp.
    Timestamp,
    /// `%ms`: milliseconds of the accept date.
    Millis,
    FrontendTransport,
    Frontend,
    Backend,
    Server,
    Tw,
    Tc,
    Tt,
    Td,
    /// `%B`: server to client.
    BytesRead,
    /// `%U`: client to server.
    BytesUploaded,
    TermState,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BackendQueue,
    Pid,
    Hostname,
    /// `%sslv`: the client connection's TLS version (`TLSv1.3`), `-` in clear.
    SslVersion,
    /// `%sslc`: its cipher suite, by OpenSSL's name, `-` in clear.
    SslCipher,
}

impl Var {
    /// Known only at the end of a session (HAProxy's `LW_BYTES`: times,
    /// bytes, counts, the termination state). A format without any is
    /// logged as soon as the server connection is up, as HAProxy does;
    /// `option logasap` logs then whatever the format holds.
    pub fn waits_for_end(self) -> bool {
        use Var::*;
        matches!(
            self,
            Tw | Tc
                | Tt
                | Td
                | BytesRead
                | BytesUploaded
                | TermState
                | ActConn
                | FeConn
                | BeConn
                | SrvConn
                | Retries
                | SrvQueue
                | BackendQueue
        )
    }
}

/// Names as written after `%`.
const VARS: &[(&str, Var)] = &[
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("bi", Var::BackendIp),
    ("bp", Var::BackendPort),
    ("si", Var::ServerIp),
    ("sp", Var::ServerPort),
    ("t", Var::AcceptDate),
    ("T", Var::GmtDate),
    ("Tl", Var::LocalDate),
    ("Ts", Var::Timestamp),
    ("ms", Var::Millis),
    ("ft", Var::FrontendTransport),
    ("f", Var::Frontend),
    ("b", Var::Backend),
    ("s", Var::Server),
    ("Tw", Var::Tw),
    ("Tc", Var::Tc),
    ("Tt", Var::Tt),
    ("Td", Var::Td),
    ("B", Var::BytesRead),
    ("U", Var::BytesUploaded),
    ("ts", Var::TermState),
    ("ac", Var::ActConn),
    ("fc", Var::FeConn),
    ("bc", Var::BeConn),
    ("sc", Var::SrvConn),
    ("rc", Var::Retries),
    ("sq", Var::SrvQueue),
    ("bq", Var::BackendQueue),
    ("pid", Var::Pid),
    ("H", Var::Hostname),
    ("sslv", Var::SslVersion),
    ("sslc", Var::SslCipher),
];

/// Variables HAProxy only has in HTTP mode (its error for a TCP proxy).
const HTTP_VARS: &[&str] = &[
    "CC", "CS", "HM", "HP", "HPO", "HQ", "HU", "HV", "Ta", "Ti", "Tq", "TR", "Tr", "r", "tr",
    "trg", "trl", "tsc",
];

/// Variables HAProxy has in TCP mode that splicer does not render yet.
const UNSUPPORTED_VARS: &[&str] = &["ID", "ST", "Th", "Tu", "lc", "rt", "hr", "hrl", "hs", "hsl"];

/// `%{+Q,+X,+E}`: quote, hexadecimal, escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub quote: bool,
    pub hex: bool,
    pub escape: bool,
}

impl Flags {
    /// Applies `+Q,-X,...`; anything else is ignored, as HAProxy does.
    fn apply(mut self, spec: &str) -> Flags {
        for item in spec.split(',') {
            let mut chars = item.chars();
            let on = match chars.next() {
                Some('+') => true,
                Some('-') => false,
                _ => continue,
            };
            match chars.as_str() {
                "Q" => self.quote = on,
                "X" => self.hex = on,
                "E" => self.escape = on,
                _ => {}
            }
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Text(String),
    Var(Var, Flags),
    /// `%[expr]`: the sample [`LogFormat::samples`]`[i]`.
    Sample(usize, Flags),
}

/// A parsed `log-format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub nodes: Vec<Node>,
    /// The `%[expr]` samples, evaluated by the session for its record.
    pub samples: Vec<super::SampleExpr>,
}

impl LogFormat {
    pub fn uses(&self, var: Var) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n, Node::Var(v, _) if *v == var))
    }

    /// Whether a variable of this format is only known at the end of a
    /// session ([`Var::waits_for_end`]).
    pub fn waits_for_end(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n, Node::Var(v, _) if v.waits_for_end()))
    }

    /// The `option tcplog` format.
    pub fn tcplog() -> LogFormat {
        parse(TCPLOG).expect("the tcplog format parses")
    }
}

/// Parses a format string; the error is HAProxy's reason after
/// `failed to parse log-format : `.
pub(crate) fn parse(src: &str) -> Result<LogFormat, String> {
    let mut nodes = Vec::new();
    let mut samples = Vec::new();
    let mut text = String::new();
    // `%o` flags, applied to every following variable.
    let mut all = Flags::default();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c != '%' {
            // HAProxy merges runs of spaces into one, escaped or not.
            if !(c == ' ' && text.ends_with(' ')) {
                text.push(c);
            }
            continue;
        }
        if let Some(r) = rest.strip_prefix('%') {
            text.push('%');
            rest = r;
            continue;
        }
        let mut flags = all;
        let mut spec = None;
        if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(format!("truncated line after '{r}'."));
            };
            flags = flags.apply(&r[..end]);
            spec = Some(&r[..end]);
            rest = &r[end + 1..];
        }
        if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("missing ']' after '{r}'."));
            };
            let expr = super::sample::parse(&r[..end], &mut NoMaps)
                .map_err(|e| format!("failed to parse sample expression <{}> : {e}.", &r[..end]))?;
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(&mut text)));
            }
            nodes.push(Node::Sample(samples.len(), flags));
            samples.push(expr.expr);
            rest = &r[end + 1..];
            continue;
        }
        let len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(len);
        rest = after;
        if name.is_empty() {
            return Err(match spec {
                Some(s) => {
                    format!("parse argument modifier without variable name near '%{{{s}}}'.")
                }
                None => "truncated line after '%'.".to_string(),
            });
        }
        if name == "o" {
            all = flags;
            continue;
        }
        let var = lookup(name)?;
        if !text.is_empty() {
            nodes.push(Node::Text(std::mem::take(&mut text)));
        }
        nodes.push(Node::Var(var, flags));
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    Ok(LogFormat { nodes, samples })
}

/// Map converters read files into the config's pattern lists, which a
/// log format does not reach.
struct NoMaps;

impl super::sample::MapFiles for NoMaps {
    fn map_file(
        &mut self,
        _: &str,
        _: super::pattern::MatchMethod,
    ) -> Result<super::PatternRefId, String> {
        Err("map converters are not supported in log formats yet".into())
    }
}

fn lookup(name: &str) -> Result<Var, String> {
    if let Some((_, v)) = VARS.iter().find(|(n, _)| *n == name) {
        return Ok(*v);
    }
    if HTTP_VARS.contains(&name) {
        return Err(format!(
            "format variable '{name}' is reserved for HTTP mode."
        ));
    }
    if UNSUPPORTED_VARS.contains(&name) {
        return Err(format!("format variable '{name}' is not supported yet."));
    }
    Err(format!(
        "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_haproxys() {
        let cases: &[(&str, &str)] = &[
            (
                "%zz",
                "no such format variable 'zz'. If you wanted to emit the '%' character verbatim, you need to use '%%'.",
            ),
            ("%ci:%cp%", "truncated line after '%'."),
            ("%", "truncated line after '%'."),
            ("%{+Q", "truncated line after '+Q'."),
            (
                "%{+Q}",
                "parse argument modifier without variable name near '%{+Q}'.",
            ),
            ("%HM", "format variable 'HM' is reserved for HTTP mode."),
            ("%r", "format variable 'r' is reserved for HTTP mode."),
            ("%[src", "missing ']' after 'src'."),
            (
                "%[nosuch]",
                "failed to parse sample expression <nosuch> : unknown fetch method 'nosuch'.",
            ),
            ("%ST", "format variable 'ST' is not supported yet."),
        ];
        for (fmt, expected) in cases {
            assert_eq!(parse(fmt).unwrap_err(), *expected, "{fmt}");
        }
    }

    #[test]
    fn tcplog_is_the_documented_string() {
        let f = LogFormat::tcplog();
        assert!(f.uses(Var::TermState) && f.uses(Var::BackendQueue));
        assert!(!f.uses(Var::BackendIp));
    }

    #[test]
    fn which_formats_wait_for_the_end() {
        let cases: &[(&str, bool)] = &[
            ("%ci:%cp [%t] %ft %b/%s %si:%sp %bi:%bp", false),
            ("%ci %H %pid %Ts %ms %T %Tl %f", false),
            ("literal text only", false),
            (TCPLOG, true),
            ("%ci %Tt", true),
            ("%ci %B", true),
            ("%ci %U", true),
            ("%ci %ts", true),
            ("%ci %ac", true),
            ("%ci %rc", true),
            ("%ci %bq", true),
        ];
        for (fmt, expected) in cases {
            assert_eq!(parse(fmt).unwrap().waits_for_end(), *expected, "{fmt}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any format string parses or gets HAProxy's reason, never a
            /// panic.
            #[test]
            fn any_format_parses_or_is_refused(src in "\\PC{0,80}") {
                let _ = parse(&src);
            }

            /// Formats made of known pieces always parse, and so does the
            /// same format with text between the pieces.
            #[test]
            fn formats_of_known_pieces_parse(
                pieces in proptest::collection::vec(proptest::sample::select(vec![
                    "%ci", "%cp", "%fi", "%fp", "%b", "%s", "%ft", "%Tw", "%Tc", "%Tt",
                    "%B", "%U", "%ts", "%ac", "%fc", "%bc", "%sc", "%rc", "%sq", "%bq",
                    "%%", "%[src]", "%[dst_port]", "%{+Q}o", "%{-Q}o", "%{+Q}[src]",
                    "%t", "%T", "%H", "%pid", " ", ":", "/", "\\ ",
                ]), 0..20),
                // Not a letter: one after a variable would lengthen its name.
                sep in "[ :/-]{0,3}",
            ) {
                let src = pieces.join(&sep);
                prop_assert!(parse(&src).is_ok(), "{:?}: {:?}", src, parse(&src).err());
            }
        }
    }
}
