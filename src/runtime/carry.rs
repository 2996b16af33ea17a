//! A reload's new runtime: the new config on the same [`super::Process`],
//! plus what an operator set at run time and what the checks learnt,
//! carried over by name; the live counts are shared so that limits and
//! leastconn still see the sessions that finish under the old config.
//!
//! Matching is by name, as HAProxy's server-state file does: a backend by
//! its name, a server by its backend's and its own name. A server whose
//! address changed keeps its runtime settings (maintenance, drain, weight)
//! but not its health or its counts: it is another machine.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{BackendState, CheckInfo, Runtime, ServerState, admin};
use crate::config::Config;
use crate::rules::table::Table;

impl Runtime {
    /// The runtime for `config`, replacing `old`.
    pub(crate) fn reloaded(config: Config, old: &Runtime) -> Runtime {
        let mut rt = Runtime::new(config, old.process.clone());
        for fe in &mut rt.frontends {
            if let Some(o) = old
                .frontends
                .iter()
                .find(|o| o.config.name == fe.config.name)
            {
                fe.current = o.current.clone();
                fe.counters = o.counters.clone();
                // Its kept listeners stay paused (`disable frontend`).
                fe.paused
                    .store(o.paused.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        carry_tables(&mut rt.rules.tables, &old.rules.tables);
        for c in &rt.mysql {
            if let Some(o) = old.mysql.iter().find(|o| o.config.name == c.config.name) {
                c.carry(o);
            }
        }
        rt.gate_roles();
        for be in &mut rt.backends {
            if let Some(o) = old
                .backends
                .iter()
                .find(|o| o.config.name == be.config.name)
            {
                carry_backend(be, o);
            }
        }
        rt
    }
}

fn carry_backend(be: &mut BackendState, old: &BackendState) {
    be.counters = old.counters.clone();
    be.active = old.active.clone();
    be.queued = old.queued.clone();
    be.pinned = old.pinned.clone();
    for (i, s) in be.servers.iter_mut().enumerate() {
        let Some((j, o)) = old
            .servers
            .iter()
            .enumerate()
            .find(|(_, o)| o.name == s.name)
        else {
            continue;
        };
        carry_settings(s, o, old.config.servers[j].maxconn);
        let fqdn = |c: &crate::config::Server| c.dns.as_ref().map(|d| d.fqdn.clone());
        let resolved = fqdn(&be.config.servers[i]);
        if resolved.is_some() && resolved == fqdn(&old.config.servers[j]) {
            // What DNS found outlives the reload (HAProxy keeps it in the
            // state file, `init-addr last`).
            s.addr.set(o.addr.get());
            *s.hostname.lock() = o.hostname.lock().clone();
            let rmaint = o.admin_flags() & admin::RESOLUTION_MAINT != 0;
            s.set_admin(admin::RESOLUTION_MAINT, rmaint);
        }
        if o.addr.get() == s.addr.get() {
            carry_health(s, o);
        }
    }
    be.up.store(
        be.servers.iter().any(ServerState::usable),
        Ordering::Release,
    );
    be.last_change_ms.store(
        old.last_change_ms.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    be.down_ms
        .store(old.down_ms.load(Ordering::Relaxed), Ordering::Relaxed);
    be.downs
        .store(old.downs.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// What the runtime API or an agent set: forced maintenance or drain, a
/// weight or maxconn that differs from the old config's. The new config's
/// `disabled` is the new config's word.
fn carry_settings(s: &mut ServerState, o: &ServerState, old_maxconn: Option<u32>) {
    let forced = o.admin_flags() & (admin::FORCED_MAINT | admin::FORCED_DRAIN);
    s.admin.fetch_or(forced, Ordering::AcqRel);
    let weight = o.weight.load(Ordering::Relaxed);
    if weight != o.initial_weight {
        s.weight.store(weight, Ordering::Relaxed);
    }
    let maxconn = o.maxconn.load(Ordering::Relaxed);
    if maxconn != old_maxconn.unwrap_or(0) {
        s.maxconn.store(maxconn, Ordering::Relaxed);
    }
    s.check_disabled
        .store(o.check_disabled.load(Ordering::Relaxed), Ordering::Relaxed);
    s.agent_disabled
        .store(o.agent_disabled.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Health, the last check, the state-change clock and the live counts, for
/// a server that is still the same address.
fn carry_health(s: &mut ServerState, o: &ServerState) {
    s.oper
        .store(o.oper.load(Ordering::Acquire), Ordering::Release);
    s.ramp_until
        .store(o.ramp_until.load(Ordering::Relaxed), Ordering::Relaxed);
    s.last_change_ms
        .store(o.last_change_ms.load(Ordering::Relaxed), Ordering::Relaxed);
    s.down_ms
        .store(o.down_ms.load(Ordering::Relaxed), Ordering::Relaxed);
    s.active = Arc::clone(&o.active);
    s.counters = Arc::clone(&o.counters);
    if let (Some(new), Some(old)) = (&s.check, &o.check) {
        let old = old.lock().clone();
        let mut new = new.lock();
        let health = rescale(&old, new.rise, new.fall);
        *new = CheckInfo {
            health,
            rise: new.rise,
            fall: new.fall,
            ..old
        };
    }
}

/// The old health counter on the new config's rise/fall scale: a server
/// that was DOWN stays below `rise` (it needs as many successes as it
/// still lacked, at most the new `rise`); an UP one keeps its margin
/// above `rise`, at most `fall - 1`.
fn rescale(old: &CheckInfo, rise: u32, fall: u32) -> u32 {
    let (rise, fall) = (rise.max(1), fall.max(1));
    if old.health < old.rise {
        let lacking = old.rise - old.health;
        rise.saturating_sub(lacking.min(rise))
    } else {
        rise + (old.health - old.rise).min(fall - 1)
    }
}

/// Stick tables outlive a reload by name: the same table goes on as it
/// was (entries, the sessions tracking them, its update log for the
/// peers); one whose definition changed takes the old entries' data it
/// still stores.
fn carry_tables(new: &mut [Arc<Table>], old: &[Arc<Table>]) {
    for t in new.iter_mut() {
        let Some(o) = old.iter().find(|o| o.config.name == t.config.name) else {
            continue;
        };
        if o.same_as(&t.config) {
            *t = o.clone();
        } else {
            t.adopt(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::ids::{FrontendId, ServerId};
    use crate::config::parse_str;
    use crate::runtime::{Oper, ServerStatus};

    fn rt(text: &str) -> Runtime {
        Runtime::first(parse_str("t.cfg", text).unwrap().config)
    }

    const BASE: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
        frontend fe\n bind 127.0.0.1:0\n default_backend be\n\
        backend be\n balance leastconn\n server a 127.0.0.1:9001 check weight 10\n server b 127.0.0.1:9002 check rise 2 fall 3\n";

    #[test]
    fn runtime_settings_and_health_carry_over_by_name() {
        let old = rt(BASE);
        let a = &old.backends[0].servers[0];
        a.set_admin(admin::FORCED_MAINT, true);
        a.weight.store(3, Ordering::Relaxed);
        let be = &old.backends[0];
        let held = [
            be.acquire(ServerId::new(0)).unwrap(),
            be.acquire(ServerId::new(0)).unwrap(),
        ];
        let b = &old.backends[0].servers[1];
        b.set_oper(Oper::Down);
        b.check.as_ref().unwrap().lock().health = 0;
        let sessions: Vec<_> = (0..5)
            .map(|_| old.take_session_slots(FrontendId::new(0)).unwrap())
            .collect();

        // Same servers in another order, plus a new one.
        let text = BASE.replace(
            " server a 127.0.0.1:9001 check weight 10\n server b 127.0.0.1:9002 check rise 2 fall 3\n",
            " server c 127.0.0.1:9003\n server b 127.0.0.1:9002 check rise 2 fall 3\n server a 127.0.0.1:9001 check weight 10\n",
        );
        let new = Runtime::reloaded(parse_str("t.cfg", &text).unwrap().config, &old);
        let servers = &new.backends[0].servers;
        let (c, b, a) = (&servers[0], &servers[1], &servers[2]);
        assert_eq!(a.status(), ServerStatus::Maint);
        assert_eq!(a.weight.load(Ordering::Relaxed), 3);
        assert_eq!(a.active.get(), 2, "live count shared");
        assert_eq!(b.status(), ServerStatus::Down);
        assert_eq!(b.check.as_ref().unwrap().lock().health, 0);
        assert_eq!(c.status(), ServerStatus::Up);
        assert_eq!(new.process.sessions.get(), 5);
        assert_eq!(new.frontends[0].current.get(), 5);
        // Counts are shared, not copied: the old config's sessions that end
        // later are seen by the new one.
        let [first, _second] = held;
        drop(first);
        assert_eq!(a.active.get(), 1);
        drop(sessions);
        assert_eq!(new.frontends[0].current.get(), 0);
    }

    #[test]
    fn config_weight_wins_unless_set_at_run_time() {
        let old = rt(BASE);
        let text = BASE.replace("weight 10", "weight 20");
        let new = Runtime::reloaded(parse_str("t.cfg", &text).unwrap().config, &old);
        assert_eq!(
            new.backends[0].servers[0].weight.load(Ordering::Relaxed),
            20
        );
    }

    #[test]
    fn a_moved_server_keeps_settings_but_not_health() {
        let old = rt(BASE);
        let b = &old.backends[0].servers[1];
        b.set_oper(Oper::Down);
        b.set_admin(admin::FORCED_DRAIN, true);
        let text = BASE.replace("127.0.0.1:9002", "127.0.0.1:9012");
        let new = Runtime::reloaded(parse_str("t.cfg", &text).unwrap().config, &old);
        let b = &new.backends[0].servers[1];
        assert_eq!(b.status(), ServerStatus::Drain, "drain kept, DOWN not");
    }

    #[test]
    fn health_counter_rescales_to_new_rise_and_fall() {
        let info = |health, rise, fall| CheckInfo {
            health,
            rise,
            fall,
            ..CheckInfo::default()
        };
        // DOWN, lacking one success of rise 2: still lacks one of rise 5.
        assert_eq!(rescale(&info(1, 2, 3), 5, 3), 4);
        // DOWN at 0 stays at 0.
        assert_eq!(rescale(&info(0, 2, 3), 1, 1), 0);
        // UP at the top of rise 2 fall 3 (4): top of rise 3 fall 2 (4).
        assert_eq!(rescale(&info(4, 2, 3), 3, 2), 4);
        // UP just at rise: just at the new rise.
        assert_eq!(rescale(&info(2, 2, 3), 4, 4), 4);
    }
}
