//! The session's first steps with its client: the PROXY header
//! (`accept-proxy`), then the TLS handshake (`bind ... ssl`), before the
//! rules. The worker runs the TLS steps in turns (`worker/handshakes.rs`),
//! so the session only records readiness until their turn comes.

use std::io;

use super::*;

impl Session {
    /// `accept-proxy`: reads the client's PROXY header (peeked, then taken
    /// once whole).
    pub(super) fn read_proxy_header(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        let mut buf = [0u8; proxy_proto::MAX_HEADER_LEN];
        let n = match self.client.peek(&mut buf) {
            Ok(0) => {
                self.trace.handshake = Some(Handshake::Closed);
                return Outcome::Close(Close::Normal);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.client_ready.readable = false;
                return Outcome::Continue;
            }
            Err(_) => {
                self.trace.handshake = Some(Handshake::ReadError);
                return Outcome::Close(Close::Abort);
            }
        };
        match proxy_proto::parse(&buf[..n]) {
            Ok(None) => {
                // Part of a header: the rest comes with a new readable edge.
                self.client_ready.readable = false;
                Outcome::Continue
            }
            Ok(Some((header, len))) => {
                if (&self.client).read_exact(&mut buf[..len]).is_err() {
                    return Outcome::Close(Close::Abort);
                }
                if let (Some(src), Some(dst)) = (header.source, header.destination) {
                    self.client_addr = src;
                    self.local_addr = dst;
                }
                self.proxied = true;
                self.after_header(ctx)
            }
            Err(e) => {
                let name = &ctx.rt.frontend(self.frontend).config.name;
                log::info!("frontend {name}: client {}: {e}", self.client_addr);
                // For `show errors`: the bytes as they came.
                ctx.rt.process.capture_error(
                    name,
                    self.client_addr,
                    &buf[..n],
                    proxy_proto::error_position(&buf[..n]),
                    e.to_string(),
                );
                self.trace.handshake = Some(trace::handshake_failure(&e));
                Outcome::Close(Close::Normal)
            }
        }
    }

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
