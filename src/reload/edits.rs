//! The runtime API's changes to servers ([`crate::runtime::edits`]),
//! applied by the main thread as a reload of the same files: the config
//! is parsed again with every change so far plus the new one, and put in
//! effect with [`Supervisor::switch`]; a change the config refuses leaves
//! everything as it was and its errors are the answer.

use std::sync::atomic::Ordering;

use super::Supervisor;
use crate::config;
use crate::runtime::admin;
use crate::runtime::edits::{Edit, Request};

impl Supervisor {
    /// Applies the changes waiting, answering each.
    pub(crate) fn run_edits(&mut self, stopping: bool) {
        while let Ok(Request { edit, reply }) = self.edits.try_recv() {
            let answer = if stopping {
                Err(vec!["the process is stopping".to_string()])
            } else {
                self.edit(edit)
            };
            let _ = reply.send(answer);
        }
    }

    fn edit(&mut self, edit: Edit) -> Result<(), Vec<String>> {
        let mut overlay = self.overlay.clone();
        match &edit {
            Edit::Add(a) => overlay.add(a.clone()),
            Edit::Delete { backend, server } => overlay.delete(backend, server),
            Edit::Set(s) => overlay.set(s.clone()),
        }
        let options = config::LoadOptions {
            overlay: overlay.clone(),
            ..self.load.clone()
        };
        let messages = |e: Vec<config::Diagnostic>| -> Vec<String> {
            e.into_iter().map(|d| d.message).collect()
        };
        let loaded = self
            .sources
            .parse(&options)
            .map_err(|e| messages(e.errors))?;
        let tls = crate::tls::Contexts::load_into(&loaded.config, self.rt.tls.store.clone())?;
        // A new server starts in maintenance with its checks off, as
        // HAProxy's dynamic servers do: `enable server`, `enable health`
        // and `enable agent` (or `set server ... state ready`) bring it in.
        let added = match &edit {
            Edit::Add(a) => Some((a.backend.clone(), a.name.clone())),
            _ => None,
        };
        self.switch(loaded.config, tls, true, |rt| {
            let Some((b, s)) = &added else { return };
            let Some(be) = rt.backends.iter().find(|x| x.config.name == *b) else {
                return;
            };
            if let Some(srv) = be.servers.iter().find(|x| x.name == *s) {
                srv.set_admin(admin::FORCED_MAINT, true);
                srv.check_disabled.store(true, Ordering::Relaxed);
                srv.agent_disabled.store(true, Ordering::Relaxed);
                be.refresh_state();
            }
        })
        .map_err(|e| vec![e])?;
        self.overlay = overlay;
        match &edit {
            Edit::Add(a) => log::info!(
                "runtime API: server {}/{} added (in maintenance)",
                a.backend,
                a.name
            ),
            Edit::Delete { backend, server } => {
                log::info!("runtime API: server {backend}/{server} deleted")
            }
            Edit::Set(s) => log::info!(
                "runtime API: server {}/{}: {:?}",
                s.backend,
                s.server,
                s.change
            ),
        }
        Ok(())
    }
}
