//! `resolvers NAME` sections (HAProxy 2.6, configuration.txt 5.3.2): the
//! name servers a server's host name is re-resolved with at run time, and
//! the timers of that resolution. Lines become a [`Resolvers`] in
//! `Config::resolvers`; servers name a section with `resolvers NAME`, which
//! `validate.rs` turns into an index. Messages are HAProxy's.

use std::net::SocketAddr;
use std::time::Duration;

use super::model::Location;
use super::parser::Diags;
use super::values::parse_time;

/// `hold valid` when not set (HAProxy 2.6: 10 s).
pub(crate) const DEFAULT_HOLD_VALID: Duration = Duration::from_secs(10);
/// `hold nx|refused|timeout|other` when not set (HAProxy 2.6: 30 s).
pub(crate) const DEFAULT_HOLD_ERROR: Duration = Duration::from_secs(30);
/// `hold obsolete` when not set (HAProxy 2.6: 0, records go at once).
pub(crate) const DEFAULT_HOLD_OBSOLETE: Duration = Duration::ZERO;
/// `resolve_retries` when not set.
pub(crate) const DEFAULT_RESOLVE_RETRIES: u32 = 3;
/// `timeout resolve` and `timeout retry` when not set.
pub(crate) const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(1);
/// `accepted_payload_size` when not set (RFC 6891's minimum).
pub(crate) const DEFAULT_PAYLOAD_SIZE: u16 = 512;
/// `accepted_payload_size` lower bound: a DNS header (HAProxy).
const MIN_PAYLOAD_SIZE: u32 = 12;
/// Where `parse-resolv-conf` reads.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// `hold STATUS PERIOD`: how long a last valid answer outweighs an error
/// of each kind before the servers go to maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub valid: Duration,
    pub nx: Duration,
    pub refused: Duration,
    pub timeout: Duration,
    pub other: Duration,
    pub obsolete: Duration,
}

impl Default for Hold {
    fn default() -> Self {
        Hold {
            valid: DEFAULT_HOLD_VALID,
            nx: DEFAULT_HOLD_ERROR,
            refused: DEFAULT_HOLD_ERROR,
            timeout: DEFAULT_HOLD_ERROR,
            other: DEFAULT_HOLD_ERROR,
            obsolete: DEFAULT_HOLD_OBSOLETE,
        }
    }
}

/// One `nameserver NAME ADDR:PORT` (UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    pub name: String,
    pub addr: SocketAddr,
    pub location: Location,
}

/// One `resolvers NAME` section.
#[derive(Debug, Clone)]
pub struct Resolvers {
    pub name: String,
    pub location: Location,
    pub nameservers: Vec<Nameserver>,
    pub hold: Hold,
    /// `resolve_retries`: queries sent before giving up.
    pub retries: u32,
    /// `timeout resolve`: how often resolutions are looked at.
    pub timeout_resolve: Duration,
    /// `timeout retry`: how long a query waits for an answer.
    pub timeout_retry: Duration,
    /// `accepted_payload_size`, announced in an EDNS0 OPT record.
    pub payload_size: u16,
}

/// `resolvers NAME`: a new section, or `None` (and an error) without a name.
pub(crate) fn header(
    words: &[String],
    loc: &Location,
    existing: &[Resolvers],
    d: &mut Diags,
) -> Option<Resolvers> {
    let Some(name) = words.get(1) else {
        d.error(loc, "missing name for resolvers section.");
        return None;
    };
    if let Some(first) = existing.iter().find(|r| r.name == *name) {
        d.error(
            loc,
            format!(
                "resolvers '{name}' has same name as another resolvers (declared at {}).",
                first.location
            ),
        );
    }
    Some(Resolvers {
        name: name.clone(),
        location: loc.clone(),
        nameservers: Vec::new(),
        hold: Hold::default(),
        retries: DEFAULT_RESOLVE_RETRIES,
        timeout_resolve: DEFAULT_RESOLVE_TIMEOUT,
        timeout_retry: DEFAULT_RESOLVE_TIMEOUT,
        payload_size: DEFAULT_PAYLOAD_SIZE,
    })
}

/// One line of a `resolvers` section.
pub(crate) fn keyword(r: &mut Resolvers, words: &[String], loc: &Location, d: &mut Diags) {
    let arg = |i: usize| words.get(i).map(String::as_str);
    match words[0].as_str() {
        "nameserver" => {
            let (Some(name), Some(addr)) = (arg(1), arg(2)) else {
                return d.error(
                    loc,
                    "'nameserver' expects <name> and <addr>[:<port>] as arguments.",
                );
            };
            match parse_nameserver(addr) {
                Ok(addr) => add_nameserver(r, name, addr, loc, d),
                Err(bad) => d.error(
                    loc,
                    format!("'nameserver {name}' : invalid address: '{bad}' in '{addr}'"),
                ),
            }
        }
        "parse-resolv-conf" => match crate::host::read_file(std::path::Path::new(RESOLV_CONF)) {
            Ok(text) => {
                for (i, ip) in resolv_conf(&text).into_iter().enumerate() {
                    let name = format!("{RESOLV_CONF}-nameserver-{}", i + 1);
                    add_nameserver(r, &name, SocketAddr::new(ip, 53), loc, d);
                }
            }
            Err(e) => d.error(loc, format!("failed to open '{RESOLV_CONF}': {e}")),
        },
        "hold" => {
            let (Some(event), Some(time)) = (arg(1), arg(2)) else {
                d.error(loc, "'hold' expects an <event> and a <time> as arguments.");
                return d.error(
                    loc,
                    "<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'",
                );
            };
            let Ok(t) = parse_time(time, 1000) else {
                let bad = time.trim_start_matches(|c: char| c.is_ascii_digit());
                let c = bad.chars().next().unwrap_or('?');
                return d.error(
                    loc,
                    format!("unexpected character '{c}' in argument to <hold>."),
                );
            };
            let h = &mut r.hold;
            match event {
                "valid" => h.valid = t,
                "nx" => h.nx = t,
                "refused" => h.refused = t,
                "timeout" => h.timeout = t,
                "other" => h.other = t,
                "obsolete" => h.obsolete = t,
                _ => d.error(
                    loc,
                    format!(
                        "'hold' unknown <event>: '{event}', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."
                    ),
                ),
            }
        }
        "resolve_retries" => match arg(1) {
            // HAProxy reads it with atoi: garbage is 0.
            Some(n) => r.retries = leading_number(n),
            None => d.error(loc, "'resolve_retries' expects <nb> as argument."),
        },
        "timeout" => {
            let which = arg(1).unwrap_or("");
            if which != "retry" && which != "resolve" {
                return d.error(
                    loc,
                    format!(
                        "'timeout' expects 'retry' or 'resolve' and <time> as arguments got '{which}'."
                    ),
                );
            }
            let Some(time) = arg(2) else {
                return d.error(
                    loc,
                    format!("'timeout {which}' expects <time> as argument."),
                );
            };
            match parse_time(time, 1000) {
                Ok(t) if which == "retry" => r.timeout_retry = t,
                Ok(t) => r.timeout_resolve = t,
                Err(_) => {
                    let bad = time.trim_start_matches(|c: char| c.is_ascii_digit());
                    let c = bad.chars().next().unwrap_or('?');
                    d.error(
                        loc,
                        format!("unexpected character '{c}' in 'timeout {which}' argument."),
                    )
                }
            }
        }
        "accepted_payload_size" => {
            let Some(n) = arg(1) else {
                return d.error(loc, "'accepted_payload_size' expects <nb> as argument.");
            };
            let n = leading_number(n);
            if !(MIN_PAYLOAD_SIZE..=u16::MAX as u32).contains(&n) {
                return d.error(
                    loc,
                    format!(
                        "'accepted_payload_size' must be between {MIN_PAYLOAD_SIZE} and 65535 inclusive (was {n})."
                    ),
                );
            }
            r.payload_size = n as u16;
        }
        other => d.error(
            loc,
            format!("unknown keyword '{other}' in 'resolvers' section"),
        ),
    }
}

fn add_nameserver(r: &mut Resolvers, name: &str, addr: SocketAddr, loc: &Location, d: &mut Diags) {
    if let Some(first) = r.nameservers.iter().find(|n| n.name == name) {
        return d.error(
            loc,
            format!(
                "nameserver '{name}' has same name as another nameserver (declared at {}).",
                first.location
            ),
        );
    }
    r.nameservers.push(Nameserver {
        name: name.into(),
        addr,
        location: loc.clone(),
    });
}

/// `[udp@|ipv4@|ipv6@]IP[:PORT]`, port 53 when absent; the host part that
/// is not an IP on error.
fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    let rest = ["udp@", "ipv4@", "ipv6@", "udp4@", "udp6@"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text);
    if let Ok(a) = rest.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = rest.trim_matches(['[', ']']).parse() {
        return Ok(SocketAddr::new(ip, 53));
    }
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    match (host.trim_matches(['[', ']']).parse(), rest.rsplit_once(':')) {
        (Ok(ip), Some((_, port))) => port
            .parse()
            .map(|p| SocketAddr::new(ip, p))
            .map_err(|_| host.to_string()),
        _ => Err(host.to_string()),
    }
}

/// The `nameserver` addresses of a resolv.conf text, in order.
fn resolv_conf(text: &str) -> Vec<std::net::IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()?.parse().ok())?
        })
        .collect()
}

/// C's `atoi` on the leading digits (HAProxy's reading of these counts).
fn leading_number(text: &str) -> u32 {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(lines: &[&str]) -> (Resolvers, Vec<String>) {
        let loc = Location {
            file: "t.cfg".into(),
            line: 1,
        };
        let mut d = Diags::default();
        let mut r = header(&["resolvers".into(), "dns".into()], &loc, &[], &mut d).unwrap();
        for l in lines {
            let words: Vec<String> = l.split_whitespace().map(String::from).collect();
            keyword(&mut r, &words, &loc, &mut d);
        }
        (r, d.errors.iter().map(|e| e.message.clone()).collect())
    }

    #[test]
    fn reads_every_keyword() {
        let (r, errors) = section(&[
            "nameserver ns1 127.0.0.1:5353",
            "nameserver ns2 udp@127.0.0.2",
            "hold valid 2s",
            "hold nx 5s",
            "hold obsolete 100",
            "resolve_retries 5",
            "timeout resolve 300ms",
            "timeout retry 2s",
            "accepted_payload_size 8192",
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let addrs: Vec<String> = r.nameservers.iter().map(|n| n.addr.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:5353", "127.0.0.2:53"]);
        assert_eq!(r.hold.valid, Duration::from_secs(2));
        assert_eq!(r.hold.nx, Duration::from_secs(5));
        assert_eq!(r.hold.obsolete, Duration::from_millis(100));
        assert_eq!(r.hold.other, DEFAULT_HOLD_ERROR);
        assert_eq!((r.retries, r.payload_size), (5, 8192));
        assert_eq!(r.timeout_resolve, Duration::from_millis(300));
        assert_eq!(r.timeout_retry, Duration::from_secs(2));
    }

    /// Checked with `haproxy -c` (2.6.12).
    #[test]
    fn errors_as_haproxy_words_them() {
        let cases: &[(&str, &str)] = &[
            (
                "nameserver",
                "'nameserver' expects <name> and <addr>[:<port>] as arguments.",
            ),
            (
                "nameserver ns4 foo:53",
                "'nameserver ns4' : invalid address: 'foo' in 'foo:53'",
            ),
            (
                "hold bogus 10s",
                "'hold' unknown <event>: 'bogus', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'.",
            ),
            (
                "hold nx",
                "'hold' expects an <event> and a <time> as arguments.",
            ),
            (
                "hold nx 1x",
                "unexpected character 'x' in argument to <hold>.",
            ),
            (
                "resolve_retries",
                "'resolve_retries' expects <nb> as argument.",
            ),
            (
                "timeout bogus 1s",
                "'timeout' expects 'retry' or 'resolve' and <time> as arguments got 'bogus'.",
            ),
            (
                "timeout resolve",
                "'timeout resolve' expects <time> as argument.",
            ),
            (
                "accepted_payload_size 70000",
                "'accepted_payload_size' must be between 12 and 65535 inclusive (was 70000).",
            ),
            ("bogus 1", "unknown keyword 'bogus' in 'resolvers' section"),
        ];
        for (line, expected) in cases {
            let (_, errors) = section(&[line]);
            assert_eq!(
                errors.first().map(String::as_str),
                Some(*expected),
                "{line}"
            );
        }
        let (_, errors) = section(&["nameserver a 127.0.0.1:53", "nameserver a 127.0.0.1:54"]);
        assert_eq!(
            errors,
            ["nameserver 'a' has same name as another nameserver (declared at t.cfg:1)."]
        );
    }

    #[test]
    fn reads_resolv_conf() {
        let text = "# c\nsearch x\nnameserver 127.0.0.53\nnameserver ::1\nnameserver bad\n";
        let ips: Vec<String> = resolv_conf(text).iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["127.0.0.53", "::1"]);
    }
}
