//! Logging keywords: `log` (global and proxies), `log global`, `no log`,
//! `log-tag`, `log-format`, `log-format-sd`, `error-log-format`,
//! `log-send-hostname`, `option tcplog` (the on/off log options are in
//! `options.rs`), with HAProxy 2.6's messages. A proxy's lines are
//! kept as a [`LogDraft`] (inherited from its defaults like everything
//! else) and resolved against the global `log` lines by `validate.rs`.

use std::net::{IpAddr, SocketAddr};

use super::logformat::{self as format, LogFormat};
use super::model::*;
use super::parser::Diags;

/// The 24 syslog facilities, by number.
pub(super) const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The 8 syslog levels, most severe first.
pub(super) const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `format` names of a `log` line.
pub(super) const FORMATS: &[(&str, SyslogFormat)] = &[
    ("local", SyslogFormat::Local),
    ("rfc3164", SyslogFormat::Rfc3164),
    ("rfc5424", SyslogFormat::Rfc5424),
    ("short", SyslogFormat::Short),
    ("priority", SyslogFormat::Priority),
    ("timed", SyslogFormat::Timed),
    ("iso", SyslogFormat::Iso),
    ("raw", SyslogFormat::Raw),
];

pub(super) fn facility(name: &str) -> Option<u8> {
    FACILITIES.iter().position(|f| *f == name).map(|i| i as u8)
}

pub(super) fn level(name: &str) -> Option<u8> {
    LEVELS.iter().position(|l| *l == name).map(|i| i as u8)
}

/// The syslog port when a `log` address has none.
pub(super) const DEFAULT_SYSLOG_PORT: u16 = 514;

/// A proxy's `log` line as written.
#[derive(Debug, Clone)]
pub(super) enum LogLine {
    /// `log global`: the global section's targets.
    Global,
    Target(LogTarget),
}

/// What a proxy's traffic log lines look like.
#[derive(Debug, Clone)]
pub(super) enum FormatChoice {
    Tcplog,
    Custom(LogFormat),
}

/// The logging lines of one proxy section.
#[derive(Debug, Clone, Default)]
pub(super) struct LogDraft {
    pub lines: Vec<LogLine>,
    pub format: Option<FormatChoice>,
    pub dontlognull: bool,
    pub tag: Option<String>,
    pub format_sd: Option<LogFormat>,
    pub error_format: Option<LogFormat>,
    pub logasap: bool,
    pub dontlog_normal: bool,
    pub separate_errors: bool,
}

/// The three format keywords of a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FormatKeyword {
    LogFormat,
    LogFormatSd,
    ErrorLogFormat,
}

impl FormatKeyword {
    fn name(self) -> &'static str {
        match self {
            FormatKeyword::LogFormat => "log-format",
            FormatKeyword::LogFormatSd => "log-format-sd",
            FormatKeyword::ErrorLogFormat => "error-log-format",
        }
    }
}

/// `log ADDRESS [len N] [format F] FACILITY [LEVEL [MINLEVEL]]`; `proxy`
/// changes HAProxy's wording of the argument-count error.
pub(super) fn parse_target(
    words: &[String],
    proxy: bool,
    loc: &Location,
) -> Result<LogTarget, String> {
    if words.len() < 3 {
        let or_global = if proxy { " or global" } else { "" };
        return Err(format!(
            "log : expects <address> and <facility>{or_global} as arguments"
        ));
    }
    let dest = parse_dest(&words[1])?;
    let mut i = 2;
    let arg = |i: usize| words.get(i).map_or("", String::as_str);
    // HAProxy reads `len`, then `format`, in that order only.
    let mut max_len = DEFAULT_LOG_LEN;
    if arg(i) == "len" {
        max_len = arg(i + 1)
            .parse()
            .ok()
            .filter(|n| (MIN_LOG_LEN..=MAX_LOG_LEN).contains(n))
            .ok_or_else(|| {
                format!(
                    "log : invalid log length '{}', must be between {MIN_LOG_LEN} and {MAX_LOG_LEN}",
                    arg(i + 1)
                )
            })?;
        i += 2;
    }
    let mut fmt = SyslogFormat::default();
    if arg(i) == "format" {
        let name = arg(i + 1);
        fmt = FORMATS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("log : unknown log format '{name}'"))?;
        i += 2;
    }
    if arg(i) == "sample" {
        return Err("log : 'sample' is not supported yet".into());
    }
    let fac = facility(arg(i)).ok_or_else(|| format!("log : unknown log facility '{}'", arg(i)))?;
    let mut lvl = 7;
    let mut min = 0;
    if let Some(w) = words.get(i + 1) {
        lvl = level(w).ok_or_else(|| format!("log : unknown optional log level '{w}'"))?;
    }
    if let Some(w) = words.get(i + 2) {
        min = level(w).ok_or_else(|| format!("log : unknown optional minimum log level '{w}'"))?;
    }
    if let Some(w) = words.get(i + 3) {
        return Err(format!("log : cannot handle unexpected argument '{w}'"));
    }
    Ok(LogTarget {
        dest,
        max_len,
        format: fmt,
        facility: fac,
        level: lvl,
        min_level: min,
        location: loc.clone(),
    })
}

/// `stdout`, `stderr`, `fd@1`, `fd@2`, a unix socket path, or a UDP
/// address (`[udp@|udp4@|udp6@|ipv4@|ipv6@]HOST[:PORT]`, port 514 by default).
fn parse_dest(text: &str) -> Result<LogDest, String> {
    match text {
        "stdout" | "fd@1" => return Ok(LogDest::Stdout),
        "stderr" | "fd@2" => return Ok(LogDest::Stderr),
        _ => {}
    }
    if let Some(path) = text
        .strip_prefix("unix@")
        .or(text.starts_with('/').then_some(text))
    {
        return Ok(LogDest::Unix(path.into()));
    }
    let (prefix, rest) = match text.split_once('@') {
        Some((p, r)) => (p, r),
        None => ("", text),
    };
    let want_v6 = match prefix {
        "" | "udp" => None,
        "udp4" | "ipv4" => Some(false),
        "udp6" | "ipv6" => Some(true),
        other => {
            return Err(format!(
                "log : '{other}@' log targets are not supported yet (splicer sends to stdout, stderr, unix datagram sockets and UDP)"
            ));
        }
    };
    let invalid = |what: &str| format!("log : invalid address: '{what}' in '{text}'");
    let (host, port) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (h, after) = inner.split_once(']').ok_or_else(|| invalid(rest))?;
            (h, after.strip_prefix(':'))
        }
        None => match rest.rfind(':') {
            Some(p) => (&rest[..p], Some(&rest[p + 1..])),
            None => (rest, None),
        },
    };
    let port = match port {
        None | Some("") => DEFAULT_SYSLOG_PORT,
        Some(p) => {
            if let Some(c) = p.chars().find(|c| !c.is_ascii_digit()) {
                return Err(format!(
                    "log : invalid character '{c}' in port number '{p}' in '{text}'"
                ));
            }
            p.parse().map_err(|_| format!("log : invalid port '{p}'"))?
        }
    };
    let ip: Option<IpAddr> = match host.parse() {
        Ok(ip) => Some(ip),
        Err(_) if host.is_empty() => None,
        Err(_) => crate::host::resolve(host).ok().and_then(|a| {
            a.into_iter()
                .find(|a| want_v6.is_none_or(|v6| a.is_ipv6() == v6))
        }),
    };
    match ip {
        Some(ip) if want_v6.is_none_or(|v6| ip.is_ipv6() == v6) => {
            Ok(LogDest::Udp(SocketAddr::new(ip, port)))
        }
        _ => Err(invalid(host)),
    }
}

/// `log ...` in the global section.
pub(super) fn global_log(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    if words.get(1).is_some_and(|w| w == "global") {
        return d.error(
            loc,
            "log : 'global' is not supported for a global syslog server",
        );
    }
    match parse_target(words, false, loc) {
        Ok(t) => g.logs.push(t),
        Err(e) => d.error(loc, e),
    }
}

/// `log-tag` in the global section.
pub(super) fn global_log_tag(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    match words {
        [_] => d.error(loc, "'log-tag' expects a tag for use in syslog."),
        [_, tag] => g.log_tag = Some(tag.clone()),
        [_, _, extra, ..] => d.error(
            loc,
            format!("'log-tag' cannot handle unexpected argument '{extra}'."),
        ),
        [] => {}
    }
}

/// `log-send-hostname [NAME]`.
pub(super) fn global_log_send_hostname(
    g: &mut Global,
    words: &[String],
    _: &Location,
    _: &mut Diags,
) {
    g.log_send_hostname = Some(words.get(1).cloned().unwrap_or_default());
}

impl LogDraft {
    /// `log ...` in a proxy section.
    pub(super) fn log(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if words.len() == 2 && words[1] == "global" {
            self.lines.push(LogLine::Global);
            return;
        }
        match parse_target(words, true, loc) {
            Ok(t) => self.lines.push(LogLine::Target(t)),
            Err(e) => d.error(loc, e),
        }
    }

    /// `no log` (`words[0]` is `log`).
    pub(super) fn no_log(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if words.len() > 1 {
            return d.error(loc, "log : 'no log' does not expect arguments");
        }
        self.lines.clear();
    }

    /// `log-tag` in a proxy section.
    pub(super) fn tag(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        match words.get(1) {
            // HAProxy ignores further words here (not in `global`).
            Some(tag) => self.tag = Some(tag.clone()),
            None => d.error(loc, "'log-tag' expects a tag for use in syslog."),
        }
    }

    /// `log-format`, `log-format-sd` or `error-log-format`; `who` is
    /// HAProxy's name for the proxy, `backend` when it cannot log traffic.
    pub(super) fn format_line(
        &mut self,
        kw: FormatKeyword,
        words: &[String],
        who: &str,
        backend: bool,
        loc: &Location,
        d: &mut Diags,
    ) {
        let name = kw.name();
        if words.len() < 2 {
            return d.error(loc, format!("{name} expects an argument."));
        }
        if words.len() > 2 {
            return d.error(
                loc,
                format!("{name} expects only one argument, don't forget to escape spaces!"),
            );
        }
        if backend {
            d.warn(
                loc,
                format!("{who} : '{name}' directive is ignored in backends."),
            );
            // HAProxy still compiles a backend's error-log-format (and
            // refuses a bad one); it drops the other two unread.
            if kw != FormatKeyword::ErrorLogFormat {
                return;
            }
        }
        let parsed = match format::parse(&words[1]) {
            Ok(f) => f,
            Err(e) => return d.error(loc, format!("failed to parse {name} : {e}")),
        };
        match kw {
            FormatKeyword::LogFormat => self.format = Some(FormatChoice::Custom(parsed)),
            FormatKeyword::LogFormatSd => self.format_sd = Some(parsed),
            FormatKeyword::ErrorLogFormat => self.error_format = Some(parsed),
        }
    }

    /// `option tcplog` (`on`) or `no option tcplog`.
    pub(super) fn tcplog(
        &mut self,
        on: bool,
        who: &str,
        backend: bool,
        loc: &Location,
        d: &mut Diags,
    ) {
        if !on {
            return d.error(
                loc,
                "negation/default is not supported for option 'tcplog'.",
            );
        }
        if backend {
            return d.warn(
                loc,
                format!("{who} : 'option tcplog' directive is ignored in backends."),
            );
        }
        self.format = Some(FormatChoice::Tcplog);
    }

    /// A backend's event targets once every file is read (`log global`
    /// expanded; formats only concern frontends and were warned about).
    pub(super) fn targets(&self, global: &Global) -> FrontendLog {
        let mut targets = Vec::new();
        for line in &self.lines {
            match line {
                LogLine::Global => targets.extend(global.logs.iter().cloned()),
                LogLine::Target(t) => targets.push(t.clone()),
            }
        }
        FrontendLog {
            targets,
            format: None,
            tag: self.tag.clone().or_else(|| global.log_tag.clone()),
            ..FrontendLog::default()
        }
    }

    /// The frontend's logging once every file is read: `log global`
    /// expanded, the tag chosen, HAProxy's warning when a format has no
    /// target to go to.
    pub(super) fn resolve(
        &self,
        global: &Global,
        who: &str,
        loc: &Location,
        d: &mut Diags,
    ) -> FrontendLog {
        let mut log = self.targets(global);
        log.format = self.format.as_ref().map(|f| match f {
            FormatChoice::Tcplog => LogFormat::tcplog(),
            FormatChoice::Custom(f) => f.clone(),
        });
        log.format_sd = self.format_sd.clone();
        log.error_format = self.error_format.clone();
        if (log.format.is_some() || log.format_sd.is_some()) && log.targets.is_empty() {
            d.warn(
                loc,
                format!("log format ignored for {who} since it has no log address."),
            );
        }
        log.dontlognull = self.dontlognull;
        log.logasap = self.logasap;
        log.dontlog_normal = self.dontlog_normal;
        log.separate_errors = self.separate_errors;
        log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(facility("local0"), Some(16));
        assert_eq!(facility("kern"), Some(0));
        assert_eq!(facility("local8"), None);
        assert_eq!(level("info"), Some(6));
        assert_eq!(level("emerg"), Some(0));
        assert_eq!(level("warn"), None);
    }

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn log_lines() {
        let loc = Location::default();
        let udp = |a: &str| LogDest::Udp(a.parse().unwrap());
        let cases: &[(&str, LogDest, usize, SyslogFormat, u8, u8, u8)] = &[
            (
                "log stdout format raw local0",
                LogDest::Stdout,
                1024,
                SyslogFormat::Raw,
                16,
                7,
                0,
            ),
            (
                "log stderr daemon",
                LogDest::Stderr,
                1024,
                SyslogFormat::Local,
                3,
                7,
                0,
            ),
            (
                "log fd@1 local7 info",
                LogDest::Stdout,
                1024,
                SyslogFormat::Local,
                23,
                6,
                0,
            ),
            (
                "log /dev/log local0 notice err",
                LogDest::Unix("/dev/log".into()),
                1024,
                SyslogFormat::Local,
                16,
                5,
                3,
            ),
            (
                "log unix@/run/x.sock user",
                LogDest::Unix("/run/x.sock".into()),
                1024,
                SyslogFormat::Local,
                1,
                7,
                0,
            ),
            (
                "log 127.0.0.1 local1",
                udp("127.0.0.1:514"),
                1024,
                SyslogFormat::Local,
                17,
                7,
                0,
            ),
            (
                "log udp@127.0.0.1:5514 len 2048 format rfc5424 local2",
                udp("127.0.0.1:5514"),
                2048,
                SyslogFormat::Rfc5424,
                18,
                7,
                0,
            ),
            (
                "log [::1]:600 format short kern",
                udp("[::1]:600"),
                1024,
                SyslogFormat::Short,
                0,
                7,
                0,
            ),
            (
                "log udp6@::1:514 local0",
                udp("[::1]:514"),
                1024,
                SyslogFormat::Local,
                16,
                7,
                0,
            ),
        ];
        for (line, dest, len, fmt, fac, lvl, min) in cases {
            let t =
                parse_target(&words(line), false, &loc).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(
                (
                    &t.dest,
                    t.max_len,
                    t.format,
                    t.facility,
                    t.level,
                    t.min_level
                ),
                (dest, *len, *fmt, *fac, *lvl, *min),
                "{line}"
            );
        }
    }
}
