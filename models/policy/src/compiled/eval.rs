//! Answering a question from the compiled indices, in the reference's order of steps.

use super::{
    dir, ClusterPeer, Compiled, NsMatch, Peer, PodRec, Port, PortKind, Rule, Selecting, ADMIN, BASELINE, NO_V6, NP,
};
use crate::tiers::{ClusterAction, ClusterPolicyId, NetworkPolicyId, Tier};
use crate::types::{Direction, PodId};
use crate::verdict::{Connection, Decision, DirectionVerdict, Endpoint, Resolved, RuleRef, Verdict};
use smallvec::SmallVec;
use std::net::{IpAddr, Ipv4Addr};

impl Compiled {
    fn rec(&self, pod: PodId) -> &PodRec {
        &self.pods[pod.0 as usize]
    }

    /// List `k` (NP, ADMIN or BASELINE, plus the direction) of a pod's selecting policies.
    fn list(&self, rec: &PodRec, k: usize) -> &[Selecting] {
        &self.selecting[rec.sel[k] as usize..rec.sel[k + 1] as usize]
    }

    fn ns_set_contains(&self, set: u32, ns: u32) -> bool {
        let word = self.ns_sets[set as usize * self.ns_set_words + (ns / 64) as usize];
        word & (1 << (ns % 64)) != 0
    }

    /// `verdict::resolve` on the records: the same family choice and addresses, without
    /// reading an address arena (a pod's first IPv4 address is in its record).
    fn ends(&self, conn: &Connection) -> (Resolved, Resolved) {
        let v6 = match (conn.src, conn.dst) {
            (Endpoint::Ip(ip), _) | (_, Endpoint::Ip(ip)) => ip.is_ipv6(),
            (Endpoint::Pod(a), Endpoint::Pod(b)) => {
                let (a, b) = (self.rec(a), self.rec(b));
                !(a.has_v4 && b.has_v4) && a.v6 != NO_V6 && b.v6 != NO_V6
            }
        };
        let one = |e: Endpoint| match e {
            Endpoint::Ip(ip) => Resolved {
                pod: None,
                ip: Some(ip),
            },
            Endpoint::Pod(id) => {
                let r = self.rec(id);
                let ip = if v6 {
                    (r.v6 != NO_V6).then(|| IpAddr::V6(self.pod_v6[r.v6 as usize]))
                } else {
                    r.has_v4.then(|| IpAddr::V4(Ipv4Addr::from(r.v4)))
                };
                Resolved {
                    pod: if r.host_network { None } else { Some(id) },
                    ip,
                }
            }
        };
        (one(conn.src), one(conn.dst))
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
        let rec = self.rec(at_pod);
        let dst = if d == Direction::Ingress { at } else { peer };

        let passed_by = match self.tier(self.list(rec, ADMIN + dir(d)), peer, dst, conn) {
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
        if own_node
            && peer.pod.is_none()
            && peer
                .ip
                .is_some_and(|ip| self.pod_host_ips.row(at_pod.0 as usize).contains(&ip))
        {
            return verdict(true, Decision::OwnNode, passed_by);
        }

        let selecting = self.list(rec, NP + dir(d));
        if !selecting.is_empty() {
            for &Selecting { id, rules: (lo, hi) } in selecting {
                for (r, rule) in self.rules[lo as usize..hi as usize].iter().enumerate() {
                    // Ports first: they need no memory beyond the rule's, and both lists must
                    // match anyway (each list's first match is found on its own).
                    let Some(port) = first(rule.ports, |i| self.port_matches(&self.ports[i], dst, conn)) else {
                        continue;
                    };
                    let Some(peer) = first(rule.peers, |i| self.peer_matches(&self.peers[i], peer)) else {
                        continue;
                    };
                    let decision = Decision::Allowed {
                        policy: NetworkPolicyId(id),
                        rule: r as u32,
                        peer,
                        port,
                    };
                    return verdict(true, decision, passed_by);
                }
            }
            let policies = if EXPLAIN {
                selecting.iter().map(|s| NetworkPolicyId(s.id)).collect()
            } else {
                SmallVec::new()
            };
            return verdict(false, Decision::Isolated { policies }, passed_by);
        }

        if let Some((rule, action)) = self.tier(self.list(rec, BASELINE + dir(d)), peer, dst, conn) {
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
        policies: &[Selecting],
        peer: Resolved,
        dst: Resolved,
        conn: &Connection,
    ) -> Option<(RuleRef, ClusterAction)> {
        for &Selecting { id, rules: (lo, hi) } in policies {
            for (r, rule) in self.rules[lo as usize..hi as usize].iter().enumerate() {
                if self.cluster_rule_matches(rule, peer, dst, conn) {
                    return Some((
                        RuleRef {
                            policy: ClusterPolicyId(id),
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
        (ports.is_empty() || ports.iter().any(|p| self.port_matches(p, dst, conn)))
            && peers.iter().any(|p| self.cluster_peer_matches(p, peer))
    }

    fn pod_selected(&self, pod: PodId, sel: u32) -> bool {
        let r = self.rec(pod);
        self.selectors[sel as usize].matches(&self.pod_labels[r.labels.0 as usize..r.labels.1 as usize])
    }

    fn peer_matches(&self, peer: &Peer, other: Resolved) -> bool {
        match *peer {
            Peer::Never => false,
            Peer::Block { cidr, except } => other.block_ip(&self.options).is_some_and(|ip| {
                self.ip_sets[cidr as usize].contains(ip) && !self.ip_sets[except as usize].contains(ip)
            }),
            Peer::Pods { ns, pods } => other.pod.is_some_and(|o| {
                let pod_ns = self.rec(o).ns;
                let ns_ok = match ns {
                    NsMatch::Same(n) => pod_ns == n,
                    NsMatch::Set(s) => self.ns_set_contains(s, pod_ns),
                };
                ns_ok && self.pod_selected(o, pods)
            }),
        }
    }

    fn cluster_peer_matches(&self, peer: &ClusterPeer, other: Resolved) -> bool {
        match *peer {
            ClusterPeer::Namespaces(s) => other.pod.is_some_and(|o| self.ns_set_contains(s, self.rec(o).ns)),
            ClusterPeer::Pods { ns, pods } => other
                .pod
                .is_some_and(|o| self.ns_set_contains(ns, self.rec(o).ns) && self.pod_selected(o, pods)),
            ClusterPeer::Nodes(set) => other.ip.is_some_and(|ip| self.ip_sets[set as usize].contains(ip)),
            ClusterPeer::Networks(set) => other
                .block_ip(&self.options)
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
                let r = self.rec(pod);
                self.pod_named_ports[r.named.0 as usize..r.named.1 as usize]
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
