//! NetworkPolicy on the packet path: the scenario's pods as cnsim-policy sees them, the
//! compiled engine, and what it judged and denied (by evidence) over the run.
//!
//! Where it applies (DESIGN.md "Packet path"): on a connection's first packet only (a NEW
//! conntrack entry), after service DNAT, so the verdict is on the backend pod and its target
//! port. Egress is judged at the source node; ingress at the destination node, or at the
//! source node when both pods share it (the packet never leaves). Replies and later packets of
//! an admitted connection follow conntrack and are not judged again. Which pod an address
//! belongs to, and where that pod runs, come from the run's live pod table (`sim::pods`): with
//! the AWS VPC CNI addresses are handed out during the run.

use crate::results::PolicyResult;
use crate::scenario::policy_source::ScenarioPolicies;
use crate::scenario::{Protocol, Scenario};
use crate::sim::packet::{Header, PROTO_TCP, PROTO_UDP};
use crate::sim::pods::LivePods;
use crate::world::{NodeId, World};
use cnsim_policy::explain::{DirectionExplanation, NamedDecision};
use cnsim_policy::{
    Cluster, Compiled, Connection, ContainerPort, Decision, Direction, Endpoint, EvalOptions, Namespace, Node, Pod,
    PodId, PolicyEngine, Verdict,
};
use cnsim_services::Origin;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

pub struct PacketPolicy {
    cluster: Cluster,
    policies: Arc<ScenarioPolicies>,
    engine: Compiled,
    /// First packets judged (at each node that enforces a direction).
    evaluated: u64,
    /// Denials by (direction, decision), with one connection that got it so the evidence can
    /// be named once the run is over. Few distinct keys: a linear search, no text per drop.
    denied: Vec<Denial>,
}

struct Denial {
    direction: Direction,
    decision: Decision,
    count: u64,
    example: (Connection, Verdict),
}

fn protocol(p: Protocol) -> cnsim_policy::Protocol {
    match p {
        Protocol::TCP => cnsim_policy::Protocol::Tcp,
        Protocol::UDP => cnsim_policy::Protocol::Udp,
        Protocol::SCTP => cnsim_policy::Protocol::Sctp,
    }
}

/// The world's namespaces, nodes and pods in cnsim-policy's types. Pod i of the world is
/// `PodId(i)`; pods without an address have no IP (no ipBlock matches them).
pub fn cluster_of(world: &World, s: &Scenario) -> Cluster {
    Cluster {
        namespaces: s
            .namespaces
            .iter()
            .map(|n| Namespace::new(&n.name, n.labels.clone()))
            .collect(),
        nodes: world
            .nodes
            .iter()
            .map(|n| Node {
                name: n.name.clone(),
                labels: n.labels.clone(),
                ips: vec![IpAddr::V4(n.ip)],
            })
            .collect(),
        pods: world
            .pods
            .iter()
            .map(|p| {
                let w = &s.workloads[p.workload];
                let node = p.node.map(|n| &world.nodes[n as usize]);
                Pod {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    labels: w.labels.clone(),
                    ips: p.ip.map(IpAddr::V4).into_iter().collect(),
                    node_name: node.map(|n| n.name.clone()).unwrap_or_default(),
                    host_ips: node.map(|n| IpAddr::V4(n.ip)).into_iter().collect(),
                    host_network: false,
                    container_ports: w
                        .ports
                        .iter()
                        .map(|c| ContainerPort {
                            name: c.name.clone().unwrap_or_default(),
                            container_port: c.port,
                            protocol: protocol(c.protocol),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

impl PacketPolicy {
    /// None when the variant has no policies: then nothing is judged and nothing costs.
    pub fn build(world: &World, s: &Scenario, policies: Arc<ScenarioPolicies>) -> Option<PacketPolicy> {
        if policies.is_empty() {
            return None;
        }
        let cluster = cluster_of(world, s);
        let options = EvalOptions {
            ip_block_matches_pods: policies.ip_block_matches_pods,
            ..EvalOptions::default()
        };
        let engine = Compiled::build(&cluster, &policies.set, options);
        Some(PacketPolicy {
            cluster,
            policies,
            engine,
            evaluated: 0,
            denied: Vec::new(),
        })
    }

    /// The connection a (post-DNAT) first packet opens.
    pub fn connection(&self, pods: &LivePods, h: &Header) -> Connection {
        let end = |ip| match pods.by_ip(ip) {
            Some(p) => Endpoint::Pod(PodId(p)),
            None => Endpoint::Ip(IpAddr::V4(ip)),
        };
        Connection {
            src: end(h.src_ip()),
            dst: end(h.dst_ip()),
            protocol: match h.proto {
                PROTO_TCP => cnsim_policy::Protocol::Tcp,
                PROTO_UDP => cnsim_policy::Protocol::Udp,
                _ => cnsim_policy::Protocol::Sctp,
            },
            port: h.dport,
        }
    }

    /// The directions enforced at `node` for a first packet arriving from `origin`: egress
    /// where the source pod sends, ingress where the destination pod lives.
    pub fn enforced_at(
        pods: &LivePods,
        conn: &Connection,
        node: NodeId,
        origin: Origin,
    ) -> impl Iterator<Item = Direction> {
        let egress = origin == Origin::LocalPod;
        let ingress = matches!(conn.dst, Endpoint::Pod(p) if pods.get(p.0).node == Some(node));
        [(egress, Direction::Egress), (ingress, Direction::Ingress)]
            .into_iter()
            .filter_map(|(on, d)| on.then_some(d))
    }

    pub fn judge(&self, conn: &Connection) -> Verdict {
        self.engine.evaluate(conn)
    }

    /// The engine learns the live address of each pod end of `conn`: with the VPC CNI, pods are
    /// addressed during the run, and ipBlock peers match pods by address. (With host-local the
    /// live address is the t=0 one and nothing changes.)
    fn learn_addresses(&mut self, pods: &LivePods, conn: &Connection) {
        for end in [conn.src, conn.dst] {
            let Endpoint::Pod(p) = end else { continue };
            let live = pods.ip(p.0);
            if self.engine.pod_ipv4(p) != live {
                self.engine.set_pod_ipv4(p, live);
                let ips = &mut self.cluster.pods[p.0 as usize].ips;
                ips.retain(IpAddr::is_ipv6);
                ips.extend(live.map(IpAddr::V4));
            }
        }
    }

    /// Judges a first packet arriving at `node` from `origin` and counts the outcome. False:
    /// a direction enforced here denies it (the caller drops it as policy-denied).
    pub fn admit(&mut self, pods: &LivePods, h: &Header, node: NodeId, origin: Origin) -> bool {
        self.evaluated += 1;
        let conn = self.connection(pods, h);
        self.learn_addresses(pods, &conn);
        let v = self.judge(&conn);
        let Some(direction) = Self::enforced_at(pods, &conn, node, origin).find(|&d| !v.direction(d).allowed) else {
            return true;
        };
        let decision = &v.direction(direction).decision;
        match self
            .denied
            .iter_mut()
            .find(|d| d.direction == direction && d.decision == *decision)
        {
            Some(d) => d.count += 1,
            None => self.denied.push(Denial {
                direction,
                decision: decision.clone(),
                count: 1,
                example: (conn, v),
            }),
        }
        false
    }

    /// What policy did over the run, denials named by their evidence.
    pub fn result(&self) -> PolicyResult {
        let mut denied_by = BTreeMap::new();
        for d in &self.denied {
            let (conn, v) = &d.example;
            *denied_by.entry(self.evidence(conn, v, d.direction)).or_insert(0) += d.count;
        }
        PolicyResult {
            network_policies: self.policies.set.network_policies.len() as u32,
            cluster_policies: self.policies.set.cluster_policies.len() as u32,
            evaluated: self.evaluated,
            denied_by,
        }
    }

    /// The explanation of one direction, with names.
    pub fn explain(&self, conn: &Connection, v: &Verdict, dir: Direction) -> DirectionExplanation {
        let e = v.explain(&self.cluster, &self.policies.set, conn);
        match dir {
            Direction::Egress => e.egress,
            Direction::Ingress => e.ingress,
        }
    }

    /// What a denied direction is counted under: the direction and the policies that denied
    /// it, without the pods (so that drops aggregate by policy).
    fn evidence(&self, conn: &Connection, v: &Verdict, dir: Direction) -> String {
        let d = self.explain(conn, v, dir);
        match d.decision {
            NamedDecision::Isolated { policies } => {
                format!("{dir}: isolated by {} and no rule allows it", policies.join(", "))
            }
            NamedDecision::Tier { rule, action } => format!("{dir}: {action:?} by {rule}"),
            other => format!("{dir}: {other:?}"),
        }
    }
}
