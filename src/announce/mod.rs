//! Route health for a routing daemon (`announce` sections): one tun
//! device per section, whose carrier is on only while this node should
//! get traffic. BIRD (or FRR) announces the VIP with a route that follows
//! the link (`check link`), so the routers send this node new flows only
//! while the carrier is on.
//!
//! Why a link and not the daemon's control socket (`birdc disable`): the
//! kernel itself removes the device (or drops the carrier of a persistent
//! one) when this process dies, SIGKILL and crashes included, and the
//! daemon hears it from netlink at once; a hook driving `birdc` would need
//! a supervisor polling the process and would be one more thing to fail.
//! It also ties splicer to no daemon, socket path or protocol name.
//!
//! The devices are opened at start, as root ([`open`]); afterwards the
//! carrier needs only their descriptors. A thread ([`start`]) looks every
//! [`CHECK_INTERVAL`] at what the node's health depends on — each tracked
//! backend has a usable server, every worker turns its loop — and sets the
//! carriers. A stop signal takes them down first ([`Announcer::withdraw`]),
//! before the listeners close.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::base::service::{Service, StopFlag};
use crate::config::Config;
use crate::health::status::CheckStatus;
use crate::runtime::{Current, Runtime};
use crate::sys::tun::Tun;
use crate::vrrp::status::Watchdog;

/// How often the node's health is looked at: a backend that loses its last
/// server is withdrawn within this (plus the routing daemon's own delay).
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// What stops announcing from starting.
#[derive(Debug)]
pub enum AnnounceError {
    Device {
        section: String,
        interface: String,
        source: io::Error,
    },
    Thread(io::Error),
}

impl std::fmt::Display for AnnounceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnnounceError::Device {
                section,
                interface,
                source,
            } => {
                write!(
                    f,
                    "announce {section}: cannot open tun device '{interface}': {source}"
                )?;
                match source.raw_os_error() {
                    Some(libc::EPERM) => write!(f, " (needs root or CAP_NET_ADMIN)"),
                    Some(libc::EBUSY) => write!(f, " (held by another process: another splicer?)"),
                    Some(libc::EINVAL) => write!(
                        f,
                        " (an interface of that name exists and is not a tun device)"
                    ),
                    _ => Ok(()),
                }
            }
            AnnounceError::Thread(e) => write!(f, "announce: cannot start the thread: {e}"),
        }
    }
}

impl std::error::Error for AnnounceError {}

/// The config's devices, opened, carriers off.
#[derive(Debug, Default)]
pub(crate) struct Devices(Vec<Tun>);

/// Opens every `announce` section's device. Call as root, before the
/// process gives up its identity.
pub(crate) fn open(config: &Config) -> Result<Devices, AnnounceError> {
    config
        .announce
        .iter()
        .map(|a| {
            Tun::open(&a.interface).map_err(|source| AnnounceError::Device {
                section: a.name.clone(),
                interface: a.interface.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Devices)
}

/// What the thread and a stop signal share: the devices, and whether the
/// process is stopping (then no carrier goes up again).
#[derive(Debug)]
struct Shared {
    devices: Mutex<Links>,
}

#[derive(Debug)]
struct Links {
    tuns: Vec<Tun>,
    stopping: bool,
}

/// The running announce thread.
#[derive(Debug)]
pub(crate) struct Announcer {
    service: Service,
    shared: Arc<Shared>,
    delay: Duration,
}

impl Announcer {
    /// Takes every link down now, for good, and returns how long the
    /// listeners should stay open so the routers move away first
    /// (the longest `withdraw-delay`).
    pub(crate) fn withdraw(&self, current: &Current) -> Duration {
        let mut links = self.shared.devices.lock();
        if !links.stopping {
            links.stopping = true;
            let rt = current.get();
            for (tun, state) in links.tuns.iter().zip(&rt.process.announce) {
                set(tun, state, false, Some("stopping".into()));
            }
        }
        self.delay
    }

    /// Stops the thread; the devices close with it (the kernel removes the
    /// ones it created for this process).
    pub(crate) fn stop(self) {
        self.service.stop();
    }
}

/// Starts the thread for `devices` (one per `announce` section, in order);
/// `None` when there are none.
pub(crate) fn start(
    current: Current,
    devices: Devices,
) -> Result<Option<Announcer>, AnnounceError> {
    if devices.0.is_empty() {
        return Ok(None);
    }
    let delay = current
        .get()
        .process
        .announce
        .iter()
        .map(|a| a.config.withdraw_delay)
        .max()
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        devices: Mutex::new(Links {
            tuns: devices.0,
            stopping: false,
        }),
    });
    let theirs = shared.clone();
    let service = Service::spawn("announce", None, move |stop| run(&current, &theirs, &stop))
        .map_err(AnnounceError::Thread)?;
    Ok(Some(Announcer {
        service,
        shared,
        delay,
    }))
}

fn run(current: &Current, shared: &Shared, stop: &StopFlag) {
    let mut watchdog = Watchdog::default();
    let mut proven = Vec::new();
    while !stop.is_set() {
        let rt = current.get();
        let stalled = watchdog.stalled(Instant::now(), &rt);
        let links = shared.devices.lock();
        if !links.stopping {
            for (tun, state) in links.tuns.iter().zip(&rt.process.announce) {
                let tracked = &state.config.track_backends;
                let why = why_down(&rt, tracked, stalled.as_deref(), &mut proven);
                set(tun, state, why.is_none(), why);
            }
        }
        drop(links);
        std::thread::park_timeout(CHECK_INTERVAL);
    }
}

/// Why this node should not get traffic now, if it should not. Tracked
/// backends are found by name: a reload may have moved one, or dropped it
/// (then it is not tracked until a restart applies the new section; the
/// reload warns).
///
/// Servers start UP before their first check (as HAProxy's): a tracked
/// backend counts only once a usable server has passed a check (or has
/// none), so a node that starts with dead servers never announces for the
/// moment it takes to find out. `proven` remembers the backends that did:
/// from then on a server is usable until its checks say otherwise (`fall`).
fn why_down(
    rt: &Runtime,
    tracked: &[String],
    stalled: Option<&str>,
    proven: &mut Vec<String>,
) -> Option<String> {
    if let Some(s) = stalled {
        return Some(s.to_string());
    }
    tracked.iter().find_map(|t| {
        let backend = rt.backends.iter().find(|b| b.config.name == *t)?;
        if backend.usable_counts() == (0, 0) {
            return Some(format!("backend {t} has no usable server"));
        }
        if proven.contains(t) {
            return None;
        }
        let passed = |s: &crate::runtime::ServerState| {
            s.check
                .as_ref()
                .is_none_or(|c| CheckStatus::code_passed(c.lock().status))
        };
        if backend.servers.iter().any(|s| s.usable() && passed(s)) {
            proven.push(t.clone());
            return None;
        }
        Some(format!(
            "backend {t}: no server has passed a health check yet"
        ))
    })
}

/// Sets `tun`'s carrier to `up` when it is not already, and publishes it.
/// The first look logs the state even when the carrier stays off.
fn set(tun: &Tun, state: &crate::runtime::AnnounceState, up: bool, why: Option<String>) {
    let mut status = state.status.lock();
    let first = status.changes == 0 && status.why.as_deref() == Some("starting");
    if status.up == up && !first {
        if status.why != why {
            status.why = why;
        }
        return;
    }
    if status.up != up {
        if let Err(e) = tun.set_carrier(up) {
            log::error!(
                "announce {}: cannot set the carrier of {}: {e}",
                state.config.name,
                tun.name()
            );
            return;
        }
        status.changes += 1;
        status.since = Instant::now();
    }
    let (name, dev) = (&state.config.name, tun.name());
    match &why {
        None => log::info!("announce {name}: {dev} up: healthy, the route is announced"),
        Some(w) => log::warn!("announce {name}: {dev} down: {w}; the route is withdrawn"),
    }
    status.up = up;
    status.why = why;
}
