//! Log destinations: the framing of one message for a `log` line's `format`, and the sockets and streams the
//! logger thread writes to. Nothing here blocks a worker: only the logger
//! thread calls [`Sink::send`].

use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::SystemTime;

use crate::base::clock;
#[cfg(test)]
use crate::base::log::LEVEL_INFO;
use crate::config::{LogDest, LogTarget, SyslogFormat};

/// What the syslog header says about the sender.
pub(crate) struct Origin<'a> {
    pub tag: &'a str,
    /// `log-send-hostname`; RFC 3164 then shows it, RFC 5424 too.
    pub hostname: Option<&'a str>,
    pub pid: u32,
}

/// The level a target sends a message of `level` at, or `None` when the
/// target filters it out.
pub(crate) fn effective_level(t: &LogTarget, level: u8) -> Option<u8> {
    (level <= t.level).then(|| level.max(t.min_level))
}

/// Frames `msg` for `t` into `out` (cleared first): header, message,
/// truncation to `len` (not for stdout/stderr, as HAProxy's fd targets),
/// and the final newline. `sd` is the structured data of an RFC 5424
/// header (`log-format-sd`); other formats have none.
pub(crate) fn frame(
    t: &LogTarget,
    level: u8,
    origin: &Origin<'_>,
    now: SystemTime,
    msg: &str,
    sd: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let pri = u32::from(t.facility) * 8 + u32::from(level);
    let mut head = String::new();
    match t.format {
        SyslogFormat::Local | SyslogFormat::Rfc3164 => {
            head.push_str(&format!("<{pri}>"));
            clock::rfc3164(now, &mut head);
            head.push(' ');
            // `log-send-hostname` turns the default into RFC 3164 (HAProxy);
            // RFC 3164 without it names "localhost", as HAProxy 2.6 does.
            if t.format == SyslogFormat::Rfc3164 || origin.hostname.is_some() {
                head.push_str(origin.hostname.unwrap_or("localhost"));
                head.push(' ');
            }
            head.push_str(&format!("{}[{}]: ", origin.tag, origin.pid));
        }
        SyslogFormat::Rfc5424 => {
            head.push_str(&format!("<{pri}>1 "));
            clock::rfc5424(now, &mut head);
            let host = origin.hostname.unwrap_or("-");
            head.push_str(&format!(" {host} {} {} - ", origin.tag, origin.pid));
            // HAProxy ends the structured data with a space, as it does `-`.
            head.push_str(sd.unwrap_or("-"));
            head.push(' ');
        }
        SyslogFormat::Short => head.push_str(&format!("<{level}>")),
        SyslogFormat::Priority => head.push_str(&format!("<{pri}>")),
        SyslogFormat::Timed => {
            head.push_str(&format!("<{level}>"));
            clock::rfc5424(now, &mut head);
            head.push(' ');
        }
        SyslogFormat::Iso => {
            clock::rfc5424(now, &mut head);
            head.push(' ');
        }
        SyslogFormat::Raw => {}
    }
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(msg.as_bytes());
    if !matches!(t.dest, LogDest::Stdout | LogDest::Stderr) {
        out.truncate(t.max_len);
    }
    out.push(b'\n');
}

/// An open destination.
pub(crate) enum Sink {
    Stdout,
    Stderr,
    Unix(UnixDatagram, std::path::PathBuf),
    Udp(UdpSocket, std::net::SocketAddr),
}

impl Sink {
    /// Opens the socket a target needs. Datagram sockets are non-blocking:
    /// a syslog daemon that does not keep up loses messages, it never
    /// slows the logger down.
    pub(crate) fn open(dest: &LogDest) -> io::Result<Sink> {
        Ok(match dest {
            LogDest::Stdout => Sink::Stdout,
            LogDest::Stderr => Sink::Stderr,
            LogDest::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.set_nonblocking(true)?;
                Sink::Unix(s, path.clone())
            }
            LogDest::Udp(addr) => {
                let any = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(any)?;
                s.set_nonblocking(true)?;
                Sink::Udp(s, *addr)
            }
        })
    }

    /// Sends one framed message. Stdout and stderr block the logger thread
    /// when their reader is slow; workers still never wait (the channel
    /// in front of the logger drops instead).
    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout => io::stdout().lock().write_all(buf),
            Sink::Stderr => io::stderr().lock().write_all(buf),
            Sink::Unix(s, path) => s.send_to(buf, path).map(drop),
            Sink::Udp(s, addr) => s.send_to(buf, *addr).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;
    use std::time::{Duration, UNIX_EPOCH};

    fn target(format: SyslogFormat, dest: LogDest) -> LogTarget {
        LogTarget {
            dest,
            max_len: 1024,
            format,
            facility: 19, // local3
            level: 7,
            min_level: 0,
            location: Location::default(),
        }
    }

    /// The header, with the date (which depends on the host's time zone)
    /// replaced by `DATE`.
    fn framed(format: SyslogFormat, hostname: Option<&str>) -> String {
        framed_sd(format, hostname, None)
    }

    fn framed_sd(format: SyslogFormat, hostname: Option<&str>, sd: Option<&str>) -> String {
        let t = target(format, LogDest::Udp("127.0.0.1:514".parse().unwrap()));
        let now = UNIX_EPOCH + Duration::from_micros(1_795_255_200_123_456);
        let origin = Origin {
            tag: "splicer",
            hostname,
            pid: 42,
        };
        let mut out = Vec::new();
        frame(&t, LEVEL_INFO, &origin, now, "msg", sd, &mut out);
        let text = String::from_utf8(out).unwrap();
        let mut date = String::new();
        match format {
            SyslogFormat::Local | SyslogFormat::Rfc3164 => clock::rfc3164(now, &mut date),
            _ => clock::rfc5424(now, &mut date),
        }
        text.replace(&date, "DATE")
    }

    #[test]
    fn framing_per_format() {
        let cases: &[(&str, SyslogFormat, Option<&str>, &str)] = &[
            (
                "local",
                SyslogFormat::Local,
                None,
                "<158>DATE splicer[42]: msg\n",
            ),
            (
                "local with log-send-hostname",
                SyslogFormat::Local,
                Some("lb1"),
                "<158>DATE lb1 splicer[42]: msg\n",
            ),
            (
                "rfc3164",
                SyslogFormat::Rfc3164,
                None,
                "<158>DATE localhost splicer[42]: msg\n",
            ),
            (
                "rfc3164 hostname",
                SyslogFormat::Rfc3164,
                Some("lb1"),
                "<158>DATE lb1 splicer[42]: msg\n",
            ),
            (
                "rfc5424",
                SyslogFormat::Rfc5424,
                None,
                "<158>1 DATE - splicer 42 - - msg\n",
            ),
            (
                "rfc5424 hostname",
                SyslogFormat::Rfc5424,
                Some("lb1"),
                "<158>1 DATE lb1 splicer 42 - - msg\n",
            ),
            ("short", SyslogFormat::Short, None, "<6>msg\n"),
            ("priority", SyslogFormat::Priority, None, "<158>msg\n"),
            ("timed", SyslogFormat::Timed, None, "<6>DATE msg\n"),
            ("iso", SyslogFormat::Iso, None, "DATE msg\n"),
            ("raw", SyslogFormat::Raw, None, "msg\n"),
        ];
        for (what, format, host, expected) in cases {
            assert_eq!(framed(*format, *host), *expected, "{what}");
        }
    }

    /// `log-format-sd` as HAProxy 2.6 frames it: after the MSGID `-`, with
    /// a space before the message; formats other than RFC 5424 drop it.
    #[test]
    fn structured_data_only_in_rfc5424() {
        let sd = Some("[x@1 a=\"b\"]");
        let cases: &[(SyslogFormat, &str)] = &[
            (
                SyslogFormat::Rfc5424,
                "<158>1 DATE - splicer 42 - [x@1 a=\"b\"] msg\n",
            ),
            (
                SyslogFormat::Rfc3164,
                "<158>DATE localhost splicer[42]: msg\n",
            ),
            (SyslogFormat::Local, "<158>DATE splicer[42]: msg\n"),
            (SyslogFormat::Raw, "msg\n"),
        ];
        for (format, expected) in cases {
            assert_eq!(framed_sd(*format, None, sd), *expected, "{format:?}");
        }
    }

    #[test]
    fn truncates_to_len_except_on_stdout() {
        let origin = Origin {
            tag: "t",
            hostname: None,
            pid: 1,
        };
        let long = "x".repeat(200);
        let mut out = Vec::new();
        let mut t = target(SyslogFormat::Raw, LogDest::Unix("/dev/log".into()));
        t.max_len = 80;
        frame(
            &t,
            LEVEL_INFO,
            &origin,
            SystemTime::now(),
            &long,
            None,
            &mut out,
        );
        assert_eq!(out.len(), 81, "80 bytes and the newline");
        t.dest = LogDest::Stdout;
        frame(
            &t,
            LEVEL_INFO,
            &origin,
            SystemTime::now(),
            &long,
            None,
            &mut out,
        );
        assert_eq!(out.len(), 201);
    }

    #[test]
    fn level_filter_and_cap() {
        let mut t = target(SyslogFormat::Raw, LogDest::Stdout);
        let cases: &[(u8, u8, u8, Option<u8>)] = &[
            // (target level, target minlevel, message level, sent at)
            (7, 0, LEVEL_INFO, Some(6)),
            (3, 0, LEVEL_INFO, None),
            (6, 0, LEVEL_INFO, Some(6)),
            (7, 5, LEVEL_INFO, Some(6)),
            (7, 5, 0, Some(5)),
        ];
        for (lvl, min, msg, expected) in cases {
            t.level = *lvl;
            t.min_level = *min;
            assert_eq!(effective_level(&t, *msg), *expected, "{lvl} {min} {msg}");
        }
    }
}
