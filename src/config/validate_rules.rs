//! Rules once every section is read: each proxy's ACLs and rules become one
//! shared [`RuleSet`] (a `listen` section's frontend and backend hold the
//! same), and the backends and servers they name are resolved, with
//! HAProxy's messages for names that do not exist.

use std::sync::Arc;

use super::model::*;
use super::parser::Diags;
use super::proxy::ProxyDraft;
use crate::base::ids::ServerId;

/// Every sample expression of a rule set, for resolving names.
fn samples_mut(rs: &mut RuleSet, f: &mut dyn FnMut(&mut SampleExpr)) {
    for acl in &mut rs.acls {
        for e in &mut acl.exprs {
            f(&mut e.sample);
        }
    }
    for r in rs.tcp_rules_mut() {
        if let Some(e) = r.action.sample_mut() {
            f(e);
        }
    }
    for r in &mut rs.stick {
        f(&mut r.key);
    }
    for u in &mut rs.use_backend {
        if let SwitchTarget::Dynamic(parts) = &mut u.target {
            for p in parts {
                if let TemplatePart::Sample(e) = p {
                    f(e);
                }
            }
        }
    }
}

/// Points a table reference at its table: an empty name is the proxy's
/// own (`own`).
fn resolve_table(r: &mut TableRef, own: &str, tables: &[StickTable]) -> Result<(), String> {
    let name = if r.name.is_empty() { own } else { &r.name };
    match tables.iter().position(|t| t.name == name) {
        Some(i) => {
            r.id = Some(TableId(i));
            Ok(())
        }
        None if r.name.is_empty() => Err(format!(
            "no stick-table in '{own}': declare one there or name one with 'table NAME'"
        )),
        None => Err(format!("unable to find stick-table '{name}'")),
    }
}

/// Builds and links each proxy's rule set.
pub(super) fn link(config: &mut Config, proxies: &[ProxyDraft], d: &mut Diags) {
    let find_backend = |config: &Config, name: &str| config.backend(name);
    let mut sets = Vec::new();
    // Tables `stick` rules use: they store the server (HAProxy adds
    // server_id and server_key to them).
    let mut sticky = Vec::new();
    for p in proxies {
        let mut rs = p.rules.clone();
        rs.acls = p.acls.acls.clone();
        let who = p.who();
        let mut missing = Vec::new();
        for r in rs.tcp_rules_mut() {
            if let Action::Track { table, .. } = &mut r.action
                && let Err(e) = resolve_table(table, &p.name, &config.tables)
            {
                d.error(&r.location, format!("{who}: {e}"));
            }
        }
        for r in &mut rs.stick {
            match super::stick_rules::link(r, &p.name, &config.tables) {
                Ok(t) => sticky.push(t),
                Err(e) => d.error(&r.location, e),
            }
        }
        samples_mut(&mut rs, &mut |e| {
            let text = e.text.clone();
            let table = match &mut e.fetch {
                Fetch::Sc { table: Some(t), .. }
                | Fetch::SrcData { table: t, .. }
                | Fetch::TableCount(_, t) => Some(t),
                _ => None,
            };
            let converters = e.converters.iter_mut().filter_map(|c| match c {
                Converter::Table { table, .. } => Some(table),
                _ => None,
            });
            for t in table.into_iter().chain(converters) {
                if let Err(err) = resolve_table(t, &p.name, &config.tables) {
                    missing.push(format!("{who}: '{text}': {err}"));
                }
            }
            let mut resolve = |b: &mut BackendRef| match find_backend(config, &b.name) {
                Some(id) => b.id = Some(id),
                None => missing.push(format!(
                    "{who}: unable to find backend '{}' referenced by '{text}'.",
                    b.name
                )),
            };
            match &mut e.fetch {
                Fetch::Nbsrv(Some(b)) | Fetch::BeConn(Some(b)) | Fetch::Connslots(Some(b)) => {
                    resolve(b)
                }
                Fetch::SrvIsUp(b, server, id) => {
                    if b.name.is_empty() {
                        b.name = p.name.clone();
                    }
                    resolve(b);
                    if let Some(be) = b.id.map(|i| &config.backends[i.index()]) {
                        match be.servers.iter().position(|s| s.name == *server) {
                            Some(i) => *id = Some(ServerId::new(i)),
                            None => missing.push(format!(
                                "{who}: unable to find server '{server}' in backend '{}' referenced by '{text}'.",
                                b.name
                            )),
                        }
                    }
                }
                _ => {}
            }
        });
        for m in missing {
            d.error(&p.location, m);
        }
        for u in &mut rs.use_backend {
            if let SwitchTarget::Backend(b) = &mut u.target {
                match find_backend(config, &b.name) {
                    Some(id) => b.id = Some(id),
                    None => d.error(
                        &u.location,
                        format!("{who}: unable to find required use_backend: '{}'.", b.name),
                    ),
                }
            }
        }
        if p.kind.back() {
            let servers = config
                .backend(&p.name)
                .map(|b| &config.backends[b.index()].servers);
            for u in &mut rs.use_server {
                match servers.and_then(|s| s.iter().position(|s| s.name == u.name)) {
                    Some(i) => u.server = Some(ServerId::new(i)),
                    None => d.error(
                        &u.location,
                        format!(
                            "{who}: unable to find server '{}' referenced in a 'use-server' rule.",
                            u.name
                        ),
                    ),
                }
            }
        }
        sets.push((p.name.clone(), p.kind, Arc::new(rs)));
    }
    for TableId(i) in sticky {
        let store = &mut config.tables[i].store;
        for t in [DataType::ServerId, DataType::ServerKey] {
            if !store.iter().any(|(s, _)| *s == t) {
                store.push((t, None));
            }
        }
        store.sort_by_key(|(t, _)| *t);
    }
    for (name, kind, rs) in sets {
        if kind.front()
            && let Some(fe) = config.frontends.iter_mut().find(|f| f.name == name)
        {
            fe.rules = rs.clone();
        }
        if kind.back()
            && let Some(b) = config.backend(&name)
        {
            config.backends[b.index()].rules = rs;
        }
    }
}
