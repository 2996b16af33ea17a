//! The state machine on a fake clock: one machine fed events by hand, and
//! small simulated LANs where the machines' advertisements reach each
//! other (or not, during a partition) after a fixed delay.

use super::*;

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 12);
/// 100 ms, as in the example.
const ADVERT_CS: u16 = 10;
/// Time an advertisement takes to reach the other routers.
const LATENCY: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn advert(priority: u8) -> Advert {
    Advert {
        vrid: 51,
        priority,
        interval_cs: ADVERT_CS,
        addrs: vec![Ipv4Addr::new(198, 51, 100, 100)],
    }
}

fn transitions(actions: &[Action]) -> Vec<(State, State)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transition { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn timers_follow_the_rfc_formulas() {
    let m = Machine::new(150, ADVERT_CS, Preempt::Yes, A_IP);
    // Skew = (256 - 150) * 100 ms / 256 = 41.40625 ms.
    assert_eq!(m.skew_time(), Duration::from_micros(41_406));
    assert_eq!(m.master_down_interval(), Duration::from_micros(341_406));
    let m = Machine::new(100, 100, Preempt::Yes, A_IP);
    assert_eq!(m.skew_time(), Duration::from_micros(609_375));
    assert_eq!(m.master_down_interval(), Duration::from_micros(3_609_375));
}

#[test]
fn backup_becomes_master_after_master_down_interval() {
    let t0 = Instant::now();
    let mut m = Machine::new(150, ADVERT_CS, Preempt::Yes, A_IP);
    let mut out = Vec::new();
    m.start(t0, &mut out);
    assert_eq!(transitions(&out), [(State::Init, State::Backup)]);
    assert_eq!(m.deadline(), Some(t0 + Duration::from_micros(341_406)));
    out.clear();
    m.tick(t0 + ms(341), &mut out);
    assert!(out.is_empty(), "fired early: {out:?}");
    m.tick(t0 + ms(342), &mut out);
    assert_eq!(out[0], Action::Send { priority: 150 });
    assert_eq!(out[1], Action::TakeVips);
    assert!(matches!(
        &out[2],
        Action::Transition {
            to: State::Master,
            reason: Reason::MasterDown { last: None, .. },
            ..
        }
    ));
    // Then one advertisement per interval.
    out.clear();
    m.tick(t0 + ms(441), &mut out);
    assert!(out.is_empty());
    m.tick(t0 + ms(442), &mut out);
    assert_eq!(out, [Action::Send { priority: 150 }]);
}

#[test]
fn backup_learns_the_masters_interval_and_keeps_waiting() {
    let t0 = Instant::now();
    // Our own interval is 1 s; the master advertises every 100 ms.
    let mut m = Machine::new(100, 100, Preempt::Yes, A_IP);
    let mut out = Vec::new();
    m.start(t0, &mut out);
    let mut t = t0;
    for _ in 0..50 {
        t += ms(100);
        m.tick(t, &mut out);
        m.advert(t, B_IP, &advert(200), &mut out);
    }
    assert_eq!(m.state(), State::Backup);
    assert_eq!(m.master(), Some((B_IP, 200)));
    assert_eq!(m.master_adver_interval(), ms(100));
    // 3 * 100 ms + (156 * 100 ms / 256) after the last advertisement.
    assert_eq!(m.deadline(), Some(t + Duration::from_micros(360_937)));
}

#[test]
fn priority_zero_makes_the_backup_take_over_after_skew_time() {
    let t0 = Instant::now();
    let mut m = Machine::new(100, ADVERT_CS, Preempt::Yes, A_IP);
    let mut out = Vec::new();
    m.start(t0, &mut out);
    m.advert(t0 + ms(50), B_IP, &advert(200), &mut out);
    m.advert(t0 + ms(80), B_IP, &advert(0), &mut out);
    assert_eq!(
        m.deadline(),
        Some(t0 + ms(80) + Duration::from_micros(60_937))
    );
    out.clear();
    m.tick(t0 + ms(141), &mut out);
    assert_eq!(m.state(), State::Master);
    assert!(matches!(
        out.last(),
        Some(Action::Transition {
            reason: Reason::MasterStopped { master: B_IP },
            ..
        })
    ));
}

#[test]
fn master_yields_to_higher_priority_and_to_higher_address_on_a_tie() {
    // (description, local priority, advert priority, sender, yields)
    let cases: &[(&str, u8, u8, Ipv4Addr, bool)] = &[
        (
            "higher priority",
            100,
            101,
            Ipv4Addr::new(198, 51, 100, 1),
            true,
        ),
        (
            "lower priority",
            100,
            99,
            Ipv4Addr::new(198, 51, 100, 200),
            false,
        ),
        ("tie, higher address", 100, 100, B_IP, true),
        (
            "tie, lower address",
            100,
            100,
            Ipv4Addr::new(198, 51, 100, 10),
            false,
        ),
    ];
    for (desc, local, theirs, from, yields) in cases {
        let t0 = Instant::now();
        let mut m = Machine::new(*local, ADVERT_CS, Preempt::Yes, A_IP);
        let mut out = Vec::new();
        m.start(t0, &mut out);
        m.tick(t0 + ms(400), &mut out);
        assert_eq!(m.state(), State::Master, "{desc}");
        out.clear();
        m.advert(t0 + ms(450), *from, &advert(*theirs), &mut out);
        if *yields {
            assert_eq!(out[0], Action::ReleaseVips, "{desc}");
            assert_eq!(m.state(), State::Backup, "{desc}");
            assert_eq!(m.master(), Some((*from, *theirs)), "{desc}");
        } else {
            assert!(out.is_empty(), "{desc}: {out:?}");
            assert_eq!(m.state(), State::Master, "{desc}");
        }
    }
}

#[test]
fn master_answers_a_priority_zero_at_once() {
    let t0 = Instant::now();
    let mut m = Machine::new(100, ADVERT_CS, Preempt::Yes, A_IP);
    let mut out = Vec::new();
    m.start(t0, &mut out);
    m.tick(t0 + ms(400), &mut out);
    out.clear();
    m.advert(t0 + ms(420), B_IP, &advert(0), &mut out);
    assert_eq!(out, [Action::Send { priority: 100 }]);
    assert_eq!(m.deadline(), Some(t0 + ms(520)));
}

#[test]
fn owner_is_master_at_once_and_ignores_adverts() {
    let t0 = Instant::now();
    let mut m = Machine::new(255, ADVERT_CS, Preempt::Yes, A_IP);
    let mut out = Vec::new();
    m.start(t0, &mut out);
    assert_eq!(transitions(&out), [(State::Init, State::Master)]);
    out.clear();
    m.advert(t0 + ms(10), B_IP, &advert(255), &mut out);
    assert!(out.is_empty());
    assert_eq!(m.state(), State::Master);
}

#[test]
fn fault_and_stop_give_up_with_priority_zero() {
    let t0 = Instant::now();
    let mut m = Machine::new(100, ADVERT_CS, Preempt::Yes, A_IP);
    let mut out = Vec::new();
    m.start(t0, &mut out);
    m.tick(t0 + ms(400), &mut out);
    out.clear();
    m.fault("interface eth0 is down".into(), &mut out);
    assert_eq!(
        out[..2],
        [Action::Send { priority: 0 }, Action::ReleaseVips]
    );
    assert_eq!(m.state(), State::Fault);
    assert_eq!(m.deadline(), None);
    // Silent while in fault, whatever arrives.
    out.clear();
    m.advert(t0 + ms(450), B_IP, &advert(50), &mut out);
    m.tick(t0 + ms(5000), &mut out);
    assert!(out.is_empty());
    m.fault_cleared(t0 + ms(5000), &mut out);
    assert_eq!(transitions(&out), [(State::Fault, State::Backup)]);
    m.tick(t0 + ms(5400), &mut out);
    assert_eq!(m.state(), State::Master);
    out.clear();
    m.stop(&mut out);
    assert_eq!(
        out[..2],
        [Action::Send { priority: 0 }, Action::ReleaseVips]
    );
    assert_eq!(transitions(&out), [(State::Master, State::Stopped)]);
    // A stopped backup has nothing to send.
    let mut b = Machine::new(100, ADVERT_CS, Preempt::Yes, A_IP);
    out.clear();
    b.start(t0, &mut out);
    out.clear();
    b.stop(&mut out);
    assert_eq!(transitions(&out), [(State::Backup, State::Stopped)]);
    assert_eq!(out.len(), 1);
}

/// A LAN of machines on a fake clock.
struct Lan {
    t0: Instant,
    now: Instant,
    routers: Vec<Router>,
    /// (arrival, sender index, advertisement)
    wire: Vec<(Instant, usize, Advert)>,
    /// No advertisement crosses while set.
    partitioned: bool,
}

struct Router {
    m: Machine,
    ip: Ipv4Addr,
    alive: bool,
    holds_vips: bool,
    /// (ms since t0, new state, reason)
    log: Vec<(u128, State, Reason)>,
}

impl Lan {
    fn new(routers: &[(u8, Preempt, Ipv4Addr)]) -> Lan {
        let t0 = Instant::now();
        Lan {
            t0,
            now: t0,
            routers: routers
                .iter()
                .map(|(p, pre, ip)| Router {
                    m: Machine::new(*p, ADVERT_CS, *pre, *ip),
                    ip: *ip,
                    alive: false,
                    holds_vips: false,
                    log: Vec::new(),
                })
                .collect(),
            wire: Vec::new(),
            partitioned: false,
        }
    }

    fn start(&mut self, i: usize) {
        let mut out = Vec::new();
        self.routers[i].alive = true;
        self.routers[i].m.start(self.now, &mut out);
        self.apply(i, out);
    }

    /// kill -9: gone without a word.
    fn kill(&mut self, i: usize) {
        self.routers[i].alive = false;
    }

    fn stop(&mut self, i: usize) {
        let mut out = Vec::new();
        self.routers[i].m.stop(&mut out);
        self.apply(i, out);
        self.routers[i].alive = false;
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { priority } => {
                    let adv = Advert {
                        priority,
                        ..advert(0)
                    };
                    self.wire.push((self.now + LATENCY, i, adv));
                }
                Action::TakeVips => self.routers[i].holds_vips = true,
                Action::ReleaseVips => self.routers[i].holds_vips = false,
                Action::Transition { to, reason, .. } => {
                    let at = (self.now - self.t0).as_millis();
                    self.routers[i].log.push((at, to, reason));
                }
            }
        }
    }

    /// Runs the LAN until `t` ms after t0, event by event.
    fn run_until(&mut self, t: u64) {
        let end = self.t0 + ms(t);
        loop {
            let next_timer = self
                .routers
                .iter()
                .filter(|r| r.alive)
                .filter_map(|r| r.m.deadline())
                .min();
            let next_packet = self.wire.iter().map(|(at, _, _)| *at).min();
            let next = match (next_timer, next_packet) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(x) => x,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = next;
            let (due, later): (Vec<_>, Vec<_>) =
                self.wire.drain(..).partition(|(at, _, _)| *at <= next);
            self.wire = later;
            for (_, from, adv) in due {
                if self.partitioned {
                    continue;
                }
                let from_ip = self.routers[from].ip;
                for i in 0..self.routers.len() {
                    if i == from || !self.routers[i].alive {
                        continue;
                    }
                    let mut out = Vec::new();
                    self.routers[i].m.advert(next, from_ip, &adv, &mut out);
                    self.apply(i, out);
                }
            }
            for i in 0..self.routers.len() {
                if self.routers[i].alive {
                    let mut out = Vec::new();
                    self.routers[i].m.tick(next, &mut out);
                    self.apply(i, out);
                }
            }
        }
        self.now = end;
    }

    fn state(&self, i: usize) -> State {
        self.routers[i].m.state()
    }

    /// Who holds the VIPs now.
    fn holders(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].holds_vips)
            .collect()
    }

    /// When router `i` last became `state`, in ms since t0.
    fn last(&self, i: usize, state: State) -> Option<(u128, &Reason)> {
        self.routers[i]
            .log
            .iter()
            .rev()
            .find(|(_, s, _)| *s == state)
            .map(|(t, _, r)| (*t, r))
    }
}

const A: usize = 0;
const B: usize = 1;

#[test]
fn pair_elects_the_higher_priority_and_fails_over_when_it_dies() {
    let mut lan = Lan::new(&[(150, Preempt::Yes, A_IP), (100, Preempt::Yes, B_IP)]);
    lan.start(A);
    lan.start(B);
    lan.run_until(1000);
    assert_eq!((lan.state(A), lan.state(B)), (State::Master, State::Backup));
    assert_eq!(lan.holders(), [A]);
    assert_eq!(lan.last(A, State::Master).unwrap().0, 341);
    // A dies at 1000 ms; its last advert left at 941.4 ms and reached B at
    // 942.4 ms. B takes over 3 * 100 + 60.9 ms later, at 1303.3 ms.
    lan.kill(A);
    lan.run_until(3000);
    let (at, reason) = lan.last(B, State::Master).unwrap();
    assert_eq!(at, 1303);
    assert_eq!(
        *reason,
        Reason::MasterDown {
            silent_for: Duration::from_micros(360_937),
            last: Some(A_IP)
        }
    );
    assert_eq!(lan.holders(), [B]);
}

#[test]
fn clean_stop_hands_over_within_skew_time() {
    let mut lan = Lan::new(&[(150, Preempt::Yes, A_IP), (100, Preempt::Yes, B_IP)]);
    lan.start(A);
    lan.start(B);
    lan.run_until(1000);
    lan.stop(A);
    assert_eq!(lan.last(A, State::Stopped).unwrap().0, 1000);
    lan.run_until(2000);
    // Priority 0 arrives at 1001 ms; B's skew is 60.9 ms.
    let (at, reason) = lan.last(B, State::Master).unwrap();
    assert_eq!(at, 1061);
    assert_eq!(*reason, Reason::MasterStopped { master: A_IP });
    assert_eq!(lan.holders(), [B]);
}

#[test]
fn higher_priority_router_preempts_when_it_joins() {
    let mut lan = Lan::new(&[(150, Preempt::Yes, A_IP), (100, Preempt::Yes, B_IP)]);
    lan.start(B);
    lan.run_until(1000);
    assert_eq!(lan.holders(), [B]);
    lan.start(A);
    lan.run_until(2000);
    // A ignores B's lower adverts and takes over after its own
    // Master_Down_Interval; B yields on A's first advert.
    let (at, reason) = lan.last(A, State::Master).unwrap();
    assert_eq!(at, 1341);
    assert_eq!(
        *reason,
        Reason::Preempt {
            master: B_IP,
            priority: 100
        }
    );
    let (at, reason) = lan.last(B, State::Backup).unwrap();
    assert_eq!(at, 1342);
    assert_eq!(
        *reason,
        Reason::HigherPriority {
            master: A_IP,
            priority: 150
        }
    );
    assert_eq!(lan.holders(), [A]);
}

#[test]
fn nopreempt_keeps_the_working_master() {
    let mut lan = Lan::new(&[(150, Preempt::No, A_IP), (100, Preempt::Yes, B_IP)]);
    lan.start(B);
    lan.run_until(1000);
    lan.start(A);
    lan.run_until(20_000);
    assert_eq!((lan.state(A), lan.state(B)), (State::Backup, State::Master));
    assert_eq!(lan.holders(), [B]);
    // It still takes over when the master dies.
    lan.kill(B);
    lan.run_until(21_000);
    assert_eq!(lan.holders(), [A]);
}

#[test]
fn preempt_delay_waits_before_preempting() {
    let delay = Duration::from_secs(2);
    let mut lan = Lan::new(&[
        (150, Preempt::After(delay), A_IP),
        (100, Preempt::Yes, B_IP),
    ]);
    lan.start(B);
    lan.run_until(1000);
    lan.start(A);
    lan.run_until(3000);
    assert_eq!(lan.holders(), [B], "preempted before the delay");
    lan.run_until(5000);
    // First lower advert at ~1.06 s; the delay ends at ~3.06 s; the last
    // advert accepted before it, plus A's Master_Down_Interval (341 ms).
    let (at, _) = lan.last(A, State::Master).unwrap();
    assert!((3000..=3410).contains(&at), "A became master at {at} ms");
    assert_eq!(lan.holders(), [A]);
}

#[test]
fn equal_priorities_started_together_elect_the_higher_address() {
    let mut lan = Lan::new(&[(100, Preempt::Yes, A_IP), (100, Preempt::Yes, B_IP)]);
    lan.start(A);
    lan.start(B);
    lan.run_until(2000);
    // Both time out at the same instant and become master; A hears B's
    // advert (same priority, higher address) and yields.
    assert_eq!((lan.state(A), lan.state(B)), (State::Backup, State::Master));
    assert_eq!(
        *lan.last(A, State::Backup).unwrap().1,
        Reason::HigherAddress { master: B_IP }
    );
    assert_eq!(lan.holders(), [B]);
}

#[test]
fn split_brain_heals_to_one_master() {
    // (description, A's priority, B's priority, expected master)
    let cases: &[(&str, u8, u8, usize)] = &[
        ("different priorities", 150, 100, A),
        ("equal priorities", 100, 100, B),
        ("higher priority on the higher address", 100, 150, B),
    ];
    for (desc, pa, pb, winner) in cases {
        let mut lan = Lan::new(&[(*pa, Preempt::Yes, A_IP), (*pb, Preempt::Yes, B_IP)]);
        lan.start(A);
        lan.start(B);
        lan.run_until(1000);
        // The link breaks: both claim the VIPs.
        lan.partitioned = true;
        lan.run_until(3000);
        assert_eq!(lan.holders(), [A, B], "{desc}: split brain");
        // The link heals: within two advert intervals one master is left.
        lan.partitioned = false;
        lan.run_until(3200);
        assert_eq!(lan.holders(), [*winner], "{desc}");
        lan.run_until(10_000);
        assert_eq!(lan.holders(), [*winner], "{desc}: flapped later");
    }
}

#[test]
fn fault_on_the_master_hands_over_at_once_and_preempts_back_when_cleared() {
    let mut lan = Lan::new(&[(150, Preempt::Yes, A_IP), (100, Preempt::Yes, B_IP)]);
    lan.start(A);
    lan.start(B);
    lan.run_until(1000);
    let mut out = Vec::new();
    lan.routers[A]
        .m
        .fault("backend web has no usable server".into(), &mut out);
    lan.apply(A, out);
    lan.run_until(2000);
    assert_eq!(lan.holders(), [B]);
    assert_eq!(lan.last(B, State::Master).unwrap().0, 1061);
    let mut out = Vec::new();
    let now = lan.now;
    lan.routers[A].m.fault_cleared(now, &mut out);
    lan.apply(A, out);
    lan.run_until(3000);
    assert_eq!(lan.holders(), [A]);
    assert_eq!(lan.last(A, State::Master).unwrap().0, 2341);
}
