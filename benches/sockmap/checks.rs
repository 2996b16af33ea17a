//! The semantics a proxy must keep, each checked on a session whose bytes
//! the kernel redirects: byte counts, idle time, half-close, reset, and
//! falling back to user space mid-stream. Each prints PASS/FAIL with the
//! figures that decided it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::bpf::{Redirector, Side};
use crate::flow::{CHECKED, MIB, Pace, Received, SLOW, Sink, rig, send};
use crate::proxy::{Ledger, copy};
use crate::sys;

pub struct Check {
    pub name: &'static str,
    pub pass: bool,
}

const LIMIT: Duration = Duration::from_secs(20);
const HALF_CLOSE_BYTES: u64 = 64 * MIB;

fn check(name: &'static str, pass: bool, detail: String) -> Check {
    println!("{} {name}: {detail}", if pass { "PASS" } else { "FAIL" });
    Check { name, pass }
}

/// Sends `bytes` of pattern from the client in a thread, FIN after.
fn client_sends(mut c: TcpStream, bytes: u64) -> thread::JoinHandle<io::Result<u64>> {
    thread::spawn(move || send(&mut c, bytes, Instant::now() + LIMIT, true, true))
}

/// What the tcp_info of the proxy's two sockets say moved, against what
/// the client and the server really sent, both ways (no FIN yet: a FIN
/// counts as one more byte received, a connect's SYN as one more acked).
pub fn byte_counts(red: &Redirector) -> io::Result<Check> {
    let (up, down) = (32 * MIB, 4 * MIB);
    let r = rig()?;
    let _pair = red.insert(0, &r.front, &r.back)?;
    let sink = Sink::spawn(r.server.try_clone()?, CHECKED);
    let mut c = r.client.try_clone()?;
    let writer = thread::spawn(move || send(&mut c, up, Instant::now() + LIMIT, true, false));
    let deadline = Instant::now() + LIMIT;
    while sink.received() < up && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    let mut c = r.client.try_clone()?;
    let reader = thread::spawn(move || c.read_exact(&mut vec![0u8; down as usize]));
    send(&mut r.server.try_clone()?, down, deadline, false, false)?;
    reader
        .join()
        .map_err(|_| io::Error::other("reader panicked"))??;
    writer.join().ok();
    // Every byte is acked within a few RTTs on loopback; wait for it.
    while (sys::outq(&r.front)? > 0 || sys::outq(&r.back)? > 0) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let (f, b) = (sys::tcp_info(&r.front)?, sys::tcp_info(&r.back)?);
    let got = sink.received();
    let syn = 1;
    let pass = got == up
        && f.tcpi_bytes_received == up
        && b.tcpi_bytes_acked - syn == up
        && b.tcpi_bytes_received == down
        && f.tcpi_bytes_acked == down;
    Ok(check(
        "byte counts",
        pass,
        format!(
            "client->server {up}: front received {}, back acked {} (SYN included; sent {}), sink {got}; \
             server->client {down}: back received {}, front acked {} (sent {})",
            f.tcpi_bytes_received,
            b.tcpi_bytes_acked,
            b.tcpi_bytes_sent,
            b.tcpi_bytes_received,
            f.tcpi_bytes_acked,
            f.tcpi_bytes_sent
        ),
    ))
}

/// tcpi_last_data_recv/sent follow redirected traffic: near zero while
/// bytes move, then the time since the front socket's last byte in and the
/// back socket's last byte out. Those two differ: the psock queue keeps the
/// back socket sending long after the client stopped.
pub fn idle_time(red: &Redirector) -> io::Result<Check> {
    let bytes = 32 * MIB;
    let r = rig()?;
    let _pair = red.insert(0, &r.front, &r.back)?;
    let sink = Sink::spawn(r.server.try_clone()?, CHECKED);
    let mut c = r.client.try_clone()?;
    let writer = thread::spawn(move || {
        let sent = send(&mut c, bytes, Instant::now() + LIMIT, true, false);
        (sent, Instant::now())
    });
    let deadline = Instant::now() + LIMIT;
    while sys::tcp_info(&r.front)?.tcpi_bytes_received < bytes / 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_micros(200));
    }
    let busy = (
        sys::tcp_info(&r.front)?.tcpi_last_data_recv,
        sys::tcp_info(&r.back)?.tcpi_last_data_sent,
    );
    while sink.received() < bytes && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let sink_done = Instant::now();
    let (_, client_done) = writer
        .join()
        .map_err(|_| io::Error::other("writer panicked"))?;
    thread::sleep(Duration::from_millis(500));
    let idle = (
        sys::tcp_info(&r.front)?.tcpi_last_data_recv,
        sys::tcp_info(&r.back)?.tcpi_last_data_sent,
    );
    let since = (
        client_done.elapsed().as_millis() as u32,
        sink_done.elapsed().as_millis() as u32,
    );
    let near = |a: u32, b: u32| a.abs_diff(b) <= 30;
    let pass = busy.0 < 20 && busy.1 < 20 && near(idle.0, since.0) && near(idle.1, since.1);
    Ok(check(
        "idle time",
        pass,
        format!(
            "mid-transfer: last recv (front) {} ms, last sent (back) {} ms; later: {} ms (client's last write {} ms ago), \
             {} ms (sink's last byte {} ms ago)",
            busy.0, busy.1, idle.0, since.0, idle.1, since.1
        ),
    ))
}

/// The client sends 64 MiB then its FIN to a slow server. The proxy sees
/// the FIN, then passes it on at once or only after the ledger says the
/// redirected bytes have left the psock queue.
pub fn half_close(red: &Redirector, wait_drained: bool) -> io::Result<Check> {
    let name = if wait_drained {
        "half-close, FIN after drain"
    } else {
        "half-close, FIN at RDHUP"
    };
    let r = rig()?;
    let ledger = Ledger::start(&r.front, &r.back)?;
    let pair = red.insert(0, &r.front, &r.back)?;
    let sink = Sink::spawn(r.server.try_clone()?, SLOW);
    let start = Instant::now();
    let writer = client_sends(r.client.try_clone()?, HALF_CLOSE_BYTES);
    let ev = sys::poll(&r.front, libc::POLLRDHUP, LIMIT)?;
    let rdhup_after = start.elapsed();
    let queued = ledger.in_flight(&r.front, &r.back)?;
    let (at_sink, outq) = (sink.received(), sys::outq(&r.back)?);
    let mut one = [0u8; 1];
    let read = (&r.front).read(&mut one);
    let drained = if wait_drained {
        ledger.wait_drained(&r.front, &r.back, LIMIT)?
    } else {
        false
    };
    r.back.shutdown(Shutdown::Write)?;
    writer.join().ok();
    let got = sink.join(LIMIT);
    red.remove(&pair, Side::Client)?;
    red.remove(&pair, Side::Server)?;
    let pass = got.as_ref().is_some_and(|g| g.intact(HALF_CLOSE_BYTES));
    Ok(check(
        name,
        pass,
        format!(
            "RDHUP {} after {:.2} s, read() then {:?}; at that moment {} MiB in the psock queue, {} MiB in the write queue, {} MiB at the sink{}; {}",
            ev & libc::POLLRDHUP != 0,
            rdhup_after.as_secs_f64(),
            read.map_err(|e| e.kind()),
            queued / MIB as i64,
            outq / MIB,
            at_sink / MIB,
            if wait_drained {
                format!("; drained: {drained}")
            } else {
                String::new()
            },
            got.map_or("sink timed out".into(), |g| g.describe())
        ),
    ))
}

/// How many bytes pile up inside the proxy when the server is slower than
/// the client: measured when the client's last write returned.
pub fn backpressure(red: &Redirector) -> io::Result<Check> {
    let (mut held, mut tcp_mem) = ([0u64; 2], [0u64; 2]);
    for (k, redirect) in [false, true].into_iter().enumerate() {
        let r = rig()?;
        let sink = Sink::spawn(r.server.try_clone()?, SLOW);
        let pair = if redirect {
            Some(red.insert(0, &r.front, &r.back)?)
        } else {
            None
        };
        let (front, back) = (r.front.try_clone()?, r.back.try_clone()?);
        let proxy = (!redirect).then(|| thread::spawn(move || copy(&front, &back)));
        send(
            &mut r.client.try_clone()?,
            HALF_CLOSE_BYTES,
            Instant::now() + LIMIT,
            true,
            false,
        )?;
        held[k] = HALF_CLOSE_BYTES - sink.received();
        tcp_mem[k] = tcp_mem_pages();
        if let Some(pair) = pair {
            // Let the redirected bytes drain before removal drops them.
            let deadline = Instant::now() + LIMIT;
            while sink.received() < HALF_CLOSE_BYTES && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            red.remove(&pair, Side::Client)?;
            red.remove(&pair, Side::Server)?;
            r.back.shutdown(Shutdown::Write)?;
        } else {
            r.client.shutdown(Shutdown::Write)?;
        }
        sink.join(LIMIT);
        proxy.map(|p| p.join());
    }
    Ok(check(
        "bounded buffering",
        held[1] <= 2 * held[0],
        format!(
            "64 MiB to a slow server: when the client's last write returned, {} MiB were between client and server \
             with read/write, {} MiB with sockmap (TCP memory in /proc/net/sockstat then: {} and {} MiB)",
            held[0] / MIB,
            held[1] / MIB,
            tcp_mem[0] * 4096 / MIB,
            tcp_mem[1] * 4096 / MIB
        ),
    ))
}

/// The server resets; does the proxy see it on its back socket, and can it
/// reset the client?
pub fn reset(red: &Redirector) -> io::Result<Check> {
    let r = rig()?;
    let pair = red.insert(0, &r.front, &r.back)?;
    r.client.try_clone()?.write_all(&[7u8; 4096])?;
    let mut got = [0u8; 4096];
    (&r.server).read_exact(&mut got)?;
    socket2::SockRef::from(&r.server).set_linger(Some(Duration::ZERO))?;
    drop(r.server);
    let t = Instant::now();
    let ev = sys::poll(
        &r.back,
        libc::POLLIN | libc::POLLRDHUP,
        Duration::from_secs(2),
    )?;
    let seen_after = t.elapsed();
    let err = r.back.take_error()?;
    red.remove(&pair, Side::Client)?;
    red.remove(&pair, Side::Server)?;
    socket2::SockRef::from(&r.front).set_linger(Some(Duration::ZERO))?;
    drop(r.front);
    let mut c = r.client;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    let client_saw = c.read(&mut got).map_err(|e| e.kind());
    let pass =
        ev & (libc::POLLERR | libc::POLLHUP) != 0 && client_saw == Err(ErrorKind::ConnectionReset);
    Ok(check(
        "reset propagation",
        pass,
        format!(
            "back socket: POLLERR {} POLLHUP {} after {} us, SO_ERROR {:?}; client then read {client_saw:?}",
            ev & libc::POLLERR != 0,
            ev & libc::POLLHUP != 0,
            seen_after.as_micros(),
            err.map(|e| e.kind())
        ),
    ))
}

/// Mid-stream, take the session out of the maps and forward the rest in
/// user space: either both sides at once, or the client side first, then
/// the server side once the ledger says the psock queue is empty.
pub fn fallback(red: &Redirector, wait_drained: bool) -> io::Result<Check> {
    let name = if wait_drained {
        "fallback, drained first"
    } else {
        "fallback, at once"
    };
    let r = rig()?;
    let ledger = Ledger::start(&r.front, &r.back)?;
    let pair = red.insert(0, &r.front, &r.back)?;
    let sink = Sink::spawn(
        r.server.try_clone()?,
        Pace {
            pause: Some(Duration::from_micros(200)),
            ..SLOW
        },
    );
    let writer = client_sends(r.client.try_clone()?, HALF_CLOSE_BYTES);
    let deadline = Instant::now() + LIMIT;
    while sys::tcp_info(&r.front)?.tcpi_bytes_received < 16 * MIB && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    red.remove(&pair, Side::Client)?;
    let queued = ledger.in_flight(&r.front, &r.back)?;
    if wait_drained {
        ledger.wait_drained(&r.front, &r.back, LIMIT)?;
    }
    red.remove(&pair, Side::Server)?;
    let rest = copy(&r.front, &r.back)?;
    writer.join().ok();
    let got: Option<Received> = sink.join(LIMIT);
    let pass = got.as_ref().is_some_and(|g| g.intact(HALF_CLOSE_BYTES));
    Ok(check(
        name,
        pass,
        format!(
            "{:.1} MiB in the psock queue at removal, {} MiB then copied in user space; {}",
            queued as f64 / MIB as f64,
            rest / MIB,
            got.map_or("sink timed out".into(), |g| g.describe())
        ),
    ))
}

/// Pages the kernel charges to TCP sockets, all of them (`TCP: ... mem N`).
fn tcp_mem_pages() -> u64 {
    let stat = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let tcp = stat.lines().find(|l| l.starts_with("TCP:")).unwrap_or("");
    let mut words = tcp.split_whitespace();
    words
        .find(|&w| w == "mem")
        .and_then(|_| words.next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
