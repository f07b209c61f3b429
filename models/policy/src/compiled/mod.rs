//! The compiled engine: the same answers as `reference`, from precomputed indices.
//!
//! Built once per (cluster, policies): labels are interned; for every distinct set of a pod's
//! selecting policies, the rules of the NetworkPolicies and cluster policies in it are listed
//! per direction, flattened in evaluation order (so a question never looks at a policy that
//! does not select its pod, and walks one list), each rule with a prefilter on protocol, port
//! and peer; namespace selectors of peers become bitsets; ipBlocks, networks and node
//! addresses become sorted address ranges; named ports become a sorted (name, protocol, port)
//! list per distinct set of container ports. Only pod selectors of peers are evaluated at
//! question time, on interned labels. A change of cluster or policies means a rebuild (a pod's
//! new IPv4 address excepted: `set_pod_ipv4`).
//!
//! Random questions over a large cluster must not miss the cache for every list they read, so
//! a pod's own record is 16 bytes and everything else it points to (its labels and named
//! ports, its six selecting lists) is deduplicated: the pods of one workload share them.
//!
//! Evaluation (`eval.rs`) follows the reference step by step so the explanation is the same.

mod build;
mod eval;
mod index;

use crate::tiers::{ClusterAction, PolicySet};
use crate::types::{Cluster, Direction, PodId, Protocol};
use crate::verdict::{Connection, EvalOptions, PolicyEngine, Verdict};
use index::{Csr, IpSet, Selector};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ids into the arenas of `Compiled`.
type SelId = u32;
type NsSetId = u32;
type IpSetId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A port entry: the connection's port in `lo..=hi` (the API's i32 range clipped to u16, empty
/// for none), or a named port when `name` is not `NO_NAME`. `protocol` is `ANY_PROTOCOL` for
/// cluster named ports (the connection's protocol).
#[derive(Clone, Copy, Debug)]
struct Port {
    lo: u16,
    hi: u16,
    protocol: u8,
    name: u32,
}

const ANY_PROTOCOL: u8 = u8::MAX;
const NO_NAME: u32 = u32::MAX;

impl Port {
    fn range(protocol: Option<Protocol>, lo: i32, hi: i32) -> Port {
        let (lo, hi) = (lo.max(0), hi.min(i32::from(u16::MAX)));
        let (lo, hi) = if lo > hi { (1, 0) } else { (lo as u16, hi as u16) };
        Port {
            lo,
            hi,
            protocol: protocol.map_or(ANY_PROTOCOL, |p| p as u8),
            name: NO_NAME,
        }
    }

    /// A named port; None is a name no pod has: never matches.
    fn named(protocol: Option<Protocol>, name: Option<u32>) -> Port {
        match name {
            Some(name) => Port {
                name,
                ..Port::range(protocol, 0, 0)
            },
            None => Port::range(protocol, 1, 0),
        }
    }
}

/// A rule: ranges into the peer and port arenas. An empty range matches everything (for
/// NetworkPolicy) or nothing (cluster peers).
///
/// Each rule belongs to one policy and direction, so it also names them, and it carries a
/// prefilter checked before either list: the protocols (`1 << Protocol as u8`) and the port
/// numbers `lo..=hi` any of its ports can match, and a condition every matching peer meets
/// (`filter`, on `a` and `b`). `ports_exact` and `peers_exact` say the prefilter is the list
/// itself (no ports or one numbered port; no peers, or peers the filter decides), so that
/// the list need not be read.
#[derive(Clone, Copy, Debug)]
struct Rule {
    protocols: u8,
    ports_exact: bool,
    peers_exact: bool,
    filter: PeerFilter,
    lo: u16,
    hi: u16,
    a: u32,
    b: u32,
    action: ClusterAction,
    peers: (u32, u32),
    ports: (u32, u32),
    /// NetworkPolicyId or ClusterPolicyId, and the rule's index in that policy's list.
    policy: u32,
    ordinal: u32,
}

/// What every peer a rule matches has, checked before the peers are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerFilter {
    Any,
    /// A pod (not hostNetwork) in namespace `a`.
    Namespace,
    /// A pod (not hostNetwork) in a namespace of set `a`.
    NamespaceSet,
    /// An IPv4 address in `a..=b`, or an IPv6 one.
    V4OrV6,
    /// An IPv4 address in `a..=b`.
    V4,
}

/// A peer's namespace for the prefilter when it is not a pod: no filter names it.
const NOT_A_POD_NS: u32 = u32::MAX;

/// A policy's rules per direction, indexed by `dir`: ranges into `Compiled::rules`.
type PolicyRules = [(u32, u32); 2];

/// 0 for ingress, 1 for egress: the index of every per-direction table.
fn dir(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// What a question needs about a pod, in 16 bytes: its namespace and flags, its IPv4 address,
/// and where its labels, named ports and selecting policies sit. This is the only memory a
/// question reads per pod that is not shared with other pods: looks and selecting blocks are
/// deduplicated (pods of one workload share them), so they stay small enough to stay in
/// cache, and so do the records themselves as far as they can (2.4 MB at 150,000 pods). With
/// that, random questions over 150,000 pods are bound by instructions, not cache misses (the
/// crate README, "Performance").
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(16))]
struct PodRec {
    /// The namespace id in the low bits, `HAS_V4`, `HAS_V6` and `HOST_NETWORK` above.
    ns: u32,
    /// The pod's first IPv4 address, if `HAS_V4`.
    v4: u32,
    /// Index in `looks`.
    look: u32,
    /// Index in `blocks` of the pod's six selecting lists.
    sel: u32,
}

const NS_MASK: u32 = (1 << 29) - 1;
const HAS_V4: u32 = 1 << 29;
const HAS_V6: u32 = 1 << 30;
const HOST_NETWORK: u32 = 1 << 31;

/// A pod's labels and named ports, as ranges of `pod_labels` and `pod_named_ports`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Look {
    labels: (u32, u32),
    named: (u32, u32),
}

/// A pod's six selecting lists, compiled: `prog[k]..prog[k + 1]` are the indices in
/// `Compiled::rules` of all rules of list `k` (NP, ADMIN, BASELINE, plus `dir`), the rules of
/// its policies flattened in evaluation order, in `Compiled::program`; `np[d]..np[d + 1]` are
/// the NetworkPolicies isolating the pod for direction `d`, in explanation order, in
/// `Compiled::isolating` (a policy isolates even with no rules). One per distinct block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Block {
    prog: [u32; 7],
    np: [u32; 3],
}

/// Which of a pod's six selecting lists, plus `dir` of the direction.
const NP: usize = 0;
const ADMIN: usize = 2;
const BASELINE: usize = 4;

pub struct Compiled {
    options: EvalOptions,
    pods: Vec<PodRec>,
    /// Each pod's first IPv6 address (unspecified without `HAS_V6`); empty in a cluster
    /// without IPv6. Read only for IPv6 connections.
    pod_v6: Vec<Ipv6Addr>,
    looks: Vec<Look>,
    /// Only read for address peers (own-node traffic), so kept out of `PodRec`.
    pod_host_ips: Csr<IpAddr>,
    /// (key, value) ids sorted by key, per distinct label set.
    pod_labels: Vec<(u32, u32)>,
    /// (port name, protocol, number), sorted, per distinct list.
    pod_named_ports: Vec<(u32, Protocol, u16)>,
    /// One per distinct set of six selecting lists (NetworkPolicies selecting the pod for
    /// ingress, egress; Admin-tier policies for ingress, egress; Baseline, likewise).
    blocks: Vec<Block>,
    /// The blocks' rule lists: indices in `rules`.
    program: Vec<u32>,
    /// The blocks' isolating NetworkPolicy ids.
    isolating: Vec<u32>,
    // Rules, reached from `program`.
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

    /// Pod `pod` now has IPv4 address `ip` (a CNI assigned it during a run), or none: the engine
    /// answers as `build` would over the cluster with that address, without a rebuild. The
    /// address is only read per question (the family of a pod-to-pod connection, ipBlock and
    /// `networks` peers with `ip_block_matches_pods`, `nodes` peers, own-node traffic of a
    /// hostNetwork pod); nothing the build derived depends on it.
    pub fn set_pod_ipv4(&mut self, pod: PodId, ip: Option<Ipv4Addr>) {
        let r = &mut self.pods[pod.0 as usize];
        match ip {
            Some(a) => {
                r.v4 = u32::from(a);
                r.ns |= HAS_V4;
            }
            None => {
                r.v4 = 0;
                r.ns &= !HAS_V4;
            }
        }
    }

    /// Pod `pod`'s IPv4 address as the engine knows it.
    pub fn pod_ipv4(&self, pod: PodId) -> Option<Ipv4Addr> {
        let r = &self.pods[pod.0 as usize];
        (r.ns & HAS_V4 != 0).then(|| Ipv4Addr::from(r.v4))
    }

    /// Bytes held by the compiled structures (capacities, not the input).
    pub fn memory_bytes(&self) -> usize {
        vec_bytes(&self.pods)
            + vec_bytes(&self.pod_v6)
            + vec_bytes(&self.looks)
            + self.pod_host_ips.bytes()
            + vec_bytes(&self.pod_labels)
            + vec_bytes(&self.pod_named_ports)
            + vec_bytes(&self.blocks)
            + vec_bytes(&self.program)
            + vec_bytes(&self.isolating)
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

#[cfg(test)]
mod tests {
    use crate::testing::{differential, Case};
    use crate::types::*;
    use crate::verdict::{Connection, Endpoint, EvalOptions};
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    /// What the generated cases do not reach: pods with only IPv6 or with IPv6 first, and
    /// port ranges beyond u16 (the compiled ports clip the API's i32 range).
    #[test]
    fn ipv6_only_pods_and_out_of_range_ports_agree_with_the_reference() {
        let pod = |name: &str, app: &str, ips: &[&str], host_network: bool| Pod {
            namespace: "a".into(),
            name: name.into(),
            labels: [("app".to_string(), app.to_string())].into(),
            ips: ips.iter().map(|s| ip(s)).collect(),
            node_name: "n0".into(),
            host_ips: vec![ip("192.168.0.1"), ip("fd01::1")],
            host_network,
            container_ports: vec![ContainerPort {
                name: "http".into(),
                container_port: 8080,
                protocol: Protocol::Tcp,
            }],
        };
        let cluster = Cluster {
            namespaces: vec![Namespace::new("a", Labels::new())],
            nodes: vec![Node {
                name: "n0".into(),
                labels: Labels::new(),
                ips: vec![ip("192.168.0.1"), ip("fd01::1")],
            }],
            pods: vec![
                pod("v4", "x", &["10.0.0.1"], false),
                pod("v6", "y", &["fd00::2"], false),
                pod("dual", "x", &["fd00::3", "10.0.0.3"], false),
                pod("dual2", "y", &["10.0.0.4", "fd00::4"], false),
                pod("host", "x", &["192.168.0.1", "fd01::1"], true),
            ],
        };
        let port = |port: Option<IntOrString>, end_port: Option<i32>| NetworkPolicyPort {
            protocol: None,
            port,
            end_port,
        };
        let block = |cidr: &str| NetworkPolicyPeer {
            ip_block: Some(IpBlock {
                cidr: cidr.parse().expect("cidr"),
                except: vec![],
            }),
            ..NetworkPolicyPeer::default()
        };
        let policy = NetworkPolicy {
            namespace: "a".into(),
            name: "p".into(),
            pod_selector: LabelSelector::labels(&[("app", "y")]),
            policy_types: Some(vec![PolicyType::Ingress, PolicyType::Egress]),
            ingress: vec![
                NetworkPolicyRule {
                    peers: vec![block("fd00::/120")],
                    ports: vec![port(Some(IntOrString::Int(-5)), Some(80))],
                },
                NetworkPolicyRule {
                    peers: vec![],
                    ports: vec![port(Some(IntOrString::Int(8000)), Some(70_000))],
                },
                NetworkPolicyRule {
                    peers: vec![block("10.0.0.0/24")],
                    ports: vec![
                        port(Some(IntOrString::Int(100_000)), None),
                        port(Some(IntOrString::Int(90)), Some(10)),
                    ],
                },
            ],
            egress: vec![NetworkPolicyRule {
                peers: vec![block("fd00::4/128")],
                ports: vec![port(Some(IntOrString::String("http".into())), None)],
            }],
        };
        let mut policies = crate::tiers::PolicySet::default();
        policies.network_policies.push(policy);
        let pods = cluster.pods.len() as u32;
        let mut queries = Vec::new();
        for (src, dst) in (0..pods).flat_map(|a| (0..pods).map(move |b| (a, b))) {
            for port in [0, 10, 80, 8080, 65535] {
                for protocol in [Protocol::Tcp, Protocol::Udp] {
                    queries.push(Connection {
                        src: Endpoint::Pod(PodId(src)),
                        dst: Endpoint::Pod(PodId(dst)),
                        protocol,
                        port,
                    });
                }
            }
        }
        for ip_block_matches_pods in [true, false] {
            let case = Case {
                cluster: cluster.clone(),
                policies: policies.clone(),
                options: EvalOptions {
                    ip_block_matches_pods,
                    ..EvalOptions::default()
                },
                queries: queries.clone(),
            };
            differential(&case).expect("compiled = reference");
        }
    }
}
