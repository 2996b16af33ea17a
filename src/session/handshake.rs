//! The client's TLS handshake (`bind ... ssl`): between the PROXY header,
//! if any, and the rules. The worker runs the steps in turns
//! (`worker/handshakes.rs`), so the session only records readiness until
//! its turn comes.

use std::io;

use super::*;

impl Session {
    /// The client speaks TLS (`bind ... ssl`): its handshake comes after
    /// any PROXY header, before the rules; its sides copy.
    pub(crate) fn use_tls(&mut self, tls: TlsConn, rt: &Runtime) {
        self.client_tls = Some(Box::new(tls));
        if let Some(b) = self.backend {
            self.set_backend(Some(b), rt);
        }
    }

    /// After the PROXY header, if any: the TLS handshake, or the rules.
    pub(super) fn after_header(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        if self.client_tls.is_some() {
            self.phase = Phase::Handshake;
            let t = ctx.rt.frontend(self.frontend).config.timeout_client;
            self.deadline
                .set(t.map(|t| ctx.now + t), self.key, ctx.timers);
            // The ClientHello may be there already: the worker runs the
            // handshake in its turn (`tls_handshake`).
            self.client_ready.readable = true;
            return Outcome::Continue;
        }
        self.start_rules(ctx)
    }

    /// Waiting for, or in, the client's TLS handshake.
    pub(crate) fn in_handshake(&self) -> bool {
        matches!(self.phase, Phase::Handshake)
    }

    /// Records an event's readiness without acting on it (the worker runs
    /// handshakes in turns).
    pub(crate) fn note_readiness(&mut self, side: Side, ev: &mio::event::Event) {
        if side == Side::Client {
            self.client_ready.note(ev);
        }
    }

    /// Drives the client's TLS handshake; the rules start when it is done.
    pub(crate) fn tls_handshake(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        let Some(tls) = self.client_tls.as_deref_mut() else {
            return self.start_rules(ctx);
        };
        match tls.handshake(&self.client, &mut self.client_ready) {
            Ok(false) => Outcome::Continue,
            Ok(true) => self.start_rules(ctx),
            Err(e) => {
                log::debug!("session {}: TLS handshake failed: {e}", self.key);
                self.trace.handshake = Some(tls_failure(&e));
                Outcome::Close(Close::Normal)
            }
        }
    }
}

/// How HAProxy words a client's failed TLS handshake.
fn tls_failure(e: &io::Error) -> Handshake {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return Handshake::TlsClosed;
    }
    let cert = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|t| {
            // No certificate at all is a plain handshake failure in HAProxy.
            matches!(t, rustls::Error::InvalidCertificate(_))
        });
    if cert {
        Handshake::TlsCertRefused
    } else {
        Handshake::TlsFailure
    }
}
