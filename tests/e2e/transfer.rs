//! Bulk transfers through splicer must arrive byte-exact in every forwarding
//! mode: splice forced, auto (the default) and copy (per proxy or global).

use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use crate::common::*;

const MIB: usize = 1024 * 1024;
const STREAM: usize = 64 * MIB;
const PARALLEL: u64 = 4;

/// Runs `PARALLEL` concurrent 64 MiB echo round-trips through a splicer
/// started with these global and proxy lines.
fn parallel_echo(global: &str, proxy_lines: &str) {
    let echo = Backend::echo();
    let cfg = config(global, "", &listen(proxy_lines, &[("s1", echo.addr, "")]));
    let sp = Splicer::start(&cfg, &["fe"]);
    let fe = sp.addr("fe");
    let clients: Vec<_> = (0..PARALLEL)
        .map(|i| thread::spawn(move || echo_roundtrip(fe, 1000 + i, STREAM)))
        .collect();
    for c in clients {
        c.join().expect("a round-trip failed");
    }
    assert_eq!(echo.accepted(), PARALLEL as usize);
}

#[test]
fn splice_mode_is_byte_exact() {
    parallel_echo("", "    option splice-request\n    option splice-response");
}

#[test]
fn auto_mode_is_byte_exact() {
    parallel_echo("", "");
}

#[test]
fn copy_mode_is_byte_exact() {
    parallel_echo("", "    no option splice-auto");
}

#[test]
fn global_nosplice_is_byte_exact() {
    parallel_echo("    nosplice", "");
}

/// The server sends 64 MiB and closes: the client gets exactly every byte,
/// then a clean EOF.
fn download(proxy_lines: &str) {
    let srv = Backend::spawn(|mut s| {
        write_stream(&mut s, 77, STREAM).unwrap();
        let _ = s.shutdown(Shutdown::Write);
    });
    let cfg = config("", "", &listen(proxy_lines, &[("s1", srv.addr, "")]));
    let sp = Splicer::start(&cfg, &["fe"]);
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut check = StreamCheck::new(77);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = std::io::Read::read(&mut &c, &mut buf).expect("download read failed");
        if n == 0 {
            break;
        }
        check.check(&buf[..n]);
    }
    assert_eq!(
        check.seen, STREAM,
        "download got {} of {STREAM} bytes",
        check.seen
    );
}

#[test]
fn download_then_close_auto() {
    download("");
}

#[test]
fn download_then_close_splice() {
    download("    option splice-response");
}

#[test]
fn download_then_close_copy() {
    download("    no option splice-auto");
}

/// A client that reads slowly makes splicer hold data back (pipe full,
/// socket not writable) without losing or reordering any of it.
fn slow_reader(proxy_lines: &str) {
    const TOTAL: usize = 16 * MIB;
    let srv = Backend::spawn(|mut s| {
        write_stream(&mut s, 21, TOTAL).unwrap();
        let _ = s.shutdown(Shutdown::Write);
    });
    let cfg = config("", "", &listen(proxy_lines, &[("s1", srv.addr, "")]));
    let sp = Splicer::start(&cfg, &["fe"]);
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut check = StreamCheck::new(21);
    let mut buf = vec![0u8; 7777];
    for i in 0.. {
        let n = std::io::Read::read(&mut &c, &mut buf).expect("slow read failed");
        if n == 0 {
            break;
        }
        check.check(&buf[..n]);
        if i % 64 == 0 {
            thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(check.seen, TOTAL);
}

#[test]
fn slow_reader_splice() {
    slow_reader("    option splice-response");
}

#[test]
fn slow_reader_auto() {
    slow_reader("");
}

#[test]
fn slow_reader_copy() {
    slow_reader("    no option splice-auto");
}
