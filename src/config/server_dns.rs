//! The DNS side of a server line: `resolvers`, `resolve-prefer`,
//! `resolve-net`, `resolve-opts` and `init-addr` (their values go into
//! [`DnsParams`]), and how a server's address is found at start when it
//! is a host name ([`server_address`]). Messages are HAProxy 2.6's.

use std::net::{IpAddr, SocketAddr};

use super::model::{IpFamily, IpNet};
use super::values::{Family, parse_ip, resolve_host, server_port, split_host_port};

/// One method of `init-addr`, tried in order at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InitAddr {
    /// The address of the server-state file; splicer has none at start
    /// (a reload keeps a resolved address instead), so it never succeeds.
    Last,
    /// The C library's resolver.
    Libc,
    /// No address: the server starts in maintenance (resolution).
    None,
    Ip(IpAddr),
}

/// HAProxy's `init-addr` when none is given.
const DEFAULT_INIT_ADDR: &[InitAddr] = &[InitAddr::Last, InitAddr::Libc];

/// The DNS parameters of a server line (or `default-server`).
#[derive(Debug, Clone, Default)]
pub(super) struct DnsParams {
    pub resolvers: Option<String>,
    pub prefer: IpFamily,
    pub nets: Vec<IpNet>,
    pub allow_dup_ip: bool,
    pub ignore_weight: bool,
    pub init_addr: Option<Vec<InitAddr>>,
}

pub(super) fn resolve_prefer(p: &mut DnsParams, v: &str) -> Result<(), String> {
    p.prefer = match v {
        "ipv4" => IpFamily::V4,
        "ipv6" => IpFamily::V6,
        _ => return Err("expects either ipv4 or ipv6 as argument.".into()),
    };
    Ok(())
}

pub(super) fn resolve_opts(p: &mut DnsParams, v: &str) -> Result<(), String> {
    for opt in v.split(',') {
        match opt {
            "allow-dup-ip" => p.allow_dup_ip = true,
            "prevent-dup-ip" => p.allow_dup_ip = false,
            "ignore-weight" => p.ignore_weight = true,
            _ => {
                return Err(format!(
                    "unknown resolve-opts option '{opt}', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'."
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn resolve_net(p: &mut DnsParams, v: &str) -> Result<(), String> {
    let mut nets = Vec::new();
    for net in v.split(',') {
        nets.push(parse_net(net).ok_or_else(|| format!("invalid network '{net}'."))?);
    }
    p.nets = nets;
    Ok(())
}

fn parse_net(text: &str) -> Option<IpNet> {
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip: IpAddr = text.parse().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(IpNet { addr: ip, prefix })
}

pub(super) fn init_addr(p: &mut DnsParams, v: &str) -> Result<(), String> {
    let mut methods = Vec::new();
    for m in v.split(',').filter(|m| !m.is_empty()) {
        methods.push(match m {
            "last" => InitAddr::Last,
            "libc" => InitAddr::Libc,
            "none" => InitAddr::None,
            _ => match parse_ip(m) {
                Ok(ip) => InitAddr::Ip(ip),
                Err(_) => {
                    return Err(format!(
                        "unknown init-addr method '{m}', supported methods are 'libc', 'last', 'none'."
                    ));
                }
            },
        });
    }
    p.init_addr = Some(methods);
    Ok(())
}

/// Where a server starts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Start {
    /// The address; with `no_addr`, only its port means something.
    pub addr: SocketAddr,
    /// The host name, when the address was not an IP.
    pub fqdn: Option<String>,
    pub no_addr: bool,
    /// HAProxy's warning when a name under `resolvers` did not resolve.
    pub warning: Option<String>,
}

/// The address a server starts with: an IP as written, or a host name
/// resolved by the `init-addr` methods in turn. A SRV label (`_…`)
/// starts without an address.
pub(super) fn server_address(text: &str, p: &DnsParams) -> Result<Start, String> {
    let (family, host, port) = split_host_port(text)?;
    if host.is_empty() || host == "*" {
        return Err(format!("missing address in '{text}'"));
    }
    if host.parse::<IpAddr>().is_ok() {
        let ip = resolve_host(&family, host, text)?;
        return Ok(Start {
            addr: SocketAddr::new(ip, server_port(port, text)?),
            fqdn: None,
            no_addr: false,
            warning: None,
        });
    }
    let unspecified = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
    if host.starts_with('_') {
        // A SRV label: the records give the slots their targets, ports
        // and weights at run time (any port written here is ignored, as
        // HAProxy does); until then the server has no address.
        return Ok(Start {
            addr: unspecified,
            fqdn: Some(host.into()),
            no_addr: true,
            warning: None,
        });
    }
    let port = server_port(port, text)?;
    let methods = p.init_addr.as_deref().unwrap_or(DEFAULT_INIT_ADDR);
    for m in methods {
        let ip = match m {
            InitAddr::Last => continue,
            InitAddr::Libc => match libc_address(&family, host, p.prefer) {
                Some(ip) => ip,
                None => continue,
            },
            InitAddr::None => {
                return Ok(Start {
                    addr: SocketAddr::new(unspecified.ip(), port),
                    fqdn: Some(host.into()),
                    no_addr: true,
                    warning: None,
                });
            }
            InitAddr::Ip(ip) => *ip,
        };
        return Ok(Start {
            addr: SocketAddr::new(ip, port),
            fqdn: Some(host.into()),
            no_addr: false,
            warning: None,
        });
    }
    if p.resolvers.is_none() {
        return Err(format!("could not resolve address '{host}'."));
    }
    // HAProxy: under `resolvers`, a name that does not resolve at start
    // leaves the server in maintenance until the name servers answer.
    Ok(Start {
        addr: SocketAddr::new(unspecified.ip(), port),
        fqdn: Some(host.into()),
        no_addr: true,
        warning: Some(format!(
            "could not resolve address '{host}', disabling server."
        )),
    })
}

/// The C library's answer for `host`, of the preferred family if it has one.
fn libc_address(family: &Family, host: &str, prefer: IpFamily) -> Option<IpAddr> {
    if !matches!(family, Family::Any) {
        return resolve_host(family, host, host).ok();
    }
    let ips = crate::host::resolve(host).ok()?;
    let preferred = ips
        .iter()
        .find(|ip| ip.is_ipv4() == (prefer == IpFamily::V4));
    preferred.or(ips.first()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Set = fn(&mut DnsParams, &str) -> Result<(), String>;

    fn params(f: Set, v: &str) -> Result<DnsParams, String> {
        let mut p = DnsParams::default();
        f(&mut p, v).map(|()| p)
    }

    #[test]
    fn parses_parameters() {
        let p = params(resolve_opts, "allow-dup-ip,ignore-weight").unwrap();
        assert!(p.allow_dup_ip && p.ignore_weight);
        let p = params(resolve_net, "10.0.0.0/8,127.0.0.1").unwrap();
        assert_eq!(p.nets.len(), 2);
        assert!(p.nets[0].contains("10.2.3.4".parse().unwrap()));
        assert!(!p.nets[0].contains("11.2.3.4".parse().unwrap()));
        assert!(p.nets[1].contains("127.0.0.1".parse().unwrap()));
        let p = params(init_addr, "last,none,127.0.0.9").unwrap();
        assert_eq!(
            p.init_addr.unwrap(),
            [
                InitAddr::Last,
                InitAddr::None,
                InitAddr::Ip("127.0.0.9".parse().unwrap())
            ]
        );
        assert_eq!(params(resolve_prefer, "ipv4").unwrap().prefer, IpFamily::V4);
    }

    /// HAProxy 2.6's words after `'server b/s1' : 'KEY' `, checked with `haproxy -c`.
    #[test]
    fn errors_as_haproxy() {
        let cases: &[(Set, &str, &str)] = &[
            (
                resolve_prefer,
                "ipv5",
                "expects either ipv4 or ipv6 as argument.",
            ),
            (
                resolve_opts,
                "bogus",
                "unknown resolve-opts option 'bogus', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.",
            ),
            (resolve_net, "10.0.0.0/33", "invalid network '10.0.0.0/33'."),
            (
                init_addr,
                "bogus",
                "unknown init-addr method 'bogus', supported methods are 'libc', 'last', 'none'.",
            ),
        ];
        for (f, v, expected) in cases {
            assert_eq!(params(*f, v).unwrap_err(), *expected, "{v}");
        }
    }

    #[test]
    fn start_addresses() {
        let none = params(init_addr, "none").unwrap();
        let s = server_address("app.invalid:8080", &none).unwrap();
        assert!(s.no_addr && s.addr.port() == 8080 && s.fqdn.as_deref() == Some("app.invalid"));
        let ip = params(init_addr, "last,127.0.0.7").unwrap();
        let s = server_address("app.invalid:80", &ip).unwrap();
        assert_eq!(
            (s.addr.to_string(), s.no_addr),
            ("127.0.0.7:80".into(), false)
        );
        let s = server_address("127.0.0.1:80", &ip).unwrap();
        assert_eq!(s.fqdn, None);
        let mut dns = params(init_addr, "last").unwrap();
        assert_eq!(
            server_address("app.invalid:80", &dns).unwrap_err(),
            "could not resolve address 'app.invalid'."
        );
        dns.resolvers = Some("dns".into());
        let s = server_address("app.invalid:80", &dns).unwrap();
        assert!(s.no_addr && s.warning.is_some());
        let s = server_address("_http._tcp.app.invalid", &dns).unwrap();
        assert!(s.no_addr && s.warning.is_none());
        assert_eq!(s.fqdn.as_deref(), Some("_http._tcp.app.invalid"));
    }
}
