//! The names of the general purpose counter and tag actions of
//! `tcp-request` / `tcp-response` rules (HAProxy 2.6 configuration
//! manual, 4.2): `sc-inc-gpc0[(SC)]`, `sc-inc-gpc1[(SC)]`,
//! `sc-inc-gpc(IDX,SC)`, `sc-set-gpt0[(SC)]`, `sc-set-gpt(IDX,SC)`, read
//! as HAProxy's `parse_inc_gpc` / `parse_set_gpt` read them, with their
//! messages. The rule parser hands the action word here.

use super::model::{DataType, STICK_COUNTERS};

/// What an `sc-inc-gpc*` / `sc-set-gpt*` word names: the stick counter,
/// the data type (`Gpc0`, `Gpc1`, `Gpc`, `Gpt0`, `Gpt`) and the element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Target {
    pub counter: usize,
    pub data: DataType,
    pub idx: usize,
}

/// `sc-inc-gpc0`, `sc-inc-gpc1(SC)`, `sc-inc-gpc(IDX,SC)`.
pub(super) fn inc_gpc(word: &str) -> Result<Target, String> {
    let rest = word.strip_prefix("sc-inc-gpc").unwrap_or("");
    if let Some(args) = rest.strip_prefix('(') {
        let (idx, counter) = indexed(word, args, "gpc", "sc-inc-gpc(<GPC ID>,<Track ID>)")?;
        return Ok(Target {
            counter,
            data: DataType::Gpc,
            idx,
        });
    }
    let data = match rest.as_bytes().first() {
        Some(b'0') => DataType::Gpc0,
        Some(b'1') => DataType::Gpc1,
        _ => {
            return Err(format!(
                "invalid gpc ID '{word}'. Expects sc-set-gpc(<GPC ID>,<Track ID>)"
            ));
        }
    };
    let counter = match &rest[1..] {
        "" => 0,
        tail => {
            let expects = format!("invalid stick table track ID. Expects {word}(<Track ID>)");
            let (n, after) = tail.strip_prefix('(').map(strtol).ok_or(&expects)?;
            if !after.starts_with(')') {
                return Err(expects);
            }
            track_id(n).ok_or_else(|| {
                format!(
                    "invalid stick table track ID. The max allowed ID is {}",
                    STICK_COUNTERS - 1
                )
            })?
        }
    };
    Ok(Target {
        counter,
        data,
        idx: 0,
    })
}

/// `sc-set-gpt0`, `sc-set-gpt0(SC)`, `sc-set-gpt(IDX,SC)`.
pub(super) fn set_gpt(word: &str) -> Result<Target, String> {
    let rest = word.strip_prefix("sc-set-gpt").unwrap_or("");
    if let Some(args) = rest.strip_prefix('(') {
        let (idx, counter) = indexed(word, args, "gpt", "sc-set-gpt(<GPT ID>,<Track ID>)")?;
        return Ok(Target {
            counter,
            data: DataType::Gpt,
            idx,
        });
    }
    if !rest.starts_with('0') {
        return Err(format!(
            "invalid gpt ID '{word}'. Expects sc-set-gpt(<GPT ID>,<Track ID>)"
        ));
    }
    let counter = match &rest[1..] {
        "" => 0,
        tail => {
            let expects =
                format!("invalid stick table track ID '{word}'. Expects sc-set-gpt0(<Track ID>)");
            let (n, after) = tail.strip_prefix('(').map(strtol).ok_or(&expects)?;
            if !after.starts_with(')') {
                return Err(expects);
            }
            track_id(n).ok_or_else(|| {
                format!(
                    "invalid stick table track ID '{word}'. The max allowed ID is {}",
                    STICK_COUNTERS - 1
                )
            })?
        }
    };
    Ok(Target {
        counter,
        data: DataType::Gpt0,
        idx: 0,
    })
}

/// `IDX,SC)` of `sc-inc-gpc(` / `sc-set-gpt(`.
fn indexed(word: &str, args: &str, what: &str, form: &str) -> Result<(usize, usize), String> {
    let (idx, after) = strtol(args);
    let Some(args) = after.strip_prefix(',') else {
        return Err(format!("Missing {what} ID '{word}'. Expects {form}"));
    };
    // strtoul: a negative index wraps to one no table has.
    let idx = usize::try_from(idx).unwrap_or(usize::MAX);
    let (n, after) = strtol(args);
    if !after.starts_with(')') {
        return Err(format!(
            "invalid stick table track ID '{word}'. Expects {form}"
        ));
    }
    let counter = track_id(n).ok_or_else(|| {
        format!(
            "invalid stick table track ID '{word}'. The max allowed ID is {}",
            STICK_COUNTERS - 1
        )
    })?;
    Ok((idx, counter))
}

fn track_id(n: i64) -> Option<usize> {
    usize::try_from(n).ok().filter(|n| *n < STICK_COUNTERS)
}

/// C's `strtol` in base 10: blanks, a sign, the digits (0 when none), and
/// what follows them.
fn strtol(s: &str) -> (i64, &str) {
    let t = s.trim_start();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = body.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return (0, s);
    }
    let v = body[..n].bytes().fold(0i64, |v, d| {
        v.saturating_mul(10).saturating_add((d - b'0') as i64)
    });
    (if neg { -v } else { v }, &body[n..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    fn t(counter: usize, data: DataType, idx: usize) -> Target {
        Target { counter, data, idx }
    }

    #[test]
    fn names_read_as_haproxy_reads_them() {
        let cases: &[(&str, Result<Target, &str>)] = &[
            ("sc-inc-gpc0", Ok(t(0, Gpc0, 0))),
            ("sc-inc-gpc1(2)", Ok(t(2, Gpc1, 0))),
            ("sc-inc-gpc(7,1)", Ok(t(1, Gpc, 7))),
            ("sc-inc-gpc(,1)", Ok(t(1, Gpc, 0))),
            ("sc-set-gpt0", Ok(t(0, Gpt0, 0))),
            ("sc-set-gpt0(1)", Ok(t(1, Gpt0, 0))),
            ("sc-set-gpt(99,2)", Ok(t(2, Gpt, 99))),
            (
                "sc-inc-gpc(1,3)",
                Err("invalid stick table track ID 'sc-inc-gpc(1,3)'. The max allowed ID is 2"),
            ),
            (
                "sc-inc-gpc(x,0)",
                Err("Missing gpc ID 'sc-inc-gpc(x,0)'. Expects sc-inc-gpc(<GPC ID>,<Track ID>)"),
            ),
            (
                "sc-inc-gpc(1)",
                Err("Missing gpc ID 'sc-inc-gpc(1)'. Expects sc-inc-gpc(<GPC ID>,<Track ID>)"),
            ),
            (
                "sc-inc-gpc(1,a)",
                Err(
                    "invalid stick table track ID 'sc-inc-gpc(1,a)'. Expects sc-inc-gpc(<GPC ID>,<Track ID>)",
                ),
            ),
            (
                "sc-inc-gpc2",
                Err("invalid gpc ID 'sc-inc-gpc2'. Expects sc-set-gpc(<GPC ID>,<Track ID>)"),
            ),
            (
                "sc-inc-gpc0(3)",
                Err("invalid stick table track ID. The max allowed ID is 2"),
            ),
            (
                "sc-inc-gpc1[0]",
                Err("invalid stick table track ID. Expects sc-inc-gpc1[0](<Track ID>)"),
            ),
            (
                "sc-set-gpt1",
                Err("invalid gpt ID 'sc-set-gpt1'. Expects sc-set-gpt(<GPT ID>,<Track ID>)"),
            ),
            (
                "sc-set-gpt0(5)",
                Err("invalid stick table track ID 'sc-set-gpt0(5)'. The max allowed ID is 2"),
            ),
            (
                "sc-set-gpt0(x)",
                Err(
                    "invalid stick table track ID 'sc-set-gpt0(x)'. Expects sc-set-gpt0(<Track ID>)",
                ),
            ),
            (
                "sc-set-gpt(1,9)",
                Err("invalid stick table track ID 'sc-set-gpt(1,9)'. The max allowed ID is 2"),
            ),
        ];
        for (word, want) in cases {
            let got = if word.starts_with("sc-inc") {
                inc_gpc(word)
            } else {
                set_gpt(word)
            };
            assert_eq!(got, want.map_err(String::from), "{word}");
        }
    }
}
