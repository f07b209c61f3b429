//! Cilium's eBPF service datapath (kube-proxy replacement): the service, backend, source-range,
//! affinity and Maglev maps a node holds, the first-packet lookup over them, and
//! `cilium-dbg bpf lb list` output. Two engines implement `ServiceDatapath`:
//! `ReferenceEbpf` keeps every map as a `Vec` and scans it; `EbpfEngine` uses hash maps and
//! caches Maglev tables. Both run the one lookup algorithm in `lookup`, so their verdicts, work
//! counts and traces agree whenever their maps answer alike (checked by proptest).
//!
//! Socket-level load balancing (`EbpfConfig::socket_lb`, on by default in Cilium's kube-proxy
//! replacement): connections started on the node (from a pod or the host) are translated once
//! at `connect()` by the cgroup hooks. The verdict is the same `Dnat`, and `Work` counts the map
//! lookups the hook makes; there is no per-packet DNAT or reverse NAT for such a flow, which the
//! cluster model asks through `EbpfEngine::translated_at_socket` to skip per-packet NAT work
//! and reply rewriting. Traffic from outside the node is always translated per packet.
//!
//! Sources: cilium/cilium bpf/lib/lb.h, bpf/lib/hash.h, pkg/maglev, pkg/murmur3,
//! pkg/loadbalancer (ServiceFlags), cilium-dbg/cmd/bpf_lb_list.go.

pub mod dump;
pub mod lookup;
pub mod maglev;
pub mod maps;

#[cfg(test)]
mod tests;

pub use maps::{frontends_needed, MAX_FRONTENDS};

use crate::model::*;
use ipnet::Ipv4Net;
use maps::{Backend, Frontend, Ids, LbKey, LbValue, Program, Scope};
use rustc_hash::FxHashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Backend selection (`--bpf-lb-algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `random` (Cilium's default): a uniformly random slot.
    Random,
    /// `maglev` with table size M (`--bpf-lb-maglev-table-size`).
    Maglev { table_size: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EbpfConfig {
    pub algorithm: Algorithm,
    /// Socket-level LB for connections started on the node.
    pub socket_lb: bool,
    pub seeds: maglev::Seeds,
}

impl Default for EbpfConfig {
    fn default() -> EbpfConfig {
        EbpfConfig {
            algorithm: Algorithm::Random,
            socket_lb: true,
            seeds: maglev::Seeds::default(),
        }
    }
}

impl EbpfConfig {
    /// Maglev with table size `m` (one of `maglev::SUPPORTED_TABLE_SIZES`).
    pub fn maglev(m: u32) -> EbpfConfig {
        assert!(
            maglev::SUPPORTED_TABLE_SIZES.contains(&m),
            "Maglev table size {m} is not one Cilium accepts"
        );
        EbpfConfig {
            algorithm: Algorithm::Maglev { table_size: m },
            ..EbpfConfig::default()
        }
    }

    fn maglev_m(&self) -> Option<u32> {
        match self.algorithm {
            Algorithm::Maglev { table_size } => Some(table_size),
            Algorithm::Random => None,
        }
    }
}

/// The programmed state both engines share: config, node, id allocation and the maps' contents.
#[derive(Clone, Debug)]
struct Programmed {
    cfg: EbpfConfig,
    /// Shared so a lookup can hold it while the engine is borrowed mutably.
    node: Arc<NodeView>,
    ids: Ids,
    program: Program,
}

impl Programmed {
    fn new(cfg: EbpfConfig) -> Programmed {
        Programmed {
            cfg,
            node: Arc::new(NodeView {
                name: String::new(),
                node_ips: Vec::new(),
                cluster_cidr: None,
            }),
            ids: Ids::default(),
            program: Program::default(),
        }
    }

    fn sync(&mut self, set: &ServiceSet, node: &NodeView, full: bool) -> SyncStats {
        let old = if full {
            self.ids = Ids::default();
            Program::default()
        } else {
            std::mem::take(&mut self.program)
        };
        self.node = Arc::new(node.clone());
        self.program = maps::build(set, node, &mut self.ids);
        maps::diff_stats(&old, &self.program, self.cfg.maglev_m())
    }

    fn table_backends(&self, f: &Frontend, scope: Scope) -> Vec<maglev::TableBackend> {
        let all = &self.program.backends;
        f.backends(scope)
            .iter()
            .map(|id| {
                // `backends` is sorted by id.
                let i = all
                    .binary_search_by_key(id, |(b, _)| *b)
                    .expect("a frontend's backends are programmed");
                let b = &all[i].1;
                maglev::TableBackend {
                    name: maglev::backend_hash_string(b.ip, b.port, b.proto),
                    id: *id,
                    // DefaultBackendWeight: every Kubernetes backend weighs the same.
                    weight: 100,
                }
            })
            .collect()
    }
}

/// Whether LB_SRC_RANGE (an LPM trie of allowed CIDRs per frontend) admits `src`.
fn in_ranges<'a>(mut ranges: impl Iterator<Item = &'a Ipv4Net>, src: Ipv4Addr) -> bool {
    ranges.any(|r| r.contains(&src))
}

/// The reference engine: every map a `Vec`, every lookup a scan.
#[derive(Clone, Debug)]
pub struct ReferenceEbpf {
    st: Programmed,
    affinity: Vec<((Ipv4Addr, u16), (u32, u64))>,
}

impl ReferenceEbpf {
    pub fn new(cfg: EbpfConfig) -> ReferenceEbpf {
        ReferenceEbpf {
            st: Programmed::new(cfg),
            affinity: Vec::new(),
        }
    }

    fn frontend(&self, rev_nat: u16) -> &Frontend {
        self.st
            .program
            .frontends
            .values()
            .find(|f| f.rev_nat == rev_nat)
            .expect("a master entry's frontend exists")
    }
}

impl lookup::Maps for ReferenceEbpf {
    fn service(&self, key: &LbKey) -> Option<LbValue> {
        self.st.program.services.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
    fn backend(&self, id: u32) -> Option<&Backend> {
        self.st.program.backends.iter().find(|(i, _)| *i == id).map(|(_, b)| b)
    }
    fn src_range_ok(&self, rev_nat: u16, src: Ipv4Addr) -> bool {
        in_ranges(
            self.st
                .program
                .src_ranges
                .iter()
                .filter(|(r, _)| *r == rev_nat)
                .map(|(_, n)| n),
            src,
        )
    }
    fn owner(&self, rev_nat: u16) -> (u32, u32) {
        let f = self.frontend(rev_nat);
        (f.service, f.port)
    }
    fn endpoint_index(&self, rev_nat: u16, backend: u32) -> Option<u32> {
        self.frontend(rev_nat).endpoint_index.get(&backend).copied()
    }
    fn maglev(&mut self, rev_nat: u16, scope: Scope, index: u32) -> u32 {
        let m = self.st.cfg.maglev_m().expect("Maglev configured");
        let f = self.frontend(rev_nat).clone();
        let table = maglev::lookup_table_reference(&self.st.table_backends(&f, scope), m, &self.st.cfg.seeds);
        table[index as usize]
    }
    fn affinity(&self, client: Ipv4Addr, rev_nat: u16) -> Option<(u32, u64)> {
        self.affinity
            .iter()
            .find(|(k, _)| *k == (client, rev_nat))
            .map(|(_, v)| *v)
    }
    fn set_affinity(&mut self, client: Ipv4Addr, rev_nat: u16, backend: u32, now_ns: u64) {
        self.clear_affinity(client, rev_nat);
        self.affinity.push(((client, rev_nat), (backend, now_ns)));
    }
    fn clear_affinity(&mut self, client: Ipv4Addr, rev_nat: u16) {
        self.affinity.retain(|(k, _)| *k != (client, rev_nat));
    }
}

/// Maglev tables kept at once; beyond this the cache is emptied (tables are pure functions of
/// the backends, so this changes memory, never results).
const MAGLEV_CACHE_TABLES: usize = 512;

/// The fast engine: hash maps for every lookup, Maglev tables built on first use. Every
/// per-lookup access is O(1) in the number of Services (issue 3: lookups stay flat in wall
/// time), so nothing here is an ordered map.
#[derive(Clone, Debug)]
pub struct EbpfEngine {
    st: Programmed,
    services: FxHashMap<LbKey, LbValue>,
    backends: FxHashMap<u32, Backend>,
    src_ranges: FxHashMap<u16, Vec<Ipv4Net>>,
    /// (service, port) per reverse-NAT id, indexed by the id (ids are 16 bits, so this is at
    /// most 65,536 entries).
    owners: Vec<(u32, u32)>,
    /// (reverse-NAT id, backend id) → endpoint index.
    endpoints: FxHashMap<(u16, u32), u32>,
    affinity: FxHashMap<(Ipv4Addr, u16), (u32, u64)>,
    maglev: FxHashMap<(u16, Scope), Vec<u32>>,
}

impl EbpfEngine {
    pub fn new(cfg: EbpfConfig) -> EbpfEngine {
        EbpfEngine {
            st: Programmed::new(cfg),
            services: FxHashMap::default(),
            backends: FxHashMap::default(),
            src_ranges: FxHashMap::default(),
            owners: Vec::new(),
            endpoints: FxHashMap::default(),
            affinity: FxHashMap::default(),
            maglev: FxHashMap::default(),
        }
    }

    pub fn config(&self) -> &EbpfConfig {
        &self.st.cfg
    }

    /// True when a connection from `origin` is load-balanced at the socket (connect/sendmsg),
    /// so its packets carry the backend address from the start: no per-packet DNAT, no reverse
    /// NAT on replies.
    pub fn translated_at_socket(&self, origin: Origin) -> bool {
        lookup::socket_translated(&self.st.cfg, origin)
    }

    /// The maps' contents as last programmed.
    pub fn program(&self) -> &Program {
        &self.st.program
    }

    fn index(&mut self) {
        let p = &self.st.program;
        self.services = p.services.iter().copied().collect();
        self.backends = p.backends.iter().cloned().collect();
        self.src_ranges.clear();
        for (r, n) in &p.src_ranges {
            self.src_ranges.entry(*r).or_default().push(*n);
        }
        let top = p.frontends.keys().next_back().map_or(0, |&id| usize::from(id));
        self.owners.clear();
        self.owners.resize(top + 1, (NO_SERVICE, NO_PORT));
        self.endpoints.clear();
        self.endpoints
            .reserve(p.frontends.values().map(|f| f.endpoint_index.len()).sum());
        for (&id, f) in &p.frontends {
            self.owners[usize::from(id)] = (f.service, f.port);
            self.endpoints
                .extend(f.endpoint_index.iter().map(|(&b, &i)| ((id, b), i)));
        }
        self.maglev.clear();
    }
}

impl lookup::Maps for EbpfEngine {
    fn service(&self, key: &LbKey) -> Option<LbValue> {
        self.services.get(key).copied()
    }
    fn backend(&self, id: u32) -> Option<&Backend> {
        self.backends.get(&id)
    }
    fn src_range_ok(&self, rev_nat: u16, src: Ipv4Addr) -> bool {
        in_ranges(self.src_ranges.get(&rev_nat).into_iter().flatten(), src)
    }
    fn owner(&self, rev_nat: u16) -> (u32, u32) {
        self.owners[usize::from(rev_nat)]
    }
    fn endpoint_index(&self, rev_nat: u16, backend: u32) -> Option<u32> {
        self.endpoints.get(&(rev_nat, backend)).copied()
    }
    fn maglev(&mut self, rev_nat: u16, scope: Scope, index: u32) -> u32 {
        if !self.maglev.contains_key(&(rev_nat, scope)) {
            if self.maglev.len() >= MAGLEV_CACHE_TABLES {
                self.maglev.clear();
            }
            let m = self.st.cfg.maglev_m().expect("Maglev configured");
            let f = &self.st.program.frontends[&rev_nat];
            let t = maglev::lookup_table(&self.st.table_backends(f, scope), m, &self.st.cfg.seeds);
            self.maglev.insert((rev_nat, scope), t);
        }
        self.maglev[&(rev_nat, scope)][index as usize]
    }
    fn affinity(&self, client: Ipv4Addr, rev_nat: u16) -> Option<(u32, u64)> {
        self.affinity.get(&(client, rev_nat)).copied()
    }
    fn set_affinity(&mut self, client: Ipv4Addr, rev_nat: u16, backend: u32, now_ns: u64) {
        self.affinity.insert((client, rev_nat), (backend, now_ns));
    }
    fn clear_affinity(&mut self, client: Ipv4Addr, rev_nat: u16) {
        self.affinity.remove(&(client, rev_nat));
    }
}

macro_rules! impl_datapath {
    ($t:ty, $after_sync:expr, $full_reset:expr) => {
        impl ServiceDatapath for $t {
            fn mode(&self) -> Mode {
                Mode::Ebpf
            }
            fn full_sync(&mut self, set: &ServiceSet, node: &NodeView) -> SyncStats {
                let s = self.st.sync(set, node, true);
                #[allow(clippy::redundant_closure_call)]
                ($full_reset)(&mut *self);
                #[allow(clippy::redundant_closure_call)]
                ($after_sync)(&mut *self);
                s
            }
            fn partial_sync(&mut self, set: &ServiceSet, node: &NodeView, _changed: &[usize]) -> SyncStats {
                // The maps are recomputed whole and diffed, so what is written is exactly what
                // changed, whatever `changed` says.
                let s = self.st.sync(set, node, false);
                #[allow(clippy::redundant_closure_call)]
                ($after_sync)(&mut *self);
                s
            }
            fn lookup(
                &mut self,
                pkt: &Packet,
                origin: Origin,
                now_ns: u64,
                rng: &mut dyn RandomSource,
                trace: Option<&mut Vec<TraceStep>>,
            ) -> Verdict {
                let cfg = self.st.cfg;
                let node = Arc::clone(&self.st.node);
                lookup::lookup(self, &cfg, &node, pkt, origin, now_ns, rng, trace)
            }
            fn dump(&self) -> String {
                dump::lb_list(&self.st.program)
            }
        }
    };
}

impl_datapath!(ReferenceEbpf, |_: &mut ReferenceEbpf| {}, |e: &mut ReferenceEbpf| e
    .affinity
    .clear());
impl_datapath!(EbpfEngine, |e: &mut EbpfEngine| e.index(), |e: &mut EbpfEngine| e
    .affinity
    .clear());
