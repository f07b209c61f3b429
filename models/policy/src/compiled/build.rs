//! Building the compiled engine from the cluster and the policies.

use super::index::{Bitset, Csr, FxMap, Interner, IpSet, LabelInterner, Selector};
use super::{
    dir, Block, ClusterPeer, Compiled, Look, NsMatch, Peer, PeerFilter, PodRec, PolicyRules, Port, Rule, ADMIN,
    ANY_PROTOCOL, BASELINE, HAS_V4, HAS_V6, HOST_NETWORK, NO_NAME, NP, NS_MASK,
};
use crate::tiers::ClusterPeer as ApiClusterPeer;
use crate::tiers::{ClusterAction, ClusterPort, ClusterRule, ClusterSubject, PolicySet, Tier};
use crate::types::{Cluster, Direction, IntOrString, LabelSelector, Labels, Namespace, NetworkPolicyRule};
use crate::verdict::EvalOptions;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};

/// An arena of lists where equal lists are stored once.
struct Dedup<T> {
    items: Vec<T>,
    ranges: FxMap<Vec<T>, (u32, u32)>,
}

impl<T> Default for Dedup<T> {
    fn default() -> Self {
        Dedup {
            items: Vec::new(),
            ranges: FxMap::default(),
        }
    }
}

impl<T: Copy + Eq + Hash> Dedup<T> {
    /// The range of `list` in `items`, adding it if it is new.
    fn add(&mut self, list: &[T]) -> (u32, u32) {
        if let Some(&r) = self.ranges.get(list) {
            return r;
        }
        let start = self.items.len() as u32;
        self.items.extend_from_slice(list);
        let r = (start, self.items.len() as u32);
        self.ranges.insert(list.to_vec(), r);
        r
    }
}

/// The arenas rules are compiled into, with the dedup tables for selectors and namespace sets.
struct Builder<'a> {
    cluster: &'a Cluster,
    options: EvalOptions,
    labels: LabelInterner,
    port_names: Interner,
    /// Per port name id, the lowest and highest number a pod gives it (any protocol).
    name_numbers: Vec<(u16, u16)>,
    ns_ids: FxMap<String, u32>,
    ns_labels: Vec<Vec<(u32, u32)>>,
    node_labels: Vec<Vec<(u32, u32)>>,
    /// Pod ids per namespace id, in pod order.
    pods_by_ns: Csr<u32>,
    /// (namespace, key, value, pod), sorted: the pods carrying a label in a namespace.
    postings: Vec<(u32, u32, u32, u32)>,
    pod_labels: Csr<(u32, u32)>,
    selectors: Vec<Selector>,
    selector_ids: FxMap<Selector, u32>,
    ns_sets: Vec<Bitset>,
    ns_set_ids: FxMap<Bitset, u32>,
    ip_sets: Vec<IpSet>,
    ip_set_ids: FxMap<IpSet, u32>,
    rules: Vec<Rule>,
    peers: Vec<Peer>,
    cluster_peers: Vec<ClusterPeer>,
    ports: Vec<Port>,
}

impl<'a> Builder<'a> {
    fn namespace(&mut self, name: &str, labels: &Labels) -> u32 {
        if let Some(&id) = self.ns_ids.get(name) {
            return id;
        }
        let id = self.ns_labels.len() as u32;
        self.ns_ids.insert(name.to_string(), id);
        let l = self.labels.labels(labels);
        self.ns_labels.push(l);
        id
    }

    fn selector(&mut self, s: &LabelSelector) -> u32 {
        let sel = self.labels.selector(s);
        if let Some(&id) = self.selector_ids.get(&sel) {
            return id;
        }
        let id = self.selectors.len() as u32;
        self.selector_ids.insert(sel.clone(), id);
        self.selectors.push(sel);
        id
    }

    fn ns_set(&mut self, s: &LabelSelector) -> u32 {
        let sel = self.labels.selector(s);
        let mut set = Bitset::new(self.ns_labels.len());
        for (i, labels) in self.ns_labels.iter().enumerate() {
            if sel.matches(labels) {
                set.insert(i as u32);
            }
        }
        if let Some(&id) = self.ns_set_ids.get(&set) {
            return id;
        }
        let id = self.ns_sets.len() as u32;
        self.ns_set_ids.insert(set.clone(), id);
        self.ns_sets.push(set);
        id
    }

    fn ip_set(&mut self, set: IpSet) -> u32 {
        if let Some(&id) = self.ip_set_ids.get(&set) {
            return id;
        }
        let id = self.ip_sets.len() as u32;
        self.ip_set_ids.insert(set.clone(), id);
        self.ip_sets.push(set);
        id
    }

    /// The pods (not hostNetwork) of namespace `ns` that selector `sel` selects, in pod order.
    /// Starts from the smallest list it can: the pods carrying a label the selector requires.
    fn select_pods(&self, ns: u32, sel: u32, out: &mut Vec<u32>) {
        let sel = &self.selectors[sel as usize];
        if sel.never {
            return;
        }
        let mut keep = |pod: u32| {
            if !self.cluster.pods[pod as usize].host_network && sel.matches(self.pod_labels.row(pod as usize)) {
                out.push(pod);
            }
        };
        match sel.required_pair() {
            Some((k, v)) => {
                let lo = self
                    .postings
                    .partition_point(|&(n, pk, pv, _)| (n, pk, pv) < (ns, k, v));
                let hi = self
                    .postings
                    .partition_point(|&(n, pk, pv, _)| (n, pk, pv) <= (ns, k, v));
                self.postings[lo..hi].iter().for_each(|&(_, _, _, pod)| keep(pod));
            }
            None => self.pods_by_ns.row(ns as usize).iter().for_each(|&pod| keep(pod)),
        }
    }

    /// A rule whose peers are `peers` (a range of `peers` or `cluster_peers`) and whose ports
    /// are `ports[ports_start..]`, with its prefilter.
    fn rule(
        &self,
        policy: u32,
        ordinal: usize,
        (filter, a, b, peers_exact): (PeerFilter, u32, u32, bool),
        peers: (u32, u32),
        ports_start: u32,
        action: ClusterAction,
    ) -> Rule {
        let ports = &self.ports[ports_start as usize..];
        let (mut protocols, mut lo, mut hi) = (0u8, u16::MAX, 0u16);
        for p in ports {
            let (plo, phi) = if p.name == NO_NAME {
                (p.lo, p.hi)
            } else {
                self.name_numbers[p.name as usize]
            };
            if plo <= phi {
                protocols |= if p.protocol == ANY_PROTOCOL {
                    u8::MAX
                } else {
                    1 << p.protocol
                };
                lo = lo.min(plo);
                hi = hi.max(phi);
            }
        }
        if ports.is_empty() {
            (protocols, lo, hi) = (u8::MAX, 0, u16::MAX);
        }
        Rule {
            protocols,
            ports_exact: ports.is_empty() || (ports.len() == 1 && ports[0].name == NO_NAME),
            peers_exact,
            filter,
            lo,
            hi,
            a,
            b,
            action,
            peers,
            ports: (ports_start, self.ports.len() as u32),
            policy,
            ordinal: ordinal as u32,
        }
    }

    /// Whether a selector selects every pod.
    fn everything(&self, sel: u32) -> bool {
        let s = &self.selectors[sel as usize];
        !s.never && s.terms.is_empty()
    }

    /// The filter of addresses in the sets `sets` (each with `exact` saying whether being in
    /// it is being matched): the span of their IPv4 ranges, exact for one set of one IPv4
    /// range.
    fn address_filter(&self, sets: &[(u32, bool)]) -> (PeerFilter, u32, u32, bool) {
        let (mut lo, mut hi, mut v6) = (u32::MAX, 0u32, false);
        for &(set, _) in sets {
            let set = &self.ip_sets[set as usize];
            v6 |= set.has_v6();
            if let (Some(first), Some(last)) = (set.v4().first(), set.v4().last()) {
                (lo, hi) = (lo.min(first.0), hi.max(last.1));
            }
        }
        let exact = match sets {
            [(set, exact)] => *exact && !v6 && self.ip_sets[*set as usize].v4().len() == 1,
            _ => false,
        };
        let filter = if v6 { PeerFilter::V4OrV6 } else { PeerFilter::V4 };
        (filter, lo, hi, exact)
    }

    /// A NetworkPolicy rule's peer filter: one namespace or one namespace set every peer
    /// pod must be in, or the span of the ipBlocks; exact when a peer with that condition
    /// selects every pod (or a lone ipBlock without exceptions when ipBlocks see pods).
    fn np_filter(&self, peers: &[Peer]) -> (PeerFilter, u32, u32, bool) {
        let any = (PeerFilter::Any, 0, 0, peers.is_empty());
        match peers.first() {
            Some(Peer::Pods { ns, .. }) => {
                let (filter, a) = match *ns {
                    NsMatch::Same(n) => (PeerFilter::Namespace, n),
                    NsMatch::Set(s) => (PeerFilter::NamespaceSet, s),
                };
                let mut exact = false;
                for p in peers {
                    match *p {
                        Peer::Pods { ns: pns, pods } if pns == *ns => exact |= self.everything(pods),
                        _ => return any,
                    }
                }
                (filter, a, 0, exact)
            }
            Some(Peer::Block { .. }) => {
                let mut sets = Vec::with_capacity(peers.len());
                for p in peers {
                    match *p {
                        Peer::Block { cidr, except } => sets.push((
                            cidr,
                            self.ip_sets[except as usize].is_empty() && self.options.ip_block_matches_pods,
                        )),
                        _ => return any,
                    }
                }
                self.address_filter(&sets)
            }
            _ => any,
        }
    }

    /// A cluster rule's peer filter, as `np_filter`: one namespace set, or the span of the
    /// networks and nodes.
    fn cluster_filter(&self, peers: &[ClusterPeer]) -> (PeerFilter, u32, u32, bool) {
        let any = (PeerFilter::Any, 0, 0, false);
        match peers.first() {
            Some(&ClusterPeer::Namespaces(s) | &ClusterPeer::Pods { ns: s, .. }) => {
                let mut exact = false;
                for p in peers {
                    match *p {
                        ClusterPeer::Namespaces(ps) if ps == s => exact = true,
                        ClusterPeer::Pods { ns, pods } if ns == s => exact |= self.everything(pods),
                        _ => return any,
                    }
                }
                (PeerFilter::NamespaceSet, s, 0, exact)
            }
            Some(ClusterPeer::Nodes(_) | ClusterPeer::Networks(_)) => {
                let mut sets = Vec::with_capacity(peers.len());
                for p in peers {
                    match *p {
                        ClusterPeer::Nodes(set) => sets.push((set, true)),
                        ClusterPeer::Networks(set) => sets.push((set, self.options.ip_block_matches_pods)),
                        _ => return any,
                    }
                }
                self.address_filter(&sets)
            }
            None => any,
        }
    }

    fn np_rules(&mut self, policy: u32, ns: u32, rules: &[NetworkPolicyRule]) -> (u32, u32) {
        let start = self.rules.len() as u32;
        for (ordinal, rule) in rules.iter().enumerate() {
            let peers_start = self.peers.len() as u32;
            for p in &rule.peers {
                let peer = if let Some(block) = &p.ip_block {
                    let cidr = self.ip_set(IpSet::from_nets([&block.cidr]));
                    let except = self.ip_set(IpSet::from_nets(&block.except));
                    Peer::Block { cidr, except }
                } else if p.pod_selector.is_none() && p.namespace_selector.is_none() {
                    Peer::Never
                } else {
                    let ns = match &p.namespace_selector {
                        Some(s) => NsMatch::Set(self.ns_set(s)),
                        None => NsMatch::Same(ns),
                    };
                    let pods = self.selector(p.pod_selector.as_ref().unwrap_or(&LabelSelector::everything()));
                    Peer::Pods { ns, pods }
                };
                self.peers.push(peer);
            }
            let ports_start = self.ports.len() as u32;
            for p in &rule.ports {
                let protocol = Some(p.effective_protocol());
                self.ports.push(match &p.port {
                    None => Port::range(protocol, 0, i32::from(u16::MAX)),
                    Some(IntOrString::Int(n)) => Port::range(protocol, *n, p.end_port.unwrap_or(*n)),
                    Some(IntOrString::String(name)) => Port::named(protocol, self.port_names.get(name)),
                });
            }
            let filter = self.np_filter(&self.peers[peers_start as usize..]);
            let peers = (peers_start, self.peers.len() as u32);
            let rule = self.rule(policy, ordinal, filter, peers, ports_start, ClusterAction::Accept);
            self.rules.push(rule);
        }
        (start, self.rules.len() as u32)
    }

    fn cluster_rules(&mut self, policy: u32, rules: &[ClusterRule]) -> (u32, u32) {
        let start = self.rules.len() as u32;
        for (ordinal, rule) in rules.iter().enumerate() {
            let peers_start = self.cluster_peers.len() as u32;
            for p in &rule.peers {
                let peer = match p {
                    ApiClusterPeer::Namespaces(s) => ClusterPeer::Namespaces(self.ns_set(s)),
                    ApiClusterPeer::Pods {
                        namespace_selector,
                        pod_selector,
                    } => ClusterPeer::Pods {
                        ns: self.ns_set(namespace_selector),
                        pods: self.selector(pod_selector),
                    },
                    ApiClusterPeer::Nodes(s) => {
                        let sel = self.labels.selector(s);
                        let ips = self
                            .cluster
                            .nodes
                            .iter()
                            .zip(&self.node_labels)
                            .filter(|(_, labels)| sel.matches(labels))
                            .flat_map(|(n, _)| n.ips.iter().copied());
                        ClusterPeer::Nodes(self.ip_set(IpSet::from_addrs(ips)))
                    }
                    ApiClusterPeer::Networks(nets) => ClusterPeer::Networks(self.ip_set(IpSet::from_nets(nets))),
                };
                self.cluster_peers.push(peer);
            }
            let ports_start = self.ports.len() as u32;
            for p in &rule.ports {
                let port = match p {
                    ClusterPort::Number { protocol, port } => {
                        Port::range(Some(*protocol), i32::from(*port), i32::from(*port))
                    }
                    ClusterPort::Range { protocol, start, end } => {
                        Port::range(Some(*protocol), i32::from(*start), i32::from(*end))
                    }
                    ClusterPort::Named(name) => Port::named(None, self.port_names.get(name)),
                };
                self.ports.push(port);
            }
            let filter = self.cluster_filter(&self.cluster_peers[peers_start as usize..]);
            let peers = (peers_start, self.cluster_peers.len() as u32);
            let mut r = self.rule(policy, ordinal, filter, peers, ports_start, rule.action);
            if rule.peers.is_empty() {
                r.protocols = 0; // a cluster rule without peers matches nothing
            }
            self.rules.push(r);
        }
        (start, self.rules.len() as u32)
    }
}

pub(super) fn build(cluster: &Cluster, policies: &PolicySet, options: EvalOptions) -> Compiled {
    let mut b = Builder {
        cluster,
        options,
        labels: LabelInterner::default(),
        port_names: Interner::default(),
        name_numbers: Vec::new(),
        ns_ids: FxMap::default(),
        ns_labels: Vec::new(),
        node_labels: Vec::new(),
        pods_by_ns: Csr::default(),
        postings: Vec::new(),
        pod_labels: Csr::default(),
        selectors: Vec::new(),
        selector_ids: FxMap::default(),
        ns_sets: Vec::new(),
        ns_set_ids: FxMap::default(),
        ip_sets: Vec::new(),
        ip_set_ids: FxMap::default(),
        rules: Vec::new(),
        peers: Vec::new(),
        cluster_peers: Vec::new(),
        ports: Vec::new(),
    };

    // Namespaces: the first object of a name wins (as `Cluster::namespace_labels`); a name
    // used by a pod or a policy but never defined gets the name label only.
    for ns in &cluster.namespaces {
        b.namespace(&ns.name, &ns.labels);
    }
    let implicit = |b: &mut Builder, name: &str| b.namespace(name, &Namespace::new(name, Labels::new()).labels);
    let pod_ns: Vec<u32> = cluster.pods.iter().map(|p| implicit(&mut b, &p.namespace)).collect();
    let np_ns: Vec<u32> = policies
        .network_policies
        .iter()
        .map(|p| implicit(&mut b, &p.namespace))
        .collect();
    b.node_labels = cluster.nodes.iter().map(|n| b.labels.labels(&n.labels)).collect();
    b.pod_labels = Csr::from_rows(cluster.pods.iter().map(|p| b.labels.labels(&p.labels)));
    let mut named: Vec<Vec<(u32, crate::types::Protocol, u16)>> = Vec::with_capacity(cluster.pods.len());
    for p in &cluster.pods {
        let mut row: Vec<_> = p
            .container_ports
            .iter()
            .filter(|c| !c.name.is_empty())
            .map(|c| (b.port_names.intern(&c.name), c.protocol, c.container_port))
            .collect();
        row.sort_unstable();
        row.dedup();
        named.push(row);
    }
    b.name_numbers = vec![(u16::MAX, 0); b.port_names.len()];
    for &(name, _, number) in named.iter().flatten() {
        let (lo, hi) = &mut b.name_numbers[name as usize];
        (*lo, *hi) = ((*lo).min(number), (*hi).max(number));
    }
    let ns_pairs: Vec<(u32, u32)> = pod_ns.iter().enumerate().map(|(pod, &ns)| (ns, pod as u32)).collect();
    b.pods_by_ns = Csr::from_pairs(b.ns_labels.len(), &ns_pairs);
    for (pod, &ns) in pod_ns.iter().enumerate() {
        for &(k, v) in b.pod_labels.row(pod) {
            b.postings.push((ns, k, v, pod as u32));
        }
    }
    b.postings.sort_unstable();

    // Each pod's six selecting lists (NP, ADMIN, BASELINE, plus `dir`), as (pod, policy id)
    // pairs. NetworkPolicies go in explanation order, so each pod's list comes out in it.
    let mut lists: [Vec<(u32, u32)>; 6] = Default::default();
    let directions = [Direction::Ingress, Direction::Egress];
    let mut np_rules = vec![PolicyRules::default(); policies.network_policies.len()];
    let mut selected = Vec::new();
    for id in policies.network_policy_order() {
        let np = policies.network_policy(id);
        let ns = np_ns[id.0 as usize];
        let sel = b.selector(&np.pod_selector);
        selected.clear();
        b.select_pods(ns, sel, &mut selected);
        for d in directions {
            if np.affects(d) {
                lists[NP + dir(d)].extend(selected.iter().map(|&pod| (pod, id.0)));
            }
            np_rules[id.0 as usize][dir(d)] = b.np_rules(id.0, ns, np.rules(d));
        }
    }

    // Cluster policies, in evaluation order.
    let mut cluster_rules = vec![PolicyRules::default(); policies.cluster_policies.len()];
    for id in policies.cluster_policy_order() {
        let cp = policies.cluster_policy(id);
        let (ns_sel, pod_sel) = match &cp.subject {
            ClusterSubject::Namespaces(ns) => (ns, LabelSelector::everything()),
            ClusterSubject::Pods {
                namespace_selector,
                pod_selector,
            } => (namespace_selector, pod_selector.clone()),
        };
        let ns_set = b.ns_set(ns_sel);
        let sel = b.selector(&pod_sel);
        selected.clear();
        let namespaces: Vec<u32> = b.ns_sets[ns_set as usize].iter().collect();
        for ns in namespaces {
            b.select_pods(ns, sel, &mut selected);
        }
        let tier = if cp.tier == Tier::Admin { ADMIN } else { BASELINE };
        for d in directions {
            if !cp.rules(d).is_empty() {
                lists[tier + dir(d)].extend(selected.iter().map(|&pod| (pod, id.0)));
            }
            cluster_rules[id.0 as usize][dir(d)] = b.cluster_rules(id.0, cp.rules(d));
        }
    }

    let pods = cluster.pods.len();
    let lists = lists.map(|pairs| Csr::from_pairs(pods, &pairs));
    // Pods of one workload have the same labels, named ports and selecting policies: each
    // distinct list is stored once, so that the arenas stay in cache.
    let mut pod_labels = Dedup::default();
    let mut pod_named_ports = Dedup::default();
    let mut looks = Dedup::default();
    let mut program = Dedup::default();
    let mut isolating = Dedup::default();
    let mut blocks = Dedup::default();
    let any_v6 = cluster.pods.iter().any(|p| p.ips.iter().any(IpAddr::is_ipv6));
    let mut pod_v6 = Vec::with_capacity(if any_v6 { pods } else { 0 });
    let mut recs = Vec::with_capacity(pods);
    let mut block = Vec::new();
    let mut np_ids = Vec::new();
    assert!(b.ns_labels.len() <= NS_MASK as usize, "too many namespaces");
    for (i, pod) in cluster.pods.iter().enumerate() {
        block.clear();
        np_ids.clear();
        let mut prog = [0u32; 7];
        for (k, list) in lists.iter().enumerate() {
            let d = k % 2;
            for &id in list.row(i) {
                let (lo, hi) = if k < ADMIN {
                    np_rules[id as usize][d]
                } else {
                    cluster_rules[id as usize][d]
                };
                block.extend(lo..hi);
            }
            prog[k + 1] = block.len() as u32;
        }
        for list in &lists[NP..NP + 2] {
            np_ids.extend_from_slice(list.row(i));
        }
        let np = [0, lists[NP].row(i).len() as u32, np_ids.len() as u32];
        let mut ns = pod_ns[i];
        let v4 = pod.ips.iter().find_map(|ip| match ip {
            IpAddr::V4(a) => Some(u32::from(*a)),
            IpAddr::V6(_) => None,
        });
        if v4.is_some() {
            ns |= HAS_V4;
        }
        if any_v6 {
            let v6 = pod.ips.iter().find_map(|ip| match ip {
                IpAddr::V6(a) => Some(*a),
                IpAddr::V4(_) => None,
            });
            if v6.is_some() {
                ns |= HAS_V6;
            }
            pod_v6.push(v6.unwrap_or(Ipv6Addr::UNSPECIFIED));
        }
        if pod.host_network {
            ns |= HOST_NETWORK;
        }
        let look = Look {
            labels: pod_labels.add(b.pod_labels.row(i)),
            named: pod_named_ports.add(&named[i]),
        };
        recs.push(PodRec {
            ns,
            v4: v4.unwrap_or(0),
            look: looks.add(&[look]).0,
            sel: {
                let start = program.add(&block).0;
                let ids = isolating.add(&np_ids).0;
                blocks
                    .add(&[Block {
                        prog: prog.map(|o| start + o),
                        np: np.map(|o| ids + o),
                    }])
                    .0
            },
        });
    }
    let ns_set_words = b.ns_labels.len().div_ceil(64);
    let ns_sets = b.ns_sets.iter().flat_map(|s| s.words().iter().copied()).collect();
    Compiled {
        options,
        pods: recs,
        pod_v6,
        looks: looks.items,
        pod_host_ips: Csr::from_rows(cluster.pods.iter().map(|p| p.host_ips.iter().copied())),
        pod_labels: pod_labels.items,
        pod_named_ports: pod_named_ports.items,
        blocks: blocks.items,
        program: program.items,
        isolating: isolating.items,
        rules: b.rules,
        peers: b.peers,
        cluster_peers: b.cluster_peers,
        ports: b.ports,
        selectors: b.selectors,
        ns_sets,
        ns_set_words,
        ip_sets: b.ip_sets,
    }
}
