//! Reloading the configuration in place (SIGHUP, SIGUSR2), without a new
//! process and without dropping a connection.
//!
//! The new files are read and checked first; a config with errors is
//! logged and the running one stays. Otherwise: listeners whose address
//! and socket options stay are kept open (their queued clients are not
//! reset), new binds are opened (a bind that fails aborts the reload),
//! and each worker gets the new runtime: removed listeners accept what is
//! queued on them and close, and sessions in flight finish under the
//! config they started with. Server state set at run time or learnt by the
//! checks carries over by name ([`Runtime::reloaded`]); the health checker
//! restarts on the new config; the runtime API answers from the new one.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use crate::base::ids::FrontendId;
use crate::base::service::Service;
use crate::config::{self, Bind, Config};
use crate::control::{Control, ControlLink, Kept, Reload};
use crate::logging::{Book, Logger};
use crate::net::{self as listener, BindError, Listener};
use crate::runtime::{Current, Runtime};
use crate::{health, host};

mod edits;

/// Starts the logger of `rt`'s config, and makes it the one that gets
/// server events when its backends log.
pub(crate) fn start_logger(rt: &Runtime) -> io::Result<Logger> {
    let logger = Logger::start(Book {
        global: rt.global.clone(),
        frontends: rt.frontends.iter().map(|f| f.config.clone()).collect(),
        backends: rt.backends.iter().map(|b| b.config.clone()).collect(),
    })?;
    let events = rt.backends.iter().any(|b| !b.config.log.targets.is_empty());
    rt.process
        .set_event_sink(events.then(|| logger.sender.clone()));
    Ok(logger)
}

/// What makes a bound socket reusable by a new config: the address as
/// written, and the options of its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BindKey {
    addr: config::BindAddr,
    /// A UNIX socket file's mode and owner.
    perms: config::UnixPerms,
    v6only: bool,
    v4v6: bool,
    /// A socket with other options is a new socket.
    options: config::ListenOptions,
}

impl BindKey {
    /// `None` for port 0: each config gets a port of its own there.
    fn of(bind: &Bind) -> Option<BindKey> {
        let port0 = bind.addr.tcp().is_some_and(|a| a.port() == 0);
        (!port0).then_some(BindKey {
            addr: bind.addr.clone(),
            perms: bind.perms,
            v6only: bind.v6only,
            v4v6: bind.v4v6,
            options: bind.options.clone(),
        })
    }
}

/// A bind the workers listen on, and the address really bound.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    key: Option<BindKey>,
    addr: config::BindAddr,
}

/// The listeners a config needs, given what is already open.
pub(crate) struct Listeners {
    /// Per worker: sockets opened for binds that were not open before.
    pub opened: Vec<Vec<Listener>>,
    /// Open sockets the new config keeps, with what they now feed.
    pub keep: Vec<Kept>,
    /// Every bind of the new config.
    pub bound: Vec<Bound>,
}

impl Listeners {
    /// Opens what `config` binds that `before` does not already hold. On
    /// an error, the sockets opened so far are closed (dropped) and the
    /// ones in `before` are untouched. With `same`, `config` has the binds
    /// of `before` in the same order (a runtime API change): every one is
    /// kept, port 0 included.
    pub(crate) fn open(
        config: &Config,
        workers: usize,
        before: &[Bound],
        same: bool,
    ) -> Result<Listeners, BindError> {
        let mut out = Listeners {
            opened: (0..workers).map(|_| Vec::new()).collect(),
            keep: Vec::new(),
            bound: Vec::new(),
        };
        let serving = config
            .frontends
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.disabled && f.stats.is_none());
        for (fi, fe) in serving {
            let fi = FrontendId::new(fi);
            for (bi, bind) in fe.binds.iter().enumerate() {
                let luid = bi as u32 + 1;
                let key = BindKey::of(bind);
                let old = if same {
                    before.get(out.bound.len())
                } else {
                    key.as_ref()
                        .and_then(|k| before.iter().find(|b| b.key.as_ref() == Some(k)))
                };
                if let Some(old) = old {
                    out.keep.push(Kept {
                        addr: old.addr.clone(),
                        luid,
                        frontend: fi,
                        accept_proxy: bind.accept_proxy,
                        backlog: bind.backlog.unwrap_or(config::DEFAULT_BACKLOG),
                    });
                    out.bound.push(old.clone());
                    continue;
                }
                let reuseport = !config.global.noreuseport;
                let ls = listener::open_bind(bind, luid, fi, &fe.name, workers, reuseport)?;
                log::info!("frontend {} listening on {}", fe.name, ls[0].addr);
                out.bound.push(Bound {
                    key,
                    addr: ls[0].addr.clone(),
                });
                for (w, l) in ls.into_iter().enumerate() {
                    out.opened[w].push(l);
                }
            }
        }
        Ok(out)
    }
}

/// What the main thread holds of the running process, to reload it.
pub(crate) struct Supervisor {
    pub files: Vec<PathBuf>,
    /// What the command line told the parser (`-L`).
    pub load: config::LoadOptions,
    pub rt: Arc<Runtime>,
    /// The runtime the admin thread answers from.
    pub current: Current,
    pub links: Vec<ControlLink>,
    pub checker: Option<Service>,
    /// The DNS resolver (`resolvers`), when a server uses it.
    pub resolver: Option<Service>,
    /// The peers thread, when a table is shared with `peers`.
    pub peers: Option<Service>,
    /// The MySQL cluster monitor, when the config has a `mysql-cluster`.
    pub mysql: Option<Service>,
    pub logger: Logger,
    /// Logger threads of older configs: they end when the last session of
    /// their config is gone; joined at exit so their lines are written.
    pub retired_loggers: Vec<Service>,
    pub bound: Vec<Bound>,
    pub reloads: u64,
    /// The files as last read, which runtime API changes parse again.
    pub sources: config::Sources,
    /// What the runtime API changed in the servers, applied over the files.
    pub overlay: config::Overlay,
    /// The runtime API's changes on their way ([`edits`]).
    pub edits: crossbeam_channel::Receiver<crate::runtime::edits::Request>,
}

impl Supervisor {
    /// Reads the config files again and switches to them, or logs why not.
    pub(crate) fn reload(&mut self) {
        host::notify("RELOADING=1");
        match self.try_reload() {
            Ok(()) => {
                self.reloads += 1;
                self.rt.process.reloads.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "configuration reloaded ({} reloads so far): {} frontends, {} backends",
                    self.reloads,
                    self.rt.frontends.len(),
                    self.rt.backends.len()
                );
            }
            Err(why) => {
                self.rt
                    .process
                    .failed_reloads
                    .fetch_add(1, Ordering::Relaxed);
                log::error!("reload aborted, the previous configuration stays: {why}")
            }
        }
        host::notify("READY=1");
    }

    fn try_reload(&mut self) -> Result<(), String> {
        log::info!("reloading the configuration");
        let sources = config::Sources::read(&self.files);
        let report = |e: config::LoadError| {
            for w in &e.warnings {
                log::warn!("{w}");
            }
            for err in &e.errors {
                log::error!("{err}");
            }
            format!("{} error(s) in the configuration", e.errors.len())
        };
        let plain = config::LoadOptions {
            overlay: config::Overlay::default(),
            ..self.load.clone()
        };
        let mut loaded = sources.parse(&plain).map_err(report)?;
        // The runtime API's server changes outlive the reload where they
        // still fit the files.
        let (mut overlay, dropped) = self.overlay.fitting(&loaded.config);
        for d in dropped {
            log::warn!("reload: {d}");
        }
        if !overlay.is_empty() {
            let options = config::LoadOptions {
                overlay: overlay.clone(),
                ..self.load.clone()
            };
            match sources.parse(&options) {
                Ok(l) => loaded = l,
                Err(e) => {
                    let errors: Vec<String> = e.errors.iter().map(|d| d.message.clone()).collect();
                    log::error!(
                        "reload: the runtime API's server changes no longer fit the files and are dropped: {}",
                        errors.join("; ")
                    );
                    overlay = config::Overlay::default();
                }
            }
        }
        for w in &loaded.warnings {
            log::warn!("{w}");
        }
        let config = loaded.config;
        // A maxconn the open files limit cannot hold is refused, as a
        // restart would refuse it (strict-limits).
        config.enforce_fd_limit()?;
        // A bad certificate keeps the old config, as a bad line does.
        let tls = crate::tls::Contexts::load(&config).map_err(|errors| {
            for e in &errors {
                log::error!("{e}");
            }
            format!("{} error(s) in the TLS files", errors.len())
        })?;
        self.switch(config, tls, false, |_| {})?;
        self.sources = sources;
        self.overlay = overlay;
        Ok(())
    }

    /// Puts `config` in effect: listeners opened and kept, the threads
    /// that follow a config started again on it, the state carried by
    /// name, every worker switched. `prepare` sees the new runtime before
    /// any worker does.
    fn switch(
        &mut self,
        config: Config,
        tls: crate::tls::Contexts,
        same_binds: bool,
        prepare: impl FnOnce(&Runtime),
    ) -> Result<(), String> {
        self.warn_fixed(&config);
        let workers = self.links.len();
        let ls = Listeners::open(&config, workers, &self.bound, same_binds)
            .map_err(|e| e.to_string())?;
        // The checker stops before the state is copied, so no result of
        // the old one is lost between the copy and the switch.
        if let Some(c) = self.checker.take() {
            c.stop();
        }
        // So is the resolver: an address it finds is then carried over.
        if let Some(r) = self.resolver.take() {
            r.stop();
        }
        // And the peers thread: the tables the new config keeps go on
        // with their update logs, and its links start again.
        if let Some(p) = self.peers.take() {
            p.stop();
        }
        // And the monitor: what it learnt is carried in the cluster view;
        // the new one logs in again.
        if let Some(m) = self.mysql.take() {
            m.stop();
        }
        let rt = Arc::new(Runtime::reloaded(config, &self.rt).with_tls(tls));
        prepare(&rt);
        // From here on, server events go to the new config's logger.
        let logger = start_logger(&rt).unwrap_or_else(|e| {
            log::error!("cannot start the logger for the new configuration: {e}; its sessions are not logged");
            rt.process.set_event_sink(None);
            Logger::disabled()
        });
        let plan = Arc::new(Reload {
            rt: rt.clone(),
            logs: logger.sender.clone(),
            keep: ls.keep,
            opened: ls.opened.into_iter().map(Mutex::new).collect(),
        });
        for l in &self.links {
            l.send(Control::Reload(plan.clone()));
        }
        drop(plan);
        match health::start(rt.clone(), self.links.clone()) {
            Ok(c) => self.checker = c,
            Err(e) => log::error!("cannot start the health checker: {e}; servers keep their state"),
        }
        match crate::dns::start(rt.clone()) {
            Ok(r) => self.resolver = r,
            Err(e) => {
                log::error!("cannot start the DNS resolver: {e}; servers keep their addresses")
            }
        }
        match crate::peers::start(rt.clone()) {
            Ok(p) => self.peers = p,
            Err(e) => log::error!("cannot start the peers thread: {e}; tables are not shared"),
        }
        match crate::mysql::start(rt.clone(), self.links.clone()) {
            Ok(m) => self.mysql = m,
            Err(e) => {
                log::error!("cannot start the mysql monitor: {e}; database roles stay as they were")
            }
        }
        self.current.set(rt.clone());
        let old = std::mem::replace(&mut self.logger, logger);
        self.retired_loggers.extend(old.detach());
        self.rt = rt;
        self.bound = ls.bound;
        Ok(())
    }

    /// Settings a reload cannot change in a running process.
    fn warn_fixed(&self, new: &Config) {
        let (old, g) = (&self.rt.global, &new.global);
        if g.workers() != self.links.len() {
            log::warn!(
                "reload: nbthread changes take effect at the next restart ({} workers run)",
                self.links.len()
            );
        }
        if g.maxpipes != old.maxpipes {
            log::warn!("reload: maxpipes changes take effect at the next restart");
        }
        if g.stats_sockets != old.stats_sockets {
            log::warn!("reload: stats socket changes take effect at the next restart");
        }
        // Stats frontends are served by the admin thread on the sockets it
        // opened at start; their settings follow the reload (by name), their
        // binds do not.
        let stats_binds = |fes: &mut dyn Iterator<Item = &config::Frontend>| {
            let mut v: Vec<(String, Vec<String>)> = fes
                .filter(|f| f.stats.is_some() && !f.disabled)
                .map(|f| {
                    (
                        f.name.clone(),
                        f.binds.iter().map(|b| b.addr.to_string()).collect(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let running = stats_binds(&mut self.rt.frontends.iter().map(|f| &f.config));
        if stats_binds(&mut new.frontends.iter()) != running {
            log::warn!(
                "reload: stats frontend binds take effect at the next restart (their settings are reloaded)"
            );
        }
        // Where a section is in the files does not matter, what it says does.
        let what = |v: &config::VrrpInstance| config::VrrpInstance {
            location: config::Location::default(),
            ..v.clone()
        };
        let running = self.rt.process.vrrp.iter().map(|s| what(&s.config));
        if !new.vrrp.iter().map(what).eq(running) {
            log::warn!(
                "reload: vrrp section changes take effect at the next restart (the running instances keep their settings)"
            );
        }
        let what = |a: &config::Announce| config::Announce {
            location: config::Location::default(),
            ..a.clone()
        };
        let running = self.rt.process.announce.iter().map(|s| what(&s.config));
        if !new.announce.iter().map(what).eq(running) {
            log::warn!(
                "reload: announce section changes take effect at the next restart (the running sections keep their settings)"
            );
        }
    }

    /// Joins the logger threads so every line is written. Call after the
    /// workers are gone.
    pub(crate) fn finish(mut self) {
        if let Some(r) = self.resolver.take() {
            r.stop();
        }
        if let Some(p) = self.peers.take() {
            p.stop();
        }
        if let Some(m) = self.mysql.take() {
            m.stop();
        }
        self.rt.process.set_event_sink(None);
        self.logger.finish();
        for t in self.retired_loggers {
            t.join();
        }
    }
}
