//! Server selection and state tests.

use super::*;
use crate::base::ids::ServerId;
use crate::config::{Backend, Balance, HashType, Location, Server, SpliceOptions};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn server(name: &str, backup: bool) -> Server {
    Server {
        name: name.into(),
        location: Location::default(),
        addr: "127.0.0.1:1".parse().unwrap(),
        weight: 1,
        backup,
        maxconn: None,
        minconn: None,
        maxqueue: 0,
        track_spec: None,
        track: None,
        port_mode: Default::default(),
        source_ports: None,
        disabled: false,
        send_proxy: None,
        source: None,
        tfo: false,
        non_stick: false,
        check: Default::default(),
        dns: None,
        fqdn: None,
        no_addr: false,
        tls: Default::default(),
    }
}

fn backend(servers: Vec<Server>, allbackups: bool) -> Config {
    Config {
        global: Global::default(),
        frontends: vec![],
        vrrp: vec![],
        announce: vec![],
        resolvers: vec![],
        patterns: vec![],
        tables: vec![],
        peers: vec![],
        localpeer: String::new(),
        mysql_clusters: vec![],
        backends: vec![Backend {
            name: "b".into(),
            location: Location::default(),
            order: 0,
            uid: 2,
            listen: false,
            balance: Balance::RoundRobin,
            hash_type: HashType::MapBased,
            servers,
            mysql: None,
            timeout_connect: Duration::from_secs(1),
            timeout_server: None,
            timeout_server_fin: None,
            timeout_tunnel: None,
            timeout_queue: None,
            retries: 3,
            redispatch: false,
            allbackups,
            splice: SpliceOptions::default(),
            disabled: false,
            check: Default::default(),
            log_health_checks: false,
            fullconn: 1,
            state_file: None,
            keepalive: Default::default(),
            nolinger: false,
            smart_connect: false,
            log: Default::default(),
            rules: Default::default(),
        }],
    }
}

fn picked(rt: &Runtime, exclude: Option<usize>) -> (Availability, Vec<usize>) {
    let mut out = Vec::new();
    let a = rt.backends[0].candidates(exclude.map(ServerId::new), &mut out);
    (a, out.iter().map(|c| c.server).collect())
}

#[test]
fn backups_serve_only_when_no_active_server_is_usable() {
    type Case<'a> = (&'a str, bool, &'a [ServerStatus], Availability, &'a [usize]);
    let cases: &[Case] = &[
        (
            "all up: actives only",
            false,
            &[ServerStatus::Up; 4],
            Availability::Ready,
            &[0, 1],
        ),
        (
            "actives down: first backup",
            false,
            &[
                ServerStatus::Down,
                ServerStatus::Maint,
                ServerStatus::Up,
                ServerStatus::Up,
            ],
            Availability::Ready,
            &[2],
        ),
        (
            "actives down, allbackups",
            true,
            &[
                ServerStatus::Down,
                ServerStatus::Down,
                ServerStatus::Up,
                ServerStatus::Up,
            ],
            Availability::Ready,
            &[2, 3],
        ),
        (
            "first backup down: the next one",
            false,
            &[
                ServerStatus::Down,
                ServerStatus::Down,
                ServerStatus::Down,
                ServerStatus::Up,
            ],
            Availability::Ready,
            &[3],
        ),
        (
            "everything down",
            false,
            &[ServerStatus::Down; 4],
            Availability::NoServer,
            &[],
        ),
        (
            "everything down but one backup",
            false,
            &[
                ServerStatus::Down,
                ServerStatus::Down,
                ServerStatus::Maint,
                ServerStatus::Up,
            ],
            Availability::Ready,
            &[3],
        ),
        (
            "draining server takes nothing new",
            false,
            &[
                ServerStatus::Drain,
                ServerStatus::Up,
                ServerStatus::Up,
                ServerStatus::Up,
            ],
            Availability::Ready,
            &[1],
        ),
    ];
    for (what, allbackups, states, want, servers) in cases {
        let cfg = backend(
            vec![
                server("a", false),
                server("b", false),
                server("c", true),
                server("d", true),
            ],
            *allbackups,
        );
        let rt = Runtime::first(cfg);
        for (s, st) in rt.backends[0].servers.iter().zip(states.iter()) {
            s.set_status(*st);
        }
        assert_eq!(picked(&rt, None), (*want, servers.to_vec()), "{what}");
    }
}

#[test]
fn full_servers_queue_and_exclusion_needs_an_alternative() {
    let mut cfg = backend(vec![server("a", false), server("b", false)], false);
    cfg.backends[0].servers[0].maxconn = Some(1);
    cfg.backends[0].servers[1].maxconn = Some(1);
    let rt = Runtime::first(cfg);
    assert_eq!(picked(&rt, Some(0)), (Availability::Ready, vec![1]));
    let _on_a = rt.backends[0]
        .acquire(ServerId::new(0))
        .expect("a has room");
    assert!(
        rt.backends[0].acquire(ServerId::new(0)).is_none(),
        "maxconn 1 holds"
    );
    let on_b = rt.backends[0]
        .acquire(ServerId::new(1))
        .expect("b has room");
    assert_eq!(picked(&rt, None), (Availability::Full, vec![]));
    drop(on_b);
    assert_eq!(picked(&rt, None), (Availability::Ready, vec![1]));
    rt.backends[0].servers[0].set_status(ServerStatus::Down);
    assert_eq!(
        picked(&rt, Some(1)),
        (Availability::Ready, vec![1]),
        "the only usable one stays"
    );
}

#[test]
fn a_redispatch_prefers_a_backup_to_the_server_that_just_failed() {
    let cfg = backend(
        vec![server("a", false), server("b", false), server("c", true)],
        false,
    );
    let rt = Runtime::first(cfg);
    rt.backends[0].servers[1].set_status(ServerStatus::Down);
    assert_eq!(picked(&rt, None), (Availability::Ready, vec![0]));
    assert_eq!(picked(&rt, Some(0)), (Availability::Ready, vec![2]));
}

#[test]
fn slowstart_ramps_the_weight_after_a_recovery_only() {
    let mut cfg = backend(vec![server("a", false)], false);
    cfg.backends[0].servers[0].weight = 100;
    cfg.backends[0].servers[0].check.slowstart = Some(Duration::from_millis(300));
    let rt = Runtime::first(cfg);
    let s = &rt.backends[0].servers[0];
    assert_eq!(s.effective_weight(), 100, "no ramp at start-up");
    s.set_oper(Oper::Down);
    s.set_oper(Oper::Up);
    let first = s.effective_weight();
    assert!((1..100).contains(&first), "ramp starts low: {first}");
    let mut seen = vec![first];
    let deadline = Instant::now() + Duration::from_secs(5);
    while *seen.last().unwrap() < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        seen.push(s.effective_weight());
    }
    assert_eq!(*seen.last().unwrap(), 100, "ramp ends at the full weight");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "never goes back: {seen:?}"
    );
    assert!(seen.len() > 3, "ramp has steps: {seen:?}");
}

#[test]
fn downtime_counts_down_and_maintenance_and_lastchg_restarts() {
    let rt = Runtime::first(backend(vec![server("a", false)], false));
    let s = &rt.backends[0].servers[0];
    let pause = || std::thread::sleep(Duration::from_millis(30));
    assert_eq!(s.downtime_ms(), 0);
    s.set_oper(Oper::Down);
    pause();
    s.set_admin(admin::FORCED_MAINT, true);
    pause();
    let stopped = s.downtime_ms();
    assert!(stopped >= 60, "down then maint, both stopped: {stopped}");
    s.set_admin(admin::FORCED_MAINT, false);
    s.set_oper(Oper::Up);
    let after = s.downtime_ms();
    pause();
    assert_eq!(s.downtime_ms(), after, "no downtime while UP");
    let since = s.last_change_ms.load(Ordering::Relaxed);
    s.set_admin(admin::FORCED_DRAIN, true);
    assert!(
        s.last_change_ms.load(Ordering::Relaxed) > since,
        "drain is a change"
    );
    let since = s.last_change_ms.load(Ordering::Relaxed);
    s.set_admin(admin::FORCED_DRAIN, true);
    assert_eq!(
        s.last_change_ms.load(Ordering::Relaxed),
        since,
        "no change, same lastchg"
    );
}

#[test]
fn dynamic_limits_follow_the_backend_load() {
    // (maxconn, minconn, backend load, fullconn, limit)
    let cases: &[(u32, u32, usize, usize, usize)] = &[
        (0, 0, 50, 100, usize::MAX),
        (10, 0, 5, 100, 10),
        (10, 10, 5, 100, 10),
        (10, 2, 5, 100, 2),
        (10, 2, 35, 100, 3),
        (10, 2, 99, 100, 9),
        (10, 2, 100, 100, 10),
        (10, 2, 500, 100, 10),
        (10, 1, 0, 100, 1),
    ];
    for &(max, min, load, full, want) in cases {
        let mut s = server("a", false);
        s.maxconn = Some(max);
        s.minconn = Some(min);
        let rt = Runtime::first(backend(vec![s], false));
        let got = rt.backends[0].servers[0].limit(load, full);
        assert_eq!(
            got, want,
            "maxconn {max} minconn {min} load {load} fullconn {full}"
        );
    }
}

#[test]
fn a_roundrobin_queue_makes_newcomers_wait() {
    let mut cfg = backend(vec![server("a", false)], false);
    let rt = Runtime::first(cfg.clone());
    let b = &rt.backends[0];
    let served: Vec<_> = (0..3)
        .map(|_| b.active.try_take(usize::MAX).unwrap())
        .collect();
    assert!(!b.queue_first(), "no queue");
    let waiting = b.queued.try_take(usize::MAX).unwrap();
    assert!(b.queue_first(), "sessions wait while others are served");
    let pinned = b.pinned.try_take(usize::MAX).unwrap();
    assert!(
        !b.queue_first(),
        "a session waiting for one server holds nobody up"
    );
    drop((pinned, waiting));
    drop(served);
    cfg.backends[0].balance = Balance::LeastConn;
    let rt = Runtime::first(cfg);
    let b = &rt.backends[0];
    let _served: Vec<_> = (0..3)
        .map(|_| b.active.try_take(usize::MAX).unwrap())
        .collect();
    let _waiting = b.queued.try_take(usize::MAX).unwrap();
    assert!(!b.queue_first(), "leastconn looks for room");
}

#[test]
fn first_writes_stop_after_one_that_did_not_pay_and_resume_after_one_that_did() {
    let w = server::FirstWrite::default();
    // (what the last try gave, tries without a probe, tries with one)
    let cases = [
        (None, true, true),
        (Some(false), false, true),
        (Some(true), true, true),
    ];
    for (last, plain, probe) in cases {
        if let Some(paid) = last {
            w.note(paid);
        }
        assert_eq!(w.worth_trying(false), plain, "after {last:?}");
        assert_eq!(w.worth_trying(true), probe, "after {last:?}, probing");
    }
}
