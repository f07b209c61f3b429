//! The compiled engine: the same answers as `reference`, from precomputed indices.
//!
//! Built once per (cluster, policies): labels are interned; for every pod, the NetworkPolicies
//! and cluster policies that select it are listed per direction (so a question never looks at
//! a policy that does not select its pod); namespace selectors of peers become bitsets;
//! ipBlocks, networks and node addresses become sorted address ranges; named ports become a
//! sorted (name, protocol, port) list per pod. Only pod selectors of peers are evaluated at
//! question time, on interned labels. A change of cluster or policies means a rebuild.
//!
//! Evaluation (`eval.rs`) follows the reference step by step so the explanation is the same.

mod build;
mod eval;
mod index;

use crate::tiers::{ClusterAction, ClusterPolicyId, NetworkPolicyId, PolicySet};
use crate::types::{Cluster, Protocol};
use crate::verdict::{Connection, EvalOptions, PolicyEngine, Verdict};
use index::{Bitset, Csr, IpSet, Selector};
use std::mem::size_of;
use std::net::IpAddr;

/// Ids into the arenas of `Compiled`.
type SelId = u32;
type NsSetId = u32;
type IpSetId = u32;

#[derive(Clone, Copy, Debug)]
enum NsMatch {
    Same(u32),
    Set(NsSetId),
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Never,
    /// An ipBlock: in `cidr` and not in `except`.
    Block {
        cidr: IpSetId,
        except: IpSetId,
    },
    Pods {
        ns: NsMatch,
        pods: SelId,
    },
}

#[derive(Clone, Copy, Debug)]
enum ClusterPeer {
    Namespaces(NsSetId),
    Pods { ns: NsSetId, pods: SelId },
    Nodes(IpSetId),
    Networks(IpSetId),
}

#[derive(Clone, Copy, Debug)]
enum PortKind {
    Never,
    Any,
    /// Inclusive, on the i32 the API uses.
    Range(i32, i32),
    /// An interned container port name.
    Named(u32),
}

#[derive(Clone, Copy, Debug)]
struct Port {
    /// None: the connection's protocol (cluster named ports).
    protocol: Option<Protocol>,
    kind: PortKind,
}

/// A rule: ranges into the peer and port arenas. An empty range matches everything (for
/// NetworkPolicy) or nothing (cluster peers).
#[derive(Clone, Copy, Debug)]
struct Rule {
    peers: (u32, u32),
    ports: (u32, u32),
    action: ClusterAction,
}

#[derive(Clone, Copy, Debug, Default)]
struct PolicyRules {
    ingress: (u32, u32),
    egress: (u32, u32),
}

pub struct Compiled {
    options: EvalOptions,
    // Pods, by PodId.
    pod_ns: Vec<u32>,
    pod_host_network: Vec<bool>,
    pod_ips: Csr<IpAddr>,
    pod_host_ips: Csr<IpAddr>,
    pod_labels: Csr<(u32, u32)>,
    /// (port name, protocol, number), sorted.
    pod_named_ports: Csr<(u32, Protocol, u16)>,
    // Who selects each pod, in explanation/evaluation order; index 0 ingress, 1 egress.
    np_selecting: [Csr<NetworkPolicyId>; 2],
    admin_selecting: [Csr<ClusterPolicyId>; 2],
    baseline_selecting: [Csr<ClusterPolicyId>; 2],
    // Policies and their rules.
    np_rules: Vec<PolicyRules>,
    cluster_rules: Vec<PolicyRules>,
    rules: Vec<Rule>,
    peers: Vec<Peer>,
    cluster_peers: Vec<ClusterPeer>,
    ports: Vec<Port>,
    selectors: Vec<Selector>,
    ns_sets: Vec<Bitset>,
    ip_sets: Vec<IpSet>,
}

impl Compiled {
    pub fn build(cluster: &Cluster, policies: &PolicySet, options: EvalOptions) -> Compiled {
        build::build(cluster, policies, options)
    }

    /// Bytes held by the compiled structures (capacities, not the input).
    pub fn memory_bytes(&self) -> usize {
        let v = |len: usize, item: usize| len * item;
        v(self.pod_ns.capacity(), 4)
            + self.pod_host_network.capacity()
            + self.pod_ips.bytes()
            + self.pod_host_ips.bytes()
            + self.pod_labels.bytes()
            + self.pod_named_ports.bytes()
            + self.np_selecting.iter().map(Csr::bytes).sum::<usize>()
            + self.admin_selecting.iter().map(Csr::bytes).sum::<usize>()
            + self.baseline_selecting.iter().map(Csr::bytes).sum::<usize>()
            + v(self.np_rules.capacity(), size_of::<PolicyRules>())
            + v(self.cluster_rules.capacity(), size_of::<PolicyRules>())
            + v(self.rules.capacity(), size_of::<Rule>())
            + v(self.peers.capacity(), size_of::<Peer>())
            + v(self.cluster_peers.capacity(), size_of::<ClusterPeer>())
            + v(self.ports.capacity(), size_of::<Port>())
            + self.selectors.iter().map(Selector::bytes).sum::<usize>()
            + self.ns_sets.iter().map(Bitset::bytes).sum::<usize>()
            + self.ip_sets.iter().map(IpSet::bytes).sum::<usize>()
    }
}

impl PolicyEngine for Compiled {
    fn evaluate(&self, conn: &Connection) -> Verdict {
        self.verdict(conn)
    }

    fn is_allowed(&self, conn: &Connection) -> bool {
        self.allowed(conn)
    }
}
