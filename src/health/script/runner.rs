//! Test-only runners that follow the engine's contract (see the parent
//! module): one against a canned peer, which can feed its answers byte by
//! byte to show that no expect decides on a partial answer it should have
//! waited on, and one against a real server over a blocking `TcpStream`,
//! for checking scripts by hand.

use super::super::status::{CheckStatus, Verdict};
use super::{MAX_RESPONSE, Progress, Step};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A scripted server: `greeting` on connect, then `replies[n]` after the
/// n-th send it receives; once its replies are used up it closes if
/// `close` is set, else it stays silent. Each answer arrives in one read,
/// or one byte per read with `bytewise`.
pub(crate) struct Peer<'a> {
    pub greeting: &'a [u8],
    pub replies: Vec<&'a [u8]>,
    pub close: bool,
    pub bytewise: bool,
}

/// What a run produced: the verdict and every byte sent.
#[derive(Debug)]
pub(crate) struct Run {
    pub verdict: Verdict,
    pub sent: Vec<u8>,
}

pub(crate) fn simulate(steps: &[Step], peer: &Peer) -> Run {
    let mut sent = Vec::new();
    let (mut buf, mut pending): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let mut next_reply = 0;
    let mut last = Verdict::new(CheckStatus::L4Ok);
    for step in steps {
        match step {
            Step::Connect { .. } => {
                buf.clear();
                pending = peer.greeting.to_vec();
                next_reply = 0;
            }
            Step::Send(bytes) => {
                sent.extend_from_slice(bytes);
                if let Some(r) = peer.replies.get(next_reply) {
                    pending.extend_from_slice(r);
                    next_reply += 1;
                }
            }
            Step::Expect(e) => {
                let mut progress = e.eval(&buf, false);
                while progress == Progress::NeedMore {
                    if !pending.is_empty() {
                        let n = if peer.bytewise { 1 } else { pending.len() };
                        buf.extend(pending.drain(..n));
                        let full = buf.len() >= MAX_RESPONSE;
                        progress = e.eval(&buf, full);
                    } else if peer.close && next_reply >= peer.replies.len() {
                        progress = e.eval(&buf, true);
                    } else {
                        return Run {
                            verdict: e.timeout(),
                            sent,
                        };
                    }
                }
                match progress {
                    Progress::Pass { consumed, verdict } => {
                        buf.drain(..consumed);
                        last = verdict;
                    }
                    Progress::Fail(verdict) => return Run { verdict, sent },
                    Progress::NeedMore => unreachable!("the loop waits it out"),
                }
            }
        }
    }
    Run {
        verdict: last,
        sent,
    }
}

/// Runs `steps` against `addr` (a later `Connect { port }` changes the
/// port), giving up on a step after `timeout`.
pub(crate) fn run_tcp(steps: &[Step], addr: SocketAddr, timeout: Duration) -> Run {
    let mut sent = Vec::new();
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::new();
    let mut last = Verdict::new(CheckStatus::L4Ok);
    let fail = |status, e: std::io::Error| Verdict::new(status).info(e.to_string());
    for step in steps {
        match step {
            Step::Connect { port, .. } => {
                let mut to = addr;
                if let Some(p) = port {
                    to.set_port(*p);
                }
                buf.clear();
                match TcpStream::connect_timeout(&to, timeout) {
                    Ok(s) => conn = Some(s),
                    Err(e) => {
                        return Run {
                            verdict: fail(CheckStatus::L4Con, e),
                            sent,
                        };
                    }
                }
            }
            Step::Send(bytes) => {
                sent.extend_from_slice(bytes);
                let res = match conn.as_mut() {
                    Some(s) => s.write_all(bytes),
                    None => Err(ErrorKind::NotConnected.into()),
                };
                if let Err(e) = res {
                    return Run {
                        verdict: fail(CheckStatus::SockErr, e),
                        sent,
                    };
                }
            }
            Step::Expect(e) => {
                let Some(s) = conn.as_mut() else {
                    return Run {
                        verdict: fail(CheckStatus::SockErr, ErrorKind::NotConnected.into()),
                        sent,
                    };
                };
                let deadline = Instant::now() + timeout;
                let mut progress = e.eval(&buf, false);
                let mut chunk = [0u8; 4096];
                while progress == Progress::NeedMore {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Run {
                            verdict: e.timeout(),
                            sent,
                        };
                    }
                    let _ = s.set_read_timeout(Some(left));
                    let room = (MAX_RESPONSE - buf.len()).min(chunk.len());
                    progress = match s.read(&mut chunk[..room]) {
                        Ok(0) => e.eval(&buf, true),
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            e.eval(&buf, buf.len() >= MAX_RESPONSE)
                        }
                        Err(err)
                            if matches!(
                                err.kind(),
                                ErrorKind::WouldBlock | ErrorKind::TimedOut
                            ) =>
                        {
                            Progress::NeedMore
                        }
                        Err(_) => e.eval(&buf, true),
                    };
                }
                match progress {
                    Progress::Pass { consumed, verdict } => {
                        buf.drain(..consumed);
                        last = verdict;
                    }
                    Progress::Fail(verdict) => return Run { verdict, sent },
                    Progress::NeedMore => unreachable!("the loop waits it out"),
                }
            }
        }
    }
    Run {
        verdict: last,
        sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckKind, HttpCheck};
    use crate::health::script::script;
    use std::net::TcpListener;
    use std::thread;

    /// A one-connection server on 127.0.0.1:0: writes `greeting`, reads
    /// until `until` has arrived (or the peer closed), answers `reply` and
    /// closes. Returns its address and what it received.
    fn serve(
        greeting: &'static [u8],
        until: &'static [u8],
        reply: &'static [u8],
    ) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            s.write_all(greeting).expect("greeting");
            let mut got = Vec::new();
            let mut chunk = [0u8; 1024];
            while !got.windows(until.len()).any(|w| w == until) {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
            s.write_all(reply).expect("reply");
            got
        });
        (addr, handle)
    }

    #[test]
    fn mysql_login_over_a_socket() {
        const GREETING: &[u8] = b"\x0c\x00\x00\x00\x0a5.5.5-test\x00";
        let (addr, server) = serve(
            GREETING,
            b"\x01\x00\x00\x00\x01",
            b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00",
        );
        let kind = CheckKind::Mysql {
            user: Some("haproxy".into()),
            post41: true,
        };
        let run = run_tcp(&script(&kind), addr, Duration::from_secs(5));
        assert_eq!(
            run.verdict,
            Verdict::new(CheckStatus::L7Ok).info("5.5.5-test")
        );
        assert_eq!(server.join().expect("server thread"), run.sent);
    }

    #[test]
    fn http_status_over_a_socket() {
        let (addr, server) = serve(
            b"",
            b"\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        );
        let kind = CheckKind::Http(HttpCheck::default());
        let run = run_tcp(&script(&kind), addr, Duration::from_secs(5));
        assert_eq!(
            run.verdict,
            Verdict::new(CheckStatus::L7Sts)
                .code(503)
                .info("Service Unavailable")
        );
        assert_eq!(
            server.join().expect("server thread"),
            b"OPTIONS / HTTP/1.0\r\n\r\n"
        );
    }
}
