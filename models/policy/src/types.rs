//! The cluster and the namespaced NetworkPolicy (networking.k8s.io/v1), as the API server holds
//! them after defaulting, in cnsim's own small types.
//!
//! Field names follow the Kubernetes API (snake_case of the JSON names) so that the manifest
//! importer maps a k8s-openapi object field by field. Labels are `BTreeMap`s: their order is
//! defined, and nothing observable depends on a hash order.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

pub type Labels = BTreeMap<String, String>;

/// The label the API server puts on every namespace (since 1.21), so that a namespaceSelector
/// can pick a namespace by name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    /// Not expressible in a NetworkPolicy port; kept so that a ping can be asked about. Its
    /// port is ignored (see the crate doc, "ICMP").
    Icmp,
}

impl Protocol {
    /// The Kubernetes API spelling.
    pub fn as_k8s(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Icmp => "ICMP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_k8s())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

impl Namespace {
    /// A namespace as the API server stores it: with `kubernetes.io/metadata.name` set.
    pub fn new(name: &str, labels: Labels) -> Namespace {
        let mut labels = labels;
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.to_string());
        Namespace {
            name: name.to_string(),
            labels,
        }
    }
}

/// A node, for the `nodes` peer of the cluster tiers and for "traffic from the pod's own node".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    /// `status.addresses` (InternalIP and ExternalIP).
    pub ips: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    /// Empty when the port has no name.
    pub name: String,
    pub container_port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// `status.podIPs`: at most one IPv4 and one IPv6 address. For a hostNetwork pod these are
    /// its node's addresses.
    pub ips: Vec<IpAddr>,
    pub node_name: String,
    /// `status.hostIPs`: the addresses of the pod's node.
    pub host_ips: Vec<IpAddr>,
    pub host_network: bool,
    pub container_ports: Vec<ContainerPort>,
}

/// Index of a pod in `Cluster::pods`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodId(pub u32);

/// The objects policies are evaluated against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
}

impl Cluster {
    pub fn pod(&self, id: PodId) -> &Pod {
        &self.pods[id.0 as usize]
    }

    /// The labels of namespace `name`. A namespace that is not listed gets only the name label,
    /// which is what the API server would give it.
    pub fn namespace_labels(&self, name: &str) -> Labels {
        match self.namespaces.iter().find(|ns| ns.name == name) {
            Some(ns) => ns.labels.clone(),
            None => Namespace::new(name, Labels::new()).labels,
        }
    }

    /// The pod (not hostNetwork) whose address is `ip`, if any: how the CLI turns an address
    /// given by the user into a pod. The first such pod in list order wins.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<PodId> {
        let i = self.pods.iter().position(|p| !p.host_network && p.ips.contains(&ip))?;
        Some(PodId(i as u32))
    }

    pub fn pod_by_name(&self, namespace: &str, name: &str) -> Option<PodId> {
        let i = self
            .pods
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)?;
        Some(PodId(i as u32))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default)]
    pub values: Vec<String>,
}

/// metav1.LabelSelector: `match_labels` and `match_expressions` ANDed. The empty selector
/// matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: Labels,
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelector {
    /// `{}`: selects everything.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    pub fn labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            match_expressions: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    Ingress,
    Egress,
}

/// intstr.IntOrString: a port number or a container port name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    pub cidr: IpNet,
    #[serde(default)]
    pub except: Vec<IpNet>,
}

impl IpBlock {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

/// NetworkPolicyPeer. The API allows either `ip_block` alone, or one or both selectors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyPeer {
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    pub ip_block: Option<IpBlock>,
}

/// NetworkPolicyPort, before defaulting: `protocol: None` means TCP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyPort {
    #[serde(default)]
    pub protocol: Option<Protocol>,
    #[serde(default)]
    pub port: Option<IntOrString>,
    #[serde(default)]
    pub end_port: Option<i32>,
}

impl NetworkPolicyPort {
    /// The API default.
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol.unwrap_or(Protocol::Tcp)
    }
}

/// One ingress rule (`from` + `ports`) or egress rule (`to` + `ports`): the two have the same
/// shape, so they share a type. An empty list of peers or of ports matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyRule {
    /// `from` for an ingress rule, `to` for an egress rule.
    #[serde(default, alias = "from", alias = "to")]
    pub peers: Vec<NetworkPolicyPeer>,
    #[serde(default)]
    pub ports: Vec<NetworkPolicyPort>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    /// As written; `None` is defaulted by `effective_policy_types`.
    #[serde(default)]
    pub policy_types: Option<Vec<PolicyType>>,
    #[serde(default)]
    pub ingress: Vec<NetworkPolicyRule>,
    #[serde(default)]
    pub egress: Vec<NetworkPolicyRule>,
}

impl NetworkPolicy {
    /// The API server's defaulting: absent policyTypes means Ingress, plus Egress when the spec
    /// has at least one egress rule. Returns (ingress, egress).
    pub fn effective_policy_types(&self) -> (bool, bool) {
        match &self.policy_types {
            Some(types) => (
                types.contains(&PolicyType::Ingress),
                types.contains(&PolicyType::Egress),
            ),
            None => (true, !self.egress.is_empty()),
        }
    }

    /// Whether the policy isolates its pods in `direction`.
    pub fn affects(&self, direction: Direction) -> bool {
        let (ingress, egress) = self.effective_policy_types();
        match direction {
            Direction::Ingress => ingress,
            Direction::Egress => egress,
        }
    }

    pub fn rules(&self, direction: Direction) -> &[NetworkPolicyRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}
