//! What belongs to the process, not to one config: built once at start
//! and shared by every config's [`super::Runtime`], so a reload cannot
//! forget any of it. The session count under the global maxconn, the
//! sessions accepted since start, the workers' heartbeats, the pipe
//! budget, what the VRRP speaker publishes, the health checker's waker and
//! the sender of server events to the logger.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use mio::Waker;
use parking_lot::Mutex;

use super::Counters;
use crate::base::log::{LogSender, Message};
use crate::base::slot::Gauge;
use crate::base::vrrp::Status;
use crate::config::{Announce, Config, VrrpInstance};

/// `maxpipes` when not set: a quarter of maxconn, as HAProxy.
fn default_maxpipes(maxconn: usize) -> usize {
    maxconn / 4
}

/// One worker's loop counter, alone on its cache line: each worker bumps
/// its own on every turn, and neighbours must not share the line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Heartbeat(pub AtomicU64);

/// An `announce` section and what the announce thread last published
/// about it; kept across reloads as the `vrrp` sections are.
#[derive(Debug)]
pub(crate) struct AnnounceState {
    pub config: Announce,
    pub status: Mutex<crate::base::announce::Status>,
}

/// A `vrrp` section and what the VRRP thread last published about it. The
/// VRRP thread runs the sections it started with: a reload keeps them.
#[derive(Debug)]
pub(crate) struct VrrpState {
    pub config: VrrpInstance,
    pub status: Mutex<Status>,
}

/// The last bytes a frontend refused, for `show errors`: what its client
/// sent as a PROXY header.
#[derive(Debug, Clone)]
pub(crate) struct ErrorCapture {
    pub when: std::time::SystemTime,
    pub src: std::net::SocketAddr,
    /// Its number among the process's captures (`event #`).
    pub event: u32,
    pub bytes: Vec<u8>,
    /// The offset of the byte found wrong.
    pub error_at: usize,
    /// Why, in the log's words.
    pub reason: String,
}

#[derive(Debug)]
pub(crate) struct Process {
    /// Worker threads (`nbthread`, or one per CPU), fixed at start.
    pub nbthread: usize,
    /// When the process started, for `Uptime` and `Start_time_sec`.
    pub started: Instant,
    pub started_unix: u64,
    /// Sessions open in the whole process, in every config generation:
    /// each holds a place, under the global maxconn of its config.
    pub sessions: Arc<Gauge>,
    /// Sessions accepted since start (`CumConns`: `sessions` of its
    /// shards).
    pub accepted: Counters,
    /// Per worker: turns of its event loop, for the VRRP watchdog.
    pub heartbeats: Vec<Heartbeat>,
    /// Pipes that exist now (lent out or idle in a pool), under `maxpipes`.
    pub pipes: Arc<Gauge>,
    pub maxpipes: usize,
    pub vrrp: Vec<VrrpState>,
    pub announce: Vec<AnnounceState>,
    /// Wakes the health checker in effect (`observe layer4` reached its
    /// error limit); set while one runs.
    health: Mutex<Option<Arc<Waker>>>,
    /// The logger of the config in effect, for server events; a reload
    /// hands it the new config's logger.
    events: Mutex<Option<LogSender>>,
    /// Connections accepted per second across the process (`ConnRate`,
    /// `maxconnrate`).
    pub conn_rate: super::Rate,
    /// Reloads that took effect, and those a bad config aborted (`show proc`).
    pub reloads: std::sync::atomic::AtomicU64,
    pub failed_reloads: std::sync::atomic::AtomicU64,
    /// The runtime API's changes to servers, on their way to the main
    /// thread.
    pub edits: super::edits::Edits,
    /// Per frontend name, its last [`ErrorCapture`] (a reload keeps them,
    /// by name); and the captures made since start.
    pub errors: Mutex<Vec<(String, ErrorCapture)>>,
    pub error_events: std::sync::atomic::AtomicU32,
    /// Set by the main thread once a stop began (`Stopping` in `show info`).
    pub stopping: std::sync::atomic::AtomicBool,
    /// What the peers thread last saw: its connections with other peers,
    /// those in progress included (`ActivePeers`), and the links that
    /// completed their hello (`ConnectedPeers`).
    pub peers_active: std::sync::atomic::AtomicUsize,
    pub peers_connected: std::sync::atomic::AtomicUsize,
}

impl Process {
    /// Keeps `bytes`, refused by frontend `frontend`, as its last capture.
    pub(crate) fn capture_error(
        &self,
        frontend: &str,
        src: std::net::SocketAddr,
        bytes: &[u8],
        error_at: usize,
        reason: String,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let capture = ErrorCapture {
            when: std::time::SystemTime::now(),
            src,
            event: self.error_events.fetch_add(1, Relaxed),
            bytes: bytes.to_vec(),
            error_at,
            reason,
        };
        let mut all = self.errors.lock();
        match all.iter_mut().find(|(f, _)| f == frontend) {
            Some((_, c)) => *c = capture,
            None => all.push((frontend.to_string(), capture)),
        }
    }

    /// The process of the first config: its `nbthread`, `maxpipes` and
    /// `vrrp` sections hold until a restart.
    pub(crate) fn new(config: &Config) -> Process {
        let global = &config.global;
        let nbthread = global.workers();
        Process {
            nbthread,
            started: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            sessions: Arc::default(),
            accepted: Counters::new(nbthread),
            heartbeats: (0..nbthread).map(|_| Heartbeat::default()).collect(),
            pipes: Arc::default(),
            maxpipes: global
                .maxpipes
                .unwrap_or_else(|| default_maxpipes(global.maxconn)),
            vrrp: config
                .vrrp
                .iter()
                .map(|v| VrrpState {
                    status: Mutex::new(Status::new(v.priority)),
                    config: v.clone(),
                })
                .collect(),
            announce: config
                .announce
                .iter()
                .map(|a| AnnounceState {
                    config: a.clone(),
                    status: Mutex::new(crate::base::announce::Status::new()),
                })
                .collect(),
            health: Mutex::new(None),
            events: Mutex::new(None),
            reloads: Default::default(),
            conn_rate: Default::default(),
            failed_reloads: Default::default(),
            edits: Default::default(),
            errors: Mutex::default(),
            error_events: Default::default(),
            stopping: Default::default(),
            peers_active: Default::default(),
            peers_connected: Default::default(),
        }
    }

    /// The health checker's waker, while one runs (`None` to forget it).
    pub(crate) fn set_health_waker(&self, waker: Option<Arc<Waker>>) {
        *self.health.lock() = waker;
    }

    /// Wakes the health checker, if one runs (whether one does). Only on
    /// a live connection error that reached a server's error limit, or a
    /// runtime API request: never per packet.
    pub(crate) fn wake_health(&self) -> bool {
        match &*self.health.lock() {
            Some(w) => w.wake().is_ok(),
            None => false,
        }
    }

    /// Where server events go from now on (`None`: nowhere, which lets the
    /// logger that had them end).
    pub(crate) fn set_event_sink(&self, sink: Option<LogSender>) {
        *self.events.lock() = sink;
    }

    /// Sends a server event to the logger in effect.
    pub(crate) fn event(&self, msg: Message) {
        if let Some(sink) = &*self.events.lock() {
            sink.send(msg);
        }
    }
}
