//! kube-proxy's iptables mode (kubernetes release 1.31 line): rule generation exactly as its
//! proxier writes the filter and nat tables, rendering to `iptables-restore` text, and two
//! evaluators of the first packet of a connection that agree rule for rule —
//! `IptablesReference` walks every rule as the kernel does, `IptablesFast` skips through an
//! index and reports the same verdict, work, random draws and trace.
//!
//! Layout: `names` (chain-name hashes, probabilities), `rule` (rules and tables), `build`
//! (writing a table), `arena` (the tables' shared text and name index), `generate`
//! (syncProxyRules, over kube-proxy's endpoint view `ServiceSet::categorize`), `render`
//! (restore text and dump), `recent` (xt_recent affinity lists), `eval` (the netfilter walk),
//! `index` (the fast candidate index).
//!
//! Size and speed (issue 3: 30,000 Services × 10 endpoints, a million rules, synced well under
//! a second): a table is a few large buffers, not an allocation per rule (`rule`, `arena`); a
//! sync writes the new ruleset into the old one's buffers (`build::Recycled`); the bytes a
//! sync writes are summed as the rules are generated, not rendered (`render::restore_size`).

pub mod arena;
pub mod build;
pub mod eval;
pub mod generate;
pub mod index;
pub mod names;
pub mod recent;
pub mod render;
pub mod rule;

#[cfg(test)]
mod tests;

pub use generate::{generate, ProxierConfig, Ruleset};

use crate::model::*;
use recent::RecentState;
use render::Scope;

/// What both evaluators hold: the programmed ruleset and the kernel's affinity lists.
#[derive(Clone, Debug, Default)]
pub struct IptablesState {
    pub config: ProxierConfig,
    ruleset: Option<Ruleset>,
    pub recent: RecentState,
    /// Restore text of the last sync (kept only when asked, it can be large).
    pub keep_restore_text: bool,
    pub last_restore_text: Option<String>,
}

impl IptablesState {
    pub fn new(config: ProxierConfig) -> IptablesState {
        IptablesState {
            config,
            ..IptablesState::default()
        }
    }

    /// The programmed ruleset. Panics before the first sync.
    pub fn ruleset(&self) -> &Ruleset {
        self.ruleset
            .as_ref()
            .expect("an iptables datapath is synced before it is used")
    }

    fn sync(&mut self, set: &ServiceSet, node: &NodeView, scope: Scope<'_>) -> SyncStats {
        // Checked before the old ruleset is taken apart, so a bad set leaves it in place.
        set.assert_consistent();
        // The old ruleset goes before the new one is built, its buffers written over: a node
        // never holds two, and a large sync faults in no fresh pages. Only the names of its
        // per-service chains are kept, to find the stale ones.
        let (old_chains, reuse) = self.ruleset.take().map(Ruleset::recycle).unwrap_or_default();
        let rs = generate::generate_into(set, node, &self.config, reuse);
        let mut stale = stale_chains(&old_chains, &rs);
        drop(old_chains);
        stale.sort();
        let (objects, bytes) = render::restore_size(&rs, scope, &stale);
        if self.keep_restore_text {
            self.last_restore_text = Some(render::restore_text(&rs, scope, &stale).0);
        }
        // The kernel frees a recent list when the last rule naming it goes.
        let mut names: rustc_hash::FxHashSet<&str> = Default::default();
        for m in &rs.nat.matches {
            if let rule::Match::RecentSet { chain } | rule::Match::RecentCheck { chain, .. } = *m {
                names.insert(rs.nat.chains[chain as usize].name.as_str());
            }
        }
        self.recent.retain(|n| names.contains(n));
        self.ruleset = Some(rs);
        SyncStats {
            objects_written: objects,
            bytes_written: bytes,
        }
    }

    fn changed_scope(set: &ServiceSet, changed: &[usize]) -> Vec<u32> {
        let mut c: Vec<u32> = changed
            .iter()
            .map(|&s| {
                assert!(s < set.services.len(), "changed service {s} is in the new set");
                s as u32
            })
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// Per-service chains that existed (`old`, in their declaration order) and are no longer
/// declared: a sync flushes and deletes them.
///
/// Both lists are in kube-proxy's writing order and mostly agree, so they are walked side by
/// side and a name is looked up only where they differ (then the walk resumes after the
/// name's new position): a sync of a third of a million chains compares names in order
/// instead of making as many random probes.
fn stale_chains(old: &[arena::ArenaStr], rs: &Ruleset) -> Vec<String> {
    let nat = &rs.nat;
    let new: Vec<u32> = nat
        .decl_order
        .iter()
        .map(|&(id, _)| id)
        .filter(|&id| names::is_service_chain(&nat.chains[id as usize].name))
        .collect();
    let mut pos = vec![u32::MAX; nat.chains.len()];
    for (k, &id) in new.iter().enumerate() {
        pos[id as usize] = k as u32;
    }
    let mut stale = Vec::new();
    let mut j = 0usize;
    for name in old {
        if new.get(j).is_some_and(|&id| nat.chains[id as usize].name == **name) {
            j += 1;
            continue;
        }
        match nat.find(name).map(|id| pos[id as usize]) {
            Some(k) if k != u32::MAX => j = k as usize + 1,
            _ => stale.push(name.to_string()),
        }
    }
    stale
}

/// The kernel's linear walk over every rule.
#[derive(Clone, Debug, Default)]
pub struct IptablesReference {
    pub state: IptablesState,
}

impl IptablesReference {
    pub fn new(config: ProxierConfig) -> Self {
        IptablesReference {
            state: IptablesState::new(config),
        }
    }
}

/// The same walk through a hash index of the long chains.
#[derive(Clone, Debug, Default)]
pub struct IptablesFast {
    pub state: IptablesState,
    index: index::FastIndex,
}

impl IptablesFast {
    pub fn new(config: ProxierConfig) -> Self {
        IptablesFast {
            state: IptablesState::new(config),
            index: index::FastIndex::default(),
        }
    }
}

impl ServiceDatapath for IptablesReference {
    fn mode(&self) -> Mode {
        Mode::Iptables
    }

    fn full_sync(&mut self, set: &ServiceSet, node: &NodeView) -> SyncStats {
        self.state.sync(set, node, Scope::Full)
    }

    fn partial_sync(&mut self, set: &ServiceSet, node: &NodeView, changed: &[usize]) -> SyncStats {
        let c = IptablesState::changed_scope(set, changed);
        self.state.sync(set, node, Scope::Changed(&c))
    }

    fn lookup(
        &mut self,
        pkt: &Packet,
        origin: Origin,
        now_ns: u64,
        rng: &mut dyn RandomSource,
        trace: Option<&mut Vec<TraceStep>>,
    ) -> Verdict {
        let rs = self
            .state
            .ruleset
            .as_ref()
            .expect("an iptables datapath is synced before it is used");
        eval::lookup(
            rs,
            &mut self.state.recent,
            &eval::Linear,
            pkt,
            origin,
            now_ns,
            rng,
            trace,
        )
    }

    fn dump(&self) -> String {
        render::dump(self.state.ruleset())
    }
}

impl ServiceDatapath for IptablesFast {
    fn mode(&self) -> Mode {
        Mode::Iptables
    }

    fn full_sync(&mut self, set: &ServiceSet, node: &NodeView) -> SyncStats {
        let st = self.state.sync(set, node, Scope::Full);
        self.index = index::FastIndex::build(self.state.ruleset());
        st
    }

    fn partial_sync(&mut self, set: &ServiceSet, node: &NodeView, changed: &[usize]) -> SyncStats {
        let c = IptablesState::changed_scope(set, changed);
        let st = self.state.sync(set, node, Scope::Changed(&c));
        self.index = index::FastIndex::build(self.state.ruleset());
        st
    }

    fn lookup(
        &mut self,
        pkt: &Packet,
        origin: Origin,
        now_ns: u64,
        rng: &mut dyn RandomSource,
        trace: Option<&mut Vec<TraceStep>>,
    ) -> Verdict {
        let rs = self
            .state
            .ruleset
            .as_ref()
            .expect("an iptables datapath is synced before it is used");
        eval::lookup(rs, &mut self.state.recent, &self.index, pkt, origin, now_ns, rng, trace)
    }

    fn dump(&self) -> String {
        render::dump(self.state.ruleset())
    }
}
