//! Answering a question from the compiled indices, in the reference's order of steps.

use super::{ClusterPeer, Compiled, NsMatch, Peer, Port, PortKind, Rule};
use crate::tiers::{ClusterAction, ClusterPolicyId, Tier};
use crate::types::{Direction, PodId};
use crate::verdict::{resolve, Connection, Decision, DirectionVerdict, Resolved, RuleRef, Verdict};
use smallvec::SmallVec;

/// 0 for ingress, 1 for egress: the index of the per-direction tables.
fn dir(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl Compiled {
    fn ends(&self, conn: &Connection) -> (Resolved, Resolved) {
        resolve(conn, |id| {
            (self.pod_host_network[id.0 as usize], self.pod_ips.row(id.0 as usize))
        })
    }

    pub(super) fn verdict(&self, conn: &Connection) -> Verdict {
        let (src, dst) = self.ends(conn);
        let egress = self.direction::<true>(Direction::Egress, src, dst, conn);
        let ingress = self.direction::<true>(Direction::Ingress, dst, src, conn);
        Verdict::new(egress, ingress)
    }

    pub(super) fn allowed(&self, conn: &Connection) -> bool {
        let (src, dst) = self.ends(conn);
        self.direction::<false>(Direction::Egress, src, dst, conn).allowed
            && self.direction::<false>(Direction::Ingress, dst, src, conn).allowed
    }

    /// EXPLAIN false skips listing the isolating policies (the only allocation).
    fn direction<const EXPLAIN: bool>(
        &self,
        d: Direction,
        at: Resolved,
        peer: Resolved,
        conn: &Connection,
    ) -> DirectionVerdict {
        let verdict = |allowed, decision, passed_by| DirectionVerdict {
            allowed,
            decision,
            passed_by,
        };
        let Some(at_pod) = at.pod else {
            return verdict(true, Decision::NotAPod, None);
        };
        let p = at_pod.0 as usize;
        let dst = if d == Direction::Ingress { at } else { peer };

        let passed_by = match self.tier(self.admin_selecting[dir(d)].row(p), d, peer, dst, conn) {
            Some((rule, ClusterAction::Pass)) => Some(rule),
            Some((rule, action)) => {
                return verdict(
                    action == ClusterAction::Accept,
                    Decision::Tier {
                        tier: Tier::Admin,
                        rule,
                        action,
                    },
                    None,
                )
            }
            None => None,
        };

        if self.options.allow_self && peer.pod == Some(at_pod) {
            return verdict(true, Decision::SelfTraffic, passed_by);
        }
        let own_node = match d {
            Direction::Ingress => self.options.allow_from_own_node,
            Direction::Egress => self.options.allow_to_own_node,
        };
        if own_node && peer.pod.is_none() && peer.ip.is_some_and(|ip| self.pod_host_ips.row(p).contains(&ip)) {
            return verdict(true, Decision::OwnNode, passed_by);
        }

        let selecting = self.np_selecting[dir(d)].row(p);
        if !selecting.is_empty() {
            for &id in selecting {
                let rules = self.np_rules[id.0 as usize];
                let (lo, hi) = if d == Direction::Ingress {
                    rules.ingress
                } else {
                    rules.egress
                };
                for (r, rule) in self.rules[lo as usize..hi as usize].iter().enumerate() {
                    let peer_hit = first(rule.peers, |i| self.peer_matches(&self.peers[i], peer));
                    let Some(peer_i) = peer_hit else { continue };
                    let Some(port_i) = first(rule.ports, |i| self.port_matches(&self.ports[i], dst, conn)) else {
                        continue;
                    };
                    let decision = Decision::Allowed {
                        policy: id,
                        rule: r as u32,
                        peer: peer_i,
                        port: port_i,
                    };
                    return verdict(true, decision, passed_by);
                }
            }
            let policies = if EXPLAIN {
                SmallVec::from_slice(selecting)
            } else {
                SmallVec::new()
            };
            return verdict(false, Decision::Isolated { policies }, passed_by);
        }

        if let Some((rule, action)) = self.tier(self.baseline_selecting[dir(d)].row(p), d, peer, dst, conn) {
            let decision = Decision::Tier {
                tier: Tier::Baseline,
                rule,
                action,
            };
            return verdict(action != ClusterAction::Deny, decision, passed_by);
        }
        verdict(true, Decision::DefaultAllow, passed_by)
    }

    fn tier(
        &self,
        policies: &[ClusterPolicyId],
        d: Direction,
        peer: Resolved,
        dst: Resolved,
        conn: &Connection,
    ) -> Option<(RuleRef, ClusterAction)> {
        for &id in policies {
            let rules = self.cluster_rules[id.0 as usize];
            let (lo, hi) = if d == Direction::Ingress {
                rules.ingress
            } else {
                rules.egress
            };
            for (r, rule) in self.rules[lo as usize..hi as usize].iter().enumerate() {
                if self.cluster_rule_matches(rule, peer, dst, conn) {
                    return Some((
                        RuleRef {
                            policy: id,
                            rule: r as u32,
                        },
                        rule.action,
                    ));
                }
            }
        }
        None
    }

    fn cluster_rule_matches(&self, rule: &Rule, peer: Resolved, dst: Resolved, conn: &Connection) -> bool {
        let peers = &self.cluster_peers[rule.peers.0 as usize..rule.peers.1 as usize];
        let ports = &self.ports[rule.ports.0 as usize..rule.ports.1 as usize];
        peers.iter().any(|p| self.cluster_peer_matches(p, peer))
            && (ports.is_empty() || ports.iter().any(|p| self.port_matches(p, dst, conn)))
    }

    fn pod_selected(&self, pod: PodId, sel: u32) -> bool {
        self.selectors[sel as usize].matches(self.pod_labels.row(pod.0 as usize))
    }

    /// The address ipBlocks and networks see for `other`: none for a pod when they do not
    /// match pods.
    fn block_ip(&self, other: Resolved) -> Option<std::net::IpAddr> {
        if other.pod.is_some() && !self.options.ip_block_matches_pods {
            None
        } else {
            other.ip
        }
    }

    fn peer_matches(&self, peer: &Peer, other: Resolved) -> bool {
        match *peer {
            Peer::Never => false,
            Peer::Block { cidr, except } => self.block_ip(other).is_some_and(|ip| {
                self.ip_sets[cidr as usize].contains(ip) && !self.ip_sets[except as usize].contains(ip)
            }),
            Peer::Pods { ns, pods } => other.pod.is_some_and(|o| {
                let pod_ns = self.pod_ns[o.0 as usize];
                let ns_ok = match ns {
                    NsMatch::Same(n) => pod_ns == n,
                    NsMatch::Set(s) => self.ns_sets[s as usize].contains(pod_ns),
                };
                ns_ok && self.pod_selected(o, pods)
            }),
        }
    }

    fn cluster_peer_matches(&self, peer: &ClusterPeer, other: Resolved) -> bool {
        match *peer {
            ClusterPeer::Namespaces(s) => other
                .pod
                .is_some_and(|o| self.ns_sets[s as usize].contains(self.pod_ns[o.0 as usize])),
            ClusterPeer::Pods { ns, pods } => other.pod.is_some_and(|o| {
                self.ns_sets[ns as usize].contains(self.pod_ns[o.0 as usize]) && self.pod_selected(o, pods)
            }),
            ClusterPeer::Nodes(set) => other.ip.is_some_and(|ip| self.ip_sets[set as usize].contains(ip)),
            ClusterPeer::Networks(set) => self
                .block_ip(other)
                .is_some_and(|ip| self.ip_sets[set as usize].contains(ip)),
        }
    }

    fn port_matches(&self, port: &Port, dst: Resolved, conn: &Connection) -> bool {
        if port.protocol.is_some_and(|p| p != conn.protocol) {
            return false;
        }
        match port.kind {
            PortKind::Never => false,
            PortKind::Any => true,
            PortKind::Range(lo, hi) => (lo..=hi).contains(&i32::from(conn.port)),
            PortKind::Named(name) => dst.pod.is_some_and(|pod| {
                self.pod_named_ports
                    .row(pod.0 as usize)
                    .binary_search(&(name, conn.protocol, conn.port))
                    .is_ok()
            }),
        }
    }
}

/// As the reference's `first_match`, over an arena range.
fn first(range: (u32, u32), f: impl Fn(usize) -> bool) -> Option<Option<u32>> {
    if range.0 == range.1 {
        return Some(None);
    }
    (range.0 as usize..range.1 as usize).position(f).map(|i| Some(i as u32))
}
