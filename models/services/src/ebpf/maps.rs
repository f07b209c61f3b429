//! The BPF maps the Cilium agent writes for a node, computed from the Services: the service map
//! (`cilium_lb4_services_v2`, keyed address/port/proto/scope/slot), the backend map
//! (`cilium_lb4_backends_v3`), the source ranges (`cilium_lb4_source_range`), plus what the
//! agent keeps beside them (which frontend belongs to which Service port, backend → endpoint
//! index) so verdicts can be phrased in the seam's terms.
//!
//! Frontends per Service port (pkg/loadbalancer): the ClusterIP; for a NodePort, every node IP
//! and the `0.0.0.0` surrogate (non-routable: only socket LB matches it, for local addresses
//! without an entry of their own); each external IP; each LoadBalancer ingress IP. Each
//! frontend has its own reverse-NAT id. Backends are the categorized endpoints (kube-proxy's
//! rules, `ServiceSet::categorize`, which also leaves one per address as Cilium keys them) of
//! the policy that applies to the frontend; ClusterIP frontends follow internalTrafficPolicy,
//! the others externalTrafficPolicy, and when the two policies differ an external frontend gets
//! two scopes (`two-scopes`): the external scope serves traffic from outside the node, the
//! internal scope traffic from its pods and host.
//!
//! Ids (reverse NAT, backend) are allocated once and kept across partial syncs, as the agent
//! does; a full sync starts them again from 1.

use crate::model::*;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `lb4_key.scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    External,
    Internal,
}

/// `struct lb4_key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LbKey {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: Protocol,
    pub scope: Scope,
    /// 0: the master entry; 1..=count: backend slots.
    pub slot: u16,
}

impl LbKey {
    /// `ServiceKey.String()`: `ADDR:PORT/PROTO`, `/i` for the internal scope.
    pub fn frontend_string(&self) -> String {
        let scope = if self.scope == Scope::Internal { "/i" } else { "" };
        format!("{}:{}/{}{}", self.addr, self.port, self.proto.as_k8s(), scope)
    }
}

/// Service flags (the subset cnsim programs), printed as `ServiceFlags.String()` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    pub kind: FrontendKind,
    pub ext_local: bool,
    pub int_local: bool,
    pub two_scopes: bool,
    pub affinity: bool,
    pub routable: bool,
    pub source_range: bool,
}

impl Flags {
    pub fn describe(&self) -> String {
        let mut s = vec![self.kind.name()];
        if self.ext_local {
            s.push("Local");
        }
        if self.int_local {
            s.push("InternalLocal");
        }
        if self.two_scopes {
            s.push("two-scopes");
        }
        if self.affinity {
            s.push("sessionAffinity");
        }
        if !self.routable {
            s.push("non-routable");
        }
        if self.source_range {
            s.push("check source-range");
        }
        s.join(", ")
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrontendKind {
    #[default]
    ClusterIP,
    NodePort,
    ExternalIPs,
    LoadBalancer,
}

impl FrontendKind {
    pub fn name(self) -> &'static str {
        match self {
            FrontendKind::ClusterIP => "ClusterIP",
            FrontendKind::NodePort => "NodePort",
            FrontendKind::ExternalIPs => "ExternalIPs",
            FrontendKind::LoadBalancer => "LoadBalancer",
        }
    }
}

/// `struct lb4_service`: the master entry holds count, flags and the affinity timeout; slots
/// hold a backend id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LbValue {
    pub backend_id: u32,
    pub count: u16,
    pub rev_nat: u16,
    pub flags: Flags,
    pub affinity_timeout_s: u32,
}

/// `struct lb4_backend`, plus the node the agent knows it is on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Backend {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub proto: Protocol,
    pub node: String,
}

/// What the agent knows of a frontend (one reverse-NAT id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontend {
    pub rev_nat: u16,
    pub service: u32,
    pub port: u32,
    pub key: LbKey,
    /// Backend ids in slot order, per scope (`internal` only with two scopes).
    pub external: Vec<u32>,
    pub internal: Option<Vec<u32>>,
    /// Backend id → index in the port's endpoint list (`LB_AFFINITY_MATCH_MAP` plus the index).
    pub endpoint_index: BTreeMap<u32, u32>,
}

impl Frontend {
    pub fn backends(&self, scope: Scope) -> &[u32] {
        match scope {
            Scope::External => &self.external,
            Scope::Internal => self.internal.as_deref().unwrap_or(&self.external),
        }
    }
}

/// Everything one sync writes, in canonical (sorted) order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub services: Vec<(LbKey, LbValue)>,
    pub backends: Vec<(u32, Backend)>,
    pub src_ranges: Vec<(u16, Ipv4Net)>,
    /// Indexed by rev_nat - 1 is not guaranteed (ids persist), so keyed.
    pub frontends: BTreeMap<u16, Frontend>,
}

/// Id allocation that survives partial syncs.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    rev_nat: BTreeMap<(Ipv4Addr, u16, Protocol), u16>,
    backend: BTreeMap<(Ipv4Addr, u16, Protocol), u32>,
    next_rev_nat: u16,
    next_backend: u32,
}

impl Ids {
    fn rev_nat(&mut self, k: (Ipv4Addr, u16, Protocol)) -> u16 {
        if let Some(&id) = self.rev_nat.get(&k) {
            return id;
        }
        // The invariant behind MAX_FRONTENDS (callers check `frontends_needed` first).
        self.next_rev_nat = self
            .next_rev_nat
            .checked_add(1)
            .expect("rev NAT ids exhausted: more than MAX_FRONTENDS (65,535) frontends");
        self.rev_nat.insert(k, self.next_rev_nat);
        self.next_rev_nat
    }

    fn backend(&mut self, k: (Ipv4Addr, u16, Protocol)) -> u32 {
        if let Some(&id) = self.backend.get(&k) {
            return id;
        }
        self.next_backend += 1;
        self.backend.insert(k, self.next_backend);
        self.next_backend
    }

    /// Forgets ids no longer used, so a later reappearance gets a fresh one.
    fn retain(&mut self, p: &Program) {
        let live_fe: std::collections::BTreeSet<u16> = p.frontends.keys().copied().collect();
        self.rev_nat.retain(|_, id| live_fe.contains(id));
        let live_be: std::collections::BTreeSet<u32> = p.backends.iter().map(|b| b.0).collect();
        self.backend.retain(|_, id| live_be.contains(id));
    }
}

const WILDCARD: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// The most frontends one node's datapath holds: reverse-NAT ids (`lb4_key`'s
/// `rev_nat_index`, the `lb4_reverse_nat` key) are 16 bits and 0 is not an id.
pub const MAX_FRONTENDS: usize = u16::MAX as usize;

/// The frontends (address, port, kind, routable) of one port of a Service with a ClusterIP, in
/// the order the agent programs them; `build` keeps the first Service's of any duplicate key.
fn port_frontends(
    cluster_ip: Ipv4Addr,
    svc: &Service,
    port: &ServicePort,
    node: &NodeView,
) -> Vec<(Ipv4Addr, u16, FrontendKind, bool)> {
    let mut frontends = vec![(cluster_ip, port.port, FrontendKind::ClusterIP, false)];
    if let Some(np) = port.node_port {
        for ip in &node.node_ips {
            frontends.push((*ip, np, FrontendKind::NodePort, true));
        }
        frontends.push((WILDCARD, np, FrontendKind::NodePort, false));
    }
    for ip in &svc.external_ips {
        frontends.push((*ip, port.port, FrontendKind::ExternalIPs, true));
    }
    for ip in &svc.load_balancer_ips {
        frontends.push((*ip, port.port, FrontendKind::LoadBalancer, true));
    }
    frontends
}

/// How many frontends (so reverse-NAT ids) `set` needs on `node`: one per distinct
/// (address, port, protocol) among every ClusterIP, NodePort (each node IP and the `0.0.0.0`
/// surrogate), external IP and LoadBalancer IP of every port. A full sync of more than
/// `MAX_FRONTENDS` panics ("rev NAT ids exhausted"); this lets a caller refuse such a
/// ServiceSet first. Ids persist across partial syncs and freed ones are not reused, so every
/// frontend a partial sync adds takes a fresh id on top of those already handed out.
pub fn frontends_needed(set: &ServiceSet, node: &NodeView) -> usize {
    let mut keys = rustc_hash::FxHashSet::default();
    for svc in &set.services {
        let Some(cluster_ip) = svc.cluster_ip else {
            continue;
        };
        for port in &svc.ports {
            let fes = port_frontends(cluster_ip, svc, port, node);
            keys.extend(fes.into_iter().map(|(addr, p, _, _)| (addr, p, port.protocol)));
        }
    }
    keys.len()
}

/// Builds the maps for `node` from `set`, allocating ids through `ids`.
pub fn build(set: &ServiceSet, node: &NodeView, ids: &mut Ids) -> Program {
    set.assert_consistent();
    let mut p = Program::default();
    let mut services: BTreeMap<LbKey, LbValue> = BTreeMap::new();
    let mut backends: BTreeMap<u32, Backend> = BTreeMap::new();
    for (s, svc) in set.services.iter().enumerate() {
        let Some(cluster_ip) = svc.cluster_ip else {
            continue; // headless: nothing to program
        };
        for (pi, port) in svc.ports.iter().enumerate() {
            let eps = &set.endpoints[s][pi];
            let cat = set.categorize(s, pi, &node.name);
            // (backend id, endpoint index) per policy. The categorized endpoints are already
            // one per address (Cilium's backend key, within one port and protocol); slots
            // follow the API list, the order the agent received them in.
            let mut to_backends = |positions: &[usize]| -> Vec<(u32, u32)> {
                let mut idx = cat.indices(positions);
                idx.sort_unstable();
                idx.into_iter()
                    .map(|i| {
                        let e = &eps[i];
                        let id = ids.backend((e.ip, e.port, port.protocol));
                        backends.entry(id).or_insert_with(|| Backend {
                            ip: e.ip,
                            port: e.port,
                            proto: port.protocol,
                            node: e.node.clone(),
                        });
                        (id, i as u32)
                    })
                    .collect()
            };
            let cluster = to_backends(&cat.cluster);
            let local = to_backends(&cat.local);
            let pick = |pol: TrafficPolicy| match pol {
                TrafficPolicy::Cluster => cluster.clone(),
                TrafficPolicy::Local => local.clone(),
            };
            let itp = svc.internal_traffic_policy;
            let etp = svc.external_traffic_policy;
            for (addr, fport, kind, routable) in port_frontends(cluster_ip, svc, port, node) {
                let base = LbKey {
                    addr,
                    port: fport,
                    proto: port.protocol,
                    scope: Scope::External,
                    slot: 0,
                };
                if services.contains_key(&base) {
                    continue; // a duplicate frontend: the first Service keeps it
                }
                let rev_nat = ids.rev_nat((addr, fport, port.protocol));
                let external_kind = kind != FrontendKind::ClusterIP;
                let (ext, int) = if external_kind {
                    let two = etp != itp;
                    (pick(etp), two.then(|| pick(itp)))
                } else {
                    (pick(itp), None)
                };
                let source_range = kind == FrontendKind::LoadBalancer && !svc.load_balancer_source_ranges.is_empty();
                let flags = Flags {
                    kind,
                    ext_local: external_kind && etp == TrafficPolicy::Local,
                    int_local: itp == TrafficPolicy::Local,
                    two_scopes: int.is_some(),
                    affinity: svc.session_affinity_seconds.is_some(),
                    routable,
                    source_range,
                };
                let mut endpoint_index = BTreeMap::new();
                for (b, i) in ext.iter().chain(int.iter().flatten()) {
                    endpoint_index.entry(*b).or_insert(*i);
                }
                let scopes = [(Scope::External, Some(&ext)), (Scope::Internal, int.as_ref())];
                for (scope, list) in scopes {
                    let Some(list) = list else { continue };
                    let key = LbKey { scope, ..base };
                    let count = u16::try_from(list.len()).expect("at most 65535 backends");
                    services.insert(
                        key,
                        LbValue {
                            backend_id: 0,
                            count,
                            rev_nat,
                            flags,
                            affinity_timeout_s: svc.session_affinity_seconds.unwrap_or(0),
                        },
                    );
                    for (slot, (b, _)) in list.iter().enumerate() {
                        services.insert(
                            LbKey {
                                slot: slot as u16 + 1,
                                ..key
                            },
                            LbValue {
                                backend_id: *b,
                                count: 0,
                                rev_nat,
                                flags: Flags::default(),
                                affinity_timeout_s: 0,
                            },
                        );
                    }
                }
                if source_range {
                    for r in &svc.load_balancer_source_ranges {
                        p.src_ranges.push((rev_nat, *r));
                    }
                }
                p.frontends.insert(
                    rev_nat,
                    Frontend {
                        rev_nat,
                        service: s as u32,
                        port: pi as u32,
                        key: base,
                        external: ext.iter().map(|x| x.0).collect(),
                        internal: int.map(|v| v.iter().map(|x| x.0).collect()),
                        endpoint_index,
                    },
                );
            }
        }
    }
    // Only backends some frontend uses are written.
    let used: std::collections::BTreeSet<u32> = p
        .frontends
        .values()
        .flat_map(|f| f.endpoint_index.keys().copied())
        .collect();
    p.services = services.into_iter().collect();
    p.backends = backends.into_iter().filter(|(id, _)| used.contains(id)).collect();
    p.src_ranges.sort();
    ids.retain(&p);
    p
}

/// Approximate BPF key+value sizes (bpf/lib/common.h structs) for the bytes a sync writes.
pub const SERVICE_ENTRY_BYTES: u64 = 24;
pub const BACKEND_ENTRY_BYTES: u64 = 16;
pub const REV_NAT_ENTRY_BYTES: u64 = 10;
pub const SRC_RANGE_ENTRY_BYTES: u64 = 13;

/// What going from `old` to `new` writes: changed or new entries and deletions in every map,
/// plus one reverse-NAT entry per new/changed frontend and, with Maglev, `m` table entries for
/// every (frontend, scope) whose backend list changed.
pub fn diff_stats(old: &Program, new: &Program, maglev_m: Option<u32>) -> SyncStats {
    fn diff<K: Ord + Clone, V: PartialEq>(a: &[(K, V)], b: &[(K, V)]) -> u64 {
        let am: BTreeMap<&K, &V> = a.iter().map(|(k, v)| (k, v)).collect();
        let bm: BTreeMap<&K, &V> = b.iter().map(|(k, v)| (k, v)).collect();
        let upserts = bm.iter().filter(|(k, v)| am.get(*k) != Some(*v)).count();
        let deletes = am.keys().filter(|k| !bm.contains_key(*k)).count();
        (upserts + deletes) as u64
    }
    let svc = diff(&old.services, &new.services);
    let be = diff(&old.backends, &new.backends);
    let sr = {
        let a: Vec<((u16, Ipv4Net), ())> = old.src_ranges.iter().map(|x| (*x, ())).collect();
        let b: Vec<((u16, Ipv4Net), ())> = new.src_ranges.iter().map(|x| (*x, ())).collect();
        diff(&a, &b)
    };
    let mut rev = 0u64;
    let mut tables = 0u64;
    for (id, f) in &new.frontends {
        let before = old.frontends.get(id);
        if before.map(|b| b.key) != Some(f.key) {
            rev += 1;
        }
        for scope in [Scope::External, Scope::Internal] {
            if scope == Scope::Internal && f.internal.is_none() {
                continue;
            }
            let list = f.backends(scope);
            if !list.is_empty() && before.map(|b| b.backends(scope)) != Some(list) {
                tables += 1;
            }
        }
    }
    rev += old.frontends.keys().filter(|k| !new.frontends.contains_key(k)).count() as u64;
    let m = u64::from(maglev_m.unwrap_or(0));
    SyncStats {
        objects_written: svc + be + sr + rev + tables * m,
        bytes_written: svc * SERVICE_ENTRY_BYTES
            + be * BACKEND_ENTRY_BYTES
            + sr * SRC_RANGE_ENTRY_BYTES
            + rev * REV_NAT_ENTRY_BYTES
            + tables * m * 4,
    }
}
