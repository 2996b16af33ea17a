//! What BPF sockmap redirection would give splicer (issue 17's stretch),
//! measured against user-space copy and splice, and whether the semantics a
//! proxy owes its users survive it.
//!
//!     cargo bench --bench sockmap
//!
//! Needs root (CAP_BPF + CAP_NET_ADMIN) and a kernel with sockmap; without
//! them it says why and exits 0. Everything runs on 127.0.0.1 with
//! ephemeral ports: a client, the proxy's two sockets and a sink, in one
//! process. The program is hand-assembled (see bpf.rs): no toolchain.

mod bpf;
mod checks;
mod flow;
mod proxy;
mod sys;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bpf::Redirector;
use flow::{FAST, Sink, send};
use proxy::Mode;

/// Each bulk run stops at whichever comes first.
const BULK_BYTES: u64 = 2 << 30;
const BULK_TIME: Duration = Duration::from_secs(4);
const SHORT_SESSIONS: u32 = 3000;
const SHORT_TIME: Duration = Duration::from_secs(3);
const REQUEST: usize = 1024;
const GIB: f64 = (1u64 << 30) as f64;

/// CPU time counters: this process, and the whole machine from /proc/stat
/// (where the psock backlog's kworker and ksoftirqd are counted too).
struct Cpu {
    process: Duration,
    busy: u64,
    softirq: u64,
}

impl Cpu {
    fn now() -> Cpu {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let jiffies: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...
        let at = |k: usize| jiffies.get(k).copied().unwrap_or(0);
        let total: u64 = jiffies.iter().take(8).sum();
        Cpu {
            process: sys::process_cpu(),
            busy: total - at(3) - at(4),
            softirq: at(6),
        }
    }

    /// (process, machine busy, machine softirq) seconds since `self`.
    fn since(&self) -> (f64, f64, f64) {
        let now = Cpu::now();
        let hz = 100.0; // USER_HZ
        (
            (now.process - self.process).as_secs_f64(),
            (now.busy - self.busy) as f64 / hz,
            (now.softirq - self.softirq) as f64 / hz,
        )
    }
}

struct Bulk {
    gbit: f64,
    gib: f64,
    proxy_cpu: f64,
    process_cpu: f64,
    machine_cpu: f64,
    softirq: f64,
    intact: bool,
}

fn bulk(mode: Mode, red: &Arc<Redirector>) -> io::Result<Bulk> {
    let listen = TcpListener::bind("127.0.0.1:0")?;
    let upstream = TcpListener::bind("127.0.0.1:0")?;
    let (from, to) = (listen.local_addr()?, upstream.local_addr()?);
    let r = red.clone();
    let cpu = Cpu::now();
    let proxy = thread::spawn(move || -> io::Result<Duration> {
        let front = listen.accept()?.0;
        let back = TcpStream::connect(to)?;
        let t0 = sys::thread_cpu();
        proxy::one_way(mode, &front, &back, &r)?;
        Ok(sys::thread_cpu() - t0)
    });
    let mut client = TcpStream::connect(from)?;
    let sink = Sink::spawn(upstream.accept()?.0, FAST);
    let start = Instant::now();
    let sent = send(&mut client, BULK_BYTES, start + BULK_TIME, false, true)?;
    let got = sink
        .join(Duration::from_secs(30))
        .ok_or_else(|| io::Error::other("sink timed out"))?;
    let proxy_cpu = proxy
        .join()
        .map_err(|_| io::Error::other("proxy panicked"))??;
    let (process_cpu, machine_cpu, softirq) = cpu.since();
    let gib = got.bytes as f64 / GIB;
    Ok(Bulk {
        gbit: got.bytes as f64 * 8.0 / 1e9 / (got.end - start).as_secs_f64(),
        gib,
        proxy_cpu: proxy_cpu.as_secs_f64() / gib,
        process_cpu: process_cpu / gib,
        machine_cpu: machine_cpu / gib,
        softirq: softirq / gib,
        intact: got.bytes == sent && got.eof,
    })
}

struct Short {
    per_second: f64,
    sessions: u64,
    map_us: f64,
}

/// Sequential 1 KiB request/response sessions: the per-session cost.
fn short(mode: Mode, red: &Arc<Redirector>) -> io::Result<Short> {
    let listen = TcpListener::bind("127.0.0.1:0")?;
    let echo = TcpListener::bind("127.0.0.1:0")?;
    let (from, to) = (listen.local_addr()?, echo.local_addr()?);
    let stop = Arc::new(AtomicBool::new(false));
    let (r, s) = (red.clone(), stop.clone());
    let proxy = thread::spawn(move || proxy::serve_short(mode, listen, to, r, s));
    let s = stop.clone();
    let server = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; REQUEST];
        loop {
            let mut c = echo.accept()?.0;
            if s.load(Ordering::Relaxed) {
                return Ok(());
            }
            c.read_exact(&mut buf)?;
            c.write_all(&buf)?;
            while c.read(&mut buf)? > 0 {}
        }
    });
    let start = Instant::now();
    let mut done = 0u32;
    let mut buf = [0u8; REQUEST];
    while done < SHORT_SESSIONS && start.elapsed() < SHORT_TIME {
        let mut c = TcpStream::connect(from)?;
        c.write_all(&[1u8; REQUEST])?;
        c.read_exact(&mut buf)?;
        done += 1;
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    TcpStream::connect(from)?;
    TcpStream::connect(to)?;
    let stats = proxy
        .join()
        .map_err(|_| io::Error::other("proxy panicked"))??;
    server
        .join()
        .map_err(|_| io::Error::other("server panicked"))??;
    Ok(Short {
        per_second: f64::from(done) / elapsed.as_secs_f64(),
        sessions: stats.sessions,
        map_us: stats.map_time.as_secs_f64() * 1e6 / stats.sessions.max(1) as f64,
    })
}

fn main() {
    let red = match Redirector::new() {
        Ok(r) => Arc::new(r),
        Err(e) if e.is_permission() => {
            println!("sockmap probe skipped: {e} (needs CAP_BPF and CAP_NET_ADMIN)");
            return;
        }
        Err(e) => {
            println!("sockmap probe skipped: {e}");
            return;
        }
    };
    if let Err(e) = run(&red) {
        eprintln!("sockmap probe failed: {e}");
        std::process::exit(1);
    }
}

fn run(red: &Arc<Redirector>) -> io::Result<()> {
    let modes = [Mode::Copy, Mode::Splice, Mode::Sockmap];
    println!(
        "bulk client -> proxy -> sink, {} GiB or {} s; CPU in seconds per GiB moved",
        BULK_BYTES >> 30,
        BULK_TIME.as_secs()
    );
    println!(
        "{:<22} {:>7} {:>6} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "mode", "Gbit/s", "GiB", "proxy", "process", "machine", "softirq", "intact"
    );
    for mode in modes {
        let b = bulk(mode, red)?;
        println!(
            "{:<22} {:>7.1} {:>6.1} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>6}",
            mode.name(),
            b.gbit,
            b.gib,
            b.proxy_cpu,
            b.process_cpu,
            b.machine_cpu,
            b.softirq,
            b.intact
        );
    }
    println!(
        "\nshort sessions: 1 KiB request, 1 KiB answer, one at a time, up to {SHORT_SESSIONS} or {} s",
        SHORT_TIME.as_secs()
    );
    println!(
        "{:<22} {:>10} {:>9} {:>22}",
        "mode", "sessions/s", "sessions", "map syscalls/session"
    );
    for mode in [Mode::Copy, Mode::Sockmap] {
        let s = short(mode, red)?;
        let map = if mode == Mode::Sockmap {
            format!("{:.1} us (8 calls)", s.map_us)
        } else {
            "-".into()
        };
        println!(
            "{:<22} {:>10.0} {:>9} {:>22}",
            mode.name(),
            s.per_second,
            s.sessions,
            map
        );
    }
    println!("\nsemantics with sockmap redirection");
    let results = [
        checks::byte_counts(red)?,
        checks::idle_time(red)?,
        checks::half_close(red, false)?,
        checks::half_close(red, true)?,
        checks::backpressure(red)?,
        checks::reset(red)?,
        checks::fallback(red, false)?,
        checks::fallback(red, true)?,
    ];
    println!("\n{:<30} result", "semantic");
    for c in &results {
        println!("{:<30} {}", c.name, if c.pass { "PASS" } else { "FAIL" });
    }
    Ok(())
}
