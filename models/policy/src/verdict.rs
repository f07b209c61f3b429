//! The question (a connection's first packet, and the options that differ between CNIs) and the
//! answer (a verdict per direction with the reason for it). Both engines answer with these
//! types, and their answers must be equal, reason included.
//!
//! A `Verdict` names policies by index so it is cheap to build on the packet path;
//! `Verdict::explain` turns it into a named `Explanation` for people and JSON.

use crate::tiers::{ClusterAction, ClusterPolicyId, NetworkPolicyId, Tier};
use crate::types::{Direction, PodId, Protocol};
use serde::{Serialize, Serializer};
use smallvec::SmallVec;
use std::net::IpAddr;

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Endpoint {
    Pod(PodId),
    /// Anything that is not a pod: outside the cluster, a node, a load balancer. An address
    /// that belongs to a pod is still taken literally; use `Cluster::pod_by_ip` first to ask
    /// about that pod.
    Ip(IpAddr),
}

/// The first packet of a connection (after any Service translation: `dst` is the backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Connection {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Protocol,
    /// Destination port; ignored for ICMP.
    pub port: u16,
}

/// The points where Kubernetes leaves the behaviour to the network plugin. Defaults follow the
/// API documentation and kube-proxy-era plugins (Calico, kube-router, kube-network-policies);
/// see the crate doc for each choice and the plugins that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EvalOptions {
    /// ipBlock (and cluster `networks`) match pod addresses too. Cilium: false (pods are only
    /// matched by selectors).
    pub ip_block_matches_pods: bool,
    /// Traffic from the pod's own node (kubelet probes) is allowed whatever the policies.
    pub allow_from_own_node: bool,
    /// Traffic from a pod to its own node's addresses is allowed whatever the policies.
    pub allow_to_own_node: bool,
    /// A pod reaching itself (source pod = destination pod) is allowed whatever the policies.
    pub allow_self: bool,
}

impl Default for EvalOptions {
    fn default() -> EvalOptions {
        EvalOptions {
            ip_block_matches_pods: true,
            allow_from_own_node: true,
            allow_to_own_node: true,
            allow_self: true,
        }
    }
}

/// A cluster policy rule, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RuleRef {
    pub policy: ClusterPolicyId,
    pub rule: u32,
}

/// Why one direction was decided as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// This end is not a pod policies can select (an address, or a hostNetwork pod): nothing
    /// is enforced here.
    NotAPod,
    /// A cluster policy rule decided (Accept or Deny; or Pass in the Baseline tier, which
    /// leaves the default: allow).
    Tier {
        tier: Tier,
        rule: RuleRef,
        action: ClusterAction,
    },
    /// The pod talks to itself.
    SelfTraffic,
    /// Traffic between the pod and its own node.
    OwnNode,
    /// Isolated, and this NetworkPolicy rule allows it (the first in policy order). `peer`
    /// and `port` are None when the rule's list is empty (matches all).
    Allowed {
        policy: NetworkPolicyId,
        rule: u32,
        peer: Option<u32>,
        port: Option<u32>,
    },
    /// Isolated by these NetworkPolicies (in namespace/name order) and none allows it.
    Isolated {
        #[serde(serialize_with = "ser_ids")]
        policies: SmallVec<[NetworkPolicyId; 4]>,
    },
    /// Not isolated in this direction and no tier decided: Kubernetes' default.
    DefaultAllow,
}

fn ser_ids<S: Serializer>(ids: &SmallVec<[NetworkPolicyId; 4]>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectionVerdict {
    pub allowed: bool,
    pub decision: Decision,
    /// The Admin-tier rule that passed this connection on to the lower tiers, if one did.
    pub passed_by: Option<RuleRef>,
}

/// Egress at the source and ingress at the destination; the connection is allowed iff both
/// are. Replies of an allowed connection are allowed (see `admits`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    pub egress: DirectionVerdict,
    pub ingress: DirectionVerdict,
}

impl Verdict {
    pub fn new(egress: DirectionVerdict, ingress: DirectionVerdict) -> Verdict {
        Verdict {
            allowed: egress.allowed && ingress.allowed,
            egress,
            ingress,
        }
    }

    pub fn direction(&self, direction: Direction) -> &DirectionVerdict {
        match direction {
            Direction::Egress => &self.egress,
            Direction::Ingress => &self.ingress,
        }
    }
}

/// Connection-tracking state of a packet, as the packet path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum CtState {
    /// The first packet of a connection: policy is evaluated.
    New,
    /// A reply, or any later packet of an admitted connection.
    Established,
    /// ICMP errors and other packets tied to an admitted connection.
    Related,
}

/// What every engine answers.
pub trait PolicyEngine {
    fn evaluate(&self, conn: &Connection) -> Verdict;

    /// `evaluate(conn).allowed`, without building the explanation.
    fn is_allowed(&self, conn: &Connection) -> bool {
        self.evaluate(conn).allowed
    }

    /// Whether a packet passes policy. Only a connection's first packet is judged; later
    /// packets, replies and related ICMP of an admitted connection pass, even after a policy
    /// change (conntrack keeps the entry; CNIs do not flush it).
    fn admits(&self, conn: &Connection, state: CtState) -> bool {
        match state {
            CtState::New => self.is_allowed(conn),
            CtState::Established | CtState::Related => true,
        }
    }
}

/// A connection end as both engines use it: the pod policies can select (None for an address
/// or a hostNetwork pod) and the address used for ipBlock, networks and nodes matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub pod: Option<PodId>,
    pub ip: Option<IpAddr>,
}

impl Resolved {
    /// The address ipBlocks and cluster `networks` see for this end: none for a pod when
    /// `ip_block_matches_pods` is off (pods are then matched only by selectors).
    pub fn block_ip(self, options: &EvalOptions) -> Option<IpAddr> {
        if self.pod.is_some() && !options.ip_block_matches_pods {
            None
        } else {
            self.ip
        }
    }
}

/// Resolves both ends of `conn`. The address family is the one of an address end if there is
/// one, else IPv4 when both pods have IPv4, else IPv6 when both have IPv6; each pod is then
/// represented by its address of that family (None if it has none: no ipBlock matches).
/// hostNetwork pods become plain addresses.
pub(crate) fn resolve<'a>(conn: &Connection, pod: impl Fn(PodId) -> (bool, &'a [IpAddr])) -> (Resolved, Resolved) {
    let v6 = match (conn.src, conn.dst) {
        (Endpoint::Ip(ip), _) | (_, Endpoint::Ip(ip)) => ip.is_ipv6(),
        (Endpoint::Pod(a), Endpoint::Pod(b)) => {
            let (ia, ib) = (pod(a).1, pod(b).1);
            let has = |ips: &[IpAddr], v6: bool| ips.iter().any(|ip| ip.is_ipv6() == v6);
            !(has(ia, false) && has(ib, false)) && has(ia, true) && has(ib, true)
        }
    };
    let one = |e: Endpoint| match e {
        Endpoint::Ip(ip) => Resolved {
            pod: None,
            ip: Some(ip),
        },
        Endpoint::Pod(id) => {
            let (host_network, ips) = pod(id);
            let ip = ips.iter().copied().find(|ip| ip.is_ipv6() == v6);
            Resolved {
                pod: if host_network { None } else { Some(id) },
                ip,
            }
        }
    };
    (one(conn.src), one(conn.dst))
}
