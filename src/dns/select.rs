//! Which address of an answer a server takes: HAProxy 2.6's
//! `resolv_get_ip_from_response`. Each address scores 8 for the preferred
//! family, 4 for a `resolve-net` network, 2 when no other server of the
//! backend resolving the same name holds it (held ones are skipped unless
//! `allow-dup-ip`) and 1 for being the server's current address; the
//! first best wins. Servers of one name are served in order and the
//! chosen record moves to the end, so a template's free slots take the
//! free addresses one by one.

use std::net::IpAddr;

use crate::config::{IpFamily, ServerDns};

/// What a server should do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Its current address is still the best.
    Keep,
    /// Move to this address.
    Change(IpAddr),
    /// Nothing usable for it: maintenance (resolution).
    NoIp,
}

/// `current`: the server's address when it has one; `held`: the addresses
/// other servers of the same name hold now. `ips` is rotated when the
/// server changes address.
pub(crate) fn pick(
    ips: &mut Vec<IpAddr>,
    dns: &ServerDns,
    current: Option<IpAddr>,
    held: &[IpAddr],
) -> Pick {
    let mut best: Option<(usize, u32)> = None;
    for (i, ip) in ips.iter().enumerate() {
        let mut score = 0;
        if ip.is_ipv4() == (dns.prefer == IpFamily::V4) {
            score += 8;
        }
        if dns.nets.iter().any(|n| n.contains(*ip)) {
            score += 4;
        }
        if !held.contains(ip) {
            score += 2;
        } else if !dns.allow_dup_ip {
            continue;
        }
        if current == Some(*ip) {
            score += 1;
        }
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((i, score));
        }
    }
    let Some((i, _)) = best else {
        return Pick::NoIp;
    };
    let ip = ips[i];
    if current == Some(ip) {
        return Pick::Keep;
    }
    let chosen = ips.remove(i);
    ips.push(chosen);
    Pick::Change(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(prefer: IpFamily, allow_dup_ip: bool) -> ServerDns {
        ServerDns {
            resolvers: 0,
            resolvers_name: "dns".into(),
            fqdn: "app.test".into(),
            prefer,
            nets: Vec::new(),
            allow_dup_ip,
            ignore_weight: false,
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn template_slots_take_free_addresses_in_turn() {
        let d = dns(IpFamily::V4, false);
        let mut answer = ips(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
        let mut held = Vec::new();
        for expected in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            let p = pick(&mut answer, &d, None, &held);
            assert_eq!(p, Pick::Change(expected.parse().unwrap()));
            held.push(expected.parse().unwrap());
        }
        // A fourth slot finds nothing free.
        assert_eq!(pick(&mut answer, &d, None, &held), Pick::NoIp);
    }

    #[test]
    fn keeps_its_address_or_moves_when_it_is_gone() {
        let d = dns(IpFamily::V4, false);
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let mut answer = ips(&["127.0.0.2", "127.0.0.1"]);
        assert_eq!(pick(&mut answer, &d, Some(one), &[]), Pick::Keep);
        let mut answer = ips(&["127.0.0.5"]);
        assert_eq!(
            pick(&mut answer, &d, Some(one), &[]),
            Pick::Change("127.0.0.5".parse().unwrap())
        );
        // Held by another server: no address left for this one...
        assert_eq!(
            pick(&mut answer, &d, Some(one), &ips(&["127.0.0.5"])),
            Pick::NoIp
        );
        // ...unless duplicates are allowed.
        let dup = dns(IpFamily::V4, true);
        let p = pick(&mut answer, &dup, Some(one), &ips(&["127.0.0.5"]));
        assert_eq!(p, Pick::Change("127.0.0.5".parse().unwrap()));
    }

    #[test]
    fn prefers_family_then_network() {
        let mut d = dns(IpFamily::V6, false);
        let mut answer = ips(&["127.0.0.1", "::1"]);
        assert_eq!(
            pick(&mut answer, &d, None, &[]),
            Pick::Change("::1".parse().unwrap())
        );
        d.prefer = IpFamily::V4;
        d.nets = vec![crate::config::IpNet {
            addr: "127.0.0.8".parse().unwrap(),
            prefix: 29,
        }];
        let mut answer = ips(&["127.0.0.1", "127.0.0.9"]);
        assert_eq!(
            pick(&mut answer, &d, None, &[]),
            Pick::Change("127.0.0.9".parse().unwrap())
        );
    }
}
