//! VRRPv3 (RFC 5798, IPv4): the failover pair's protocol, built in. One
//! thread with its own `mio::Poll` runs every `vrrp` section of the config:
//! it reads advertisements from a raw socket per instance ([`packet`]),
//! feeds them and its timers to each instance's state machine
//! ([`machine`]), and carries out what the machine decides — send an
//! advertisement, add or remove the virtual IPs through netlink
//! ([`netlink`]), announce them with gratuitous ARPs ([`arp`]), log the
//! transition and run the notify script ([`instance`]).
//!
//! Every [`CHECK_INTERVAL`] it also looks at what an instance depends on —
//! its interface, its tracked backends, the workers' heartbeats
//! ([`status::Watchdog`]) — and puts it in FAULT when one fails. Its view
//! is published to the process ([`crate::runtime::VrrpState`]) for `show
//! vrrp`.
//!
//! Start-up removes VIPs a crashed run left behind, before anything is
//! sent; a clean stop sends priority 0 so the peer takes over at once.

pub(crate) mod arp;
pub(crate) mod instance;
pub(crate) mod machine;
pub(crate) mod netlink;
pub(crate) mod packet;
pub(crate) mod status;

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::base::service::{Service, StopFlag};
use crate::base::token::WAKER;
use crate::runtime::{Current, Runtime};
use instance::{Ctx, Instance};
use netlink::Netlink;
use status::Watchdog;

/// How often interfaces, tracked backends and workers are looked at.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What stops the VRRP thread from starting.
#[derive(Debug)]
pub enum VrrpError {
    Netlink(io::Error),
    /// Raw and packet sockets need CAP_NET_RAW.
    Socket(io::Error),
    Leftover {
        instance: String,
        source: io::Error,
    },
    Thread(io::Error),
}

impl std::fmt::Display for VrrpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VrrpError::Netlink(e) => write!(f, "vrrp: cannot open a netlink socket: {e}"),
            VrrpError::Socket(e) => write!(
                f,
                "vrrp: cannot open a raw socket (needs root or CAP_NET_RAW and CAP_NET_ADMIN): {e}"
            ),
            VrrpError::Leftover { instance, source } => write!(
                f,
                "vrrp {instance}: cannot remove virtual IPs left by an earlier run: {source}"
            ),
            VrrpError::Thread(e) => write!(f, "vrrp: cannot start the thread: {e}"),
        }
    }
}

impl std::error::Error for VrrpError {}

/// Starts the VRRP thread for the config's `vrrp` sections; `None` when
/// there are none. Leftover VIPs are removed before this returns. The
/// thread follows `current` across reloads for the tracked backends; its
/// own sections are the ones it started with (a reload warns about
/// changes to them).
pub(crate) fn start(current: Current) -> Result<Option<Service>, VrrpError> {
    let rt = current.get();
    if rt.process.vrrp.is_empty() {
        return Ok(None);
    }
    // Fails early, with a clear message, where raw sockets are not allowed.
    drop(probe_raw_socket().map_err(VrrpError::Socket)?);
    let arp = arp::open().map_err(VrrpError::Socket)?;
    let mut nl = Netlink::open().map_err(VrrpError::Netlink)?;
    let instances: Vec<Instance> = rt
        .process
        .vrrp
        .iter()
        .map(|s| Instance::new(s.config.clone()))
        .collect();
    for i in &instances {
        if i.cfg.initial_state == Some(crate::config::InitialState::Master)
            && i.cfg.priority != crate::config::vrrp::OWNER_PRIORITY
        {
            log::info!(
                "vrrp {}: 'state MASTER' is only a hint: below priority 255 the RFC starts as backup and waits for a master first",
                i.cfg.name
            );
        }
        i.remove_leftovers(&mut nl)
            .map_err(|source| VrrpError::Leftover {
                instance: i.cfg.name.clone(),
                source,
            })?;
    }
    let poll = Poll::new().map_err(VrrpError::Thread)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(VrrpError::Thread)?);
    let mut thread = Thread {
        current,
        poll,
        nl,
        arp,
        instances,
        children: Vec::new(),
        watchdog: Watchdog::default(),
    };
    let service = Service::spawn("vrrp", Some(waker), move |stop| thread.run(&stop))
        .map_err(VrrpError::Thread)?;
    Ok(Some(service))
}

fn probe_raw_socket() -> io::Result<socket2::Socket> {
    socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(i32::from(packet::PROTO_VRRP))),
    )
}

struct Thread {
    current: Current,
    poll: Poll,
    nl: Netlink,
    arp: socket2::Socket,
    instances: Vec<Instance>,
    children: Vec<std::process::Child>,
    watchdog: Watchdog,
}

impl Thread {
    fn run(&mut self, stop: &StopFlag) {
        let mut events = Events::with_capacity(16);
        let mut next_check = Instant::now();
        loop {
            let now = Instant::now();
            if stop.is_set() {
                self.stop_all(now);
                return;
            }
            if now >= next_check {
                self.check(now);
                next_check = now + CHECK_INTERVAL;
            }
            let rt = self.current.get();
            for i in 0..self.instances.len() {
                let (inst, mut ctx) = self.split(i, &rt);
                inst.on_timers(&mut ctx, now);
            }
            self.publish();
            let deadline = self
                .instances
                .iter()
                .filter_map(Instance::deadline)
                .fold(next_check, Instant::min);
            let timeout = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!("vrrp: poll failed: {e}");
                std::thread::sleep(CHECK_INTERVAL);
            }
            let now = Instant::now();
            for ev in events.iter() {
                if let Some(i) = (ev.token() != WAKER).then_some(ev.token().0)
                    && i < self.instances.len()
                {
                    let (inst, mut ctx) = self.split(i, &rt);
                    inst.receive(&mut ctx, now);
                }
            }
        }
    }

    /// The instance `i` and the context it may use, with the runtime in
    /// effect (the newest config after a reload).
    fn split<'a>(&'a mut self, i: usize, rt: &'a Runtime) -> (&'a mut Instance, Ctx<'a>) {
        (
            &mut self.instances[i],
            Ctx {
                nl: &mut self.nl,
                arp: &self.arp,
                rt,
                children: &mut self.children,
            },
        )
    }

    /// The periodic look at interfaces, backends and workers.
    fn check(&mut self, now: Instant) {
        let rt = self.current.get();
        let stalled = self.watchdog.stalled(now, &rt);
        for i in 0..self.instances.len() {
            let (inst, mut ctx) = self.split(i, &rt);
            if !inst.refresh(&mut ctx, now, stalled.as_deref()) {
                continue;
            }
            let inst = &self.instances[i];
            if let Some(sock) = &inst.sock {
                let fd = sock.as_raw_fd();
                let registry = self.poll.registry();
                if let Err(e) = registry.register(&mut SourceFd(&fd), Token(i), Interest::READABLE)
                {
                    log::error!("vrrp {}: cannot watch its socket: {e}", inst.cfg.name);
                }
            }
        }
        self.children
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    fn publish(&self) {
        let rt = self.current.get();
        for (inst, shared) in self.instances.iter().zip(rt.process.vrrp.iter()) {
            let mut s = shared.status.lock();
            if *s != inst.status {
                *s = inst.status.clone();
            }
        }
    }

    fn stop_all(&mut self, now: Instant) {
        let rt = self.current.get();
        for i in 0..self.instances.len() {
            let (inst, mut ctx) = self.split(i, &rt);
            inst.stop(&mut ctx, now);
        }
        self.publish();
        self.children
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}
