//! The state machine of one virtual router (RFC 5798 §6.4), apart from
//! sockets and clocks: the caller passes `now` with every event and gets
//! back the actions to carry out (send an advertisement, take or release
//! the virtual IPs) and the transitions to log. Nothing here reads a clock,
//! so the unit tests drive it with a fake one.
//!
//! Beside the RFC's Initialize, Backup and Master there are keepalived's
//! FAULT (the interface is down, a tracked backend has no server, the
//! workers stalled: release the VIPs and stay silent) and a Stopped state
//! after a clean stop, which the RFC folds into Initialize.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::packet::Advert;
use crate::config::Preempt;
use crate::config::vrrp::OWNER_PRIORITY;

pub(crate) use crate::base::vrrp::State;

/// Why the state changed, in words for the log line and `show vrrp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Started (or left FAULT) as a non-owner: wait for a master.
    Startup,
    /// Priority 255: the address owner is master at once.
    Owner,
    /// Nothing heard for Master_Down_Interval.
    MasterDown {
        silent_for: Duration,
        last: Option<Ipv4Addr>,
    },
    /// The master sent priority 0 and the skew time passed.
    MasterStopped {
        master: Ipv4Addr,
    },
    /// Preemption of a master advertising a lower priority.
    Preempt {
        master: Ipv4Addr,
        priority: u8,
    },
    /// Another router advertises a higher priority.
    HigherPriority {
        master: Ipv4Addr,
        priority: u8,
    },
    /// Same priority from a higher primary address (RFC tie-break).
    HigherAddress {
        master: Ipv4Addr,
    },
    Fault(String),
    FaultCleared,
    Stop,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Startup => f.write_str("start-up, waiting for a master"),
            Reason::Owner => f.write_str("priority 255 (address owner)"),
            Reason::MasterDown {
                silent_for,
                last: Some(m),
            } => write!(
                f,
                "no advertisement from master {m} for {}ms",
                silent_for.as_millis()
            ),
            Reason::MasterDown { silent_for, .. } => {
                write!(f, "no master advertised for {}ms", silent_for.as_millis())
            }
            Reason::MasterStopped { master } => {
                write!(f, "master {master} stopped (priority 0 advertisement)")
            }
            Reason::Preempt { master, priority } => {
                write!(f, "preempting master {master} of lower priority {priority}")
            }
            Reason::HigherPriority { master, priority } => {
                write!(f, "{master} advertises higher priority {priority}")
            }
            Reason::HigherAddress { master } => write!(
                f,
                "{master} advertises the same priority from a higher address"
            ),
            Reason::Fault(why) => f.write_str(why),
            Reason::FaultCleared => f.write_str("fault cleared"),
            Reason::Stop => f.write_str("stopping"),
        }
    }
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send an advertisement with this priority (0 when giving up).
    Send { priority: u8 },
    /// Add the VIPs to the interface and announce them (gratuitous ARP).
    TakeVips,
    /// Remove the VIPs from the interface.
    ReleaseVips,
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
}

/// The last advertisement that mattered while backup: it names the
/// reason when the master-down timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Nothing,
    Master(Ipv4Addr),
    Stopping(Ipv4Addr),
    /// A lower-priority master, ignored so that we preempt it.
    Lower(Ipv4Addr, u8),
}

/// One virtual router's protocol state.
#[derive(Debug)]
pub(crate) struct Machine {
    priority: u8,
    /// Advertisement_Interval, centiseconds.
    advert_cs: u16,
    preempt: Preempt,
    /// The primary address of the interface (tie-break, `show vrrp`).
    local_ip: Ipv4Addr,
    state: State,
    /// Master_Adver_Interval: the master's interval, learnt from its adverts.
    master_adver_cs: u16,
    adver_at: Option<Instant>,
    down_at: Option<Instant>,
    heard: Heard,
    /// The router believed master and its priority (while backup).
    master: Option<(Ipv4Addr, u8)>,
    /// Since when a lower-priority master is seen (`preempt_delay`).
    lower_since: Option<Instant>,
}

impl Machine {
    pub(crate) fn new(priority: u8, advert_cs: u16, preempt: Preempt, local_ip: Ipv4Addr) -> Self {
        Machine {
            priority,
            advert_cs: advert_cs.max(1),
            preempt,
            local_ip,
            state: State::Init,
            master_adver_cs: advert_cs.max(1),
            adver_at: None,
            down_at: None,
            heard: Heard::Nothing,
            master: None,
            lower_since: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn priority(&self) -> u8 {
        self.priority
    }

    /// The current master and its priority, as far as this router knows.
    pub(crate) fn master(&self) -> Option<(Ipv4Addr, u8)> {
        match self.state {
            State::Master => Some((self.local_ip, self.priority)),
            State::Backup => self.master,
            _ => None,
        }
    }

    /// Master_Adver_Interval.
    pub(crate) fn master_adver_interval(&self) -> Duration {
        centis(self.master_adver_cs)
    }

    /// The primary address changed (or was learnt after start).
    pub(crate) fn set_local_ip(&mut self, ip: Ipv4Addr) {
        self.local_ip = ip;
    }

    /// Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, kept
    /// in microseconds rather than rounded to centiseconds.
    pub(crate) fn skew_time(&self) -> Duration {
        let us = (256 - u64::from(self.priority)) * u64::from(self.master_adver_cs) * 10_000 / 256;
        Duration::from_micros(us)
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub(crate) fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_interval() + self.skew_time()
    }

    /// When [`Machine::tick`] next has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Master => self.adver_at,
            State::Backup => self.down_at,
            _ => None,
        }
    }

    /// Startup (RFC §6.4.1), from Init or Stopped.
    pub(crate) fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if matches!(self.state, State::Init | State::Stopped) {
            self.enter(now, Reason::Startup, out);
        }
    }

    /// The RFC's Startup event: the owner becomes master, others backup.
    fn enter(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        if self.priority == OWNER_PRIORITY {
            self.become_master(now, Reason::Owner, out);
        } else {
            self.master_adver_cs = self.advert_cs;
            self.become_backup(now, reason, out);
        }
    }

    /// Timers: the master-down timer in Backup, the advertisement timer
    /// in Master.
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Backup if self.down_at.is_some_and(|t| now >= t) => {
                let reason = match self.heard {
                    Heard::Stopping(master) => Reason::MasterStopped { master },
                    Heard::Lower(master, priority) => Reason::Preempt { master, priority },
                    Heard::Master(m) => Reason::MasterDown {
                        silent_for: self.master_down_interval(),
                        last: Some(m),
                    },
                    Heard::Nothing => Reason::MasterDown {
                        silent_for: self.master_down_interval(),
                        last: None,
                    },
                };
                self.become_master(now, reason, out);
            }
            State::Master if self.adver_at.is_some_and(|t| now >= t) => {
                out.push(Action::Send {
                    priority: self.priority,
                });
                self.adver_at = Some(now + centis(self.advert_cs));
            }
            _ => {}
        }
    }

    /// An advertisement for this virtual router, already checked (TTL,
    /// version, checksum, VRID, addresses) and not our own.
    pub(crate) fn advert(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        adv: &Advert,
        out: &mut Vec<Action>,
    ) {
        // RFC §7.1: the address owner discards every advertisement.
        if self.priority == OWNER_PRIORITY {
            return;
        }
        match self.state {
            State::Backup => self.backup_advert(now, from, adv),
            State::Master => self.master_advert(now, from, adv, out),
            State::Init | State::Fault | State::Stopped => {}
        }
    }

    fn backup_advert(&mut self, now: Instant, from: Ipv4Addr, adv: &Advert) {
        if adv.priority == 0 {
            self.down_at = Some(now + self.skew_time());
            self.heard = Heard::Stopping(from);
            self.master = None;
            return;
        }
        self.master = Some((from, adv.priority));
        let lower = adv.priority < self.priority;
        let accept = match self.preempt {
            Preempt::No => true,
            _ if !lower => true,
            Preempt::Yes => false,
            Preempt::After(delay) => {
                let since = *self.lower_since.get_or_insert(now);
                now < since + delay
            }
        };
        if !lower {
            self.lower_since = None;
        }
        if accept {
            self.master_adver_cs = adv.interval_cs.max(1);
            self.down_at = Some(now + self.master_down_interval());
            self.heard = Heard::Master(from);
        } else {
            self.heard = Heard::Lower(from, adv.priority);
        }
    }

    fn master_advert(&mut self, now: Instant, from: Ipv4Addr, adv: &Advert, out: &mut Vec<Action>) {
        if adv.priority == 0 {
            // Another router gave up: show at once who is master.
            out.push(Action::Send {
                priority: self.priority,
            });
            self.adver_at = Some(now + centis(self.advert_cs));
            return;
        }
        let reason = if adv.priority > self.priority {
            Reason::HigherPriority {
                master: from,
                priority: adv.priority,
            }
        } else if adv.priority == self.priority && u32::from(from) > u32::from(self.local_ip) {
            Reason::HigherAddress { master: from }
        } else {
            return;
        };
        self.master_adver_cs = adv.interval_cs.max(1);
        out.push(Action::ReleaseVips);
        self.become_backup(now, reason, out);
        self.master = Some((from, adv.priority));
        self.heard = Heard::Master(from);
    }

    /// Something this router depends on failed: leave Master or Backup
    /// and stay silent until [`Machine::fault_cleared`]. A master gives up
    /// with a priority 0 advertisement so that a backup takes over at once.
    pub(crate) fn fault(&mut self, reason: String, out: &mut Vec<Action>) {
        match self.state {
            State::Fault | State::Stopped => return,
            State::Master => {
                out.push(Action::Send { priority: 0 });
                out.push(Action::ReleaseVips);
            }
            State::Init | State::Backup => {}
        }
        self.transition(State::Fault, Reason::Fault(reason), out);
    }

    pub(crate) fn fault_cleared(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::Fault {
            self.enter(now, Reason::FaultCleared, out);
        }
    }

    /// Shutdown (RFC §6.4.2, §6.4.3): a master sends priority 0 so that
    /// the backup takes over after its skew time, and releases the VIPs.
    pub(crate) fn stop(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Stopped {
            return;
        }
        if self.state == State::Master {
            out.push(Action::Send { priority: 0 });
            out.push(Action::ReleaseVips);
        }
        self.transition(State::Stopped, Reason::Stop, out);
    }

    fn become_master(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        out.push(Action::Send {
            priority: self.priority,
        });
        out.push(Action::TakeVips);
        self.adver_at = Some(now + centis(self.advert_cs));
        self.transition(State::Master, reason, out);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        self.down_at = Some(now + self.master_down_interval());
        self.transition(State::Backup, reason, out);
    }

    fn transition(&mut self, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.heard = Heard::Nothing;
        self.master = None;
        self.lower_since = None;
        if to != State::Master {
            self.adver_at = None;
        }
        if to != State::Backup {
            self.down_at = None;
        }
        out.push(Action::Transition { from, to, reason });
    }
}

pub(crate) fn centis(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

#[cfg(test)]
mod tests;
