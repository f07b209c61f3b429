//! The differential check (compiled engine = reference, verdict and explanation) and a decoder
//! from arbitrary bytes to a small case for it, shared by proptest and cargo-fuzz.
//!
//! The decoder reads bytes as choices (running out reads zeros), so every input decodes, the
//! same bytes always give the same case, and every size is bounded. Alphabets are small so
//! that selectors match, and they include what the spec makes subtle: keys nobody carries
//! (NotIn / DoesNotExist hold), named ports (with a name no pod has), endPort, ipBlocks whose
//! except covers pod addresses, hostNetwork pods, IPv6, both cluster tiers, Pass, equal
//! priorities and names, and invalid objects the API would reject.

mod scale;
pub use scale::{scale_case, Scale};

use crate::tiers::*;
use crate::types::*;
use crate::verdict::{Connection, Endpoint, EvalOptions, PolicyEngine};
use crate::{Compiled, Reference};
use ipnet::IpNet;
use std::net::IpAddr;

/// A cluster, its policies, the plugin options, and questions about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub cluster: Cluster,
    pub policies: PolicySet,
    pub options: EvalOptions,
    pub queries: Vec<Connection>,
}

/// Protocol and port pairs asked for every pair of ends in `differential`.
const MATRIX_PORTS: [(Protocol, u16); 4] = [
    (Protocol::Tcp, 80),
    (Protocol::Udp, 53),
    (Protocol::Tcp, 81),
    (Protocol::Icmp, 0),
];
/// Addresses asked about as ends: the nodes, a pod address, outside IPv4 and IPv6.
const ADDRESSES: [&str; 6] = [
    "192.168.0.1",
    "192.168.0.2",
    "10.0.0.1",
    "8.8.8.8",
    "fd00::1",
    "2001:db8::1",
];

/// Checks that the compiled engine gives the reference's verdict, explanation included, on
/// the case's queries and on every pair of ends (each pod and each of `ADDRESSES`) for a few
/// protocols and ports. Returns the first difference, described.
pub fn differential(case: &Case) -> Result<(), String> {
    let reference = Reference::new(&case.cluster, &case.policies, case.options);
    let compiled = Compiled::build(&case.cluster, &case.policies, case.options);
    let mut ends: Vec<Endpoint> = (0..case.cluster.pods.len() as u32)
        .map(|i| Endpoint::Pod(PodId(i)))
        .collect();
    ends.extend(
        ADDRESSES
            .iter()
            .map(|a| Endpoint::Ip(a.parse().expect("constant address"))),
    );
    let matrix = ends.iter().flat_map(|&src| {
        ends.iter().flat_map(move |&dst| {
            MATRIX_PORTS.iter().map(move |&(protocol, port)| Connection {
                src,
                dst,
                protocol,
                port,
            })
        })
    });
    for conn in case.queries.iter().copied().chain(matrix) {
        let want = reference.evaluate(&conn);
        let got = compiled.evaluate(&conn);
        if want != got {
            return Err(format!(
                "{conn:?}\nreference: {}\ncompiled:  {}\nreference verdict: {want:?}\ncompiled verdict:  {got:?}",
                want.explain(&case.cluster, &case.policies, &conn),
                got.explain(&case.cluster, &case.policies, &conn),
            ));
        }
        if compiled.is_allowed(&conn) != want.allowed || reference.is_allowed(&conn) != want.allowed {
            return Err(format!(
                "{conn:?}: is_allowed disagrees with evaluate ({})",
                want.allowed
            ));
        }
    }
    Ok(())
}

/// Decodes and checks: the whole fuzz target.
pub fn check_bytes(bytes: &[u8]) -> Result<(), String> {
    differential(&decode(bytes))
}

struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn pick_str(&mut self, items: &[&str]) -> String {
        self.pick(items).to_string()
    }
}

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const POD_KEYS: [&str; 3] = ["app", "tier", "role"];
const POD_SELECTOR_KEYS: [&str; 4] = ["app", "tier", "role", "missing"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const SELECTOR_VALUES: [&str; 4] = ["a", "b", "c", "zz"];
const NS_KEYS: [&str; 2] = ["team", "env"];
const NS_SELECTOR_KEYS: [&str; 4] = ["team", "env", NAMESPACE_NAME_LABEL, "missing"];
const NS_SELECTOR_VALUES: [&str; 4] = ["a", "b", "x", "y"];
const PORT_NAMES: [&str; 4] = ["http", "dns", "metrics", ""];
const PORT_NAME_REFS: [&str; 4] = ["http", "dns", "metrics", "nope"];
const PORTS: [u16; 4] = [80, 81, 53, 8080];
const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
const CIDRS: [&str; 7] = [
    "10.0.0.0/8",
    "10.0.1.0/24",
    "0.0.0.0/0",
    "192.168.0.0/24",
    "fd00::/64",
    "::/0",
    "10.0.0.1/32",
];
const EXCEPTS: [&str; 5] = [
    "10.0.0.1/32",
    "10.0.1.0/28",
    "10.0.2.0/24",
    "192.168.0.1/32",
    "fd00::1/128",
];
const NODE_IPS: [[&str; 2]; 2] = [["192.168.0.1", "fd00:ff::1"], ["192.168.0.2", "fd00:ff::2"]];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("constant address")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("constant CIDR")
}

/// Each key present with odds (n-1)/n, with a value from `values`.
fn some_labels(c: &mut Choices, keys: &[&str], values: &[&str], n: usize) -> Labels {
    let mut labels = Labels::new();
    for k in keys {
        if c.below(n) != 0 {
            labels.insert(k.to_string(), c.pick_str(values));
        }
    }
    labels
}

fn selector(c: &mut Choices, keys: &[&str], values: &[&str]) -> LabelSelector {
    let mut s = LabelSelector::default();
    if c.below(3) == 0 {
        return s; // {}: everything
    }
    for _ in 0..c.below(3) {
        s.match_labels.insert(c.pick_str(keys), c.pick_str(values));
    }
    for _ in 0..c.below(3) {
        let operator = c.pick(&[
            SelectorOperator::In,
            SelectorOperator::NotIn,
            SelectorOperator::Exists,
            SelectorOperator::DoesNotExist,
        ]);
        let key = c.pick_str(keys);
        let values = (0..c.below(3)).map(|_| c.pick_str(values)).collect();
        s.match_expressions
            .push(LabelSelectorRequirement { key, operator, values });
    }
    s
}

fn np_rule(c: &mut Choices) -> NetworkPolicyRule {
    let mut rule = NetworkPolicyRule::default();
    for _ in 0..c.below(3) {
        let mut peer = NetworkPolicyPeer::default();
        match c.below(9) {
            0 | 1 => {
                let except = (0..c.below(3)).map(|_| net(c.pick(&EXCEPTS))).collect();
                peer.ip_block = Some(IpBlock {
                    cidr: net(c.pick(&CIDRS)),
                    except,
                });
            }
            2 | 3 => peer.pod_selector = Some(selector(c, &POD_SELECTOR_KEYS, &SELECTOR_VALUES)),
            4 | 5 => peer.namespace_selector = Some(selector(c, &NS_SELECTOR_KEYS, &NS_SELECTOR_VALUES)),
            6 | 7 => {
                peer.pod_selector = Some(selector(c, &POD_SELECTOR_KEYS, &SELECTOR_VALUES));
                peer.namespace_selector = Some(selector(c, &NS_SELECTOR_KEYS, &NS_SELECTOR_VALUES));
            }
            _ => {} // nothing set: invalid, matches nothing
        }
        rule.peers.push(peer);
    }
    for _ in 0..c.below(3) {
        let protocol = c.pick(&[None, Some(Protocol::Tcp), Some(Protocol::Udp), Some(Protocol::Sctp)]);
        let (port, end_port) = match c.below(5) {
            0 => (None, None),
            1 | 2 => {
                let n = i32::from(c.pick(&PORTS));
                let end = if c.bool() {
                    Some(c.pick(&[80, 81, 100, 8080]))
                } else {
                    None
                };
                (Some(IntOrString::Int(n)), end)
            }
            3 => (Some(IntOrString::String(c.pick_str(&PORT_NAME_REFS))), None),
            _ => (Some(IntOrString::String(c.pick_str(&PORT_NAME_REFS))), Some(81)),
        };
        rule.ports.push(NetworkPolicyPort {
            protocol,
            port,
            end_port,
        });
    }
    rule
}

fn cluster_rule(c: &mut Choices) -> ClusterRule {
    let action = c.pick(&[ClusterAction::Accept, ClusterAction::Deny, ClusterAction::Pass]);
    let mut peers = Vec::new();
    for _ in 0..c.below(3) {
        peers.push(match c.below(4) {
            0 => ClusterPeer::Namespaces(selector(c, &NS_SELECTOR_KEYS, &NS_SELECTOR_VALUES)),
            1 => ClusterPeer::Pods {
                namespace_selector: selector(c, &NS_SELECTOR_KEYS, &NS_SELECTOR_VALUES),
                pod_selector: selector(c, &POD_SELECTOR_KEYS, &SELECTOR_VALUES),
            },
            2 => ClusterPeer::Nodes(selector(c, &["zone"], &["a", "b"])),
            _ => ClusterPeer::Networks((0..1 + c.below(2)).map(|_| net(c.pick(&CIDRS))).collect()),
        });
    }
    let mut ports = Vec::new();
    for _ in 0..c.below(3) {
        let protocol = c.pick(&PROTOCOLS);
        ports.push(match c.below(3) {
            0 => ClusterPort::Number {
                protocol,
                port: c.pick(&PORTS),
            },
            1 => ClusterPort::Range {
                protocol,
                start: c.pick(&[53, 80]),
                end: c.pick(&[53, 81, 100]),
            },
            _ => ClusterPort::Named(c.pick_str(&PORT_NAME_REFS)),
        });
    }
    ClusterRule {
        name: format!("r{}", c.below(2)),
        action,
        peers,
        ports,
    }
}

/// Bytes to a case: at most 3 namespaces, 2 nodes, 8 pods, 4 NetworkPolicies, 3 cluster
/// policies and 6 queries.
pub fn decode(bytes: &[u8]) -> Case {
    let c = &mut Choices { data: bytes, pos: 0 };
    let mut cluster = Cluster::default();
    for name in NAMESPACES {
        if c.below(4) != 0 {
            let labels = some_labels(c, &NS_KEYS, &["a", "b"], 2);
            cluster.namespaces.push(Namespace::new(name, labels));
        }
    }
    for (i, ips) in NODE_IPS.iter().enumerate() {
        let labels = [("zone".to_string(), c.pick_str(&["a", "b"]))].into_iter().collect();
        cluster.nodes.push(Node {
            name: format!("n{i}"),
            labels,
            ips: ips.iter().map(|s| ip(s)).collect(),
        });
    }
    for i in 0..c.below(9) {
        let ns = c.below(NAMESPACES.len());
        let node = c.below(2);
        let host_ips: Vec<IpAddr> = cluster.nodes[node].ips.clone();
        let host_network = c.below(8) == 0;
        let ips = if host_network {
            host_ips.clone()
        } else {
            let mut ips = vec![IpAddr::from([10, 0, ns as u8, i as u8 + 1])];
            if c.below(4) == 0 {
                ips.push(format!("fd00::{}", i + 1).parse().expect("valid"));
            }
            ips
        };
        let labels = some_labels(c, &POD_KEYS, &VALUES, 4);
        let container_ports = (0..c.below(3))
            .map(|_| ContainerPort {
                name: c.pick_str(&PORT_NAMES),
                container_port: c.pick(&PORTS),
                protocol: c.pick(&PROTOCOLS),
            })
            .collect();
        cluster.pods.push(Pod {
            namespace: NAMESPACES[ns].to_string(),
            name: format!("p{i}"),
            labels,
            ips,
            node_name: format!("n{node}"),
            host_ips,
            host_network,
            container_ports,
        });
    }
    let mut policies = PolicySet::default();
    for _ in 0..c.below(5) {
        let policy_types = c.pick(&[
            None,
            None,
            Some(vec![PolicyType::Ingress]),
            Some(vec![PolicyType::Egress]),
            Some(vec![PolicyType::Ingress, PolicyType::Egress]),
        ]);
        policies.network_policies.push(NetworkPolicy {
            namespace: c.pick_str(&NAMESPACES),
            name: c.pick_str(&["np0", "np1", "np2"]),
            pod_selector: selector(c, &POD_SELECTOR_KEYS, &SELECTOR_VALUES),
            policy_types,
            ingress: (0..c.below(3)).map(|_| np_rule(c)).collect(),
            egress: (0..c.below(3)).map(|_| np_rule(c)).collect(),
        });
    }
    for _ in 0..c.below(4) {
        let subject = if c.bool() {
            ClusterSubject::Namespaces(selector(c, &NS_SELECTOR_KEYS, &NS_SELECTOR_VALUES))
        } else {
            ClusterSubject::Pods {
                namespace_selector: selector(c, &NS_SELECTOR_KEYS, &NS_SELECTOR_VALUES),
                pod_selector: selector(c, &POD_SELECTOR_KEYS, &SELECTOR_VALUES),
            }
        };
        policies.cluster_policies.push(ClusterNetworkPolicy {
            kind: c.pick(&[
                ClusterPolicyKind::ClusterNetworkPolicy,
                ClusterPolicyKind::AdminNetworkPolicy,
            ]),
            name: c.pick_str(&["c0", "c1", "c2"]),
            tier: c.pick(&[Tier::Admin, Tier::Baseline]),
            priority: c.below(3) as i32,
            subject,
            ingress: (0..c.below(3)).map(|_| cluster_rule(c)).collect(),
            egress: (0..c.below(3)).map(|_| cluster_rule(c)).collect(),
        });
    }
    let options = EvalOptions {
        ip_block_matches_pods: c.below(4) != 0,
        allow_from_own_node: c.below(4) != 0,
        allow_to_own_node: c.below(4) != 0,
        allow_self: c.below(4) != 0,
    };
    let pods = cluster.pods.len();
    let endpoint = |c: &mut Choices| {
        if pods > 0 && c.bool() {
            Endpoint::Pod(PodId(c.below(pods) as u32))
        } else {
            Endpoint::Ip(ip(c.pick(&ADDRESSES)))
        }
    };
    let queries = (0..c.below(7))
        .map(|_| Connection {
            src: endpoint(c),
            dst: endpoint(c),
            protocol: c.pick(&[Protocol::Tcp, Protocol::Udp, Protocol::Sctp, Protocol::Icmp]),
            port: c.pick(&[80, 81, 53, 8080, 0, 100]),
        })
        .collect();
    Case {
        cluster,
        policies,
        options,
        queries,
    }
}
