//! Answering a question from the compiled indices, in the reference's order of steps.
//!
//! Both ends are resolved once into an `End` (what rule matching reads about each), and a
//! direction is decided into a small `Copy` outcome that names policies by index; only
//! `evaluate` turns it into a `DirectionVerdict` (listing the isolating policies), so
//! `is_allowed` neither allocates nor builds the explanation.

use super::{
    dir, ClusterPeer, Compiled, NsMatch, Peer, PeerFilter, Port, Rule, ADMIN, ANY_PROTOCOL, BASELINE, HAS_V4, HAS_V6,
    HOST_NETWORK, NOT_A_POD_NS, NO_NAME, NP, NS_MASK,
};
use crate::tiers::{ClusterAction, ClusterPolicyId, NetworkPolicyId, Tier};
use crate::types::{Direction, PodId};
use crate::verdict::{Connection, Decision, DirectionVerdict, Endpoint, RuleRef, Verdict};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A connection end as rule matching sees it: `verdict::Resolved`, with the pod's record
/// fields copied out once. Small and flat (the address is kept as its parts) so that both
/// ends stay in registers.
#[derive(Clone, Copy, Debug)]
struct End<'a> {
    /// The pod policies can select: None for an address or a hostNetwork pod.
    pod: Option<PodId>,
    /// From the pod's record: namespace (`NOT_A_POD_NS` without `pod`), index in `looks`,
    /// index in `blocks`.
    ns: u32,
    look: u32,
    sel: u32,
    /// The address for the connection's family (`Resolved::ip`): `v4` if `family` is
    /// `FAMILY_V4`, `v6` if `FAMILY_V6`, none if `NO_FAMILY`.
    family: u8,
    v4: u32,
    v6: &'a Ipv6Addr,
    /// Whether ipBlocks and `networks` see the address (`Resolved::block_ip`).
    block_ok: bool,
}

const NO_FAMILY: u8 = 0;
const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;
static NO_V6: Ipv6Addr = Ipv6Addr::UNSPECIFIED;

impl End<'_> {
    #[inline]
    fn ip(&self) -> Option<IpAddr> {
        match self.family {
            FAMILY_V4 => Some(IpAddr::V4(Ipv4Addr::from(self.v4))),
            FAMILY_V6 => Some(IpAddr::V6(*self.v6)),
            _ => None,
        }
    }

    #[inline]
    fn block_ip(&self) -> Option<IpAddr> {
        if self.block_ok {
            self.ip()
        } else {
            None
        }
    }
}

/// How a direction was decided, with policies by index: a `Decision` without its list.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    NotAPod,
    Tier {
        tier: Tier,
        rule: RuleRef,
        action: ClusterAction,
    },
    SelfTraffic,
    OwnNode,
    Allowed {
        policy: u32,
        rule: u32,
        peer: Option<u32>,
        port: Option<u32>,
    },
    /// Isolated by the policies `Compiled::isolating[range]`.
    Isolated((u32, u32)),
    DefaultAllow,
}

#[derive(Clone, Copy, Debug)]
struct DirOutcome {
    allowed: bool,
    outcome: Outcome,
    passed_by: Option<RuleRef>,
}

impl Compiled {
    #[inline]
    fn ns_set_contains(&self, set: u32, ns: u32) -> bool {
        let word = self.ns_sets[set as usize * self.ns_set_words + (ns / 64) as usize];
        word & (1 << (ns % 64)) != 0
    }

    /// `verdict::resolve` on the records: the same family choice and addresses, without
    /// reading an address arena for IPv4 (a pod's first IPv4 address is in its record).
    #[inline(always)]
    fn ends<'a>(&'a self, conn: &'a Connection) -> (End<'a>, End<'a>) {
        let v6 = match (conn.src, conn.dst) {
            (Endpoint::Ip(ip), _) | (_, Endpoint::Ip(ip)) => ip.is_ipv6(),
            (Endpoint::Pod(a), Endpoint::Pod(b)) => {
                let (a, b) = (self.pods[a.0 as usize].ns, self.pods[b.0 as usize].ns);
                (a & b & HAS_V4 == 0) && (a & b & HAS_V6 != 0)
            }
        };
        let one = |e: &'a Endpoint| match e {
            Endpoint::Ip(ip) => {
                let (family, v4, v6) = match ip {
                    IpAddr::V4(a) => (FAMILY_V4, u32::from(*a), &NO_V6),
                    IpAddr::V6(a) => (FAMILY_V6, 0, a),
                };
                End {
                    pod: None,
                    ns: NOT_A_POD_NS,
                    look: 0,
                    sel: 0,
                    family,
                    v4,
                    v6,
                    block_ok: true,
                }
            }
            Endpoint::Pod(id) => {
                let r = &self.pods[id.0 as usize];
                let (family, v6) = if v6 {
                    if r.ns & HAS_V6 != 0 {
                        (FAMILY_V6, &self.pod_v6[id.0 as usize])
                    } else {
                        (NO_FAMILY, &NO_V6)
                    }
                } else {
                    (if r.ns & HAS_V4 != 0 { FAMILY_V4 } else { NO_FAMILY }, &NO_V6)
                };
                let pod = (r.ns & HOST_NETWORK == 0).then_some(*id);
                End {
                    pod,
                    ns: if pod.is_some() { r.ns & NS_MASK } else { NOT_A_POD_NS },
                    look: r.look,
                    sel: r.sel,
                    family,
                    v4: r.v4,
                    v6,
                    block_ok: pod.is_none() || self.options.ip_block_matches_pods,
                }
            }
        };
        (one(&conn.src), one(&conn.dst))
    }

    pub(super) fn verdict(&self, conn: &Connection) -> Verdict {
        let (src, dst) = self.ends(conn);
        let egress = self.direction::<true>(Direction::Egress, &src, &dst, conn);
        let ingress = self.direction::<true>(Direction::Ingress, &dst, &src, conn);
        Verdict::new(self.explained(egress), self.explained(ingress))
    }

    pub(super) fn allowed(&self, conn: &Connection) -> bool {
        let (src, dst) = self.ends(conn);
        self.direction::<false>(Direction::Egress, &src, &dst, conn).allowed
            && self.direction::<false>(Direction::Ingress, &dst, &src, conn).allowed
    }

    fn explained(&self, o: DirOutcome) -> DirectionVerdict {
        let decision = match o.outcome {
            Outcome::NotAPod => Decision::NotAPod,
            Outcome::Tier { tier, rule, action } => Decision::Tier { tier, rule, action },
            Outcome::SelfTraffic => Decision::SelfTraffic,
            Outcome::OwnNode => Decision::OwnNode,
            Outcome::Allowed {
                policy,
                rule,
                peer,
                port,
            } => Decision::Allowed {
                policy: NetworkPolicyId(policy),
                rule,
                peer,
                port,
            },
            Outcome::Isolated((lo, hi)) => Decision::Isolated {
                policies: self.isolating[lo as usize..hi as usize]
                    .iter()
                    .map(|&id| NetworkPolicyId(id))
                    .collect(),
            },
            Outcome::DefaultAllow => Decision::DefaultAllow,
        };
        DirectionVerdict {
            allowed: o.allowed,
            decision,
            passed_by: o.passed_by,
        }
    }

    /// One direction, decided at `at` about the other end `peer`, as `Reference::direction`.
    /// With `EXPLAIN` false only `allowed` is meaningful: a matching NetworkPolicy rule's
    /// peer and port indices are not looked for.
    #[inline(always)]
    fn direction<const EXPLAIN: bool>(&self, d: Direction, at: &End, peer: &End, conn: &Connection) -> DirOutcome {
        let verdict = |allowed, outcome, passed_by| DirOutcome {
            allowed,
            outcome,
            passed_by,
        };
        let Some(at_pod) = at.pod else {
            return verdict(true, Outcome::NotAPod, None);
        };
        let dst = if d == Direction::Ingress { at } else { peer };
        let block = &self.blocks[at.sel as usize];
        let k = dir(d);
        let prog = |list: usize| (block.prog[list + k], block.prog[list + k + 1]);

        let passed_by = match self.tier(prog(ADMIN), peer, dst, conn) {
            Some((rule, ClusterAction::Pass)) => Some(rule),
            Some((rule, action)) => {
                let outcome = Outcome::Tier {
                    tier: Tier::Admin,
                    rule,
                    action,
                };
                return verdict(action == ClusterAction::Accept, outcome, None);
            }
            None => None,
        };

        if self.options.allow_self && peer.pod == Some(at_pod) {
            return verdict(true, Outcome::SelfTraffic, passed_by);
        }
        let own_node = match d {
            Direction::Ingress => self.options.allow_from_own_node,
            Direction::Egress => self.options.allow_to_own_node,
        };
        if own_node
            && peer.pod.is_none()
            && peer
                .ip()
                .is_some_and(|ip| self.pod_host_ips.row(at_pod.0 as usize).contains(&ip))
        {
            return verdict(true, Outcome::OwnNode, passed_by);
        }

        let isolating = (block.np[k], block.np[k + 1]);
        if isolating.0 != isolating.1 {
            let Some(rule) = self.first_rule::<false>(prog(NP), peer, dst, conn) else {
                return verdict(false, Outcome::Isolated(isolating), passed_by);
            };
            let outcome = if EXPLAIN {
                // The first peer and the first port of the rule that match, as the reference.
                let index = |(lo, hi): (u32, u32), f: &dyn Fn(usize) -> bool| {
                    (lo != hi).then(|| (lo as usize..hi as usize).position(f).expect("the rule matched") as u32)
                };
                Outcome::Allowed {
                    policy: rule.policy,
                    rule: rule.ordinal,
                    peer: index(rule.peers, &|i| self.peer_matches(&self.peers[i], peer)),
                    port: index(rule.ports, &|i| self.port_matches(&self.ports[i], dst, conn)),
                }
            } else {
                Outcome::DefaultAllow
            };
            return verdict(true, outcome, passed_by);
        }

        if let Some((rule, action)) = self.tier(prog(BASELINE), peer, dst, conn) {
            let outcome = Outcome::Tier {
                tier: Tier::Baseline,
                rule,
                action,
            };
            return verdict(action != ClusterAction::Deny, outcome, passed_by);
        }
        verdict(true, Outcome::DefaultAllow, passed_by)
    }

    #[inline]
    fn tier(&self, prog: (u32, u32), peer: &End, dst: &End, conn: &Connection) -> Option<(RuleRef, ClusterAction)> {
        if prog.0 == prog.1 {
            return None;
        }
        let rule = self.first_rule::<true>(prog, peer, dst, conn)?;
        Some((
            RuleRef {
                policy: ClusterPolicyId(rule.policy),
                rule: rule.ordinal,
            },
            rule.action,
        ))
    }

    /// The first rule of `program[lo..hi]` that matches: its prefilter, then its ports, then
    /// its peers (cluster peers if `CLUSTER`). Inlined in each of its four places: the call
    /// and its spills cost as much as a rule.
    #[inline(always)]
    fn first_rule<const CLUSTER: bool>(
        &self,
        (lo, hi): (u32, u32),
        peer: &End,
        dst: &End,
        conn: &Connection,
    ) -> Option<&Rule> {
        let protocol = 1u8 << conn.protocol as u8;
        for &r in &self.program[lo as usize..hi as usize] {
            let rule = &self.rules[r as usize];
            if rule.protocols & protocol == 0 || conn.port < rule.lo || conn.port > rule.hi {
                continue;
            }
            let filtered = match rule.filter {
                PeerFilter::Any => true,
                PeerFilter::Namespace => rule.a == peer.ns,
                PeerFilter::NamespaceSet => peer.ns != NOT_A_POD_NS && self.ns_set_contains(rule.a, peer.ns),
                PeerFilter::V4OrV6 | PeerFilter::V4 => match peer.family {
                    FAMILY_V4 => rule.a <= peer.v4 && peer.v4 <= rule.b,
                    FAMILY_V6 => rule.filter == PeerFilter::V4OrV6,
                    _ => false,
                },
            };
            if !filtered || (!rule.ports_exact && !self.ports_match(rule, dst, conn)) {
                continue;
            }
            if rule.peers_exact
                || if CLUSTER {
                    self.cluster_peers_match(rule, peer)
                } else {
                    self.peers_match(rule, peer)
                }
            {
                return Some(rule);
            }
        }
        None
    }

    #[inline(never)]
    fn ports_match(&self, rule: &Rule, dst: &End, conn: &Connection) -> bool {
        self.ports[rule.ports.0 as usize..rule.ports.1 as usize]
            .iter()
            .any(|p| self.port_matches(p, dst, conn))
    }

    #[inline]
    fn peers_match(&self, rule: &Rule, peer: &End) -> bool {
        let peers = &self.peers[rule.peers.0 as usize..rule.peers.1 as usize];
        peers.is_empty() || peers.iter().any(|p| self.peer_matches(p, peer))
    }

    #[inline]
    fn cluster_peers_match(&self, rule: &Rule, peer: &End) -> bool {
        self.cluster_peers[rule.peers.0 as usize..rule.peers.1 as usize]
            .iter()
            .any(|p| self.cluster_peer_matches(p, peer))
    }

    #[inline(never)]
    fn pod_selected(&self, pod: &End, sel: u32) -> bool {
        let (lo, hi) = self.looks[pod.look as usize].labels;
        self.selectors[sel as usize].matches(&self.pod_labels[lo as usize..hi as usize])
    }

    #[inline]
    fn peer_matches(&self, peer: &Peer, other: &End) -> bool {
        match *peer {
            Peer::Never => false,
            Peer::Block { cidr, except } => other.block_ip().is_some_and(|ip| {
                self.ip_sets[cidr as usize].contains(ip) && !self.ip_sets[except as usize].contains(ip)
            }),
            Peer::Pods { ns, pods } => {
                other.pod.is_some()
                    && match ns {
                        NsMatch::Same(n) => other.ns == n,
                        NsMatch::Set(s) => self.ns_set_contains(s, other.ns),
                    }
                    && self.pod_selected(other, pods)
            }
        }
    }

    #[inline(never)]
    fn cluster_peer_matches(&self, peer: &ClusterPeer, other: &End) -> bool {
        match *peer {
            ClusterPeer::Namespaces(s) => other.pod.is_some() && self.ns_set_contains(s, other.ns),
            ClusterPeer::Pods { ns, pods } => {
                other.pod.is_some() && self.ns_set_contains(ns, other.ns) && self.pod_selected(other, pods)
            }
            ClusterPeer::Nodes(set) => other.ip().is_some_and(|ip| self.ip_sets[set as usize].contains(ip)),
            ClusterPeer::Networks(set) => other
                .block_ip()
                .is_some_and(|ip| self.ip_sets[set as usize].contains(ip)),
        }
    }

    #[inline]
    fn port_matches(&self, port: &Port, dst: &End, conn: &Connection) -> bool {
        if port.protocol != ANY_PROTOCOL && port.protocol != conn.protocol as u8 {
            return false;
        }
        if port.name == NO_NAME {
            return port.lo <= conn.port && conn.port <= port.hi;
        }
        self.named_port(port.name, dst, conn)
    }

    #[inline(never)]
    fn named_port(&self, name: u32, dst: &End, conn: &Connection) -> bool {
        dst.pod.is_some() && {
            let (lo, hi) = self.looks[dst.look as usize].named;
            self.pod_named_ports[lo as usize..hi as usize]
                .binary_search(&(name, conn.protocol, conn.port))
                .is_ok()
        }
    }
}
