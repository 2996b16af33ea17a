//! `cpu-map [auto:]PROCESS[/THREAD] CPU...` (HAProxy 2.6): which CPUs each
//! worker thread may run on. splicer is one process, so a rule applies
//! when its process set holds process 1 (`1`, `all`, `odd`, a range from
//! 1); the thread set picks workers (thread N is worker N-1), and without
//! one every worker gets the whole CPU set. `auto:` hands out the CPUs one
//! per thread, in order.

use super::model::{CpuRule, Location};
use super::parser::Diags;

/// Highest process, thread and CPU numbers (HAProxy's LONGBITS).
const MAX_SET: usize = 64;

/// HAProxy's message for a line with too few words.
const USAGE: &str = "cpu-map expects a process number  ('all', 'odd', 'even', a number from 1 to 64 or a range),  followed by a list of CPU ranges with numbers from 0 to 63.";

/// `1`, `1-4`, `all`, `odd`, `even` (numbers from 1 to 64).
fn id_set(text: &str) -> Result<Vec<usize>, String> {
    let all = 1..=MAX_SET;
    match text {
        "all" => return Ok(all.collect()),
        "odd" => return Ok(all.filter(|n| n % 2 == 1).collect()),
        "even" => return Ok(all.filter(|n| n % 2 == 0).collect()),
        _ => {}
    }
    let bad = || {
        format!(
            "cpu-map : '{text}' is not a valid number/range. It supports numbers from 1 to {MAX_SET}."
        )
    };
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let lo: usize = lo.parse().map_err(|_| bad())?;
    let hi: usize = hi.parse().map_err(|_| bad())?;
    if lo == 0 || hi > MAX_SET || lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).collect())
}

/// CPU ranges `0`, `0-3` (numbers from 0 to 63), one or more words.
fn cpu_set(words: &[String]) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for w in words {
        let bad = || format!("cpu-map : '{w}' is not a CPU range.");
        let (lo, hi) = w.split_once('-').unwrap_or((w, w));
        let lo: usize = lo.parse().map_err(|_| bad())?;
        let hi: usize = hi.parse().map_err(|_| bad())?;
        if hi >= MAX_SET || lo > hi {
            return Err(bad());
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One `cpu-map` line into [`CpuRule`]s (none when it is for another
/// process).
pub(super) fn parse(rules: &mut Vec<CpuRule>, words: &[String], loc: &Location, d: &mut Diags) {
    let (Some(target), true) = (words.get(1), words.len() > 2) else {
        return d.error(loc, USAGE);
    };
    let (auto, target) = match target.strip_prefix("auto:") {
        Some(t) => (true, t),
        None => (false, target.as_str()),
    };
    let (process, thread) = match target.split_once('/') {
        Some((p, t)) => (p, Some(t)),
        None => (target, None),
    };
    let parsed = id_set(process).and_then(|p| {
        let threads = thread.map(id_set).transpose()?;
        Ok((p, threads, cpu_set(&words[2..])?))
    });
    let (processes, threads, cpus) = match parsed {
        Ok(v) => v,
        Err(e) => return d.error(loc, e),
    };
    if !processes.contains(&1) {
        return;
    }
    // Without a thread set the rule is for the process: every thread.
    let threads = threads.unwrap_or_else(|| (1..=MAX_SET).collect());
    if !auto {
        return rules.extend(threads.into_iter().map(|t| CpuRule {
            thread: t,
            cpus: cpus.clone(),
        }));
    }
    let explicit = thread.is_some_and(|t| !matches!(t, "all" | "odd" | "even"));
    if explicit && threads.len() != cpus.len() {
        return d.error(
            loc,
            "cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound",
        );
    }
    rules.extend(threads.into_iter().zip(cpus).map(|(t, c)| CpuRule {
        thread: t,
        cpus: vec![c],
    }));
}

/// The CPUs worker `worker` (0-based) is bound to: the last rule for its
/// thread number wins, as later lines override earlier ones.
pub(crate) fn cpus_of(rules: &[CpuRule], worker: usize) -> Option<&[usize]> {
    rules
        .iter()
        .rev()
        .find(|r| r.thread == worker + 1)
        .map(|r| r.cpus.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(line: &str) -> Result<Vec<CpuRule>, String> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let mut d = Diags::default();
        let mut out = Vec::new();
        parse(&mut out, &words, &Location::default(), &mut d);
        match d.errors.first() {
            Some(e) => Err(e.message.clone()),
            None => Ok(out),
        }
    }

    #[test]
    fn lines_bind_workers_as_haproxy_does() {
        // (line, CPUs of threads 1 and 2)
        let cases: &[(&str, [Option<&[usize]>; 2])] = &[
            ("cpu-map 1/1 0", [Some(&[0]), None]),
            ("cpu-map 1/all 0-1", [Some(&[0, 1]), Some(&[0, 1])]),
            ("cpu-map auto:1/1-2 0-1", [Some(&[0]), Some(&[1])]),
            ("cpu-map 1 0 1", [Some(&[0, 1]), Some(&[0, 1])]),
            ("cpu-map all 3", [Some(&[3]), Some(&[3])]),
            ("cpu-map 2/1 0", [None, None]),
            ("cpu-map even/1 0", [None, None]),
            ("cpu-map odd/2 5", [None, Some(&[5])]),
            ("cpu-map 1/1-2 0 1", [Some(&[0, 1]), Some(&[0, 1])]),
        ];
        for (line, want) in cases {
            let r = rules(line).unwrap();
            assert_eq!([cpus_of(&r, 0), cpus_of(&r, 1)], *want, "{line}");
        }
    }

    #[test]
    fn haproxy_messages() {
        let cases = [
            (
                "cpu-map 1/65 0",
                "cpu-map : '65' is not a valid number/range. It supports numbers from 1 to 64.",
            ),
            (
                "cpu-map auto:1/1-2 0-2",
                "cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound",
            ),
            ("cpu-map 1/1", USAGE),
            ("cpu-map 1/1 x", "cpu-map : 'x' is not a CPU range."),
            (
                "cpu-map 0/1 0",
                "cpu-map : '0' is not a valid number/range. It supports numbers from 1 to 64.",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(rules(line).unwrap_err(), want, "{line}");
        }
    }
}
