//! `announce NAME` sections: splicer's own extension for active-active
//! load balancers behind a routing daemon (BIRD, FRR) that announces the
//! VIP over BGP while this node is healthy. Splicer creates a tun device,
//! `interface`, and keeps its link (carrier) up only while it is healthy:
//! every `track_backend` has a usable server, no worker is stalled, and
//! the process is not stopping. The routing daemon announces a route that
//! follows the link (BIRD: `check link yes` on a static route via the
//! device). The kernel removes the device when the process dies, whatever
//! kills it, so the route goes with it. `withdraw-delay` keeps the
//! listeners open that long after a stop signal has taken the link down,
//! so the routers move new connections away before the listeners close.
//!
//! Keywords: `interface`, `track_backend` (as in a `vrrp` section),
//! `withdraw-delay`. Lines become an [`AnnounceDraft`]; [`finish`] checks
//! what needs the whole config (backend names, duplicates).

use std::time::Duration;

use super::keywords::did_you_mean;
use super::model::{Backend, Location};
use super::parser::Diags;
use super::values::parse_time;
use super::vrrp::{one_arg, tracked};

/// Longest interface name (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;
/// `withdraw-delay` upper bound: a stop must not hang on it.
pub(crate) const MAX_WITHDRAW_DELAY: Duration = Duration::from_secs(60);

/// One `announce NAME` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub name: String,
    pub location: Location,
    /// The tun device splicer creates (or attaches to, when it exists as a
    /// persistent tun device).
    pub interface: String,
    /// Backends that must have a usable server; looked up by name at run
    /// time (a reload may reorder backends).
    pub track_backends: Vec<String>,
    /// How long listeners stay open after a stop signal took the link down.
    pub withdraw_delay: Duration,
}

/// An announce section while it is being read.
#[derive(Debug, Default)]
pub(crate) struct AnnounceDraft {
    pub name: String,
    pub location: Location,
    interface: Option<String>,
    track: Vec<(String, Location)>,
    withdraw_delay: Option<Duration>,
}

/// Starts a section from its header line `announce NAME`.
pub(crate) fn header(words: &[String], loc: &Location, d: &mut Diags) -> AnnounceDraft {
    let name = words.get(1).cloned().unwrap_or_default();
    if name.is_empty() {
        d.error(
            loc,
            "'announce' expects a <name> argument (the section's name)",
        );
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        d.error(
            loc,
            format!("character '{c}' is not permitted in 'announce' name '{name}'"),
        );
    }
    if let Some(extra) = words.get(2) {
        d.error(
            loc,
            format!("'announce' cannot handle unexpected argument '{extra}'"),
        );
    }
    AnnounceDraft {
        name,
        location: loc.clone(),
        ..AnnounceDraft::default()
    }
}

type Parse = fn(&mut AnnounceDraft, &str, &[String], &Location) -> Result<(), String>;

/// The keywords of an announce section.
const KEYWORDS: &[(&str, Parse)] = &[
    ("interface", |a, key, args, _| {
        let name = one_arg(key, args)?;
        if name.len() > MAX_IFNAME
            || name.contains(['/', ':'])
            || name.chars().any(char::is_whitespace)
            || name == "."
            || name == ".."
        {
            return Err(format!("'interface': '{name}' is not an interface name"));
        }
        a.interface = Some(name.to_string());
        Ok(())
    }),
    ("track_backend", |a, key, args, loc| {
        if args.is_empty() {
            return Err(format!("'{key}' expects a backend name"));
        }
        a.track
            .extend(args.iter().map(|n| (n.clone(), loc.clone())));
        Ok(())
    }),
    ("withdraw-delay", |a, key, args, _| {
        let t = parse_time(one_arg(key, args)?, 1_000).map_err(|e| format!("'{key}': {e}"))?;
        if t > MAX_WITHDRAW_DELAY {
            return Err(format!("'{key}': above the maximum of 60s"));
        }
        a.withdraw_delay = Some(t);
        Ok(())
    }),
];

/// Applies one line of an announce section.
pub(crate) fn keyword(a: &mut AnnounceDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    let result = match KEYWORDS.iter().find(|(k, _)| *k == key) {
        Some((_, parse)) => parse(a, key, &words[1..], loc),
        None => Err(format!(
            "unknown keyword '{key}' in 'announce' section{}",
            did_you_mean(key, KEYWORDS.iter().map(|(k, _)| *k))
        )),
    };
    if let Err(e) = result {
        d.error(loc, format!("announce '{}': {e}", a.name));
    }
}

/// Checks the sections against the whole config and builds the model.
pub(crate) fn finish(
    drafts: Vec<AnnounceDraft>,
    backends: &[Backend],
    d: &mut Diags,
) -> Vec<Announce> {
    let mut out: Vec<Announce> = Vec::new();
    for a in drafts {
        let who = format!("announce '{}'", a.name);
        let track_backends = tracked(&who, &a.track, backends, d);
        let Some(interface) = a.interface else {
            d.error(&a.location, format!("{who}: missing interface"));
            continue;
        };
        if let Some(other) = out.iter().find(|o| o.name == a.name) {
            d.error(
                &a.location,
                format!(
                    "{who} has the same name as the one declared at {}",
                    other.location
                ),
            );
        }
        if let Some(other) = out.iter().find(|o| o.interface == interface) {
            d.error(
                &a.location,
                format!(
                    "{who}: interface '{interface}' is already announce '{}''s at {}",
                    other.name, other.location
                ),
            );
        }
        out.push(Announce {
            name: a.name,
            location: a.location,
            interface,
            track_backends,
            withdraw_delay: a.withdraw_delay.unwrap_or_default(),
        });
    }
    out
}
