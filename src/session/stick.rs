//! `stick` rules in a session's life (HAProxy 2.6's sticking and store
//! rules): when the backend is known and before its algorithm picks, the
//! `match`/`on` rules look the key up and send the session to the server
//! it was stored with, if that server is not stopped (DOWN or MAINT; a
//! draining server keeps its sources) or `option persist` is set; the
//! `store-request`/`on` rules keep their keys. Once the server connection
//! is up, the `store-response` rules add theirs and every key is stored
//! with the server the session went to (only the first store rule of each
//! table counts, as in HAProxy).

use super::*;
use crate::config::{SrvKey, StickKind, TableId};
use crate::rules::table::{Key, Table};

impl Session {
    /// The `stick` rules at dispatch: the server a stored key names, when
    /// `want` (no `use-server` rule chose one) and it may take the session.
    pub(super) fn stick_rules(
        &mut self,
        b: BackendId,
        want: bool,
        ctx: &mut Ctx<'_>,
    ) -> Option<ServerId> {
        let rt = ctx.rt;
        let backend = rt.backend(b);
        let rules = backend.config.rules.clone();
        if rules.stick.is_empty() {
            return None;
        }
        if let Some(server) = self.vars.stuck() {
            return server.filter(|_| want);
        }
        let n = self.peek_client(ctx.scratch).map_or(0, |(n, _)| n);
        let exclude = self.exclude;
        let data = &ctx.scratch[..n];
        let judge = self.judge(rt, Some((data, true)), None);
        let mut found = None;
        let mut stores: Vec<(TableId, Key)> = Vec::new();
        for r in &rules.stick {
            let Some(tid) = r.table.id else { continue };
            if r.kind == StickKind::StoreResponse
                || (r.kind.stores() && stores.iter().any(|(t, _)| *t == tid))
            {
                continue;
            }
            let Some(key) = rule_key(rt, &rules, r, &judge) else {
                continue;
            };
            let table = &rt.rules.tables[tid.0];
            // A stored key is touched (its expiry restarts) even when the
            // server is already chosen, as HAProxy does.
            if r.kind.matches()
                && let Some(stuck) = table.stuck(&key)
                && want
                && found.is_none()
            {
                found = server_of(table, backend, &stuck).filter(|s| {
                    let st = backend.server(*s).status();
                    Some(*s) != exclude && (!st.stopped() || rules.persist)
                });
            }
            if r.kind.stores() {
                stores.push((tid, key));
            }
        }
        self.vars.set_stick(found, stores);
        self.direct = found.is_some();
        found
    }

    /// The server connection is up (or, with `tcp-response content`
    /// rules, they let the response through): the `store-response` rules
    /// on the first `seen` bytes the server sent (peeked into the scratch
    /// buffer), then every kept key goes to `server`.
    pub(super) fn stick_store(
        &mut self,
        b: BackendId,
        server: ServerId,
        seen: usize,
        ctx: &mut Ctx<'_>,
    ) {
        let rt = ctx.rt;
        let backend = rt.backend(b);
        let rules = backend.config.rules.clone();
        if rules.stick.is_empty() {
            return;
        }
        let srv = backend.server(server);
        if srv.non_stick {
            return;
        }
        let mut stores = self.vars.take_stores();
        let from_request = stores.len();
        let data = &ctx.scratch[..seen];
        let judge = self.judge(rt, None, Some((data, true)));
        for r in rules
            .stick
            .iter()
            .filter(|r| r.kind == StickKind::StoreResponse)
        {
            let Some(tid) = r.table.id else { continue };
            if stores[from_request..].iter().any(|(t, _)| *t == tid) {
                continue;
            }
            if let Some(key) = rule_key(rt, &rules, r, &judge) {
                stores.push((tid, key));
            }
        }
        // HAProxy keeps at most 8 stores a session.
        for (tid, key) in stores.into_iter().take(8) {
            let table = &rt.rules.tables[tid.0];
            let name = match table.config.srvkey {
                SrvKey::Name => srv.name.clone(),
                SrvKey::Addr => addr_key(srv),
            };
            table.stick(key, server.index() as i64 + 1, &name);
        }
    }
}

/// The key rule `r` gives in its table, when its condition holds.
fn rule_key(
    rt: &Runtime,
    rules: &crate::config::RuleSet,
    r: &crate::config::StickRule,
    judge: &super::judge::Judge<'_>,
) -> Option<Key> {
    let table = &rt.rules.tables[r.table.id?.0];
    if rt.rules.cond(rules, r.cond.as_ref(), judge) != crate::rules::Verdict::Match {
        return None;
    }
    rt.rules
        .sample(&r.key, judge)
        .value
        .and_then(|s| table.key(&s))
}

/// The server of `backend` a stored entry names: by its `server_key`
/// (name or address, as the table's `srvkey`), else by its number.
fn server_of(
    table: &Table,
    backend: &crate::runtime::BackendState,
    stuck: &crate::rules::table_stick::Stuck,
) -> Option<ServerId> {
    if let Some(k) = &stuck.key {
        let by = |s: &crate::runtime::ServerState| match table.config.srvkey {
            SrvKey::Name => *s.name == **k,
            SrvKey::Addr => addr_key(s) == **k,
        };
        if let Some(i) = backend.servers.iter().position(by) {
            return Some(ServerId::new(i));
        }
    }
    let i = usize::try_from(stuck.id).ok()?.checked_sub(1)?;
    (i < backend.servers.len()).then(|| ServerId::new(i))
}

/// A server's `server_key` under `srvkey addr`: HAProxy's `sa2str`, the
/// address then `:PORT` (an IPv6 address without brackets), the port
/// `+N`/`-N` for a server that moves the client's port, 0 for one that
/// keeps it.
fn addr_key(s: &crate::runtime::ServerState) -> String {
    addr_text(s.addr.get(), s.port_mode)
}

fn addr_text(addr: std::net::SocketAddr, mode: crate::config::PortMode) -> String {
    use crate::config::PortMode;
    let ip = addr.ip();
    match mode {
        PortMode::Fixed => format!("{ip}:{}", addr.port()),
        PortMode::Client => format!("{ip}:0"),
        PortMode::Offset(n) => format!("{ip}:{n:+}"),
    }
}

#[cfg(test)]
mod tests {
    use super::addr_text;
    use crate::config::PortMode;

    #[test]
    fn addr_keys_are_written_as_haproxy_does() {
        let cases = [
            (
                "a port",
                "127.0.0.1:8080",
                PortMode::Fixed,
                "127.0.0.1:8080",
            ),
            ("IPv6", "[::1]:8080", PortMode::Fixed, "::1:8080"),
            (
                "the client's port",
                "127.0.0.1:0",
                PortMode::Client,
                "127.0.0.1:0",
            ),
            (
                "an offset",
                "127.0.0.1:0",
                PortMode::Offset(1000),
                "127.0.0.1:+1000",
            ),
            (
                "a negative offset",
                "127.0.0.1:0",
                PortMode::Offset(-10),
                "127.0.0.1:-10",
            ),
        ];
        for (what, addr, mode, want) in cases {
            assert_eq!(addr_text(addr.parse().unwrap(), mode), want, "{what}");
        }
    }
}
