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

use crate::tiers::{ClusterAction, PolicySet};
use crate::types::{Cluster, Direction, Protocol};
use crate::verdict::{Connection, EvalOptions, PolicyEngine, Verdict};
use index::{Csr, IpSet, Selector};
use std::mem::size_of;
use std::net::{IpAddr, Ipv6Addr};

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

/// A policy's rules per direction, indexed by `dir`: ranges into `Compiled::rules`.
type PolicyRules = [(u32, u32); 2];

/// 0 for ingress, 1 for egress: the index of every per-direction table.
fn dir(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// What a question needs about a pod, in one cache line: its namespace, its addresses, and
/// where its labels, named ports and selecting policies sit in the arenas. Random questions
/// over 150,000 pods are bound by cache misses, so this is the only line a question reads per
/// pod that is not shared: the arenas it points into are deduplicated (pods of one workload
/// share their lists), so they stay small enough to stay in cache.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct PodRec {
    ns: u32,
    /// The pod's first IPv4 address, if `has_v4`.
    v4: u32,
    /// Index in `pod_v6` of the pod's first IPv6 address, or `NO_V6`.
    v6: u32,
    has_v4: bool,
    host_network: bool,
    labels: (u32, u32),
    named: (u32, u32),
    /// Offsets into `selecting` of six lists and their end: NetworkPolicies isolating the pod
    /// for ingress, egress; Admin-tier policies for ingress, egress; Baseline, likewise.
    sel: [u32; 7],
}

const NO_V6: u32 = u32::MAX;

/// A policy selecting a pod, with the range of its rules (in `Compiled::rules`) for the
/// direction of the list it is in, so that a question goes from the pod to the rules directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Selecting {
    /// NetworkPolicyId or ClusterPolicyId.
    id: u32,
    rules: (u32, u32),
}

/// Which of a pod's six `selecting` lists, plus `dir` of the direction.
const NP: usize = 0;
const ADMIN: usize = 2;
const BASELINE: usize = 4;

pub struct Compiled {
    options: EvalOptions,
    pods: Vec<PodRec>,
    pod_v6: Vec<Ipv6Addr>,
    /// Only read for address peers (own-node traffic), so kept out of `PodRec`.
    pod_host_ips: Csr<IpAddr>,
    /// (key, value) ids sorted by key, per distinct label set.
    pod_labels: Vec<(u32, u32)>,
    /// (port name, protocol, number), sorted, per distinct list.
    pod_named_ports: Vec<(u32, Protocol, u16)>,
    /// Selecting policies in explanation/evaluation order, per distinct set of six lists.
    selecting: Vec<Selecting>,
    // Rules, reached from `selecting`.
    rules: Vec<Rule>,
    peers: Vec<Peer>,
    cluster_peers: Vec<ClusterPeer>,
    ports: Vec<Port>,
    selectors: Vec<Selector>,
    /// Namespace sets, `ns_set_words` u64 words each.
    ns_sets: Vec<u64>,
    ns_set_words: usize,
    ip_sets: Vec<IpSet>,
}

impl Compiled {
    pub fn build(cluster: &Cluster, policies: &PolicySet, options: EvalOptions) -> Compiled {
        build::build(cluster, policies, options)
    }

    /// Bytes held by the compiled structures (capacities, not the input).
    pub fn memory_bytes(&self) -> usize {
        vec_bytes(&self.pods)
            + vec_bytes(&self.pod_v6)
            + self.pod_host_ips.bytes()
            + vec_bytes(&self.pod_labels)
            + vec_bytes(&self.pod_named_ports)
            + vec_bytes(&self.selecting)
            + vec_bytes(&self.rules)
            + vec_bytes(&self.peers)
            + vec_bytes(&self.cluster_peers)
            + vec_bytes(&self.ports)
            + self.selectors.iter().map(Selector::bytes).sum::<usize>()
            + vec_bytes(&self.ns_sets)
            + self.ip_sets.iter().map(IpSet::bytes).sum::<usize>()
    }
}

/// The bytes a vector's buffer holds, by its capacity and its element type.
fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

impl PolicyEngine for Compiled {
    fn evaluate(&self, conn: &Connection) -> Verdict {
        self.verdict(conn)
    }

    fn is_allowed(&self, conn: &Connection) -> bool {
        self.allowed(conn)
    }
}
