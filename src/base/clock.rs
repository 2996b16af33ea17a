//! The process clock ([`now_ms`]) and dates as HAProxy's logs print them:
//! `%t` (`21/Nov/2026:10:00:00.123`), `%T` / `%Tl` (`21/Nov/2026:10:00:00
//! +0000`), and the syslog headers' `Nov 21 10:00:00` (RFC 3164) and
//! `2026-11-21T10:00:00.123456+00:00` (RFC 5424). Local time comes from the
//! C library (the TZ rules of the host, through `sys`), everything else is
//! plain arithmetic.

use std::fmt::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the process's first call: the clock for state that
/// crosses threads in atomics.
pub(crate) fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    Instant::now().duration_since(epoch).as_millis() as u64
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// Seconds east of UTC.
    pub offset: i64,
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

pub(crate) fn millis(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis())
}

fn micros(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros())
}

/// UTC date of a Unix time (days-to-civil on the proleptic Gregorian
/// calendar, with eras of 400 years so that the leap rules repeat).
pub(crate) fn utc(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        min: (rem % 3600 / 60) as u32,
        sec: (rem % 60) as u32,
        offset: 0,
    }
}

/// The host's local date of a Unix time; UTC if the C library cannot say.
pub(crate) fn local(secs: i64) -> Civil {
    let Some(tm) = crate::sys::localtime(secs) else {
        return utc(secs);
    };
    Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
        offset: tm.tm_gmtoff,
    }
}

fn month(c: &Civil) -> &'static str {
    MONTHS[(c.month as usize).saturating_sub(1) % 12]
}

/// `21/Nov/2026:10:00:00`
fn dmy_hms(c: &Civil, out: &mut String) {
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}",
        c.day,
        month(c),
        c.year,
        c.hour,
        c.min,
        c.sec
    );
}

/// `+0100` (HAProxy's `%T`/`%Tl` style) or `+01:00` (RFC 5424).
fn offset(c: &Civil, colon: bool, out: &mut String) {
    let sign = if c.offset < 0 { '-' } else { '+' };
    let m = c.offset.abs() / 60;
    let sep = if colon { ":" } else { "" };
    let _ = write!(out, "{sign}{:02}{sep}{:02}", m / 60, m % 60);
}

/// `%t`: local time with milliseconds.
pub(crate) fn accept_date(t: SystemTime, out: &mut String) {
    dmy_hms(&local(unix_secs(t)), out);
    let _ = write!(out, ".{:03}", millis(t));
}

/// `%T`: GMT.
pub(crate) fn gmt_date(t: SystemTime, out: &mut String) {
    dmy_hms(&utc(unix_secs(t)), out);
    out.push_str(" +0000");
}

/// `%Tl`: local time and its offset.
pub(crate) fn local_date(t: SystemTime, out: &mut String) {
    let c = local(unix_secs(t));
    dmy_hms(&c, out);
    out.push(' ');
    offset(&c, false, out);
}

/// RFC 3164 header date: `Nov  1 10:00:00` (day padded with a space).
pub(crate) fn rfc3164(t: SystemTime, out: &mut String) {
    let c = local(unix_secs(t));
    let _ = write!(
        out,
        "{} {:2} {:02}:{:02}:{:02}",
        month(&c),
        c.day,
        c.hour,
        c.min,
        c.sec
    );
}

/// RFC 5424 / ISO 8601 date with microseconds and the local offset.
pub(crate) fn rfc5424(t: SystemTime, out: &mut String) {
    let c = local(unix_secs(t));
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.min,
        c.sec,
        micros(t)
    );
    offset(&c, true, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates() {
        type Ymdhms = (i64, u32, u32, u32, u32, u32);
        let cases: &[(&str, i64, Ymdhms)] = &[
            ("epoch", 0, (1970, 1, 1, 0, 0, 0)),
            ("before epoch", -1, (1969, 12, 31, 23, 59, 59)),
            ("leap day 2000", 951_782_400, (2000, 2, 29, 0, 0, 0)),
            ("end of 1999", 946_684_799, (1999, 12, 31, 23, 59, 59)),
            (
                "2026-11-21 10:00:00",
                1_795_255_200,
                (2026, 11, 21, 10, 0, 0),
            ),
            ("2100 is not leap", 4_107_542_400, (2100, 3, 1, 0, 0, 0)),
        ];
        for (what, secs, (y, mo, d, h, mi, s)) in cases {
            let c = utc(*secs);
            assert_eq!(
                (c.year, c.month, c.day, c.hour, c.min, c.sec),
                (*y, *mo, *d, *h, *mi, *s),
                "{what}"
            );
        }
    }

    #[test]
    fn haproxy_styles() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_255_200_123);
        let mut out = String::new();
        gmt_date(t, &mut out);
        assert_eq!(out, "21/Nov/2026:10:00:00 +0000");
        let c = Civil {
            year: 2026,
            month: 3,
            day: 5,
            hour: 1,
            min: 2,
            sec: 3,
            offset: -(5 * 3600 + 30 * 60),
        };
        let mut out = String::new();
        dmy_hms(&c, &mut out);
        offset(&c, false, &mut out);
        offset(&c, true, &mut out);
        assert_eq!(out, "05/Mar/2026:01:02:03-0530-05:30");
    }

    #[test]
    fn local_agrees_with_utc_plus_offset() {
        let secs = 1_795_255_200;
        let l = local(secs);
        let back = utc(secs + l.offset);
        assert_eq!(
            (back.year, back.month, back.day, back.hour, back.min),
            (l.year, l.month, l.day, l.hour, l.min)
        );
    }
}
