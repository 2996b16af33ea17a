//! The four measurements, each a bounded loop over a `Driver`: handshakes
//! per second, bulk throughput, memory per idle session, and echo latency.
//! Each returns a report that main prints as one TSV line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, HandshakeKind};

use crate::client::{Driver, Job, process_cpu_s};

const TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
pub struct HsReport {
    pub secs: f64,
    pub full: u64,
    pub resumed: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// This process's CPU per handshake, µs.
    pub client_us: f64,
}

/// Handshakes (each: connect, handshake, 64-byte echo, close_notify,
/// close) for `time`, `conns` in flight spread over `threads` threads.
pub fn handshakes(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
    conns: usize,
    threads: usize,
    time: Duration,
) -> HsReport {
    let cpu0 = process_cpu_s();
    let start = Instant::now();
    let end = start + time;
    let per = conns.div_ceil(threads);
    let parts: Vec<HsReport> = thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let cfg = cfg.clone();
                sc.spawn(move || handshakes_thread(addr, cfg, per, t * per, end))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut r = HsReport {
        secs,
        ..HsReport::default()
    };
    for p in parts {
        r.full += p.full;
        r.resumed += p.resumed;
        r.errors += p.errors;
        r.last_error = r.last_error.or(p.last_error);
    }
    r.client_us = (process_cpu_s() - cpu0) * 1e6 / (r.full + r.resumed).max(1) as f64;
    r
}

fn handshakes_thread(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
    conns: usize,
    name_base: usize,
    end: Instant,
) -> HsReport {
    let mut r = HsReport::default();
    let mut d = match Driver::new(addr, cfg, Job::Echo, conns, name_base) {
        Ok(d) => d,
        Err(e) => {
            r.errors = 1;
            r.last_error = Some(e.to_string());
            return r;
        }
    };
    for i in 0..conns {
        d.open(i);
    }
    let mut last_reap = Instant::now();
    while Instant::now() < end && !d.too_many_errors() {
        let res = d.turn(TICK, |d, i, _rtt| {
            let s = d.slots[i].take().expect("the slot that echoed");
            match s.kind() {
                Some(HandshakeKind::Resumed) => r.resumed += 1,
                _ => r.full += 1,
            }
            s.close();
            d.open(i);
        });
        if let Err(e) = res {
            r.last_error = Some(e.to_string());
            break;
        }
        // Failed sessions left their slot empty: start new ones.
        for i in 0..conns {
            if d.slots[i].is_none() {
                d.open(i);
            }
        }
        if last_reap.elapsed() > Duration::from_millis(100) {
            d.reap();
            last_reap = Instant::now();
        }
    }
    r.errors += d.errors;
    r.last_error = r.last_error.or(d.last_error.take());
    r
}

#[derive(Debug, Default)]
pub struct BulkReport {
    pub secs: f64,
    pub bytes: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// This process's CPU per GB (1e9 bytes) of plaintext, seconds.
    pub client_s_per_gb: f64,
}

/// `conns` sessions uploading or downloading records for `time`, counted
/// from when all of them finished their handshake.
pub fn bulk(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
    conns: usize,
    job: Job,
    time: Duration,
) -> BulkReport {
    let mut r = BulkReport::default();
    let mut d = match Driver::new(addr, cfg, job, conns, 0) {
        Ok(d) => d,
        Err(e) => {
            r.errors = 1;
            r.last_error = Some(e.to_string());
            return r;
        }
    };
    for i in 0..conns {
        d.open(i);
    }
    let ready_by = Instant::now() + Duration::from_secs(10);
    while Instant::now() < ready_by
        && !d
            .slots
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.is_bulk()))
    {
        if d.turn(TICK, |_, _, _| {}).is_err() || d.slots.iter().any(Option::is_none) {
            break;
        }
    }
    if !d
        .slots
        .iter()
        .all(|s| s.as_ref().is_some_and(|s| s.is_bulk()))
    {
        r.errors = d.errors.max(1);
        r.last_error = d
            .last_error
            .take()
            .or(Some("sessions not ready after 10 s".into()));
        return r;
    }
    let counted = |d: &Driver| d.slots.iter().flatten().map(|s| s.bytes).sum::<u64>();
    // Each session was stepped once when its handshake ended; uploads have
    // already written. Start counting now.
    let b0 = counted(&d);
    let cpu0 = process_cpu_s();
    let start = Instant::now();
    let end = start + time;
    while Instant::now() < end {
        if let Err(e) = d.turn(TICK, |_, _, _| {}) {
            r.last_error = Some(e.to_string());
            break;
        }
        if d.slots.iter().any(Option::is_none) {
            break; // a session failed: the run is reported with its error
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    r.bytes = counted(&d).saturating_sub(b0);
    r.errors += d.errors;
    r.last_error = r.last_error.or(d.last_error.take());
    r.client_s_per_gb = (process_cpu_s() - cpu0) / (r.bytes as f64 / 1e9).max(1e-9);
    r
}

#[derive(Debug, Default)]
pub struct IdleReport {
    pub kib_before: u64,
    pub kib_after: u64,
    pub sessions: usize,
    pub fds_before: usize,
    pub fds_after: usize,
}

fn vmrss_kib(pid: u32) -> Result<u64, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no VmRSS for pid {pid}"))
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

const SETTLE: Duration = Duration::from_secs(1);

/// RSS of process `pid` before and after `n` TLS sessions through it were
/// opened, each with a handshake and a 64-byte echo (so the proxy holds
/// the client side and the server side of each), then left idle.
pub fn idle(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
    n: usize,
    pid: u32,
) -> Result<IdleReport, String> {
    const IN_FLIGHT: usize = 100;
    thread::sleep(SETTLE);
    let mut r = IdleReport {
        kib_before: vmrss_kib(pid)?,
        fds_before: fd_count(pid),
        sessions: n,
        ..IdleReport::default()
    };
    let mut d = Driver::new(addr, cfg, Job::Echo, n, 0).map_err(|e| e.to_string())?;
    let (mut opened, mut ready) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready < n {
        while opened < n && opened - ready < IN_FLIGHT {
            d.open(opened);
            opened += 1;
        }
        if Instant::now() > deadline {
            return Err(format!("only {ready} of {n} sessions echoed in 60 s"));
        }
        d.turn(TICK, |_, _, _| ready += 1)
            .map_err(|e| e.to_string())?;
        d.reap();
        if d.errors > 0 {
            return Err(format!(
                "a session failed: {}",
                d.last_error.clone().unwrap_or_default()
            ));
        }
    }
    thread::sleep(SETTLE);
    r.kib_after = vmrss_kib(pid)?;
    r.fds_after = fd_count(pid);
    if !d
        .slots
        .iter()
        .all(|s| s.as_ref().is_some_and(|s| s.is_idle()))
    {
        return Err("a session left the idle state".into());
    }
    Ok(r)
}

#[derive(Debug, Default)]
pub struct LatencyReport {
    /// Round-trip times, µs, sorted.
    pub rtts_us: Vec<f64>,
    pub errors: u64,
    pub last_error: Option<String>,
}

impl LatencyReport {
    pub fn percentile(&self, p: f64) -> f64 {
        if self.rtts_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.rtts_us.len() as f64).ceil() as usize;
        self.rtts_us[rank.clamp(1, self.rtts_us.len()) - 1]
    }
}

/// `sessions` established sessions each send a 64-byte ping every
/// `interval` (staggered) for `time`; the round-trip times through the
/// proxy and the echo backend.
pub fn latency(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
    sessions: usize,
    interval: Duration,
    time: Duration,
) -> LatencyReport {
    let mut r = LatencyReport::default();
    let mut d = match Driver::new(addr, cfg, Job::Echo, sessions, 0) {
        Ok(d) => d,
        Err(e) => {
            r.errors = 1;
            r.last_error = Some(e.to_string());
            return r;
        }
    };
    for i in 0..sessions {
        d.open(i);
    }
    let ready_by = Instant::now() + Duration::from_secs(10);
    let mut ready = 0;
    while ready < sessions && Instant::now() < ready_by && d.errors == 0 {
        if d.turn(TICK, |_, _, _| ready += 1).is_err() {
            break;
        }
    }
    if ready < sessions {
        r.errors = d.errors.max(1);
        r.last_error = d
            .last_error
            .take()
            .or(Some("sessions not ready after 10 s".into()));
        return r;
    }
    let start = Instant::now();
    let end = start + time;
    let step = interval / sessions as u32;
    let mut next: Vec<Instant> = (0..sessions).map(|i| start + step * i as u32).collect();
    let mut rtts = Vec::new();
    while Instant::now() < end {
        let now = Instant::now();
        // The next ping due among idle sessions; one still waiting for its
        // echo pings again only once the echo is back (no burst, no spin).
        let mut wake = end;
        for (slot, due) in d.slots.iter_mut().zip(next.iter_mut()) {
            let Some(s) = slot.as_mut() else { continue };
            if !s.is_idle() {
                continue;
            }
            if now >= *due {
                if let Err(e) = s.ping() {
                    *slot = None;
                    r.errors += 1;
                    r.last_error = Some(e.to_string());
                }
                *due += interval;
                if *due < now {
                    *due = now + interval; // fell behind: skip, do not burst
                }
            } else {
                wake = wake.min(*due);
            }
        }
        let timeout = wake.saturating_duration_since(Instant::now());
        if let Err(e) = d.turn(timeout, |_, _, rtt| rtts.push(rtt.as_secs_f64() * 1e6)) {
            r.last_error = Some(e.to_string());
            break;
        }
        d.reap();
        if d.slots.iter().all(Option::is_none) {
            break;
        }
    }
    r.errors += d.errors;
    r.last_error = r.last_error.or(d.last_error.take());
    rtts.sort_by(f64::total_cmp);
    r.rtts_us = rtts;
    r
}
