//! The CRDs' spec types, field for field as the Go types in kubernetes-sigs/network-policy-api
//! (see the parent module for the revisions read). Unknown fields are refused.

use serde::Deserialize;
use std::collections::BTreeMap;

/// metav1.LabelSelector as the CRDs carry it, plus the older draft's namespace relations so
/// they can be named in a warning rather than rejected as unknown.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Selector {
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub match_expressions: Option<Vec<Requirement>>,
    #[serde(default)]
    pub same_labels: Option<Vec<String>>,
    #[serde(default)]
    pub not_same_labels: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NamespacedPod {
    #[serde(default)]
    pub namespace_selector: Selector,
    pub pod_selector: Selector,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Subject {
    #[serde(default)]
    pub namespaces: Option<Selector>,
    #[serde(default)]
    pub pods: Option<NamespacedPod>,
}

/// Ingress and egress peers in one type; `nodes`, `networks` and `domainNames` are refused on
/// ingress as the API's ingress peer type has no such fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Peer {
    #[serde(default)]
    pub namespaces: Option<Selector>,
    #[serde(default)]
    pub pods: Option<NamespacedPod>,
    #[serde(default)]
    pub nodes: Option<Selector>,
    #[serde(default)]
    pub networks: Option<Vec<String>>,
    #[serde(default)]
    pub domain_names: Option<Vec<String>>,
}

// ---- v1alpha2 ClusterNetworkPolicy ----

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CnpSpec {
    pub tier: String,
    pub priority: i64,
    pub subject: Subject,
    #[serde(default)]
    pub ingress: Option<Vec<CnpRule>>,
    #[serde(default)]
    pub egress: Option<Vec<CnpRule>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CnpRule {
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub from: Option<Vec<Peer>>,
    #[serde(default)]
    pub to: Option<Vec<Peer>>,
    #[serde(default)]
    pub protocols: Option<Vec<CnpProtocol>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CnpProtocol {
    #[serde(default)]
    pub tcp: Option<CnpProtocolPort>,
    #[serde(default)]
    pub udp: Option<CnpProtocolPort>,
    #[serde(default)]
    pub sctp: Option<CnpProtocolPort>,
    #[serde(default)]
    pub destination_named_port: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CnpProtocolPort {
    #[serde(default)]
    pub destination_port: Option<CnpPort>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CnpPort {
    #[serde(default)]
    pub number: Option<i64>,
    #[serde(default)]
    pub range: Option<PortRange>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortRange {
    #[serde(default)]
    pub protocol: Option<String>,
    pub start: i64,
    pub end: i64,
}

// ---- v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy ----

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AnpSpec {
    /// Absent for BaselineAdminNetworkPolicy.
    #[serde(default)]
    pub priority: Option<i64>,
    pub subject: Subject,
    #[serde(default)]
    pub ingress: Option<Vec<AnpRule>>,
    #[serde(default)]
    pub egress: Option<Vec<AnpRule>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AnpRule {
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub from: Option<Vec<Peer>>,
    #[serde(default)]
    pub to: Option<Vec<Peer>>,
    #[serde(default)]
    pub ports: Option<Vec<AnpPort>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AnpPort {
    #[serde(default)]
    pub port_number: Option<AnpPortNumber>,
    #[serde(default)]
    pub named_port: Option<String>,
    #[serde(default)]
    pub port_range: Option<PortRange>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnpPortNumber {
    #[serde(default)]
    pub protocol: Option<String>,
    pub port: i64,
}
