//! kube-proxy's nftables mode: owns the `ip kube-proxy` table a node holds (generated as
//! kube-proxy's nftables proxier writes it), its `nft -f` rendering, full and partial syncs
//! with what each writes, and two evaluators that walk a packet through it.
//!
//! `NftablesReference` finds chains and set/map elements by linear scan; `NftablesFast` by
//! hash lookup, and follows jumps and verdicts to the chain slot the table bound them to when
//! they were added. Both run the same kernel-order walk (`eval`), so they report the same
//! work: in nftables mode the kernel's own cost per packet does not grow with the number of
//! Services (verdict maps are hash lookups), and that is what `Work` counts; the fast
//! evaluator's wall time does not grow either.

mod eval;
mod gen;
mod ir;
#[cfg(test)]
mod tests;

pub use eval::{Finder, Indexed, Scan};
pub use gen::{endpoint_chain_base, hash_and_truncate, service_chain_base, NftConfig};

use crate::model::*;
use gen::Fragment;
use ir::{render_element, render_rule, Tables};
use std::collections::BTreeSet;

/// The nftables datapath of one node, generic over how lookups find objects.
pub struct Nftables<F: Finder> {
    finder: F,
    cfg: NftConfig,
    node: Option<NodeView>,
    tables: Tables,
    /// What each Service (by index) wrote, so a partial sync can take it back out.
    frags: Vec<Fragment>,
    aff: eval::Affinity,
}

/// Linear-scan evaluator: the definition the fast one is held to.
pub type NftablesReference = Nftables<Scan>;
/// Indexed evaluator for large Service counts.
pub type NftablesFast = Nftables<Indexed>;

impl NftablesReference {
    pub fn new(cfg: NftConfig) -> Self {
        Nftables::with_finder(Scan, cfg)
    }
}

impl NftablesFast {
    pub fn new(cfg: NftConfig) -> Self {
        Nftables::with_finder(Indexed, cfg)
    }
}

/// Counts one written object and its line of transaction text.
fn wrote(stats: &mut SyncStats, line: &str) {
    stats.objects_written += 1;
    stats.bytes_written += line.len() as u64 + 1;
}

impl<F: Finder> Nftables<F> {
    pub fn with_finder(finder: F, cfg: NftConfig) -> Self {
        Nftables {
            finder,
            cfg,
            node: None,
            tables: Tables::default(),
            frags: Vec::new(),
            aff: Default::default(),
        }
    }

    /// Number of rules in the table (all chains).
    pub fn rule_count(&self) -> usize {
        self.tables.chains().map(|(_, c)| c.rules.len()).sum()
    }

    /// Number of chains in the table.
    pub fn chain_count(&self) -> usize {
        self.tables.chains().count()
    }

    fn insert(&mut self, f: &Fragment) {
        for (name, c) in &f.chains {
            self.tables.insert_chain(name, c.clone());
        }
        for (name, c) in &f.sets {
            self.tables.containers.insert(name.clone(), c.clone());
        }
        for (map, key, e) in &f.elements {
            self.tables.insert_element(map, *key, e.clone());
        }
    }

    fn remove(&mut self, f: &Fragment) {
        for (name, _) in &f.chains {
            self.tables.remove_chain(name);
        }
        for (name, _) in &f.sets {
            self.tables.containers.remove(name);
        }
        for (map, key, e) in &f.elements {
            let c = self.tables.containers.get_mut(*map).expect("base map");
            // Only take back what this Service wrote (another may have claimed the key since).
            if c.elements.get(key).is_some_and(|old| old.owner == e.owner) {
                c.elements.remove(key);
            }
        }
    }

    /// Affinity entries live as long as their set; a sync that deletes a set drops them.
    fn prune_affinity(&mut self) {
        let t = &self.tables;
        self.aff.retain(|set, _| t.containers.contains_key(set));
    }

    /// What kube-proxy's transaction writes for a changed Service: every chain (add + flush)
    /// with all its rules, its affinity sets, the elements that are new or changed, deletes
    /// of the elements it no longer has, and a flush of each chain that went stale.
    fn diff_stats(stats: &mut SyncStats, old: &Fragment, new: &Fragment) {
        for (name, c) in &new.chains {
            wrote(stats, &c.render_decl(name));
            for r in &c.rules {
                wrote(stats, &render_rule(name, r));
            }
        }
        for (name, c) in &new.sets {
            wrote(stats, &c.render_decl(name));
        }
        let new_chains: BTreeSet<&str> = new.chains.iter().map(|(n, _)| n.as_str()).collect();
        for (name, _) in old.chains.iter().filter(|(n, _)| !new_chains.contains(n.as_str())) {
            wrote(stats, &format!("flush chain {} {name}", ir::TABLE));
        }
        for (map, key, e) in &new.elements {
            let same = old
                .elements
                .iter()
                .any(|(m, k, o)| m == map && k == key && o.value == e.value);
            if !same {
                wrote(stats, &render_element(map, key, e));
            }
        }
        for (map, key, _) in &old.elements {
            if !new.elements.iter().any(|(m, k, _)| m == map && k == key) {
                let line = format!("delete element {} {map} {{ {} }}", ir::TABLE, key.render());
                wrote(stats, &line);
            }
        }
    }
}

impl<F: Finder> ServiceDatapath for Nftables<F> {
    fn mode(&self) -> Mode {
        Mode::Nftables
    }

    fn full_sync(&mut self, set: &ServiceSet, node: &NodeView) -> SyncStats {
        set.assert_consistent();
        self.tables = gen::base_tables(node, &self.cfg);
        self.frags = (0..set.services.len())
            .map(|s| gen::service_fragment(set, s, node))
            .collect();
        let frags = std::mem::take(&mut self.frags);
        for f in &frags {
            self.insert(f);
        }
        self.frags = frags;
        self.node = Some(node.clone());
        self.prune_affinity();
        // The whole `nft -f` script is written; only its size matters here.
        let (objects_written, bytes_written) = self.tables.text_size();
        SyncStats {
            objects_written,
            bytes_written,
        }
    }

    fn partial_sync(&mut self, set: &ServiceSet, node: &NodeView, changed: &[usize]) -> SyncStats {
        set.assert_consistent();
        // A different node, or Services added or removed (indices shift), needs the full path.
        if self.node.as_ref() != Some(node) || set.services.len() != self.frags.len() {
            return self.full_sync(set, node);
        }
        let mut stats = SyncStats::default();
        let changed: BTreeSet<usize> = changed.iter().copied().collect();
        for s in changed {
            assert!(s < set.services.len(), "changed service {s} out of range");
            let new = gen::service_fragment(set, s, node);
            let old = std::mem::take(&mut self.frags[s]);
            Self::diff_stats(&mut stats, &old, &new);
            self.remove(&old);
            self.insert(&new);
            self.frags[s] = new;
        }
        self.prune_affinity();
        stats
    }

    fn lookup(
        &mut self,
        pkt: &Packet,
        origin: Origin,
        now_ns: u64,
        rng: &mut dyn RandomSource,
        trace: Option<&mut Vec<TraceStep>>,
    ) -> Verdict {
        let node = self.node.as_ref().expect("lookup before full_sync");
        eval::lookup(
            &self.tables,
            &self.finder,
            node,
            &mut self.aff,
            pkt,
            origin,
            now_ns,
            rng,
            trace,
        )
    }

    fn dump(&self) -> String {
        self.tables.render()
    }
}
