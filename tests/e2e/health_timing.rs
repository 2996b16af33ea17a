//! The health state machine in time: `rise`/`fall` count consecutive
//! results (one failure is enough from the start-up state), `inter`,
//! `fastinter` and `downinter` pace the checks, `slowstart` ramps a
//! returning server's share up, and `observe layer4` marks a server DOWN
//! from live-traffic errors before any check notices.
//!
//! Timing assertions are one-sided where the machine's speed could matter:
//! a check can be late on a busy machine, never early.

use std::time::{Duration, Instant};

use crate::common::fake::{FakeWeb, start_web, web};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Index of the first log line containing all of `pats`.
fn position(sp: &Splicer, pats: &[&str]) -> usize {
    sp.log_lines("")
        .iter()
        .position(|l| pats.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no line with {pats:?}:\n{}", sp.log_text()))
}

/// Log lines containing `pat` between lines `from` and `to`.
fn count_between(sp: &Splicer, pat: &str, from: usize, to: usize) -> usize {
    sp.log_lines("")
        .iter()
        .skip(from)
        .take(to - from)
        .filter(|l| l.contains(pat))
        .count()
}

#[test]
fn fall_and_rise_count_consecutive_checks() {
    let w1 = FakeWeb::start("w1");
    let sp = start_web(&web(
        "    option log-health-checks",
        &[(&w1, "check inter 100ms rise 3 fall 3")],
    ));
    // The first success takes the server to full health.
    sp.wait_log(
        &["Health check for server web/w1 succeeded", "status: 3/3 UP"],
        LIMIT,
    );
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN."], LIMIT);
    let first_fail = position(&sp, &["Health check for server web/w1 failed"]);
    let down = position(&sp, &["Server web/w1 is DOWN."]);
    assert_eq!(
        count_between(
            &sp,
            "Health check for server web/w1 failed",
            first_fail,
            down
        ),
        3,
        "DOWN after other than `fall 3` failures:\n{}",
        sp.log_text()
    );
    sp.wait_log(&["failed", "status: 0/3 DOWN"], LIMIT);

    w1.heal();
    sp.wait_log(&["Server web/w1 is UP."], LIMIT);
    let first_ok = position(&sp, &["Health check for server web/w1 succeeded", "DOWN"]);
    let up = position(&sp, &["Server web/w1 is UP."]);
    assert_eq!(
        count_between(
            &sp,
            "Health check for server web/w1 succeeded",
            first_ok,
            up
        ),
        3,
        "UP after other than `rise 3` successes:\n{}",
        sp.log_text()
    );
    for status in ["1/3 DOWN", "2/3 DOWN", "3/3 UP"] {
        assert_eq!(
            count_between(&sp, status, first_ok, up + 1),
            1,
            "{status}:\n{}",
            sp.log_text()
        );
    }
}

/// A checked server starts UP, but on the edge: its very first failure,
/// whatever `fall` says, marks it DOWN.
#[test]
fn first_failure_after_start_is_enough() {
    let w1 = FakeWeb::start("w1");
    w1.sick();
    let sp = start_web(&web(
        "    option log-health-checks",
        &[(&w1, "check inter 100ms rise 2 fall 3")],
    ));
    sp.wait_log(&["Server web/w1 is DOWN."], LIMIT);
    let down = position(&sp, &["Server web/w1 is DOWN."]);
    assert_eq!(
        count_between(&sp, "Health check for server web/w1 failed", 0, down),
        1,
        "{}",
        sp.log_text()
    );
}

/// `inter` paces an UP server, `fastinter` a server changing state,
/// `downinter` a DOWN one. With `inter 3s`, anything that takes a fraction
/// of that could only come from the short intervals.
#[test]
fn inter_fastinter_downinter_pace_the_checks() {
    let w1 = FakeWeb::start("w1");
    let sp = start_web(&web(
        "",
        &[(
            &w1,
            "check inter 3s fastinter 100ms downinter 100ms rise 2 fall 2",
        )],
    ));
    // UP and healthy: one check per `inter`.
    w1.wait_checks(1);
    let t0 = Instant::now();
    w1.wait_checks(1);
    assert!(
        t0.elapsed() >= Duration::from_millis(2700),
        "an UP server was checked after {:?}, not `inter 3s`",
        t0.elapsed()
    );
    // The first failure comes at the `inter` pace; the second, which makes
    // it DOWN, at the `fastinter` pace.
    w1.sick();
    w1.wait_checks(1);
    let first_failure = Instant::now();
    sp.wait_log(&["Server web/w1 is DOWN"], LIMIT);
    assert!(
        first_failure.elapsed() < Duration::from_millis(2500),
        "the confirming check came after {:?}: fastinter ignored",
        first_failure.elapsed()
    );
    // DOWN: checked every `downinter`; 10 checks at `inter` would take 30 s.
    let t0 = Instant::now();
    w1.wait_checks(10);
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    // Healed: `downinter` then `fastinter` bring it UP well within `inter`.
    w1.heal();
    let healed = Instant::now();
    sp.wait_log(&["Server web/w1 is UP"], LIMIT);
    assert!(
        healed.elapsed() < Duration::from_millis(2500),
        "UP after {:?}",
        healed.elapsed()
    );
}

/// `slowstart 4s`: a server coming back UP starts with a small share of the
/// new sessions and reaches its fair share (half) after the window.
#[test]
fn slowstart_ramps_a_returning_server() {
    let [w1, w2] = ["w1", "w2"].map(FakeWeb::start);
    let params = "check inter 200ms rise 2 fall 2 weight 100 slowstart 4s";
    let sp = start_web(&web(
        "    balance roundrobin",
        &[(&w1, params), (&w2, params)],
    ));
    let fe = sp.addr("web");
    let share = |n: usize| http_tally(fe, n).get("w2").copied().unwrap_or(0);
    assert!(share(40).abs_diff(20) <= 2);
    w2.sick();
    sp.wait_log(&["Server web/w2 is DOWN"], LIMIT);
    w2.heal();
    sp.wait_log(&["Server web/w2 is UP"], LIMIT);
    let up = Instant::now();
    let early = share(40);
    assert!(
        early < 10 && up.elapsed() < Duration::from_secs(2),
        "w2 took {early} of 40 within {:?} of coming back (fair: 20)",
        up.elapsed()
    );
    // Batches of 40 until the share is about fair: bounded by LIMIT + the
    // window.
    let mut last = early;
    wait_for(
        "w2 to reach its fair share",
        LIMIT + Duration::from_secs(4),
        || {
            last = share(40);
            last >= 17
        },
    );
    assert!(
        up.elapsed() >= Duration::from_secs(1),
        "fair share after only {:?}: no ramp",
        up.elapsed()
    );
}

/// `observe layer4 error-limit 3 on-error mark-down`: connection errors of
/// live traffic mark the server DOWN. Its check goes to a live port (`port`)
/// and runs every minute, so the check cannot be what marks it DOWN; with
/// `retries` and `redispatch` no client notices.
#[test]
fn observe_layer4_marks_down_from_traffic() {
    let live = FakeWeb::start("live");
    let dead = dead_addr();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "listen web\n    bind 127.0.0.1:0\n    balance roundrobin\n    retries 3\n    \
                 option redispatch\n    \
                 server bad {dead} check inter 60s port {} observe layer4 error-limit 3 \
                 on-error mark-down\n    \
                 server live {} check inter 60s\n",
                live.addr().port(),
                live.addr()
            ),
        ),
        &["web"],
    );
    let fe = sp.addr("web");
    let mut answered = 0;
    for _ in 0..30 {
        assert_eq!(served_by(fe).unwrap(), "live");
        answered += 1;
        if !sp.log_lines("Server web/bad is DOWN").is_empty() {
            break;
        }
    }
    let down = sp.wait_log(&["Server web/bad is DOWN"], LIMIT);
    for part in ["reason: Health analyze", "3 consecutive errors", "L4"] {
        assert!(down.contains(part), "{part:?} missing in {down:?}");
    }
    assert!(answered < 30, "still not DOWN after 30 sessions");
    assert!(sp.log_lines("Server web/live is DOWN").is_empty());
}

/// `max-spread-checks`: the first checks of a farm start within that delay
/// instead of being spread over the check interval (here 60 s: without it,
/// the fourth server would wait 45 s for its first check).
#[test]
fn max_spread_checks_bounds_the_first_checks() {
    let ws: Vec<FakeWeb> = ["w1", "w2", "w3", "w4"]
        .into_iter()
        .map(FakeWeb::start)
        .collect();
    let servers: Vec<(&FakeWeb, &str)> = ws.iter().map(|w| (w, "check inter 60s")).collect();
    let _sp = Splicer::start(
        &config("    max-spread-checks 400ms", "", &web("", &servers)),
        &["web"],
    );
    let t0 = Instant::now();
    wait_for("every server's first check", LIMIT, || {
        ws.iter().all(|w| w.checks() >= 1)
    });
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}
