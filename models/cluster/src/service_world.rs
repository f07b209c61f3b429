//! Services in the world: ClusterIPs and node ports allocated, selectors resolved to endpoints,
//! all turned into the `cnsim_services::ServiceSet` every datapath engine is programmed from.
//!
//! Allocation is deterministic: ClusterIPs in declaration order from the second address of the
//! service CIDR (the first belongs to the `kubernetes` Service), node ports from 30000, each
//! skipping what a Service asked for explicitly. Endpoints are the running pods a selector (or
//! the explicit list) names, in workload and replica order; a pod lacking a named target port
//! is no endpoint of that port, as the EndpointSlice controller decides.

use crate::scenario::format::{Protocol, Scenario, Workload};
use crate::scenario::services::{ServiceDef, ServiceKind, ServicePortDef, TargetPort, TrafficPolicy};
use crate::scenario::validate_services::{service_cidr, NODE_PORT_RANGE};
use crate::world::{NodeId, PodId, PodPhase, World};
use cnsim_services as svc;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

pub fn protocol(p: Protocol) -> svc::Protocol {
    match p {
        Protocol::TCP => svc::Protocol::Tcp,
        Protocol::UDP => svc::Protocol::Udp,
        Protocol::SCTP => svc::Protocol::Sctp,
    }
}

fn policy(p: TrafficPolicy) -> svc::TrafficPolicy {
    match p {
        TrafficPolicy::Cluster => svc::TrafficPolicy::Cluster,
        TrafficPolicy::Local => svc::TrafficPolicy::Local,
    }
}

/// The endpoint pods of each service and port, parallel to `ServiceSet::endpoints`.
pub type EndpointPods = Vec<Vec<Vec<PodId>>>;

pub fn build(s: &Scenario, world: &World) -> (svc::ServiceSet, EndpointPods) {
    build_with(s, world, |pod| at_start(world, pod))
}

/// A pod's address and node while it runs in the world at t=0.
fn at_start(world: &World, pod: PodId) -> Option<(Ipv4Addr, NodeId)> {
    let p = &world.pods[pod as usize];
    match (&p.phase, p.ip, p.node) {
        (PodPhase::Running, Some(ip), Some(node)) => Some((ip, node)),
        _ => None,
    }
}

/// As [`build`], with selector-based Services' endpoints taken from `live` (a pod's address
/// and node while it is Running and Ready) instead of the world at t=0: the whole-state
/// reference the run's incremental endpoint tracking (`sim::endpoints`) is held equal to.
/// Services with an explicit `endpoints` list keep the list as it stood at t=0.
pub fn build_with(
    s: &Scenario,
    world: &World,
    live: impl Fn(PodId) -> Option<(Ipv4Addr, NodeId)>,
) -> (svc::ServiceSet, EndpointPods) {
    let cidr = service_cidr(s);
    let taken_ips: BTreeSet<Ipv4Addr> = s.services.iter().filter_map(|x| x.cluster_ip).collect();
    let mut next_ip = u32::from(cidr.network()) + 2;
    let taken_ports: BTreeSet<u16> = s
        .services
        .iter()
        .flat_map(|x| x.ports.iter().filter_map(|p| p.node_port))
        .collect();
    let mut next_port = *NODE_PORT_RANGE.start();
    let mut set = svc::ServiceSet::default();
    let mut pods_of = Vec::with_capacity(s.services.len());
    for def in &s.services {
        let cluster_ip = if def.headless {
            None
        } else if let Some(ip) = def.cluster_ip {
            Some(ip)
        } else {
            while taken_ips.contains(&Ipv4Addr::from(next_ip)) {
                next_ip += 1;
            }
            assert!(
                cidr.contains(&Ipv4Addr::from(next_ip)),
                "validation bounds the number of ClusterIPs"
            );
            next_ip += 1;
            Some(Ipv4Addr::from(next_ip - 1))
        };
        let ports: Vec<svc::ServicePort> = def
            .ports
            .iter()
            .map(|p| {
                let node_port = match (def.kind, p.node_port) {
                    (ServiceKind::ClusterIP, _) => None,
                    (_, Some(n)) => Some(n),
                    (_, None) => {
                        while taken_ports.contains(&next_port) {
                            next_port += 1;
                        }
                        assert!(
                            NODE_PORT_RANGE.contains(&next_port),
                            "validation bounds node port allocation"
                        );
                        next_port += 1;
                        Some(next_port - 1)
                    }
                };
                svc::ServicePort {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: protocol(p.protocol),
                    port: p.port,
                    node_port,
                }
            })
            .collect();
        let members = members(s, world, def, &live);
        let mut per_port_eps = Vec::with_capacity(def.ports.len());
        let mut per_port_pods = Vec::with_capacity(def.ports.len());
        for p in &def.ports {
            let mut eps = Vec::new();
            let mut ids = Vec::new();
            for &(pod, ip, node) in &members {
                let Some(port) = target_port(s, p, world.pods[pod as usize].workload) else {
                    continue;
                };
                eps.push(endpoint(world, ip, port, node));
                ids.push(pod);
            }
            per_port_eps.push(eps);
            per_port_pods.push(ids);
        }
        set.services.push(svc::Service {
            namespace: def.namespace.clone(),
            name: def.name.clone(),
            kind: match def.kind {
                ServiceKind::ClusterIP => svc::ServiceType::ClusterIP,
                ServiceKind::NodePort => svc::ServiceType::NodePort,
                ServiceKind::LoadBalancer => svc::ServiceType::LoadBalancer,
            },
            cluster_ip,
            external_ips: def.external_ips.clone(),
            load_balancer_ips: def.load_balancer_ip.into_iter().collect(),
            load_balancer_source_ranges: def.load_balancer_source_ranges.clone(),
            session_affinity_seconds: def.session_affinity.map(|t| (t.as_nanos() / 1_000_000_000) as u32),
            external_traffic_policy: policy(def.external_traffic_policy),
            internal_traffic_policy: policy(def.internal_traffic_policy),
            ports,
        });
        set.endpoints.push(per_port_eps);
        pods_of.push(per_port_pods);
    }
    set.assert_consistent();
    (set, pods_of)
}

/// The port a pod of `workload` serves `p` on: the number, or the named container port with the
/// Service port's protocol; None when the workload has no such port (no endpoint of `p`).
pub fn target_port(s: &Scenario, p: &ServicePortDef, workload: usize) -> Option<u16> {
    match &p.target_port {
        None => Some(p.port),
        Some(TargetPort::Number(n)) => Some(*n),
        Some(TargetPort::Name(name)) => s.workloads[workload]
            .ports
            .iter()
            .find(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == p.protocol)
            .map(|c| c.port),
    }
}

/// The EndpointSlice endpoint of a Ready pod.
pub fn endpoint(world: &World, ip: Ipv4Addr, port: u16, node: NodeId) -> svc::Endpoint {
    svc::Endpoint {
        ip,
        port,
        node: world.nodes[node as usize].name.clone(),
        ready: true,
        serving: true,
        terminating: false,
    }
}

/// Whether a selector-based Service (no explicit endpoint list) selects the workload's pods.
pub fn selects(def: &ServiceDef, w: &Workload) -> bool {
    def.endpoints.is_empty()
        && !def.selector.is_empty()
        && w.namespace == def.namespace
        && def.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
}

/// Running pods with an address that the Service selects (or lists), in pod order, with that
/// address and node.
fn members(
    s: &Scenario,
    world: &World,
    def: &ServiceDef,
    live: impl Fn(PodId) -> Option<(Ipv4Addr, NodeId)>,
) -> Vec<(PodId, Ipv4Addr, NodeId)> {
    if !def.endpoints.is_empty() {
        return def
            .endpoints
            .iter()
            .filter_map(|name| {
                let (w, r) = name.rsplit_once('-')?;
                let wi = s
                    .workloads
                    .iter()
                    .position(|x| x.namespace == def.namespace && x.name == w)?;
                world.workload_pods[wi].get(r.parse::<usize>().ok()?).copied()
            })
            .filter_map(|p| at_start(world, p).map(|(ip, n)| (p, ip, n)))
            .collect();
    }
    s.workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| selects(def, w))
        .flat_map(|(wi, _)| world.workload_pods[wi].iter().copied())
        .filter_map(|p| live(p).map(|(ip, n)| (p, ip, n)))
        .collect()
}
