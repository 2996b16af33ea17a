//! `set server B/S addr IP [port PORT]` and `set server B/S fqdn NAME`:
//! HAProxy 2.6's `srv_update_addr_port` and `srv_update_fqdn`, with their
//! answers. A new address goes to workers through the server's `AddrCell`
//! (the next connect uses it); a new host name is picked up by the
//! resolver thread, which regroups its resolutions when
//! `Runtime::dns_changed` is set.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use crate::config::PortMode;
use crate::runtime::{BackendState, admin};

/// Who made the change, as HAProxy names the runtime API.
const UPDATER: &str = "stats socket command";
/// HAProxy's `DNS_MAX_NAME_SIZE`.
const MAX_NAME: usize = 255;

/// `set server B/S addr ADDR [port PORT]`.
pub(super) fn set_addr(b: &BackendState, s: usize, args: &[String], out: &mut String) {
    let Some(addr) = args.get(4).filter(|a| !a.is_empty()) else {
        return out
            .push_str("set server <b>/<s> addr requires an address and optionally a port.\n");
    };
    let port = match args.get(5) {
        Some(p) if p == "port" => Some(args.get(6).map_or("", String::as_str)),
        _ => None,
    };
    out.push_str(&update_addr_port(b, s, addr, port));
    out.push_str(&format!(" by '{UPDATER}'\n"));
    // HAProxy leaves maintenance (resolution) whatever came of it.
    let srv = &b.servers[s];
    if srv.admin_flags() & admin::RESOLUTION_MAINT != 0 {
        srv.set_admin(admin::RESOLUTION_MAINT, false);
        b.refresh_state();
    }
}

/// The change and HAProxy's report of it (without the updater).
fn update_addr_port(b: &BackendState, s: usize, addr: &str, port: Option<&str>) -> String {
    let srv = &b.servers[s];
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return format!("Invalid addr '{addr}'");
    };
    let current = srv.addr.get();
    if current.ip().is_unspecified() {
        return "Update for the current server address family is only supported through configuration file".into();
    }
    let mut msg = if current.ip() == ip {
        "no need to change the addr".to_string()
    } else {
        srv.addr.set(SocketAddr::new(ip, current.port()));
        format!("IP changed from '{}' to '{addr}'", current.ip())
    };
    let Some(port) = port else { return msg };
    msg.push_str(", ");
    let Some(new) = strtol_port(port) else {
        msg.push_str(&format!("problem converting port '{port}' to an int"));
        return msg;
    };
    if port.starts_with(['+', '-']) {
        // A port map: HAProxy refuses it without a check port; splicer
        // does not switch a server between fixed and mapped ports at run
        // time.
        if b.config.servers[s].check.port.is_none() {
            msg.push_str("can't change <port> to port map because it is incompatible with current health check port configuration (use 'port' statement from the 'server' directive.");
        } else {
            msg.push_str("port maps can only be set in the configuration");
        }
        return msg;
    }
    let current_port = match srv.port_mode {
        PortMode::Fixed => current.port(),
        _ => {
            msg.push_str("port maps can only be set in the configuration");
            return msg;
        }
    };
    if current_port == new {
        msg.push_str("no need to change the port");
    } else {
        srv.addr.set(SocketAddr::new(srv.addr.get().ip(), new));
        msg.push_str(&format!("port changed from '{current_port}' to '{new}'"));
    }
    msg
}

/// `strtol` as HAProxy reads a port: a sign, digits, anything after
/// ignored, stored in 16 bits. `None` when no digit came.
fn strtol_port(text: &str) -> Option<u16> {
    let t = text.trim_start();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let v = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { v.wrapping_neg() } else { v } as u16)
}

/// `set server B/S fqdn NAME`.
pub(super) fn set_fqdn(
    rt: &crate::runtime::Runtime,
    b: &BackendState,
    s: usize,
    args: &[String],
    out: &mut String,
) {
    let Some(fqdn) = args.get(4).filter(|a| !a.is_empty()) else {
        return out.push_str("set server <b>/<s> fqdn requires a FQDN.\n");
    };
    let Some(dns) = &b.config.servers[s].dns else {
        return out
            .push_str("set server <b>/<s> fqdn failed because no resolution is configured.\n");
    };
    if dns.srv() {
        return out
            .push_str("set server <b>/<s> fqdn failed because SRV resolution is configured.\n");
    }
    let srv = &b.servers[s];
    let mut host = srv.hostname.lock();
    if host.as_deref() == Some(fqdn.as_str()) {
        out.push_str("no need to change the FDQN");
    } else if fqdn.len() > MAX_NAME
        || !fqdn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        out.push_str(&format!("invalid fqdn '{fqdn}'"));
    } else {
        let old = host.as_deref().unwrap_or("(null)");
        out.push_str(&format!(
            "{}/{} changed its FQDN from {old} to {fqdn}",
            b.config.name, srv.name
        ));
        *host = Some(fqdn.clone());
        rt.dns_changed.store(true, Ordering::Release);
    }
    out.push_str(&format!(" by '{UPDATER}'\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_read_as_strtol() {
        // (text, port)
        let cases: &[(&str, Option<u16>)] = &[
            ("8080", Some(8080)),
            ("80abc", Some(80)),
            (" 81", Some(81)),
            ("+5", Some(5)),
            ("-5", Some(65531)),
            ("65537", Some(1)),
            ("", None),
            ("abc", None),
            ("-", None),
        ];
        for (text, want) in cases {
            assert_eq!(strtol_port(text), *want, "{text:?}");
        }
    }
}
