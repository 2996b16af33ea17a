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
            if rt.rules.cond(&rules, r.cond.as_ref(), &judge) != crate::rules::Verdict::Match {
                continue;
            }
            let table = &rt.rules.tables[tid.0];
            let Some(key) = rt
                .rules
                .sample(&r.key, &judge)
                .value
                .and_then(|s| table.key(&s))
            else {
                continue;
            };
            if r.kind.matches()
                && want
                && found.is_none()
                && let Some(stuck) = table.stuck(&key)
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
            if rt.rules.cond(&rules, r.cond.as_ref(), &judge) != crate::rules::Verdict::Match {
                continue;
            }
            let table = &rt.rules.tables[tid.0];
            if let Some(key) = rt
                .rules
                .sample(&r.key, &judge)
                .value
                .and_then(|s| table.key(&s))
            {
                stores.push((tid, key));
            }
        }
        let srv = backend.server(server);
        // HAProxy keeps at most 8 stores a session.
        for (tid, key) in stores.into_iter().take(8) {
            let table = &rt.rules.tables[tid.0];
            let name = match table.config.srvkey {
                SrvKey::Name => srv.name.clone(),
                SrvKey::Addr => srv.addr.get().to_string(),
            };
            table.stick(key, server.index() as i64 + 1, &name);
        }
    }
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
            SrvKey::Addr => s.addr.get().to_string() == **k,
        };
        if let Some(i) = backend.servers.iter().position(by) {
            return Some(ServerId::new(i));
        }
    }
    let i = usize::try_from(stuck.id).ok()?.checked_sub(1)?;
    (i < backend.servers.len()).then(|| ServerId::new(i))
}
