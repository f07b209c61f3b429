//! The cluster-scoped tiers of the network-policy-api project: ClusterNetworkPolicy
//! (policy.networking.k8s.io/v1alpha2, `tier: Admin | Baseline`), and the older v1alpha1
//! AdminNetworkPolicy and BaselineAdminNetworkPolicy, which map onto the same two tiers.
//!
//! One evaluated shape (`ClusterNetworkPolicy`) serves all three kinds; `kind` is kept only to
//! name the object in explanations.

use crate::types::{Direction, LabelSelector, Protocol};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// Evaluated before NetworkPolicy.
    Admin,
    /// Evaluated after NetworkPolicy, for pods no NetworkPolicy isolates in that direction.
    Baseline,
}

/// The v1alpha2 actions. v1alpha1's `Allow` maps to `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClusterAction {
    Accept,
    Deny,
    /// Skip the rest of this tier: from Admin to NetworkPolicy, from Baseline to the default.
    Pass,
}

/// Which API object the policy came from, for explanations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClusterPolicyKind {
    #[default]
    ClusterNetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
}

impl fmt::Display for ClusterPolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterPolicyKind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
            ClusterPolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
            ClusterPolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
        })
    }
}

/// `spec.subject` (exactly one of the two in the API). hostNetwork pods are never subjects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterSubject {
    /// Every pod in the namespaces the selector picks.
    Namespaces(LabelSelector),
    Pods {
        namespace_selector: LabelSelector,
        pod_selector: LabelSelector,
    },
}

/// A peer (exactly one field in the API). Pods peers never include hostNetwork pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterPeer {
    Namespaces(LabelSelector),
    Pods {
        namespace_selector: LabelSelector,
        pod_selector: LabelSelector,
    },
    /// The addresses of the nodes the selector picks (egress only in the API).
    Nodes(LabelSelector),
    /// CIDRs (egress only in the API). They match pod addresses too: the API says
    /// cluster-internal traffic is checked against them.
    Networks(Vec<IpNet>),
}

/// One entry of `protocols` (v1alpha2) or `ports` (v1alpha1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterPort {
    Number {
        protocol: Protocol,
        port: u16,
    },
    /// Inclusive.
    Range {
        protocol: Protocol,
        start: u16,
        end: u16,
    },
    /// A container port name on the destination pod; the protocol is the container port's.
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRule {
    #[serde(default)]
    pub name: String,
    pub action: ClusterAction,
    /// `from` or `to`. The API requires at least one; an empty list matches nothing.
    pub peers: Vec<ClusterPeer>,
    /// Empty: any protocol and port.
    #[serde(default)]
    pub ports: Vec<ClusterPort>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNetworkPolicy {
    #[serde(default)]
    pub kind: ClusterPolicyKind,
    pub name: String,
    pub tier: Tier,
    /// 0..=1000; lower first. Ties are broken by name, then by input order (the API leaves
    /// the outcome undefined; cnsim makes it fixed).
    pub priority: i32,
    pub subject: ClusterSubject,
    /// In precedence order: the first rule that matches decides. A policy with no ingress
    /// rules does not affect ingress.
    #[serde(default)]
    pub ingress: Vec<ClusterRule>,
    #[serde(default)]
    pub egress: Vec<ClusterRule>,
}

impl ClusterNetworkPolicy {
    pub fn rules(&self, direction: Direction) -> &[ClusterRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// v1alpha1 AdminNetworkPolicy actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminAction {
    Allow,
    Deny,
    Pass,
}

/// v1alpha1 BaselineAdminNetworkPolicy actions (no Pass: there is no lower tier to pass to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaselineAction {
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRule<A> {
    #[serde(default)]
    pub name: String,
    pub action: A,
    pub peers: Vec<ClusterPeer>,
    #[serde(default)]
    pub ports: Vec<ClusterPort>,
}

/// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminNetworkPolicy {
    pub name: String,
    pub priority: i32,
    pub subject: ClusterSubject,
    #[serde(default)]
    pub ingress: Vec<AdminRule<AdminAction>>,
    #[serde(default)]
    pub egress: Vec<AdminRule<AdminAction>>,
}

/// policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy. The API allows one, named
/// `default`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineAdminNetworkPolicy {
    pub name: String,
    pub subject: ClusterSubject,
    #[serde(default)]
    pub ingress: Vec<AdminRule<BaselineAction>>,
    #[serde(default)]
    pub egress: Vec<AdminRule<BaselineAction>>,
}

fn map_rules<A: Copy>(rules: Vec<AdminRule<A>>, f: impl Fn(A) -> ClusterAction) -> Vec<ClusterRule> {
    rules
        .into_iter()
        .map(|r| ClusterRule {
            name: r.name,
            action: f(r.action),
            peers: r.peers,
            ports: r.ports,
        })
        .collect()
}

impl From<AdminNetworkPolicy> for ClusterNetworkPolicy {
    fn from(anp: AdminNetworkPolicy) -> ClusterNetworkPolicy {
        let action = |a| match a {
            AdminAction::Allow => ClusterAction::Accept,
            AdminAction::Deny => ClusterAction::Deny,
            AdminAction::Pass => ClusterAction::Pass,
        };
        ClusterNetworkPolicy {
            kind: ClusterPolicyKind::AdminNetworkPolicy,
            name: anp.name,
            tier: Tier::Admin,
            priority: anp.priority,
            subject: anp.subject,
            ingress: map_rules(anp.ingress, action),
            egress: map_rules(anp.egress, action),
        }
    }
}

impl From<BaselineAdminNetworkPolicy> for ClusterNetworkPolicy {
    /// The single baseline object gets priority 0: alone in its tier, the number only matters
    /// against v1alpha2 Baseline policies, which it then precedes unless they also use 0.
    fn from(banp: BaselineAdminNetworkPolicy) -> ClusterNetworkPolicy {
        let action = |a| match a {
            BaselineAction::Allow => ClusterAction::Accept,
            BaselineAction::Deny => ClusterAction::Deny,
        };
        ClusterNetworkPolicy {
            kind: ClusterPolicyKind::BaselineAdminNetworkPolicy,
            name: banp.name,
            tier: Tier::Baseline,
            priority: 0,
            subject: banp.subject,
            ingress: map_rules(banp.ingress, action),
            egress: map_rules(banp.egress, action),
        }
    }
}

/// Everything the engines evaluate, besides the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    pub network_policies: Vec<crate::types::NetworkPolicy>,
    pub cluster_policies: Vec<ClusterNetworkPolicy>,
}

/// Index into `PolicySet::network_policies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NetworkPolicyId(pub u32);

/// Index into `PolicySet::cluster_policies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterPolicyId(pub u32);

impl PolicySet {
    /// NetworkPolicies in the order explanations list them: namespace, name, input index.
    pub fn network_policy_order(&self) -> Vec<NetworkPolicyId> {
        let mut ids: Vec<u32> = (0..self.network_policies.len() as u32).collect();
        ids.sort_by(|&a, &b| {
            let (pa, pb) = (&self.network_policies[a as usize], &self.network_policies[b as usize]);
            (&pa.namespace, &pa.name, a).cmp(&(&pb.namespace, &pb.name, b))
        });
        ids.into_iter().map(NetworkPolicyId).collect()
    }

    /// Cluster policies in evaluation order: tier, priority, name, input index. The last two
    /// are cnsim's fixed answer to the API's "undefined" for equal priorities.
    pub fn cluster_policy_order(&self) -> Vec<ClusterPolicyId> {
        let mut ids: Vec<u32> = (0..self.cluster_policies.len() as u32).collect();
        ids.sort_by(|&a, &b| {
            let (pa, pb) = (&self.cluster_policies[a as usize], &self.cluster_policies[b as usize]);
            (pa.tier, pa.priority, &pa.name, a).cmp(&(pb.tier, pb.priority, &pb.name, b))
        });
        ids.into_iter().map(ClusterPolicyId).collect()
    }

    pub fn network_policy(&self, id: NetworkPolicyId) -> &crate::types::NetworkPolicy {
        &self.network_policies[id.0 as usize]
    }

    pub fn cluster_policy(&self, id: ClusterPolicyId) -> &ClusterNetworkPolicy {
        &self.cluster_policies[id.0 as usize]
    }
}
