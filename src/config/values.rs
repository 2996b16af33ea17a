//! Typed values of keyword arguments: times, sizes, integers, addresses.
//! Each function returns a message that names the offending value; the
//! caller prefixes the keyword.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// HAProxy refuses timers above 2^31-1 ms (about 24.8 days).
pub(super) const MAX_TIME_MS: u128 = i32::MAX as u128;

/// A time such as `500`, `30s`, `2m` (integers only, as in HAProxy).
/// A bare number is in `default_unit_us` microseconds (1000 for ms).
pub fn parse_time(text: &str, default_unit_us: u64) -> Result<Duration, String> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return Err(format!(
            "invalid time '{text}' (expected a number with an optional unit us, ms, s, m, h, d)"
        ));
    }
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("time '{text}' is too large"))?;
    let unit_us: u64 = match &text[digits..] {
        "" => default_unit_us,
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        other => {
            return Err(format!(
                "invalid unit '{other}' in time '{text}' (expected us, ms, s, m, h or d)"
            ));
        }
    };
    let us = u128::from(number) * u128::from(unit_us);
    if us / 1000 > MAX_TIME_MS {
        return Err(format!(
            "time '{text}' exceeds the maximum of 2147483647 ms (~24.8 days)"
        ));
    }
    Ok(Duration::from_micros(us as u64))
}

/// A size in bytes: `16384`, `64k`, `1m`, `1g` (binary multiples, as HAProxy).
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return Err(format!(
            "invalid size '{text}' (expected a number with an optional unit k, m, g)"
        ));
    }
    let number: usize = text[..digits]
        .parse()
        .map_err(|_| format!("size '{text}' is too large"))?;
    let mult: usize = match &text[digits..] {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "invalid unit '{other}' in size '{text}' (expected k, m or g)"
            ));
        }
    };
    number
        .checked_mul(mult)
        .ok_or_else(|| format!("size '{text}' is too large"))
}

/// A non-negative integer in `min..=max`.
pub(super) fn parse_int<T>(text: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<T>() {
        Ok(v) if ok && v >= min && v <= max => Ok(v),
        Ok(_) | Err(_) if ok => Err(format!("value '{text}' is out of range {min}..{max}")),
        _ => Err(format!("'{text}' is not a number")),
    }
}

/// The host part of an address, before resolution.
pub(super) enum Family {
    Any,
    V4,
    V6,
}

/// Splits an `[ipv4@|ipv6@]HOST:PORT` string into family, host and port text.
/// `[::1]:80`, `::1:80` and `:::80` are accepted like HAProxy does (the port is
/// after the last colon).
pub(super) fn split_host_port(text: &str) -> Result<(Family, &str, Option<&str>), String> {
    let (family, rest) = if let Some(r) = text.strip_prefix("ipv4@") {
        (Family::V4, r)
    } else if let Some(r) = text.strip_prefix("ipv6@") {
        (Family::V6, r)
    } else if let Some((prefix, _)) = text.split_once('@') {
        return Err(format!(
            "address family '{prefix}@' in '{text}' is not supported yet (only ipv4@, ipv6@, unix@ and abns@)"
        ));
    } else {
        (Family::Any, text)
    };
    if let Some(inner) = rest.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(format!("missing ']' in '{text}'"));
        };
        return match after.strip_prefix(':') {
            Some(port) => Ok((family, host, Some(port))),
            None if after.is_empty() => Ok((family, host, None)),
            None => Err(format!("unexpected '{after}' after ']' in '{text}'")),
        };
    }
    match rest.rfind(':') {
        Some(pos) => Ok((family, &rest[..pos], Some(&rest[pos + 1..]))),
        None => Ok((family, rest, None)),
    }
}

fn parse_port(text: &str, whole: &str) -> Result<u16, String> {
    parse_int::<u16>(text, 0, u16::MAX).map_err(|_| format!("invalid port '{text}' in '{whole}'"))
}

/// Resolves a host (IP literal or name) in a family; `""`/`*` is "any".
pub(super) fn resolve_host(family: &Family, host: &str, whole: &str) -> Result<IpAddr, String> {
    if host.is_empty() || host == "*" {
        return Ok(match family {
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        });
    }
    let literal = host.parse::<IpAddr>().ok();
    let candidates: Vec<IpAddr> = match literal {
        Some(ip) => vec![ip],
        None => crate::host::resolve(host)
            .map_err(|e| format!("could not resolve address '{host}' in '{whole}': {e}"))?,
    };
    candidates
        .into_iter()
        .find(|ip| match family {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        })
        .ok_or_else(|| format!("no address of the requested family for '{host}' in '{whole}'"))
}

/// `bind` address: `[ipv4@|ipv6@]HOST:PORT[-PORT]`; returns one socket
/// address per port of the range. Port 0 is accepted (splicer extension:
/// the data path picks a port once, handy for tests; HAProxy refuses it).
pub(super) fn parse_bind_addr(text: &str) -> Result<Vec<SocketAddr>, String> {
    let (family, host, port) = split_host_port(text)?;
    let Some(port) = port.filter(|p| !p.is_empty()) else {
        return Err(format!("missing port specification in '{text}'"));
    };
    let (low, high) = match port.split_once('-') {
        Some((a, b)) => (parse_port(a, text)?, parse_port(b, text)?),
        None => {
            let p = parse_port(port, text)?;
            (p, p)
        }
    };
    if low > high || (low == 0 && high != 0) {
        return Err(format!("invalid port range '{port}' in '{text}'"));
    }
    let ip = resolve_host(&family, host, text)?;
    Ok((low..=high).map(|p| SocketAddr::new(ip, p)).collect())
}

/// `server` address: `[ipv4@|ipv6@]HOST:PORT`, HOST resolved now.
pub(super) fn parse_server_addr(text: &str) -> Result<SocketAddr, String> {
    let (family, host, port) = split_host_port(text)?;
    if host.is_empty() || host == "*" {
        return Err(format!("missing address in '{text}'"));
    }
    let port = server_port(port, text)?;
    Ok(SocketAddr::new(resolve_host(&family, host, text)?, port))
}

/// The port of a server address (`text` is the whole address, for
/// messages): 0 when it comes from the client's (see [`server_port_mode`]).
pub(super) fn server_port(port: Option<&str>, text: &str) -> Result<u16, String> {
    match port {
        None | Some("") => Ok(0),
        Some(p) if p.starts_with(['+', '-']) => parse_port(&p[1..], text).map(|_| 0),
        Some(p) if p.contains('-') => Err(format!("port range not permitted here in '{text}'")),
        Some(p) => parse_port(p, text),
    }
}

/// How a server address gives its port: `HOST:N`, `HOST` / `HOST:0` (the
/// client's destination port), `HOST:+N` / `HOST:-N` (an offset from it).
pub(super) fn server_port_mode(text: &str) -> super::model::PortMode {
    use super::model::PortMode;
    let Ok((_, _, port)) = split_host_port(text) else {
        return PortMode::Fixed;
    };
    match port {
        None | Some("") | Some("0") => PortMode::Client,
        Some(p) => match (p.strip_prefix('+'), p.strip_prefix('-')) {
            (Some(n), _) => PortMode::Offset(n.parse().unwrap_or(0)),
            (_, Some(n)) => PortMode::Offset(-n.parse::<i32>().unwrap_or(0)),
            _ => PortMode::Fixed,
        },
    }
}

/// An IP address literal (for `source`, `addr`, `agent-addr`).
pub(super) fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let inner = inner
        .strip_prefix("ipv4@")
        .or_else(|| inner.strip_prefix("ipv6@"))
        .unwrap_or(inner);
    inner
        .parse()
        .map_err(|_| format!("'{text}' is not an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PortMode;

    #[test]
    fn times() {
        let ms = |n| Ok(Duration::from_millis(n));
        let cases: &[(&str, &str, Result<Duration, String>)] = &[
            ("bare is ms", "500", ms(500)),
            ("us", "250us", Ok(Duration::from_micros(250))),
            ("ms", "20ms", ms(20)),
            ("s", "30s", ms(30_000)),
            ("m", "2m", ms(120_000)),
            ("h", "1h", ms(3_600_000)),
            ("d", "1d", ms(86_400_000)),
            ("zero", "0", ms(0)),
            ("max", "2147483647", ms(2_147_483_647)),
        ];
        for (desc, input, expected) in cases {
            assert_eq!(&parse_time(input, 1000), expected, "{desc}");
        }
        for bad in ["", "s", "10q", "1.5s", "-1", "25d", "99999999999999999999"] {
            assert!(parse_time(bad, 1000).is_err(), "{bad} should fail");
        }
        assert!(parse_time("10q", 1000).unwrap_err().contains("'10q'"));
    }

    #[test]
    fn sizes() {
        let cases: &[(&str, usize)] = &[
            ("0", 0),
            ("16384", 16384),
            ("64k", 65536),
            ("1m", 1 << 20),
            ("2g", 2 << 30),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_size(input), Ok(*expected), "{input}");
        }
        for bad in ["", "k", "1t", "1.5k", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int::<u32>("256", 0, 256), Ok(256));
        assert_eq!(
            parse_int::<u32>("257", 0, 256),
            Err("value '257' is out of range 0..256".into())
        );
        assert_eq!(
            parse_int::<u32>("-1", 0, 256),
            Err("'-1' is not a number".into())
        );
        assert_eq!(
            parse_int::<u32>("+1", 0, 256),
            Err("'+1' is not a number".into())
        );
        assert_eq!(
            parse_int::<u32>("abc", 0, 256),
            Err("'abc' is not a number".into())
        );
    }

    #[test]
    fn bind_addresses() {
        let one = |s: &str| vec![s.parse::<SocketAddr>().unwrap()];
        let cases: &[(&str, &str, Vec<SocketAddr>)] = &[
            ("ipv4", "127.0.0.1:80", one("127.0.0.1:80")),
            ("star", "*:80", one("0.0.0.0:80")),
            ("empty host", ":80", one("0.0.0.0:80")),
            ("ipv6 any", ":::80", one("[::]:80")),
            ("ipv6 brackets", "[::]:80", one("[::]:80")),
            ("ipv6 loopback unbracketed", "::1:80", one("[::1]:80")),
            ("ipv6 prefix any", "ipv6@:80", one("[::]:80")),
            ("ipv4 prefix", "ipv4@:80", one("0.0.0.0:80")),
            ("port zero", "127.0.0.1:0", one("127.0.0.1:0")),
            (
                "range",
                ":80-82",
                vec![
                    "0.0.0.0:80".parse().unwrap(),
                    "0.0.0.0:81".parse().unwrap(),
                    "0.0.0.0:82".parse().unwrap(),
                ],
            ),
        ];
        for (desc, input, expected) in cases {
            assert_eq!(&parse_bind_addr(input).unwrap(), expected, "{desc}");
        }
        let bad: &[(&str, &str)] = &[
            ("127.0.0.1", "missing port specification in '127.0.0.1'"),
            (
                "127.0.0.1:99999",
                "invalid port '99999' in '127.0.0.1:99999'",
            ),
            (":90-80", "invalid port range '90-80' in ':90-80'"),
            (
                "udp@1.2.3.4:80",
                "address family 'udp@' in 'udp@1.2.3.4:80' is not supported yet (only ipv4@, ipv6@, unix@ and abns@)",
            ),
            (
                "ipv4@::1:80",
                "no address of the requested family for '::1' in 'ipv4@::1:80'",
            ),
        ];
        for (input, expected) in bad {
            assert_eq!(parse_bind_addr(input), Err(expected.to_string()), "{input}");
        }
    }

    #[test]
    fn server_addresses() {
        let cases: &[(&str, &str)] = &[
            ("127.0.0.1:3306", "127.0.0.1:3306"),
            ("[::1]:80", "[::1]:80"),
            ("ipv6@::1:80", "[::1]:80"),
            ("::1:80", "[::1]:80"),
            ("ipv4@127.0.0.2:80", "127.0.0.2:80"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_server_addr(input),
                Ok(expected.parse().unwrap()),
                "{input}"
            );
        }
        // No port, `:0` and offsets: the port comes from the client's.
        for (input, mode) in [
            ("127.0.0.1", PortMode::Client),
            ("127.0.0.1:0", PortMode::Client),
            ("127.0.0.1:+1000", PortMode::Offset(1000)),
            ("[::1]:-10", PortMode::Offset(-10)),
            ("127.0.0.1:80", PortMode::Fixed),
        ] {
            assert_eq!(
                parse_server_addr(input).unwrap().port() == 0,
                mode != PortMode::Fixed,
                "{input}"
            );
            assert_eq!(server_port_mode(input), mode, "{input}");
        }
        let client: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let srv: SocketAddr = "127.0.0.2:0".parse().unwrap();
        assert_eq!(PortMode::Client.target(srv, client).port(), 8080);
        assert_eq!(PortMode::Offset(-80).target(srv, client).port(), 8000);
        assert_eq!(PortMode::Offset(60000).target(srv, client).port(), 2544);
        let resolved = parse_server_addr("localhost:8080").unwrap();
        assert!(resolved.ip().is_loopback() && resolved.port() == 8080);
        for (input, needle) in [
            ("127.0.0.1:+x", "invalid port"),
            ("127.0.0.1:-70000", "invalid port"),
            ("127.0.0.1:80-90", "port range not permitted"),
            (":80", "missing address"),
            (
                "no-such-host.invalid:80",
                "could not resolve address 'no-such-host.invalid'",
            ),
        ] {
            let err = parse_server_addr(input).unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }
}
