//! What a server asks of run-time DNS resolution (`resolvers`,
//! `resolve-prefer`, `resolve-net`, `resolve-opts`, `server-template`).

use std::net::IpAddr;

/// An address family a resolution prefers (`resolve-prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamily {
    V4,
    /// HAProxy's default.
    #[default]
    V6,
}

/// A network of `resolve-net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let prefix = u32::from(self.prefix);
        if prefix == 0 {
            return true;
        }
        let shift = bits - prefix;
        net >> shift == ip >> shift
    }
}

/// Run-time resolution of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDns {
    /// Index into `Config::resolvers`.
    pub resolvers: usize,
    /// The section's name as the server line gives it.
    pub resolvers_name: String,
    /// The name queried: a host name (A/AAAA), or a SRV label when it
    /// starts with `_`.
    pub fqdn: String,
    pub prefer: IpFamily,
    pub nets: Vec<IpNet>,
    /// `resolve-opts allow-dup-ip`: servers of the backend sharing the
    /// name may take the same address.
    pub allow_dup_ip: bool,
    /// `resolve-opts ignore-weight`: a SRV record's weight is not applied.
    pub ignore_weight: bool,
}

impl ServerDns {
    /// The name is a SRV label (HAProxy: anything starting with `_`).
    pub fn srv(&self) -> bool {
        self.fqdn.starts_with('_')
    }
}
