//! The reference evaluator: the specification read out loud, one connection at a time, with no
//! index and no precomputation. Slow (it walks every policy for every question) and meant to be
//! obviously right; the compiled engine is held equal to it.

use crate::selector::matches;
use crate::tiers::{
    ClusterAction, ClusterPeer, ClusterPolicyId, ClusterPort, ClusterSubject, NetworkPolicyId, PolicySet, Tier,
};
use crate::types::{Cluster, Direction, IntOrString, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod, PodId};
use crate::verdict::{
    resolve, Connection, Decision, DirectionVerdict, EvalOptions, PolicyEngine, Resolved, RuleRef, Verdict,
};
use smallvec::SmallVec;

pub struct Reference<'a> {
    pub cluster: &'a Cluster,
    pub policies: &'a PolicySet,
    pub options: EvalOptions,
}

impl<'a> Reference<'a> {
    pub fn new(cluster: &'a Cluster, policies: &'a PolicySet, options: EvalOptions) -> Reference<'a> {
        Reference {
            cluster,
            policies,
            options,
        }
    }

    fn pod(&self, id: PodId) -> &'a Pod {
        self.cluster.pod(id)
    }

    /// One direction, decided at `at` (the source for egress, the destination for ingress)
    /// about the other end `peer`.
    fn direction(&self, direction: Direction, at: Resolved, peer: Resolved, conn: &Connection) -> DirectionVerdict {
        let verdict = |allowed, decision, passed_by| DirectionVerdict {
            allowed,
            decision,
            passed_by,
        };
        // Policies only select pods; an address (or a hostNetwork pod) enforces nothing.
        let Some(at_pod) = at.pod else {
            return verdict(true, Decision::NotAPod, None);
        };
        let dst = if direction == Direction::Ingress { at } else { peer };

        // 1. The Admin tier, in priority order; the first matching rule of the first policy
        //    that has one decides, unless it says Pass.
        let passed_by = match self.tier(Tier::Admin, direction, at_pod, peer, dst, conn) {
            Some((rule, ClusterAction::Pass)) => Some(rule),
            Some((rule, action)) => {
                let decision = Decision::Tier {
                    tier: Tier::Admin,
                    rule,
                    action,
                };
                return verdict(action == ClusterAction::Accept, decision, None);
            }
            None => None,
        };

        // 2. What NetworkPolicy cannot block: a pod's own traffic and its node's.
        if self.options.allow_self && peer.pod == Some(at_pod) {
            return verdict(true, Decision::SelfTraffic, passed_by);
        }
        let own_node = match direction {
            Direction::Ingress => self.options.allow_from_own_node,
            Direction::Egress => self.options.allow_to_own_node,
        };
        if own_node && peer.pod.is_none() && peer.ip.is_some_and(|ip| self.pod(at_pod).host_ips.contains(&ip)) {
            return verdict(true, Decision::OwnNode, passed_by);
        }

        // 3. NetworkPolicy: if any policy selects the pod for this direction, the pod is
        //    isolated and only the union of those policies' rules lets traffic through.
        let selecting: Vec<NetworkPolicyId> = self
            .policies
            .network_policy_order()
            .into_iter()
            .filter(|&id| self.selects(self.policies.network_policy(id), at_pod, direction))
            .collect();
        if !selecting.is_empty() {
            for &id in &selecting {
                let policy = self.policies.network_policy(id);
                for (r, rule) in policy.rules(direction).iter().enumerate() {
                    let peer_hit = first_match(&rule.peers, |p| self.peer_matches(policy, p, peer));
                    let port_hit = first_match(&rule.ports, |p| self.port_matches(p, dst, conn));
                    if let (Some(peer_i), Some(port_i)) = (peer_hit, port_hit) {
                        let decision = Decision::Allowed {
                            policy: id,
                            rule: r as u32,
                            peer: peer_i,
                            port: port_i,
                        };
                        return verdict(true, decision, passed_by);
                    }
                }
            }
            return verdict(
                false,
                Decision::Isolated {
                    policies: SmallVec::from_vec(selecting),
                },
                passed_by,
            );
        }

        // 4. The Baseline tier, for pods no NetworkPolicy isolates. Pass leaves the default.
        if let Some((rule, action)) = self.tier(Tier::Baseline, direction, at_pod, peer, dst, conn) {
            let decision = Decision::Tier {
                tier: Tier::Baseline,
                rule,
                action,
            };
            return verdict(action != ClusterAction::Deny, decision, passed_by);
        }

        // 5. Kubernetes' default: everything is allowed.
        verdict(true, Decision::DefaultAllow, passed_by)
    }

    fn selects(&self, policy: &NetworkPolicy, pod: PodId, direction: Direction) -> bool {
        let p = self.pod(pod);
        policy.namespace == p.namespace && matches(&policy.pod_selector, &p.labels) && policy.affects(direction)
    }

    /// The first matching rule of the first policy of `tier` (in priority order) whose subject
    /// is `at_pod` and which has rules for `direction`.
    fn tier(
        &self,
        tier: Tier,
        direction: Direction,
        at_pod: PodId,
        peer: Resolved,
        dst: Resolved,
        conn: &Connection,
    ) -> Option<(RuleRef, ClusterAction)> {
        for id in self.policies.cluster_policy_order() {
            let policy = self.policies.cluster_policy(id);
            if policy.tier != tier || !self.subject_matches(&policy.subject, at_pod) {
                continue;
            }
            for (r, rule) in policy.rules(direction).iter().enumerate() {
                let peer_ok = rule.peers.iter().any(|p| self.cluster_peer_matches(p, peer));
                let port_ok =
                    rule.ports.is_empty() || rule.ports.iter().any(|p| self.cluster_port_matches(p, dst, conn));
                if peer_ok && port_ok {
                    return Some((
                        RuleRef {
                            policy: ClusterPolicyId(id.0),
                            rule: r as u32,
                        },
                        rule.action,
                    ));
                }
            }
        }
        None
    }

    fn subject_matches(&self, subject: &ClusterSubject, pod: PodId) -> bool {
        let p = self.pod(pod);
        let ns_labels = self.cluster.namespace_labels(&p.namespace);
        match subject {
            ClusterSubject::Namespaces(ns) => matches(ns, &ns_labels),
            ClusterSubject::Pods {
                namespace_selector,
                pod_selector,
            } => matches(namespace_selector, &ns_labels) && matches(pod_selector, &p.labels),
        }
    }

    /// A NetworkPolicy peer against the other end. ipBlock alone; otherwise the selectors
    /// ANDed, with a missing namespaceSelector meaning the policy's own namespace.
    fn peer_matches(&self, policy: &NetworkPolicy, peer: &NetworkPolicyPeer, other: Resolved) -> bool {
        if let Some(block) = &peer.ip_block {
            return other.block_ip(&self.options).is_some_and(|ip| block.contains(ip));
        }
        if peer.pod_selector.is_none() && peer.namespace_selector.is_none() {
            return false; // rejected by the API: a peer must say something
        }
        let Some(other) = other.pod else { return false };
        let o = self.pod(other);
        let ns_ok = match &peer.namespace_selector {
            Some(s) => matches(s, &self.cluster.namespace_labels(&o.namespace)),
            None => o.namespace == policy.namespace,
        };
        ns_ok && peer.pod_selector.as_ref().is_none_or(|s| matches(s, &o.labels))
    }

    /// A NetworkPolicy port against the connection. A named port is looked up on the
    /// destination pod, by name and protocol.
    fn port_matches(&self, port: &NetworkPolicyPort, dst: Resolved, conn: &Connection) -> bool {
        if conn.protocol != port.effective_protocol() {
            return false;
        }
        match &port.port {
            None => true,
            Some(IntOrString::Int(n)) => match port.end_port {
                Some(end) => (*n..=end).contains(&i32::from(conn.port)),
                None => *n == i32::from(conn.port),
            },
            Some(IntOrString::String(name)) => self.named_port(dst, name, conn),
        }
    }

    /// Whether the destination pod has a container port of this name serving the connection's
    /// protocol and port.
    fn named_port(&self, dst: Resolved, name: &str, conn: &Connection) -> bool {
        let Some(pod) = dst.pod else { return false };
        self.pod(pod).container_ports.iter().any(|c| {
            !c.name.is_empty() && c.name == name && c.protocol == conn.protocol && c.container_port == conn.port
        })
    }

    fn cluster_peer_matches(&self, peer: &ClusterPeer, other: Resolved) -> bool {
        let other_pod = other.pod.map(|id| self.pod(id));
        match peer {
            ClusterPeer::Namespaces(ns) => {
                other_pod.is_some_and(|o| matches(ns, &self.cluster.namespace_labels(&o.namespace)))
            }
            ClusterPeer::Pods {
                namespace_selector,
                pod_selector,
            } => other_pod.is_some_and(|o| {
                matches(namespace_selector, &self.cluster.namespace_labels(&o.namespace))
                    && matches(pod_selector, &o.labels)
            }),
            ClusterPeer::Nodes(sel) => other.ip.is_some_and(|ip| {
                self.cluster
                    .nodes
                    .iter()
                    .any(|n| matches(sel, &n.labels) && n.ips.contains(&ip))
            }),
            ClusterPeer::Networks(nets) => other
                .block_ip(&self.options)
                .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
        }
    }

    fn cluster_port_matches(&self, port: &ClusterPort, dst: Resolved, conn: &Connection) -> bool {
        match port {
            ClusterPort::Number { protocol, port } => *protocol == conn.protocol && *port == conn.port,
            ClusterPort::Range { protocol, start, end } => {
                *protocol == conn.protocol && (*start..=*end).contains(&conn.port)
            }
            ClusterPort::Named(name) => self.named_port(dst, name, conn),
        }
    }
}

/// Index of the first item that matches, `Some(None)` for an empty list (which matches all),
/// None if nothing matches.
fn first_match<T>(items: &[T], f: impl Fn(&T) -> bool) -> Option<Option<u32>> {
    if items.is_empty() {
        return Some(None);
    }
    items.iter().position(f).map(|i| Some(i as u32))
}

impl PolicyEngine for Reference<'_> {
    fn evaluate(&self, conn: &Connection) -> Verdict {
        let cluster = self.cluster;
        let (src, dst) = resolve(conn, |id| {
            let p = cluster.pod(id);
            (p.host_network, &p.ips[..])
        });
        let egress = self.direction(Direction::Egress, src, dst, conn);
        let ingress = self.direction(Direction::Ingress, dst, src, conn);
        Verdict::new(egress, ingress)
    }
}
