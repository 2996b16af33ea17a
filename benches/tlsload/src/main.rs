//! tlsload: the TLS client load and the plain backend of `scripts/bench
//! --tls`. Each load command prints one TSV line (fields in its help) and
//! exits 0, or 1 with the reason on stderr when the run means nothing
//! (the proxy refused, sessions failed).

mod backend;
mod client;
mod load;
mod tls;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use crate::client::Job;
use crate::tls::{Aead, ClientTls};

#[derive(FromArgs)]
/// TLS load generator and backend for scripts/bench --tls.
struct Args {
    #[argh(subcommand)]
    cmd: Cmd,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Cmd {
    Hs(Hs),
    Bulk(Bulk),
    Idle(Idle),
    Latency(Latency),
    Backend(Backend),
}

#[derive(FromArgs)]
/// Handshakes per second: connect, handshake, 64-byte echo, close. Prints
/// rate/s, full, resumed, errors, client CPU µs per handshake.
#[argh(subcommand, name = "hs")]
struct Hs {
    /// proxy address
    #[argh(positional)]
    addr: SocketAddr,
    /// TLS version: 12 or 13 (default 13)
    #[argh(option, default = "13")]
    tls: u8,
    /// AEAD offered: aes128, aes256, chacha20 (default aes128)
    #[argh(option, default = "Aead::Aes128")]
    aead: Aead,
    /// keep sessions and resume them (tickets or session ids, as the proxy gives)
    #[argh(switch)]
    resume: bool,
    /// connections in flight (default 32)
    #[argh(option, default = "32")]
    conns: usize,
    /// client threads (default 1)
    #[argh(option, default = "1")]
    threads: usize,
    /// seconds (default 5)
    #[argh(option, default = "5.0")]
    time: f64,
}

#[derive(FromArgs)]
/// Bulk throughput over established sessions. Prints Gbit/s, bytes,
/// seconds, errors, client CPU seconds per GB.
#[argh(subcommand, name = "bulk")]
struct Bulk {
    /// proxy address
    #[argh(positional)]
    addr: SocketAddr,
    /// up (client to backend) or down (backend to client)
    #[argh(option)]
    dir: String,
    /// sessions (default 1)
    #[argh(option, default = "1")]
    conns: usize,
    /// TLS version: 12 or 13 (default 13)
    #[argh(option, default = "13")]
    tls: u8,
    /// AEAD offered: aes128, aes256, chacha20 (default aes128)
    #[argh(option, default = "Aead::Aes128")]
    aead: Aead,
    /// seconds (default 5)
    #[argh(option, default = "5.0")]
    time: f64,
}

#[derive(FromArgs)]
/// Memory per idle TLS session of process PID: opens N sessions (handshake
/// and a 64-byte echo each) and prints VmRSS KiB before, after, N, bytes
/// per session, fds before, after.
#[argh(subcommand, name = "idle")]
struct Idle {
    /// proxy address
    #[argh(positional)]
    addr: SocketAddr,
    /// the proxy's pid
    #[argh(option)]
    pid: u32,
    /// sessions (default 2000)
    #[argh(option, default = "2000")]
    n: usize,
    /// TLS version: 12 or 13 (default 13)
    #[argh(option, default = "13")]
    tls: u8,
}

#[derive(FromArgs)]
/// Round-trip time of a 64-byte echo on established sessions. Prints p50,
/// p99, max µs, samples, errors.
#[argh(subcommand, name = "latency")]
struct Latency {
    /// proxy address
    #[argh(positional)]
    addr: SocketAddr,
    /// sessions (default 8)
    #[argh(option, default = "8")]
    sessions: usize,
    /// ms between two pings of a session (default 10)
    #[argh(option, default = "10")]
    interval_ms: u64,
    /// seconds (default 5)
    #[argh(option, default = "5.0")]
    time: f64,
}

#[derive(FromArgs)]
/// The plain backend: echo, discard and source listeners.
#[argh(subcommand, name = "backend")]
struct Backend {
    /// echo listener
    #[argh(option)]
    echo: SocketAddr,
    /// discard listener
    #[argh(option)]
    discard: SocketAddr,
    /// source (zeros) listener
    #[argh(option)]
    source: SocketAddr,
    /// exit after this many seconds (default 3600)
    #[argh(option, default = "3600")]
    max_secs: u64,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.1, 3600.0))
}

fn fail(what: &str, errors: u64, last: Option<String>) -> ExitCode {
    eprintln!(
        "tlsload {what}: {errors} failed sessions, last: {}",
        last.unwrap_or_default()
    );
    ExitCode::FAILURE
}

fn run(args: Args) -> Result<ExitCode, String> {
    match args.cmd {
        Cmd::Hs(a) => {
            let cfg = tls::client_config(ClientTls {
                version: a.tls,
                aead: a.aead,
                resume: a.resume,
            })?;
            let r = load::handshakes(
                a.addr,
                cfg,
                a.conns.max(1),
                a.threads.clamp(1, 64),
                secs(a.time),
            );
            let done = r.full + r.resumed;
            println!(
                "{:.1}\t{}\t{}\t{}\t{:.1}",
                done as f64 / r.secs,
                r.full,
                r.resumed,
                r.errors,
                r.client_us
            );
            // A few failures among thousands are the machine; more is the proxy.
            if done == 0 || r.errors * 100 > done {
                return Ok(fail("hs", r.errors, r.last_error));
            }
        }
        Cmd::Bulk(a) => {
            let job = match a.dir.as_str() {
                "up" => Job::Upload,
                "down" => Job::Download,
                d => return Err(format!("--dir {d}: up or down")),
            };
            let cfg = tls::client_config(ClientTls {
                version: a.tls,
                aead: a.aead,
                resume: false,
            })?;
            let r = load::bulk(a.addr, cfg, a.conns.max(1), job, secs(a.time));
            let gbps = r.bytes as f64 * 8.0 / r.secs.max(1e-9) / 1e9;
            println!(
                "{gbps:.3}\t{}\t{:.2}\t{}\t{:.3}",
                r.bytes, r.secs, r.errors, r.client_s_per_gb
            );
            if r.errors > 0 || r.bytes == 0 {
                return Ok(fail("bulk", r.errors, r.last_error));
            }
        }
        Cmd::Idle(a) => {
            let cfg = tls::client_config(ClientTls {
                version: a.tls,
                aead: Aead::Aes128,
                resume: false,
            })?;
            let r = load::idle(a.addr, cfg, a.n.max(1), a.pid)?;
            let per = (r.kib_after as f64 - r.kib_before as f64) * 1024.0 / r.sessions as f64;
            println!(
                "{}\t{}\t{}\t{per:.0}\t{}\t{}",
                r.kib_before, r.kib_after, r.sessions, r.fds_before, r.fds_after
            );
        }
        Cmd::Latency(a) => {
            let cfg = tls::client_config(ClientTls {
                version: 13,
                aead: Aead::Aes128,
                resume: false,
            })?;
            let interval = Duration::from_millis(a.interval_ms.clamp(1, 10_000));
            let r = load::latency(
                a.addr,
                cfg,
                a.sessions.clamp(1, 1000),
                interval,
                secs(a.time),
            );
            println!(
                "{:.0}\t{:.0}\t{:.0}\t{}\t{}",
                r.percentile(50.0),
                r.percentile(99.0),
                r.percentile(100.0),
                r.rtts_us.len(),
                r.errors
            );
            if r.errors > 0 || r.rtts_us.is_empty() {
                return Ok(fail("latency", r.errors, r.last_error));
            }
        }
        Cmd::Backend(a) => {
            backend::serve(a.echo, a.discard, a.source, Duration::from_secs(a.max_secs))
                .map_err(|e| format!("backend: {e}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(argh::from_env()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tlsload: {e}");
            ExitCode::FAILURE
        }
    }
}
