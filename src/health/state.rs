//! HAProxy's health counter: one number from 0 to `rise + fall - 1`. The
//! server is UP while it is at least `rise`. A failure takes one off while
//! the server is above `rise`, otherwise the server goes DOWN (counter 0);
//! a success adds one, and once at `rise` or above the counter goes to its
//! top (a success always restores an UP server's whole margin). A server starts UP at `rise`, so one failed check
//! marks a dead server DOWN right after start-up, as HAProxy does.

use std::time::Duration;

use crate::config::CheckParams;

/// What a check result did to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    None,
    WentUp,
    WentDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    value: u32,
    rise: u32,
    fall: u32,
}

impl Health {
    pub(crate) fn new(rise: u32, fall: u32) -> Self {
        let rise = rise.max(1);
        Health {
            value: rise,
            rise,
            fall: fall.max(1),
        }
    }

    /// A counter that goes on from `value` (a reload keeps what the
    /// previous checks learnt), capped at the top.
    pub(crate) fn resume(rise: u32, fall: u32, value: u32) -> Self {
        let mut h = Health::new(rise, fall);
        h.value = value.min(h.top());
        h
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    pub(crate) fn is_up(&self) -> bool {
        self.value >= self.rise
    }

    pub(crate) fn value(&self) -> u32 {
        self.value
    }

    pub(crate) fn record(&mut self, passed: bool) -> Change {
        let was_up = self.is_up();
        if passed {
            self.value += 1;
            if self.is_up() {
                // Any success of an UP server restores its whole margin.
                self.value = self.top();
                if !was_up {
                    return Change::WentUp;
                }
            }
        } else if self.value > self.rise {
            self.value -= 1;
        } else {
            self.value = 0;
            if was_up {
                return Change::WentDown;
            }
        }
        Change::None
    }

    /// `on-error sudden-death`: the next failure will be fatal.
    pub(crate) fn sudden_death(&mut self) {
        if self.is_up() {
            self.value = self.rise;
        }
    }

    /// `on-error mark-down`, agent `down`: DOWN now.
    pub(crate) fn force_down(&mut self) -> Change {
        let was_up = self.is_up();
        self.value = 0;
        if was_up {
            Change::WentDown
        } else {
            Change::None
        }
    }

    /// `status: 1/2 DOWN` / `status: 3/3 UP`, as HAProxy prints it.
    pub(crate) fn status_text(&self) -> String {
        if self.is_up() {
            format!("{}/{} UP", self.value - self.rise + 1, self.fall)
        } else {
            format!("{}/{} DOWN", self.value, self.rise)
        }
    }

    /// Time to the next check: `inter` when fully up, `downinter` when
    /// fully down, `fastinter` in between (each falling back to `inter`).
    pub(crate) fn interval(&self, p: &CheckParams) -> Duration {
        if self.value == self.top() {
            p.inter
        } else if self.value == 0 {
            p.downinter.unwrap_or(p.inter)
        } else {
            p.fastinter.unwrap_or(p.inter)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall_follow_haproxy() {
        // (description, rise, fall, results, changes, final status text)
        type Case<'a> = (&'a str, u32, u32, &'a [bool], &'a [Change], &'a str);
        use Change::*;
        let cases: &[Case] = &[
            (
                "a dead server at start-up is down after one check",
                2,
                3,
                &[false],
                &[WentDown],
                "0/2 DOWN",
            ),
            (
                "rise successes bring it up, at the top",
                2,
                3,
                &[false, true, true],
                &[WentDown, None, WentUp],
                "3/3 UP",
            ),
            (
                "fall failures take a settled server down",
                2,
                3,
                &[false, true, true, false, false, false],
                &[WentDown, None, WentUp, None, None, WentDown],
                "0/2 DOWN",
            ),
            (
                "a success in between restores the margin",
                2,
                3,
                &[false, true, true, false, false, true, false],
                &[WentDown, None, WentUp, None, None, None, None],
                "2/3 UP",
            ),
            (
                "rise 1 fall 1 flips on every result",
                1,
                1,
                &[true, false, true],
                &[None, WentDown, WentUp],
                "1/1 UP",
            ),
        ];
        for (what, rise, fall, results, changes, text) in cases {
            let mut h = Health::new(*rise, *fall);
            let got: Vec<Change> = results.iter().map(|r| h.record(*r)).collect();
            assert_eq!(&got, changes, "{what}");
            assert_eq!(h.status_text(), *text, "{what}");
        }
    }

    #[test]
    fn intervals_and_forced_states() {
        let p = CheckParams {
            inter: Duration::from_secs(2),
            fastinter: Some(Duration::from_millis(500)),
            downinter: Some(Duration::from_secs(5)),
            ..CheckParams::default()
        };
        let mut h = Health::new(2, 3);
        assert_eq!(
            h.interval(&p),
            p.fastinter.unwrap(),
            "start-up is transitional"
        );
        h.record(true);
        h.record(true);
        assert_eq!(h.interval(&p), p.inter, "fully up");
        h.sudden_death();
        assert!(h.is_up());
        assert_eq!(
            h.record(false),
            Change::WentDown,
            "sudden death: one more failure"
        );
        assert_eq!(h.interval(&p), p.downinter.unwrap(), "fully down");
        assert_eq!(h.force_down(), Change::None, "already down");
    }
}
