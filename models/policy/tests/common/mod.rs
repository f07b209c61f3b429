//! The upstream NetworkPolicy e2e harness (kubernetes test/e2e/network/netpol), rebuilt on
//! cnsim's types: namespaces x, y, z; the pods each test names (`x/a`, ...), labelled
//! `pod: <name>`, each serving every requested port and protocol on a container port named
//! `serve-<port>-<protocol>`; a truth table of expected reachability with the upstream helpers
//! (Expect, ExpectPeer, ExpectAllIngress, ExpectAllEgress); and `validate`, which asks both
//! engines about every ordered pair of pods except a pod to itself (upstream ignores loopback).

#![allow(dead_code)] // each test file uses part of the harness

use cnsim_policy::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];

pub const TCP: Protocol = Protocol::Tcp;

pub struct World {
    pub cluster: Cluster,
    pub policies: PolicySet,
    pub options: EvalOptions,
}

/// initializeResources: the three namespaces and the named pods, spread over two nodes.
pub fn init(protocols: &[Protocol], ports: &[u16], pods: &[&str]) -> World {
    let mut cluster = Cluster::default();
    for ns in NAMESPACES {
        cluster.namespaces.push(Namespace::new(
            ns,
            [("ns".to_string(), ns.to_string())].into_iter().collect(),
        ));
    }
    for n in 0..2u8 {
        cluster.nodes.push(Node {
            name: format!("node-{n}"),
            labels: Labels::new(),
            ips: vec![IpAddr::from([192, 168, 0, n + 1])],
        });
    }
    for (i, pod) in pods.iter().enumerate() {
        let (ns, name) = pod.split_once('/').expect("ns/pod");
        let ns_index = NAMESPACES.iter().position(|n| *n == ns).expect("x, y or z") as u8;
        let node = i % 2;
        let mut container_ports = Vec::new();
        for &port in ports {
            for &protocol in protocols {
                let name = format!("serve-{port}-{}", protocol.as_k8s().to_lowercase());
                container_ports.push(ContainerPort {
                    name,
                    container_port: port,
                    protocol,
                });
            }
        }
        cluster.pods.push(Pod {
            namespace: ns.to_string(),
            name: name.to_string(),
            labels: [("pod".to_string(), name.to_string())].into_iter().collect(),
            ips: vec![IpAddr::from([10, 0, ns_index, i as u8 + 10])],
            node_name: format!("node-{node}"),
            host_ips: cluster.nodes[node].ips.clone(),
            host_network: false,
            container_ports,
        });
    }
    World {
        cluster,
        policies: PolicySet::default(),
        options: EvalOptions::default(),
    }
}

impl World {
    pub fn create(&mut self, ns: &str, mut policy: NetworkPolicy) {
        policy.namespace = ns.to_string();
        self.policies.network_policies.push(policy);
    }

    /// UpdatePolicy: the policy of that namespace and name is replaced.
    pub fn update(&mut self, ns: &str, mut policy: NetworkPolicy) {
        policy.namespace = ns.to_string();
        let nps = &mut self.policies.network_policies;
        let i = nps
            .iter()
            .position(|p| p.namespace == ns && p.name == policy.name)
            .expect("policy to update");
        nps[i] = policy;
    }

    pub fn clean_network_policies(&mut self) {
        self.policies.network_policies.clear();
    }

    fn pod_mut(&mut self, pod: &str) -> &mut Pod {
        let (ns, name) = pod.split_once('/').expect("ns/pod");
        self.cluster
            .pods
            .iter_mut()
            .find(|p| p.namespace == ns && p.name == name)
            .expect("pod exists")
    }

    pub fn pod_ip(&self, pod: &str) -> IpAddr {
        let (ns, name) = pod.split_once('/').expect("ns/pod");
        let id = self.cluster.pod_by_name(ns, name).expect("pod exists");
        self.cluster.pod(id).ips[0]
    }

    pub fn add_namespace_label(&mut self, ns: &str, key: &str, value: &str) {
        let n = self
            .cluster
            .namespaces
            .iter_mut()
            .find(|n| n.name == ns)
            .expect("namespace exists");
        n.labels.insert(key.to_string(), value.to_string());
    }

    pub fn add_pod_labels(&mut self, pod: &str, labels: &[(&str, &str)]) {
        let p = self.pod_mut(pod);
        for (k, v) in labels {
            p.labels.insert(k.to_string(), v.to_string());
        }
    }

    /// The endpoint for "ns/pod", or an address.
    pub fn endpoint(&self, s: &str) -> Endpoint {
        match s.split_once('/') {
            Some((ns, name)) => Endpoint::Pod(self.cluster.pod_by_name(ns, name).expect("pod exists")),
            None => Endpoint::Ip(s.parse().expect("an address")),
        }
    }

    /// The connection from `from` to `to` ("ns/pod" or an address).
    pub fn conn(&self, from: &str, to: &str, protocol: Protocol, port: u16) -> Connection {
        Connection {
            src: self.endpoint(from),
            dst: self.endpoint(to),
            protocol,
            port,
        }
    }

    fn engines(&self) -> (Reference<'_>, Compiled) {
        let reference = Reference::new(&self.cluster, &self.policies, self.options);
        (reference, Compiled::build(&self.cluster, &self.policies, self.options))
    }

    /// One question to both engines, which must agree, explanation included.
    pub fn verdict(&self, from: &str, to: &str, protocol: Protocol, port: u16) -> Verdict {
        let (reference, compiled) = self.engines();
        agreed(&reference, &compiled, &self.conn(from, to, protocol, port), from, to)
    }

    /// The one-line explanation of a question.
    pub fn explain(&self, from: &str, to: &str, protocol: Protocol, port: u16) -> String {
        let conn = self.conn(from, to, protocol, port);
        let (reference, compiled) = self.engines();
        agreed(&reference, &compiled, &conn, from, to)
            .explain(&self.cluster, &self.policies, &conn)
            .to_string()
    }

    fn pod_names(&self) -> Vec<String> {
        self.cluster
            .pods
            .iter()
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect()
    }

    /// NewReachability(k8s.AllPodStrings(), true).
    pub fn reachability(&self) -> Reachability {
        let pods = self.pod_names();
        let expected = pods
            .iter()
            .flat_map(|a| pods.iter().map(move |b| ((a.clone(), b.clone()), true)))
            .collect();
        Reachability { pods, expected }
    }

    /// ValidateOrFail: both engines agree with each other (explanation included) and with
    /// the expected table on every pair of distinct pods.
    pub fn validate(&self, port: u16, protocol: Protocol, r: &Reachability) {
        let (reference, compiled) = self.engines();
        let mut wrong = Vec::new();
        for (i, from) in r.pods.iter().enumerate() {
            for (j, to) in r.pods.iter().enumerate() {
                if i == j {
                    continue;
                }
                let conn = Connection {
                    src: Endpoint::Pod(PodId(i as u32)),
                    dst: Endpoint::Pod(PodId(j as u32)),
                    protocol,
                    port,
                };
                let v = agreed(&reference, &compiled, &conn, from, to);
                if v.allowed != r.expected[&(from.clone(), to.clone())] {
                    wrong.push(v.explain(&self.cluster, &self.policies, &conn).to_string());
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{protocol}/{port}: {} pairs differ from upstream's expectation:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
}

/// Both engines' verdict on `conn` (from `from` to `to`), which must be the same, explanation
/// included, and agree with `is_allowed`.
fn agreed(reference: &Reference, compiled: &Compiled, conn: &Connection, from: &str, to: &str) -> Verdict {
    let v = reference.evaluate(conn);
    assert_eq!(v, compiled.evaluate(conn), "engines differ on {from} -> {to}: {conn:?}");
    assert_eq!(
        v.allowed,
        compiled.is_allowed(conn),
        "is_allowed differs on {from} -> {to}"
    );
    v
}

/// Peer: an empty field matches every namespace or pod.
#[derive(Clone, Copy, Default)]
pub struct Peer<'a> {
    pub namespace: Option<&'a str>,
    pub pod: Option<&'a str>,
}

pub fn any() -> Peer<'static> {
    Peer::default()
}

pub fn in_ns(ns: &str) -> Peer<'_> {
    Peer {
        namespace: Some(ns),
        pod: None,
    }
}

pub fn pod<'a>(ns: &'a str, pod: &'a str) -> Peer<'a> {
    Peer {
        namespace: Some(ns),
        pod: Some(pod),
    }
}

impl Peer<'_> {
    fn matches(&self, pod: &str) -> bool {
        let (ns, name) = pod.split_once('/').expect("ns/pod");
        self.namespace.is_none_or(|n| n == ns) && self.pod.is_none_or(|p| p == name)
    }
}

pub struct Reachability {
    pods: Vec<String>,
    expected: BTreeMap<(String, String), bool>,
}

impl Reachability {
    pub fn expect(&mut self, from: &str, to: &str, connected: bool) {
        *self
            .expected
            .get_mut(&(from.to_string(), to.to_string()))
            .expect("both pods exist") = connected;
    }

    pub fn expect_peer(&mut self, from: Peer, to: Peer, connected: bool) {
        for ((a, b), v) in self.expected.iter_mut() {
            if from.matches(a) && to.matches(b) {
                *v = connected;
            }
        }
    }

    pub fn expect_all_ingress(&mut self, pod: &str, connected: bool) {
        self.expected
            .iter_mut()
            .filter(|((_, b), _)| b == pod)
            .for_each(|(_, v)| *v = connected);
    }

    pub fn expect_all_egress(&mut self, pod: &str, connected: bool) {
        self.expected
            .iter_mut()
            .filter(|((a, _), _)| a == pod)
            .for_each(|(_, v)| *v = connected);
    }
}

// Policy builders, after upstream's policies.go.

/// GenNetworkPolicyWithNameAndPodSelector: no policyTypes until rules are set.
pub fn policy(name: &str, pod_selector: LabelSelector) -> NetworkPolicy {
    NetworkPolicy {
        name: name.to_string(),
        pod_selector,
        ..NetworkPolicy::default()
    }
}

/// GenNetworkPolicyWithNameAndPodMatchLabel.
pub fn policy_for(name: &str, labels: &[(&str, &str)]) -> NetworkPolicy {
    policy(name, LabelSelector::labels(labels))
}

/// A policy for the harness's pods named `pod` (label `pod: <pod>`).
pub fn for_pod(name: &str, pod: &str) -> NetworkPolicy {
    policy(name, pod_label(pod))
}

/// `{}`: every pod, or every namespace.
pub fn everything() -> LabelSelector {
    LabelSelector::everything()
}

/// The harness's label on pod `name`: `pod: <name>`.
pub fn pod_label(name: &str) -> LabelSelector {
    LabelSelector::labels(&[("pod", name)])
}

fn add_type(p: &mut NetworkPolicy, t: PolicyType) {
    p.policy_types.get_or_insert_with(Vec::new).push(t);
}

/// SetSpecIngressRules: sets the (possibly empty) rule list and adds Ingress to policyTypes.
pub fn ingress(mut p: NetworkPolicy, rules: Vec<NetworkPolicyRule>) -> NetworkPolicy {
    add_type(&mut p, PolicyType::Ingress);
    p.ingress = rules;
    p
}

/// SetSpecEgressRules.
pub fn egress(mut p: NetworkPolicy, rules: Vec<NetworkPolicyRule>) -> NetworkPolicy {
    add_type(&mut p, PolicyType::Egress);
    p.egress = rules;
    p
}

pub fn rule(peers: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyRule {
    NetworkPolicyRule { peers, ports }
}

/// A rule with these peers and no ports: every port.
pub fn any_port(peers: Vec<NetworkPolicyPeer>) -> NetworkPolicyRule {
    rule(peers, vec![])
}

/// A rule with these ports and no peers: every peer.
pub fn any_peer(ports: Vec<NetworkPolicyPort>) -> NetworkPolicyRule {
    rule(vec![], ports)
}

pub fn pods(sel: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(sel),
        ..NetworkPolicyPeer::default()
    }
}

pub fn namespaces(sel: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(sel),
        ..NetworkPolicyPeer::default()
    }
}

pub fn pods_in(ns: LabelSelector, pods: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(pods),
        namespace_selector: Some(ns),
        ip_block: None,
    }
}

pub fn ip_block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    let block = IpBlock {
        cidr: cidr.parse().expect("cidr"),
        except: except.iter().map(|e| e.parse().expect("cidr")).collect(),
    };
    NetworkPolicyPeer {
        ip_block: Some(block),
        ..NetworkPolicyPeer::default()
    }
}

pub fn port(n: i32, protocol: Option<Protocol>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol,
        port: Some(IntOrString::Int(n)),
        end_port: None,
    }
}

pub fn named_port(name: &str, protocol: Option<Protocol>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol,
        port: Some(IntOrString::String(name.to_string())),
        end_port: None,
    }
}

pub fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_labels: Labels::new(),
        match_expressions: vec![LabelSelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }],
    }
}

/// namespaceSelector on the label the API server sets to the namespace's name.
pub fn ns_named(ns: &str) -> LabelSelector {
    LabelSelector::labels(&[(NAMESPACE_NAME_LABEL, ns)])
}
