//! `show vrrp` and `show announce` (splicer's own commands; HAProxy has
//! neither): one block of `key: value` lines per `vrrp` (or `announce`)
//! section, blocks separated by an empty line, from what the VRRP (or
//! announce) thread last published. Easy to read for a person and to grep
//! for a script (`state: MASTER`, `announced: yes`).

use std::fmt::Write;
use std::time::{Duration, Instant};

use super::cli::{Command, Ctx, cmd};
use crate::base::vrrp::{State, Status};
use crate::config::{Level, Preempt};
use crate::runtime::VrrpState;

/// `show vrrp`, `show announce`.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "vrrp"],
        Level::User,
        "show vrrp",
        "report the state of each VRRP instance (splicer)",
        show_vrrp,
    ),
    cmd(
        &["show", "announce"],
        Level::User,
        "show announce",
        "report whether each announce section's route is announced (splicer)",
        show_announce,
    ),
];

pub(super) fn show_announce(ctx: &mut Ctx<'_>, _: &[String], out: &mut String) {
    if ctx.rt.process.announce.is_empty() {
        out.push_str("No announce section in the configuration.\n");
        return;
    }
    let now = Instant::now();
    for (i, shared) in ctx.rt.process.announce.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let c = &shared.config;
        let s = shared.status.lock().clone();
        let tracked = if c.track_backends.is_empty() {
            "-".to_string()
        } else {
            c.track_backends.join(" ")
        };
        let lines = [
            ("name", c.name.clone()),
            ("interface", c.interface.clone()),
            ("announced", if s.up { "yes" } else { "no" }.to_string()),
            ("why", s.why.unwrap_or_else(|| "healthy".into())),
            (
                "since",
                format!("{} ago", ms(now.saturating_duration_since(s.since))),
            ),
            ("changes", s.changes.to_string()),
            ("track_backend", tracked),
            ("withdraw_delay", ms(c.withdraw_delay)),
        ];
        for (k, v) in lines {
            let _ = writeln!(out, "{k}: {v}");
        }
    }
}

pub(super) fn show_vrrp(ctx: &mut Ctx<'_>, _: &[String], out: &mut String) {
    if ctx.rt.process.vrrp.is_empty() {
        out.push_str("No vrrp section in the configuration.\n");
        return;
    }
    let now = Instant::now();
    for (i, shared) in ctx.rt.process.vrrp.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        block(shared, now, out);
    }
}

fn block(shared: &VrrpState, now: Instant, out: &mut String) {
    let c = &shared.config;
    let s = shared.status.lock().clone();
    let none = || "-".to_string();
    let vips: Vec<String> = c.vips.iter().map(ToString::to_string).collect();
    let master = match s.master {
        Some((ip, _)) if Some(ip) == s.local_ip => format!("{ip} (this router)"),
        Some((ip, _)) => ip.to_string(),
        None => none(),
    };
    let preempt = match c.preempt {
        Preempt::Yes => "yes".to_string(),
        Preempt::No => "no".to_string(),
        Preempt::After(d) => format!("after {}", ms(d)),
    };
    let last = s.last_transition.as_ref().map_or_else(none, |t| {
        format!(
            "{} -> {}, {} ago: {}",
            t.from,
            t.to,
            ms(now.saturating_duration_since(t.at)),
            t.reason
        )
    });
    let peers = if c.unicast_peers.is_empty() {
        "multicast 224.0.0.18".to_string()
    } else {
        let p: Vec<String> = c.unicast_peers.iter().map(ToString::to_string).collect();
        format!("unicast {}", p.join(" "))
    };
    let tracked: Vec<&str> = c.track_backends.iter().map(String::as_str).collect();
    let lines: [(&str, String); 20] = [
        ("name", c.name.clone()),
        ("state", s.state.to_string()),
        ("interface", c.interface.clone()),
        ("address", s.local_ip.map_or_else(none, |ip| ip.to_string())),
        ("virtual_router_id", c.vrid.to_string()),
        ("priority", s.priority.to_string()),
        ("advert_int", ms(c.advert_int)),
        ("preempt", preempt),
        ("peers", peers),
        ("master", master),
        (
            "master_priority",
            s.master.map_or_else(none, |(_, p)| p.to_string()),
        ),
        (
            "master_advert_int",
            if s.master.is_some() {
                ms(s.master_adver_interval)
            } else {
                none()
            },
        ),
        ("virtual_ipaddress", vips.join(" ")),
        ("vips_held", if s.holds_vips { "yes" } else { "no" }.into()),
        (
            "track_backend",
            if tracked.is_empty() {
                none()
            } else {
                tracked.join(" ")
            },
        ),
        ("fault", s.fault.clone().unwrap_or_else(none)),
        ("transitions", s.transitions.to_string()),
        ("last_transition", last),
        (
            "adverts",
            format!("{} sent, {} received", s.adverts_sent, s.adverts_received),
        ),
        ("dropped", s.dropped.to_string()),
    ];
    for (k, v) in lines {
        let _ = writeln!(out, "{k}: {v}");
    }
}

/// The states `splicer_vrrp_state` has a series for (keepalived's names).
const STATES: [State; 5] = [
    State::Init,
    State::Backup,
    State::Master,
    State::Fault,
    State::Stopped,
];

/// `splicer_vrrp_*` on /metrics (splicer's own; HAProxy has no VRRP), per
/// `vrrp` section, labelled `vrrp="NAME"`: its state (a state set, 1 for
/// the current one), its priority now (tracking lowers it), whether it
/// holds its VIPs, its state changes and adverts so far. An alert on the
/// MASTER series of the router meant to be the master sees a failover
/// from the load balancer itself, with no exporter beside it.
pub(super) fn metrics(rt: &crate::runtime::Runtime, out: &mut String) {
    let instances = &rt.process.vrrp;
    if instances.is_empty() {
        return;
    }
    let all: Vec<_> = instances
        .iter()
        .map(|v| (v.config.name.as_str(), v.status.lock().clone()))
        .collect();
    let mut family =
        |name: &str, ty: &str, help: &str, value: &dyn Fn(&Status) -> Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP splicer_vrrp_{name} {help}");
            let _ = writeln!(out, "# TYPE splicer_vrrp_{name} {ty}");
            for (n, s) in &all {
                for (extra, v) in value(s) {
                    let _ = writeln!(out, "splicer_vrrp_{name}{{vrrp=\"{n}\"{extra}}} {v}");
                }
            }
        };
    family(
        "state",
        "gauge",
        "The VRRP instance's state (1 for the current one).",
        &|s| {
            STATES
                .iter()
                .map(|st| (format!(",state=\"{st}\""), u64::from(*st == s.state)))
                .collect()
        },
    );
    family(
        "priority",
        "gauge",
        "The priority the instance advertises now (tracking lowers it).",
        &|s| vec![(String::new(), u64::from(s.priority))],
    );
    family(
        "vips_held",
        "gauge",
        "Whether this process has put the virtual addresses on the interface.",
        &|s| vec![(String::new(), u64::from(s.holds_vips))],
    );
    family(
        "transitions_total",
        "counter",
        "State changes since start.",
        &|s| vec![(String::new(), s.transitions)],
    );
    family(
        "adverts_sent_total",
        "counter",
        "Advertisements sent.",
        &|s| vec![(String::new(), s.adverts_sent)],
    );
    family(
        "adverts_received_total",
        "counter",
        "Advertisements received and accepted.",
        &|s| vec![(String::new(), s.adverts_received)],
    );
}

/// `100ms`, `1500ms`: milliseconds, as the config can write them.
fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use crate::admin::cli::{Session, run_line};
    use crate::base::vrrp::{State, Transition};
    use crate::config::{Level, parse_str};
    use crate::runtime::Runtime;
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    const CONFIG: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
listen web\n bind 127.0.0.1:0\n server s 127.0.0.1:1\n\
vrrp VI_1\n interface eth0\n virtual_router_id 51\n priority 150\n advert_int 0.1\n\
 virtual_ipaddress 198.51.100.100/24 198.51.100.101\n track_backend web\n";

    fn show(rt: &Runtime) -> String {
        let mut out = String::new();
        run_line(
            b"show vrrp",
            rt,
            &[],
            &mut Session::new(Level::User),
            &mut out,
        );
        out
    }

    #[test]
    fn shows_what_the_vrrp_thread_published() {
        let rt = Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config);
        let before = show(&rt);
        assert!(before.contains("state: INIT\n"), "{before}");
        assert!(before.contains("master: -\n"), "{before}");
        {
            let mut s = rt.process.vrrp[0].status.lock();
            s.state = State::Master;
            s.local_ip = Some(Ipv4Addr::new(198, 51, 100, 11));
            s.master = Some((Ipv4Addr::new(198, 51, 100, 11), 150));
            s.master_adver_interval = Duration::from_millis(100);
            s.holds_vips = true;
            s.transitions = 2;
            s.last_transition = Some(Transition {
                at: Instant::now() - Duration::from_millis(1500),
                from: State::Backup,
                to: State::Master,
                reason: "master 198.51.100.12 stopped (priority 0 advertisement)".into(),
            });
        }
        let out = show(&rt);
        for line in [
            "name: VI_1\n",
            "state: MASTER\n",
            "interface: eth0\n",
            "address: 198.51.100.11\n",
            "priority: 150\n",
            "advert_int: 100ms\n",
            "master: 198.51.100.11 (this router)\n",
            "master_priority: 150\n",
            "virtual_ipaddress: 198.51.100.100/24 198.51.100.101/32\n",
            "vips_held: yes\n",
            "track_backend: web\n",
            "transitions: 2\n",
            "peers: multicast 224.0.0.18\n",
        ] {
            assert!(out.contains(line), "missing {line:?} in:\n{out}");
        }
        assert!(
            out.contains("last_transition: BACKUP -> MASTER, 15"),
            "{out}"
        );
        assert!(
            out.contains("ms ago: master 198.51.100.12 stopped"),
            "{out}"
        );
        // Without vrrp sections.
        let plain = CONFIG.split("vrrp VI_1").next().unwrap();
        let rt = Runtime::first(parse_str("t.cfg", plain).unwrap().config);
        assert_eq!(show(&rt), "No vrrp section in the configuration.\n\n");
    }

    #[test]
    fn metrics_say_the_state_priority_and_transitions() {
        let rt = Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config);
        {
            let mut s = rt.process.vrrp[0].status.lock();
            s.state = State::Backup;
            s.priority = 100;
            s.transitions = 3;
            s.adverts_received = 42;
        }
        let out = crate::admin::metrics::render(&rt, "scope=vrrp");
        let want = "# HELP splicer_vrrp_state The VRRP instance's state (1 for the current one).\n\
# TYPE splicer_vrrp_state gauge\n\
splicer_vrrp_state{vrrp=\"VI_1\",state=\"INIT\"} 0\n\
splicer_vrrp_state{vrrp=\"VI_1\",state=\"BACKUP\"} 1\n\
splicer_vrrp_state{vrrp=\"VI_1\",state=\"MASTER\"} 0\n\
splicer_vrrp_state{vrrp=\"VI_1\",state=\"FAULT\"} 0\n\
splicer_vrrp_state{vrrp=\"VI_1\",state=\"STOP\"} 0\n";
        assert!(out.starts_with(want), "{out}");
        for line in [
            "splicer_vrrp_priority{vrrp=\"VI_1\"} 100\n",
            "splicer_vrrp_vips_held{vrrp=\"VI_1\"} 0\n",
            "# TYPE splicer_vrrp_transitions_total counter\nsplicer_vrrp_transitions_total{vrrp=\"VI_1\"} 3\n",
            "splicer_vrrp_adverts_received_total{vrrp=\"VI_1\"} 42\n",
        ] {
            assert!(out.contains(line), "missing {line:?} in:\n{out}");
        }
        // In the whole exposition too, not in another scope's.
        assert!(crate::admin::metrics::render(&rt, "").contains(want));
        assert!(!crate::admin::metrics::render(&rt, "scope=mysql").contains("splicer_vrrp"));
        // Without vrrp sections: no family at all.
        let plain = CONFIG.split("vrrp VI_1").next().unwrap();
        let rt = Runtime::first(parse_str("t.cfg", plain).unwrap().config);
        assert!(!crate::admin::metrics::render(&rt, "").contains("splicer_vrrp"));
    }
}
