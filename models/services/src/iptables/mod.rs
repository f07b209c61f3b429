//! kube-proxy's iptables mode (kubernetes release 1.31 line): rule generation exactly as its
//! proxier writes the filter and nat tables, rendering to `iptables-restore` text, and two
//! evaluators of the first packet of a connection that agree rule for rule —
//! `IptablesReference` walks every rule as the kernel does, `IptablesFast` skips through an
//! index and reports the same verdict, work, random draws and trace.
//!
//! Layout: `names` (chain-name hashes, probabilities), `rule` (rules and tables), `generate`
//! (syncProxyRules, over kube-proxy's endpoint view `ServiceSet::categorize`), `render`
//! (restore text and dump), `recent` (xt_recent affinity lists), `eval` (the netfilter walk),
//! `index` (the fast candidate index).

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
        let rs = generate(set, node, &self.config);
        // Per-service chains that existed and are no longer written: flushed and deleted.
        let mut declared = vec![false; rs.nat.chains.len()];
        for &(id, _) in &rs.nat.decl_order {
            declared[id as usize] = true;
        }
        let mut stale: Vec<String> = match &self.ruleset {
            Some(old) => old
                .service_chains()
                .filter(|n| rs.nat.find(n).is_none_or(|id| !declared[id as usize]))
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        stale.sort();
        let mut bytes = 0u64;
        let objects = render::restore_lines(&rs, scope, &stale, |parts| {
            bytes += parts.iter().map(|p| p.len() as u64).sum::<u64>() + 1;
        });
        if self.keep_restore_text {
            self.last_restore_text = Some(render::restore_text(&rs, scope, &stale).0);
        }
        // The kernel frees a recent list when the last rule naming it goes.
        let mut names: rustc_hash::FxHashSet<&str> = Default::default();
        for c in &rs.nat.chains {
            for r in &c.rules {
                for m in &r.matches {
                    if let rule::Match::RecentSet { chain } | rule::Match::RecentCheck { chain, .. } = *m {
                        names.insert(rs.nat.chains[chain as usize].name.as_str());
                    }
                }
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
