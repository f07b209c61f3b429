//! Services in the world: ClusterIPs and node ports allocated, selectors resolved to endpoints,
//! all turned into the `cnsim_services::ServiceSet` every datapath engine is programmed from.
//!
//! Allocation is deterministic: ClusterIPs in declaration order from the second address of the
//! service CIDR (the first belongs to the `kubernetes` Service), node ports from 30000, each
//! skipping what a Service asked for explicitly. Endpoints are the running pods a selector (or
//! the explicit list) names, in workload and replica order; a pod lacking a named target port
//! is no endpoint of that port, as the EndpointSlice controller decides.

use crate::scenario::format::{Protocol, Scenario};
use crate::scenario::services::{ServiceKind, TargetPort, TrafficPolicy};
use crate::scenario::validate_services::{service_cidr, NODE_PORT_RANGE};
use crate::world::{PodId, PodPhase, World};
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
        let members = members(s, world, def);
        let mut per_port_eps = Vec::with_capacity(def.ports.len());
        let mut per_port_pods = Vec::with_capacity(def.ports.len());
        for p in &def.ports {
            let mut eps = Vec::new();
            let mut ids = Vec::new();
            for &pod in &members {
                let pd = &world.pods[pod as usize];
                let w = &s.workloads[pd.workload];
                let port = match &p.target_port {
                    None => Some(p.port),
                    Some(TargetPort::Number(n)) => Some(*n),
                    Some(TargetPort::Name(name)) => w
                        .ports
                        .iter()
                        .find(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == p.protocol)
                        .map(|c| c.port),
                };
                let (Some(port), Some(ip), Some(node)) = (port, pd.ip, pd.node) else {
                    continue;
                };
                eps.push(svc::Endpoint {
                    ip,
                    port,
                    node: world.nodes[node as usize].name.clone(),
                    ready: true,
                    serving: true,
                    terminating: false,
                });
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

/// Running pods with an address that the Service selects (or lists), in pod order.
fn members(s: &Scenario, world: &World, def: &crate::scenario::services::ServiceDef) -> Vec<PodId> {
    let running =
        |p: &PodId| world.pods[*p as usize].phase == PodPhase::Running && world.pods[*p as usize].ip.is_some();
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
            .filter(running)
            .collect();
    }
    if def.selector.is_empty() {
        return Vec::new();
    }
    s.workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| w.namespace == def.namespace && def.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v)))
        .flat_map(|(wi, _)| world.workload_pods[wi].iter().copied())
        .filter(running)
        .collect()
}
