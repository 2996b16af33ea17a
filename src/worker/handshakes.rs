//! TLS handshakes wait their turn: a worker runs at most
//! [`HANDSHAKES_PER_TURN`] handshake steps between two polls, so a flood of
//! new TLS clients (each full handshake costs a signature and a key
//! exchange) cannot hold back the sessions already forwarding, whose events
//! are served every turn. The rest wait in arrival order and the next poll
//! does not sleep while any wait.

use std::collections::VecDeque;
use std::time::Instant;

use super::Worker;

/// Handshake steps a worker runs per loop turn. An RSA-2048 signature
/// costs about 1 ms, so a turn adds at most a few milliseconds to an
/// established session's latency.
pub(super) const HANDSHAKES_PER_TURN: usize = 8;

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
        for _ in 0..HANDSHAKES_PER_TURN {
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
            let outcome = sessions[key].handshake_step(&mut ctx);
            self.apply(key, outcome);
        }
    }
}
