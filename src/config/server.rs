//! `server` and `default-server` parameters. `default-server` fills a
//! [`ServerParams`] template that every later `server` line of the proxy (and
//! of proxies inheriting from the defaults section) starts from. The TLS
//! parameters are read in `tls_server.rs`.

use super::keywords::did_you_mean;
use super::model::*;
use super::server_dns::{self, DnsParams};
use super::tls::TlsGlobal;
use super::tls_server::{self, ServerDraft};
use super::values::{parse_int, parse_ip, parse_time};
use std::net::IpAddr;

/// `agent-port`/`port` range.
const MIN_PORT: u16 = 1;
/// `rise`/`fall`/`error-limit` lower bound (HAProxy refuses 0).
const MIN_COUNT: u32 = 1;

/// Everything on a server line except its name and address.
#[derive(Debug, Clone)]
pub(super) struct ServerParams {
    pub weight: u32,
    pub backup: bool,
    pub maxconn: Option<u32>,
    /// `minconn`: the dynamic limit's floor (with the backend's `fullconn`).
    pub minconn: Option<u32>,
    /// `maxqueue`; 0 or less = unlimited.
    pub maxqueue: u32,
    /// `source ADDR:LOW-HIGH` (or `:PORT`): the source ports to use.
    pub source_ports: Option<(u16, u16)>,
    /// `track [PROXY/]SERVER` as written; resolved by validation.
    pub track: Option<String>,
    pub disabled: bool,
    pub send_proxy: Option<ProxyVersion>,
    pub source: Option<IpAddr>,
    /// `tfo`: TCP Fast Open when connecting.
    pub tfo: bool,
    /// `non-stick`: `stick` rules never store this server.
    pub non_stick: bool,
    pub check: CheckParams,
    pub dns: DnsParams,
    /// Resolved into the server's `ServerTls` by `tls_server::finish`.
    pub tls: ServerDraft,
}

impl Default for ServerParams {
    fn default() -> Self {
        ServerParams {
            weight: DEFAULT_WEIGHT,
            backup: false,
            maxconn: None,
            minconn: None,
            maxqueue: 0,
            track: None,
            source_ports: None,
            disabled: false,
            send_proxy: None,
            source: None,
            tfo: false,
            non_stick: false,
            check: CheckParams::default(),
            dns: DnsParams::default(),
            tls: ServerDraft::default(),
        }
    }
}

/// Time units of `inter` & co are milliseconds when bare (HAProxy).
const MS: u64 = 1000;

/// Applies a parameter's value, or says why it cannot.
type SetValue = fn(&mut ServerParams, &str) -> Result<(), String>;

/// Parameters that take one argument, with how each applies its value.
/// The order is the one typo suggestions prefer on a tie.
#[rustfmt::skip]
pub(super) const WITH_ARG: &[(&str, SetValue)] = &[
    ("weight", |p, v| parse_int(v, 0, MAX_WEIGHT).map(|n| p.weight = n)),
    ("maxconn", |p, v| parse_int(v, 0, u32::MAX).map(|n| p.maxconn = Some(n))),
    ("track", |p, v| {
        p.track = Some(v.to_string());
        Ok(())
    }),
    ("minconn", |p, v| parse_int(v, 0, u32::MAX).map(|n| p.minconn = Some(n))),
    // HAProxy reads it with atol: a negative value is no limit.
    ("maxqueue", |p, v| {
        let n = match v.strip_prefix('-') {
            Some(neg) => parse_int::<u64>(neg, 0, u64::MAX).map(|_| 0)?,
            None => parse_int(v, 0, u32::MAX)?,
        };
        p.maxqueue = n;
        Ok(())
    }),
    ("source", |p, v| {
        let (ip, ports) = parse_source(v, true)?;
        p.source = Some(ip);
        p.source_ports = ports;
        Ok(())
    }),
    // Stats identifiers are not used yet; the value is still checked.
    ("id", |_, v| parse_int::<u32>(v, 1, u32::MAX).map(drop)),
    ("inter", |p, v| positive_time(v).map(|t| p.check.inter = t)),
    ("fastinter", |p, v| positive_time(v).map(|t| p.check.fastinter = Some(t))),
    ("downinter", |p, v| positive_time(v).map(|t| p.check.downinter = Some(t))),
    ("rise", |p, v| parse_int(v, MIN_COUNT, u32::MAX).map(|n| p.check.rise = n)),
    ("fall", |p, v| parse_int(v, MIN_COUNT, u32::MAX).map(|n| p.check.fall = n)),
    ("port", |p, v| parse_int(v, MIN_PORT, u16::MAX).map(|n| p.check.port = Some(n))),
    ("addr", |p, v| parse_ip(v).map(|ip| p.check.addr = Some(ip))),
    ("slowstart", |p, v| parse_time(v, MS).map(|t| p.check.slowstart = Some(t))),
    ("on-marked-down", on_marked_down),
    ("on-marked-up", on_marked_up),
    ("observe", observe),
    ("error-limit", |p, v| parse_int(v, MIN_COUNT, u32::MAX).map(|n| p.check.error_limit = n)),
    ("on-error", on_error),
    ("agent-port", |p, v| parse_int(v, MIN_PORT, u16::MAX).map(|n| p.check.agent_port = Some(n))),
    ("agent-inter", |p, v| positive_time(v).map(|t| p.check.agent_inter = Some(t))),
    ("agent-addr", |p, v| parse_ip(v).map(|ip| p.check.agent_addr = Some(ip))),
    ("resolvers", |p, v| {
        p.dns.resolvers = Some(v.to_string());
        Ok(())
    }),
    ("resolve-prefer", |p, v| server_dns::resolve_prefer(&mut p.dns, v)),
    ("resolve-net", |p, v| server_dns::resolve_net(&mut p.dns, v)),
    ("resolve-opts", |p, v| server_dns::resolve_opts(&mut p.dns, v)),
    ("init-addr", |p, v| server_dns::init_addr(&mut p.dns, v)),
    ("agent-send", |p, v| {
        p.check.agent_send = Some(super::lexer::word_text(v));
        Ok(())
    }),
];

/// Sets what a flag names.
type SetFlag = fn(&mut ServerParams);

/// Flags, with what each sets. The order is the one typo suggestions
/// prefer on a tie.
pub(super) const FLAGS: &[(&str, SetFlag)] = &[
    ("backup", |p| p.backup = true),
    ("no-backup", |p| p.backup = false),
    ("disabled", |p| p.disabled = true),
    ("enabled", |p| p.disabled = false),
    ("send-proxy", |p| p.send_proxy = Some(ProxyVersion::V1)),
    ("check-send-proxy", |p| p.check.send_proxy = true),
    ("send-proxy-v2", |p| p.send_proxy = Some(ProxyVersion::V2)),
    ("no-send-proxy", |p| p.send_proxy = None),
    ("no-send-proxy-v2", |p| p.send_proxy = None),
    ("check", |p| p.check.enabled = true),
    ("no-check", |p| p.check.enabled = false),
    ("tfo", |p| p.tfo = true),
    ("no-tfo", |p| p.tfo = false),
    ("non-stick", |p| p.non_stick = true),
    ("agent-check", |p| p.check.agent = true),
    ("no-agent-check", |p| p.check.agent = false),
];

/// HAProxy server parameters that splicer does not implement yet.
const UNSUPPORTED: &[&str] = &[
    "check-proto",
    "check-via-socks4",
    "proto",
    "namespace",
    "pool-max-conn",
    "pool-low-conn",
    "pool-purge-delay",
    "max-reuse",
    "usesrc",
    "socks4",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "proxy-v2-options",
    "tcp-ut",
    "interface",
    "set-proxy-v2-tlv-fmt",
    "shard",
    "log-proto",
];

/// Parameters that only act in HTTP mode.
const HTTP_ONLY: &[&str] = &["cookie", "redir", "ws"];

/// One problem on a server line.
pub(super) enum ParamIssue {
    Error(String),
    Warning(String),
}

/// Applies `words` (the parameters after the address, or after
/// `default-server`) to `params`. `who` names the server in messages
/// (`server 'be/s1'` or `default-server`); `tls` has the global TLS
/// defaults (`None`: TLS parameters are refused, as on a `peers` line).
/// Every problem is reported.
pub(super) fn apply(
    params: &mut ServerParams,
    words: &[String],
    who: &str,
    tls: Option<&TlsGlobal>,
) -> Vec<ParamIssue> {
    let mut issues = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let key = words[i].as_str();
        let value = words.get(i + 1).map(String::as_str);
        if let Some(global) = tls {
            if let Some(used) =
                tls_server::param(&mut params.tls, global, key, value, who, &mut issues)
            {
                i += used;
                continue;
            }
        } else if let Some((_, takes_value)) = tls_server::params().find(|(k, _)| *k == key) {
            issues.push(ParamIssue::Error(format!(
                "{who}: '{key}' is not supported yet"
            )));
            i += if takes_value && value.is_some() { 2 } else { 1 };
            continue;
        }
        if UNSUPPORTED.contains(&key) {
            issues.push(ParamIssue::Error(format!(
                "{who}: '{key}' is not supported yet"
            )));
            // Skip the parameter's argument when it clearly has one.
            if words.get(i + 1).is_some_and(|w| !is_param(w)) {
                i += 1;
            }
        } else if HTTP_ONLY.contains(&key) {
            issues.push(ParamIssue::Warning(format!(
                "{who}: '{key}' ignored as it requires HTTP mode"
            )));
            if words.get(i + 1).is_some_and(|w| !is_param(w)) {
                i += 1;
            }
        } else if let Some((_, set)) = FLAGS.iter().find(|(k, _)| *k == key) {
            set(params);
        } else if let Some((_, set)) = WITH_ARG.iter().find(|(k, _)| *k == key) {
            match words.get(i + 1) {
                None => issues.push(ParamIssue::Error(format!(
                    "{who}: '{key}' expects an argument"
                ))),
                Some(value) => {
                    if let Err(e) = set(params, value) {
                        issues.push(ParamIssue::Error(format!("{who}: '{key}': {e}")));
                    }
                }
            }
            i += 1;
        } else {
            let hint = did_you_mean(key, all_params());
            issues.push(ParamIssue::Error(format!(
                "{who}: unknown parameter '{key}'{hint}"
            )));
            // Most parameters take a value: don't report it as a second unknown.
            if words.get(i + 1).is_some_and(|w| !is_param(w)) {
                i += 1;
            }
        }
        i += 1;
    }
    issues
}

fn is_param(word: &str) -> bool {
    all_params().any(|p| p == word)
}

fn all_params() -> impl Iterator<Item = &'static str> {
    WITH_ARG
        .iter()
        .map(|(k, _)| *k)
        .chain(FLAGS.iter().map(|(k, _)| *k))
        .chain(tls_server::params().map(|(k, _)| k))
        .chain(UNSUPPORTED.iter().copied())
        .chain(HTTP_ONLY.iter().copied())
}

fn on_marked_down(p: &mut ServerParams, v: &str) -> Result<(), String> {
    match v {
        "shutdown-sessions" => p.check.on_marked_down = Some(OnMarkedDown::ShutdownSessions),
        _ => return Err(format!("expects 'shutdown-sessions' (got '{v}')")),
    }
    Ok(())
}

fn on_marked_up(p: &mut ServerParams, v: &str) -> Result<(), String> {
    match v {
        "shutdown-backup-sessions" => {
            p.check.on_marked_up = Some(OnMarkedUp::ShutdownBackupSessions)
        }
        _ => return Err(format!("expects 'shutdown-backup-sessions' (got '{v}')")),
    }
    Ok(())
}

fn observe(p: &mut ServerParams, v: &str) -> Result<(), String> {
    match v {
        "layer4" => p.check.observe = true,
        "layer7" => return Err("'layer7' needs HTTP mode; use 'layer4'".into()),
        _ => return Err(format!("expects 'layer4' (got '{v}')")),
    }
    Ok(())
}

fn on_error(p: &mut ServerParams, v: &str) -> Result<(), String> {
    p.check.on_error = match v {
        "fastinter" => OnError::FastInter,
        "fail-check" => OnError::FailCheck,
        "sudden-death" => OnError::SuddenDeath,
        "mark-down" => OnError::MarkDown,
        _ => {
            return Err(format!(
                "expects 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' (got '{v}')"
            ));
        }
    };
    Ok(())
}

fn positive_time(v: &str) -> Result<std::time::Duration, String> {
    let t = parse_time(v, MS)?;
    if t.is_zero() {
        return Err(format!("'{v}' must be greater than zero"));
    }
    Ok(t)
}

/// `source ADDR` (also the proxy keyword): an IP, optionally `:0`. Ports
/// and `usesrc` are not supported yet.
/// `ADDR[:PORT[-PORT]]`: the source address, and the source ports
/// (`None`: the kernel's choice; a range only where `ranges` allows it, on
/// `server` lines, as in HAProxy).
pub(super) fn parse_source(v: &str, ranges: bool) -> Result<(IpAddr, Option<(u16, u16)>), String> {
    if let Ok(ip) = parse_ip(v) {
        return Ok((ip, None));
    }
    let Some((host, port)) = v.rsplit_once(':') else {
        return Err(format!("'{v}' is not an IP address"));
    };
    let ip = parse_ip(host).map_err(|_| format!("'{v}' is not an IP address"))?;
    if port.starts_with(['+', '-']) {
        return Err(format!("port offset not permitted here in '{v}'."));
    }
    let num = |t: &str| {
        t.parse::<u16>()
            .map_err(|_| format!("invalid port '{t}' in '{v}'"))
    };
    match port.split_once('-') {
        None if port.is_empty() || port == "0" => Ok((ip, None)),
        None => Ok((ip, Some((num(port)?, num(port)?)))),
        Some(_) if !ranges => Err(format!("port range not permitted here in '{v}'")),
        Some((lo, hi)) => {
            let (lo, hi) = (num(lo)?, num(hi)?);
            if lo > hi {
                return Err(format!("invalid port range '{port}'."));
            }
            // Port 0 is the kernel's choice: the range starts at 1.
            Ok((ip, Some((lo.max(1), hi.max(1)))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn source_ports_as_haproxy_reads_them() {
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        type Case = (&'static str, bool, Result<Option<(u16, u16)>, &'static str>);
        let cases: &[Case] = &[
            ("127.0.0.2", true, Ok(None)),
            ("127.0.0.2:0", true, Ok(None)),
            ("127.0.0.2:5000", true, Ok(Some((5000, 5000)))),
            ("127.0.0.2:1025-2000", true, Ok(Some((1025, 2000)))),
            ("127.0.0.2:0-10", true, Ok(Some((1, 10)))),
            (
                "127.0.0.2:3000-2999",
                true,
                Err("invalid port range '3000-2999'."),
            ),
            (
                "127.0.0.2:1025-2000",
                false,
                Err("port range not permitted here in '127.0.0.2:1025-2000'"),
            ),
            (
                "127.0.0.2:+5",
                true,
                Err("port offset not permitted here in '127.0.0.2:+5'."),
            ),
        ];
        for (text, ranges, want) in cases {
            let got = parse_source(text, *ranges);
            match want {
                Ok(ports) => assert_eq!(got, Ok((ip, *ports)), "{text}"),
                Err(e) => assert_eq!(got.unwrap_err(), *e, "{text}"),
            }
        }
    }

    fn run(line: &str) -> (ServerParams, Vec<String>) {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let mut p = ServerParams::default();
        let issues = apply(&mut p, &words, "server 'b/s1'", Some(&TlsGlobal::default()))
            .into_iter()
            .map(|i| match i {
                ParamIssue::Error(e) => format!("E: {e}"),
                ParamIssue::Warning(w) => format!("W: {w}"),
            })
            .collect();
        (p, issues)
    }

    #[test]
    fn accepts_each_parameter() {
        let (p, issues) = run(
            "weight 50 backup maxconn 100 send-proxy-v2 source 127.0.0.9 id 3 check inter 5s fastinter 500 \
             downinter 10s rise 3 fall 2 port 8080 addr 127.0.0.2 slowstart 30s on-marked-down shutdown-sessions \
             on-marked-up shutdown-backup-sessions observe layer4 error-limit 5 on-error mark-down agent-check \
             agent-port 9999 agent-inter 3s agent-addr ::1",
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!((p.weight, p.backup, p.maxconn), (50, true, Some(100)));
        assert_eq!(p.send_proxy, Some(ProxyVersion::V2));
        assert_eq!(p.source, Some("127.0.0.9".parse().unwrap()));
        let c = &p.check;
        assert!(c.enabled && c.observe && c.agent);
        assert_eq!(
            (c.inter, c.fastinter, c.downinter),
            (
                Duration::from_secs(5),
                Some(Duration::from_millis(500)),
                Some(Duration::from_secs(10))
            )
        );
        assert_eq!(
            (c.rise, c.fall, c.port, c.error_limit),
            (3, 2, Some(8080), 5)
        );
        assert_eq!(c.addr, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(c.slowstart, Some(Duration::from_secs(30)));
        assert_eq!(
            (c.on_marked_down, c.on_marked_up, c.on_error),
            (
                Some(OnMarkedDown::ShutdownSessions),
                Some(OnMarkedUp::ShutdownBackupSessions),
                OnError::MarkDown
            )
        );
        assert_eq!(
            (c.agent_port, c.agent_inter, c.agent_addr),
            (
                Some(9999),
                Some(Duration::from_secs(3)),
                Some("::1".parse().unwrap())
            )
        );
    }

    #[test]
    fn flags_toggle() {
        let (p, _) = run("backup no-backup check no-check send-proxy no-send-proxy disabled");
        assert!(!p.backup && !p.check.enabled && p.send_proxy.is_none() && p.disabled);
        let (p, _) = run("disabled enabled");
        assert!(!p.disabled);
    }

    #[test]
    fn reports_problems() {
        let cases: &[(&str, &str)] = &[
            (
                "weight 300",
                "E: server 'b/s1': 'weight': value '300' is out of range 0..256",
            ),
            ("weight", "E: server 'b/s1': 'weight' expects an argument"),
            (
                "rise 0",
                "E: server 'b/s1': 'rise': value '0' is out of range 1..4294967295",
            ),
            (
                "inter 2x",
                "E: server 'b/s1': 'inter': invalid unit 'x' in time '2x' (expected us, ms, s, m, h or d)",
            ),
            (
                "inter 0",
                "E: server 'b/s1': 'inter': '0' must be greater than zero",
            ),
            (
                "port 0",
                "E: server 'b/s1': 'port': value '0' is out of range 1..65535",
            ),
            (
                "addr 1.2.3",
                "E: server 'b/s1': 'addr': '1.2.3' is not an IP address",
            ),
            (
                "observe layer7",
                "E: server 'b/s1': 'observe': 'layer7' needs HTTP mode; use 'layer4'",
            ),
            (
                "on-error foo",
                "E: server 'b/s1': 'on-error': expects 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' (got 'foo')",
            ),
            (
                "source 127.0.0.1:6-5",
                "E: server 'b/s1': 'source': invalid port range '6-5'.",
            ),
            (
                "resolve-prefer ipv5",
                "E: server 'b/s1': 'resolve-prefer': expects either ipv4 or ipv6 as argument.",
            ),
            (
                "send-proxy-v2-ssl",
                "E: server 'b/s1': 'send-proxy-v2-ssl' is not supported yet",
            ),
            (
                "usesrc client",
                "E: server 'b/s1': 'usesrc' is not supported yet",
            ),
            (
                "cookie web1",
                "W: server 'b/s1': 'cookie' ignored as it requires HTTP mode",
            ),
            (
                "wieght 3",
                "E: server 'b/s1': unknown parameter 'wieght'; did you mean 'weight'?",
            ),
        ];
        for (line, expected) in cases {
            let (_, issues) = run(line);
            assert_eq!(
                issues.first().map(String::as_str),
                Some(*expected),
                "{line}: {issues:?}"
            );
        }
        // Every problem of a line is reported, not only the first.
        assert_eq!(run("weight 999 rise 0 bogus 1 check").1.len(), 3);
    }
}
