//! TLS handshakes wait their turn: a worker spends at most
//! [`HANDSHAKE_TIME_PER_TURN`] (and [`HANDSHAKES_PER_TURN`] steps) on
//! handshakes between two polls, at least one step, so a flood of
//! new TLS clients (each full handshake costs a signature and a key
//! exchange) cannot hold back the sessions already forwarding, whose events
//! are served every turn. The rest wait in arrival order and the next poll
//! does not sleep while any wait.

use std::collections::VecDeque;
use std::time::Instant;

use super::Worker;

/// Handshake steps a worker runs per loop turn at most.
pub(super) const HANDSHAKES_PER_TURN: usize = 8;
/// CPU time a turn gives handshakes before it polls again: an RSA-2048
/// signature costs about 0.5 ms, an ECDSA one about 0.1 ms, so a flood
/// adds about a millisecond to an established session's latency (a count
/// alone let 8 RSA handshakes add 4 ms: `scripts/bench --tls`).
pub(super) const HANDSHAKE_TIME_PER_TURN: std::time::Duration =
    std::time::Duration::from_micros(500);

/// Sessions whose handshake has something to do, by slab key and session
/// id (a key may be reused once its session is gone).
#[derive(Debug, Default)]
pub(super) struct HandshakeQueue {
    waiting: VecDeque<(usize, u64)>,
}

impl HandshakeQueue {
    pub(super) fn push(&mut self, key: usize, id: u64) {
        if !self.waiting.contains(&(key, id)) {
            self.waiting.push_back((key, id));
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

impl Worker {
    /// Runs the handshakes waiting, up to this turn's budget.
    pub(super) fn run_handshakes(&mut self, now: Instant) {
        let start = Instant::now();
        for i in 0..HANDSHAKES_PER_TURN {
            if i > 0 && start.elapsed() >= HANDSHAKE_TIME_PER_TURN {
                return;
            }
            let Some((key, id)) = self.handshakes.waiting.pop_front() else {
                return;
            };
            let live = self
                .sessions
                .get(key)
                .is_some_and(|s| s.id == id && s.in_handshake());
            if !live || self.is_closed(key) {
                continue;
            }
            let gi = self.sessions[key].generation;
            let (mut ctx, sessions) = self.ctx(gi, now);
            let outcome = sessions[key].tls_handshake(&mut ctx);
            self.apply(key, outcome);
        }
    }
}
