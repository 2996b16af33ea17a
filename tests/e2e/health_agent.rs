//! `agent-check`: a server's own agent says, one line per check, whether it
//! is up, down, in maintenance, draining, or how much of its weight to use.
//! Each word must show in the traffic, not only in the log.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::fake::FakeAgent;
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Named backends a1 and a2 behind `listen ag`; a1 has the agent.
struct Setup {
    _a1: Backend,
    _a2: Backend,
    agent: FakeAgent,
    sp: Splicer,
}

impl Setup {
    fn start(first_reply: &str) -> Setup {
        let a1 = Backend::named("a1");
        let a2 = Backend::named("a2");
        let agent = FakeAgent::start(first_reply);
        let sp = Splicer::start(
            &config(
                "",
                "",
                &format!(
                    "listen ag\n    bind 127.0.0.1:0\n    balance roundrobin\n    \
                     server a1 {} check inter 200ms weight 100 agent-check agent-port {} \
                     agent-inter 200ms\n    \
                     server a2 {} check inter 200ms weight 100\n",
                    a1.addr,
                    agent.port(),
                    a2.addr
                ),
            ),
            &["ag"],
        );
        Setup {
            _a1: a1,
            _a2: a2,
            agent,
            sp,
        }
    }

    fn fe(&self) -> SocketAddr {
        self.sp.addr("ag")
    }

    /// How many of `n` new sessions each server took.
    fn tally(&self, n: usize) -> HashMap<String, usize> {
        let mut t = HashMap::new();
        for _ in 0..n {
            *t.entry(server_name(self.fe())).or_insert(0) += 1;
        }
        t
    }

    fn a1_share(&self, n: usize) -> usize {
        self.tally(n).get("a1").copied().unwrap_or(0)
    }

    /// Waits until the agent has been asked at least twice more, so that a
    /// reply set before has been read.
    fn agent_polled(&self) {
        let seen = self.agent.server.accepted();
        wait_for("the agent to be polled", LIMIT, || {
            self.agent.server.accepted() >= seen + 2
        });
    }
}

fn assert_parts(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
}

/// A session held on a named server: its name, and the stream (the server
/// echoes, so the session can be probed).
fn hold(fe: SocketAddr) -> (String, TcpStream) {
    let s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    (line.trim().to_string(), s)
}

fn echoes(s: &TcpStream) -> bool {
    let mut w = s;
    if w.write_all(b"still here\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line == "still here\n"
}

#[test]
fn agent_down_and_up() {
    let t = Setup::start("up");
    assert!(t.a1_share(10) >= 4);
    t.agent.set("down #broken");
    let down = t.sp.wait_log(&["Server ag/a1 is DOWN"], LIMIT);
    assert_parts(
        &down,
        &[
            "reason: Layer7 wrong status",
            "code: 0",
            "info: \"via agent : down (broken)\"",
            "1 active and 0 backup servers left",
        ],
    );
    assert_eq!(t.a1_share(10), 0, "a DOWN server got sessions");

    t.agent.set("up");
    let up = t.sp.wait_log(&["Server ag/a1 is UP"], LIMIT);
    assert_parts(
        &up,
        &[
            "reason: Layer7 check passed",
            "code: 0",
            "info: \"via agent : up\"",
        ],
    );
    assert!(t.a1_share(10) >= 4, "a1 got no traffic back");
}

#[test]
fn agent_maint_and_ready() {
    let t = Setup::start("ready");
    t.agent.set("maint");
    t.sp.wait_log(&["Server ag/a1 is going DOWN for maintenance"], LIMIT);
    assert_eq!(t.a1_share(10), 0, "a server in maintenance got sessions");
    // It stays so while the agent says nothing new.
    t.agent_polled();
    assert_eq!(t.a1_share(10), 0);

    t.agent.set("ready");
    t.sp.wait_log(
        &["Server ag/a1 is UP/READY (leaving forced maintenance)"],
        LIMIT,
    );
    assert!(t.a1_share(10) >= 4, "a1 got no traffic back");
}

/// Drain: no new sessions, but those already there carry on.
#[test]
fn agent_drain_keeps_existing_sessions() {
    let t = Setup::start("ready");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(hold(t.fe()));
    }
    held.retain(|(name, _)| name == "a1");
    assert!(!held.is_empty(), "no session landed on a1");

    t.agent.set("drain");
    t.sp.wait_log(&["Server ag/a1 enters drain state"], LIMIT);
    assert_eq!(t.a1_share(10), 0, "a draining server got new sessions");
    for (_, s) in &held {
        assert!(echoes(s), "a session on the draining server was cut");
    }

    t.agent.set("ready");
    t.sp.wait_log(&["Server ag/a1 is UP (leaving forced drain)"], LIMIT);
    assert!(t.a1_share(10) >= 4, "a1 got no new sessions back");
    for (_, s) in &held {
        assert!(echoes(s));
    }
}

/// `50%`: a1 runs at half its weight, so it gets a third of the sessions
/// (50 against a2's 100); `100%` gives it back its half.
#[test]
fn agent_weight_changes_the_share() {
    let t = Setup::start("100%");
    assert!(t.a1_share(30).abs_diff(15) <= 2);
    t.agent.set("50%");
    wait_for("a1's share to fall", LIMIT, || t.a1_share(30) <= 11);
    let share = t.a1_share(300);
    assert!(share.abs_diff(100) <= 12, "a1 took {share} of 300 at 50%");

    t.agent.set("100%");
    wait_for("a1's share to rise", LIMIT, || t.a1_share(30) >= 14);
    let share = t.a1_share(300);
    assert!(share.abs_diff(150) <= 12, "a1 took {share} of 300 at 100%");
    assert!(t.sp.log_lines("Server ag/a1 is DOWN").is_empty());
}
