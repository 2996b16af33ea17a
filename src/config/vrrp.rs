//! `vrrp NAME` sections: splicer's own extension for the failover pair, a
//! VRRPv3 (RFC 5798, IPv4) instance that claims the virtual IPs while it is
//! master. One keyword per line, in keepalived's words where keepalived has
//! one (`interface`, `virtual_router_id`, `priority`, `advert_int`,
//! `virtual_ipaddress`, `unicast_peer`, `nopreempt`, `preempt_delay`,
//! `notify`, `state`), plus `track_backend` (FAULT while a backend has no
//! usable server). Lines become a [`VrrpDraft`]; [`finish`] checks what
//! needs the whole config (backend names, duplicates) and builds the model.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::keywords::did_you_mean;
use super::model::{Backend, Location};
use super::parser::Diags;
use super::values::{parse_int, parse_time};

/// `priority` when not set (keepalived: 100).
pub(crate) const DEFAULT_VRRP_PRIORITY: u8 = 100;
/// `priority 255`: the address owner (RFC 5798), master at once on start.
pub(crate) const OWNER_PRIORITY: u8 = 255;
/// `advert_int` when not set (RFC 5798 and keepalived: 1 s).
pub(crate) const DEFAULT_ADVERT_INT: Duration = Duration::from_secs(1);
/// `advert_int` bounds: VRRPv3 carries it in 12 bits of centiseconds.
pub(crate) const MAX_ADVERT_CENTIS: u128 = 4095;
/// `preempt_delay` upper bound (keepalived: 1000 s).
pub(crate) const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(1000);
/// Addresses one advertisement can carry (its count field is one byte).
pub(crate) const MAX_VIPS: usize = 255;
/// Longest interface name (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// One virtual IP: the address and the prefix it is added with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vip {
    pub addr: Ipv4Addr,
    /// 0..=32; 32 when the line gives none (keepalived's default).
    pub prefix: u8,
}

impl std::fmt::Display for Vip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether a higher-priority backup takes over from a lower-priority master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preempt {
    /// The RFC's default.
    Yes,
    /// `nopreempt`: a working master keeps its role.
    No,
    /// `preempt_delay T`: take over only after seeing the lower-priority
    /// master for this long (keepalived's meaning).
    After(Duration),
}

/// keepalived's `state MASTER|BACKUP`. Accepted for configs written for
/// keepalived; the RFC's rules decide the role (a non-owner always starts
/// as backup and waits Master_Down_Interval), so `MASTER` only earns a
/// start-up log line saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Master,
    Backup,
}

/// One `vrrp NAME` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    pub name: String,
    pub location: Location,
    pub interface: String,
    pub vrid: u8,
    /// 1..=255; 255 is the address owner.
    pub priority: u8,
    /// A whole number of centiseconds, 10 ms..=40.95 s.
    pub advert_int: Duration,
    pub vips: Vec<Vip>,
    /// Empty: multicast to 224.0.0.18.
    pub unicast_peers: Vec<Ipv4Addr>,
    pub preempt: Preempt,
    /// `track_backend` names, checked to exist when the config is loaded;
    /// looked up by name at run time (a reload may reorder backends).
    pub track_backends: Vec<String>,
    /// Run as `SCRIPT INSTANCE NAME STATE PRIORITY` on every transition.
    pub notify: Option<PathBuf>,
    pub initial_state: Option<InitialState>,
}

impl VrrpInstance {
    /// The advertisement interval in centiseconds, as the packet carries it.
    pub fn advert_centis(&self) -> u16 {
        (self.advert_int.as_millis() / 10) as u16
    }
}

/// keepalived instance keywords splicer does not implement: an error
/// rather than a silent difference.
const KEEPALIVED_ONLY: &[&str] = &[
    "use_vmac",
    "vmac_xmit_base",
    "native_ipv6",
    "dont_track_primary",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "mcast_src_ip",
    "unicast_src_ip",
    "mcast_dst_ip",
    "version",
    "accept",
    "no_accept",
    "strict_mode",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "smtp_alert",
    "garp_master_delay",
    "garp_master_repeat",
    "lvs_sync_daemon_interface",
];

/// A vrrp section while it is being read.
#[derive(Debug, Default)]
pub(crate) struct VrrpDraft {
    pub name: String,
    pub location: Location,
    interface: Option<String>,
    vrid: Option<u8>,
    priority: Option<u8>,
    advert_int: Option<Duration>,
    vips: Vec<(Vip, Location)>,
    peers: Vec<Ipv4Addr>,
    preempt: Option<(Preempt, Location)>,
    track: Vec<(String, Location)>,
    notify: Option<PathBuf>,
    initial_state: Option<InitialState>,
}

/// Starts a section from its header line `vrrp NAME`.
pub(crate) fn header(words: &[String], loc: &Location, d: &mut Diags) -> VrrpDraft {
    let name = words.get(1).cloned().unwrap_or_default();
    if name.is_empty() {
        d.error(loc, "'vrrp' expects an <id> argument (the instance name)");
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        d.error(
            loc,
            format!("character '{c}' is not permitted in 'vrrp' name '{name}'"),
        );
    }
    if let Some(extra) = words.get(2) {
        let hint = if extra == "{" {
            " (no braces: one keyword per line, the section ends at the next section)"
        } else {
            ""
        };
        d.error(
            loc,
            format!("'vrrp' cannot handle unexpected argument '{extra}'{hint}"),
        );
    }
    VrrpDraft {
        name,
        location: loc.clone(),
        ..VrrpDraft::default()
    }
}

/// Applies the arguments of a vrrp keyword, or says why it cannot.
type Parse = fn(&mut VrrpDraft, &str, &[String], &Location) -> Result<(), String>;

/// The keywords of a vrrp section. The order is the one typo suggestions
/// prefer on a tie.
pub(super) const KEYWORDS: &[(&str, Parse)] = &[
    ("interface", |v, key, args, _| {
        let a = one_arg(key, args)?;
        if a.len() > MAX_IFNAME || a.contains('/') {
            return Err(format!("'interface': '{a}' is not an interface name"));
        }
        v.interface = Some(a.to_string());
        Ok(())
    }),
    ("virtual_router_id", |v, key, args, _| {
        let a = one_arg(key, args)?;
        v.vrid = Some(parse_int(a, 1u8, 255).map_err(|e| format!("'{key}': {e}"))?);
        Ok(())
    }),
    ("priority", |v, key, args, _| {
        let a = one_arg(key, args)?;
        v.priority = Some(
            parse_int(a, 1u8, OWNER_PRIORITY)
                .map_err(|e| format!("'{key}': {e} (0 is reserved for a master that stops)"))?,
        );
        Ok(())
    }),
    ("advert_int", |v, key, args, _| {
        let a = one_arg(key, args)?;
        v.advert_int = Some(parse_advert_int(a).map_err(|e| format!("'{key}': {e}"))?);
        Ok(())
    }),
    ("virtual_ipaddress", |v, _, args, loc| vips(v, args, loc)),
    ("unicast_peer", |v, _, args, _| peers(v, args)),
    ("nopreempt", |v, key, args, loc| {
        no_arg(key, args)?;
        set_preempt(v, Preempt::No, loc)
    }),
    ("preempt", |v, key, args, loc| {
        no_arg(key, args)?;
        set_preempt(v, Preempt::Yes, loc)
    }),
    ("preempt_delay", |v, key, args, loc| {
        let a = one_arg(key, args)?;
        let t = parse_seconds(a).map_err(|e| format!("'{key}': {e}"))?;
        if t > MAX_PREEMPT_DELAY {
            return Err(format!("'{key}': '{a}' is above the maximum of 1000s"));
        }
        set_preempt(v, Preempt::After(t), loc)
    }),
    ("track_backend", |v, key, args, loc| {
        if args.is_empty() {
            return Err(format!("'{key}' expects a backend name"));
        }
        v.track
            .extend(args.iter().map(|a| (a.clone(), loc.clone())));
        Ok(())
    }),
    ("notify", |v, key, args, _| {
        v.notify = Some(PathBuf::from(one_arg(key, args)?));
        Ok(())
    }),
    ("state", |v, key, args, _| {
        v.initial_state = Some(match one_arg(key, args)? {
            "MASTER" => InitialState::Master,
            "BACKUP" => InitialState::Backup,
            a => return Err(format!("'state' expects MASTER or BACKUP, not '{a}'")),
        });
        Ok(())
    }),
];

/// Applies one line inside a vrrp section.
pub(crate) fn keyword(v: &mut VrrpDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    let result = match key {
        _ if let Some((_, parse)) = KEYWORDS.iter().find(|(k, _)| *k == key) => {
            parse(v, key, &words[1..], loc)
        }
        "authentication" | "auth_type" | "auth_pass" => Err(format!(
            "'{key}' does not exist in VRRPv3 (RFC 5798 removed authentication); remove it, \
             and use keepalived's 'vrrp_version 3' on a keepalived peer"
        )),
        "{" | "}" => Err(
            "braces are keepalived syntax: a vrrp section has one keyword per line and ends at the next section"
                .to_string(),
        ),
        k if KEEPALIVED_ONLY.contains(&k) => Err(format!(
            "'{k}' (a keepalived keyword) is not supported in a 'vrrp' section"
        )),
        k => Err(format!(
            "unknown keyword '{k}' in 'vrrp' section{}",
            did_you_mean(k, KEYWORDS.iter().map(|(k, _)| *k))
        )),
    };
    if let Err(e) = result {
        d.error(loc, format!("vrrp '{}': {e}", v.name));
    }
}

pub(super) fn one_arg<'a>(key: &str, args: &'a [String]) -> Result<&'a str, String> {
    match args {
        [a] => Ok(a),
        [] => Err(format!("'{key}' expects an argument")),
        [_, extra, ..] => Err(format!(
            "'{key}' cannot handle unexpected argument '{extra}'"
        )),
    }
}

fn no_arg(key: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(format!(
            "'{key}' cannot handle unexpected argument '{extra}'"
        )),
    }
}

fn set_preempt(v: &mut VrrpDraft, p: Preempt, loc: &Location) -> Result<(), String> {
    if let Some((old, at)) = &v.preempt
        && *old != p
    {
        return Err(format!(
            "conflicts with the preemption set at {at} (use one of preempt, nopreempt, preempt_delay)"
        ));
    }
    v.preempt = Some((p, loc.clone()));
    Ok(())
}

fn vips(v: &mut VrrpDraft, args: &[String], loc: &Location) -> Result<(), String> {
    if args.is_empty() {
        return Err("'virtual_ipaddress' expects one or more IPv4 addresses".into());
    }
    for a in args {
        let vip = parse_vip(a).map_err(|e| format!("'virtual_ipaddress': {e}"))?;
        if let Some((_, at)) = v.vips.iter().find(|(x, _)| x.addr == vip.addr) {
            return Err(format!(
                "'virtual_ipaddress': {} is already listed at {at}",
                vip.addr
            ));
        }
        v.vips.push((vip, loc.clone()));
    }
    Ok(())
}

fn peers(v: &mut VrrpDraft, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Err("'unicast_peer' expects one or more IPv4 addresses".into());
    }
    for a in args {
        match a.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) if !ip.is_multicast() && !ip.is_unspecified() => v.peers.push(ip),
            Ok(IpAddr::V6(_)) => {
                return Err(format!(
                    "'unicast_peer': '{a}' is IPv6; splicer speaks VRRPv3 over IPv4 only"
                ));
            }
            _ => {
                return Err(format!(
                    "'unicast_peer': '{a}' is not a unicast IPv4 address"
                ));
            }
        }
    }
    Ok(())
}

/// `198.51.100.100/24` or `198.51.100.100` (a /32).
pub(crate) fn parse_vip(text: &str) -> Result<Vip, String> {
    let (ip, prefix) = text.split_once('/').unwrap_or((text, "32"));
    let addr = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) if a.is_unspecified() || a.is_multicast() => {
            return Err(format!("'{text}' cannot be a virtual IP"));
        }
        Ok(IpAddr::V4(a)) => a,
        Ok(IpAddr::V6(_)) => {
            return Err(format!(
                "'{text}' is IPv6; splicer speaks VRRPv3 over IPv4 only"
            ));
        }
        Err(_) => return Err(format!("'{text}' is not an IPv4 address[/prefix]")),
    };
    let prefix =
        parse_int(prefix, 0u8, 32).map_err(|_| format!("invalid prefix length in '{text}'"))?;
    Ok(Vip { addr, prefix })
}

/// `advert_int`: `100ms`, `1s`, or keepalived's bare seconds (`0.1`, `1`);
/// a whole number of centiseconds from 1 to 4095.
pub(crate) fn parse_advert_int(text: &str) -> Result<Duration, String> {
    let t = parse_seconds(text)?;
    let us = t.as_micros();
    if us % 10_000 != 0 {
        return Err(format!(
            "'{text}' is not a whole number of centiseconds (VRRPv3 counts the interval in 10 ms steps)"
        ));
    }
    let cs = us / 10_000;
    if !(1..=MAX_ADVERT_CENTIS).contains(&cs) {
        return Err(format!(
            "'{text}' is out of range 10ms..40950ms (VRRPv3: 1 to 4095 centiseconds)"
        ));
    }
    Ok(t)
}

/// A time with a unit (`100ms`, `5s`), or keepalived's bare seconds with
/// an optional fraction (`0.1`, `300`). Unlike HAProxy's sections, a bare
/// number here is seconds, as in keepalived's configs.
pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let bare = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !bare {
        return parse_time(text, 1_000_000);
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let bad = || format!("invalid time '{text}' (expected seconds such as 0.1, or 100ms)");
    if frac.len() > 6 || frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return Err(bad());
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let micros: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().map_err(|_| bad())? * 10u64.pow(6 - frac.len() as u32)
    };
    secs.checked_mul(1_000_000)
        .and_then(|s| s.checked_add(micros))
        .map(Duration::from_micros)
        .ok_or_else(|| format!("time '{text}' is too large"))
}

/// Builds the model from every vrrp section once all files are read:
/// required keywords, backend names, and clashes between instances.
pub(crate) fn finish(
    drafts: Vec<VrrpDraft>,
    backends: &[Backend],
    d: &mut Diags,
) -> Vec<VrrpInstance> {
    let mut out: Vec<VrrpInstance> = Vec::new();
    for v in drafts {
        let who = format!("vrrp '{}'", v.name);
        let mut missing = Vec::new();
        if v.interface.is_none() {
            missing.push("interface");
        }
        if v.vrid.is_none() {
            missing.push("virtual_router_id");
        }
        if v.vips.is_empty() {
            missing.push("virtual_ipaddress");
        }
        if !missing.is_empty() {
            d.error(
                &v.location,
                format!("{who}: missing {}", missing.join(", ")),
            );
        }
        if v.vips.len() > MAX_VIPS {
            d.error(
                &v.vips[MAX_VIPS].1,
                format!("{who}: more than {MAX_VIPS} virtual addresses (one advertisement carries at most {MAX_VIPS})"),
            );
        }
        let track_backends = tracked(&who, &v.track, backends, d);
        if let Some(p) = &v.notify
            && !is_executable(p)
        {
            d.warn(
                &v.location,
                format!(
                    "{who}: notify script '{}' is not an executable file (yet)",
                    p.display()
                ),
            );
        }
        let (Some(interface), Some(vrid)) = (v.interface.clone(), v.vrid) else {
            continue;
        };
        if let Some(other) = out.iter().find(|o| o.name == v.name) {
            d.error(
                &v.location,
                format!(
                    "{who} has the same name as the one declared at {}",
                    other.location
                ),
            );
        }
        if let Some(other) = out
            .iter()
            .find(|o| o.interface == interface && o.vrid == vrid)
        {
            d.error(
                &v.location,
                format!(
                    "{who}: virtual_router_id {vrid} on {interface} is already used by vrrp '{}' at {}",
                    other.name, other.location
                ),
            );
        }
        for (vip, at) in &v.vips {
            if let Some(other) = out
                .iter()
                .find(|o| o.vips.iter().any(|x| x.addr == vip.addr))
            {
                d.error(
                    at,
                    format!(
                        "{who}: {} is already a virtual address of vrrp '{}'",
                        vip.addr, other.name
                    ),
                );
            }
        }
        out.push(VrrpInstance {
            name: v.name,
            location: v.location,
            interface,
            vrid,
            priority: v.priority.unwrap_or(DEFAULT_VRRP_PRIORITY),
            advert_int: v.advert_int.unwrap_or(DEFAULT_ADVERT_INT),
            vips: v.vips.into_iter().map(|(x, _)| x).collect(),
            unicast_peers: v.peers,
            preempt: v.preempt.map_or(Preempt::Yes, |(p, _)| p),
            track_backends,
            notify: v.notify,
            initial_state: v.initial_state,
        });
    }
    out
}

/// The `track_backend` names that name a backend; an error for each other
/// (`who` says whose line it is). Shared with `announce` sections.
pub(super) fn tracked(
    who: &str,
    track: &[(String, Location)],
    backends: &[Backend],
    d: &mut Diags,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, at) in track {
        if backends.iter().any(|b| b.name == *name) {
            out.push(name.clone());
        } else {
            d.error(
                at,
                format!(
                    "{who}: 'track_backend': no backend named '{name}'{}",
                    did_you_mean(name, backends.iter().map(|b| b.name.as_str()))
                ),
            );
        }
    }
    out
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
