//! Shared generators for property tests and benches: service sets, node views, packets, and a
//! deterministic random source. One place, so every engine is tested on the same shapes.

use crate::model::*;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// A deterministic RandomSource (SplitMix64) for tests and benches; the simulator uses its
/// own named streams.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl RandomSource for SplitMix {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}

/// A RandomSource replaying a fixed list (then zeros), to compare two engines draw for draw.
#[derive(Clone, Debug)]
pub struct Replay {
    pub draws: Vec<u32>,
    pub next: usize,
}

impl RandomSource for Replay {
    fn next_u32(&mut self) -> u32 {
        let v = self.draws.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        v
    }
}

/// The node most tests program: node-0 at 10.0.0.10, cluster CIDR 10.244.0.0/16.
pub fn node_view() -> NodeView {
    NodeView {
        name: "node-0".into(),
        node_ips: vec![Ipv4Addr::new(10, 0, 0, 10)],
        cluster_cidr: Some("10.244.0.0/16".parse::<Ipv4Net>().expect("constant")),
    }
}

/// `n` ClusterIP services `ns/svc-i` (port 80/TCP named "http", VIP 172.20.i/16) with
/// `endpoints` ready endpoints each (10.244.x.y:8080, spread over node-0..node-3).
pub fn cluster_ip_services(n: u32, endpoints: u32) -> ServiceSet {
    let mut set = ServiceSet::default();
    for i in 0..n {
        set.services.push(Service {
            namespace: "ns".into(),
            name: format!("svc-{i}"),
            kind: ServiceType::ClusterIP,
            cluster_ip: Some(Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 20, 0, 0)) + 1 + i)),
            external_ips: vec![],
            load_balancer_ips: vec![],
            load_balancer_source_ranges: vec![],
            session_affinity_seconds: None,
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            ports: vec![ServicePort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 80,
                node_port: None,
            }],
        });
        let eps = (0..endpoints)
            .map(|e| Endpoint {
                ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + ((i * endpoints + e) % 0xfffe) + 1),
                port: 8080,
                node: format!("node-{}", e % 4),
                ready: true,
                serving: true,
                terminating: false,
            })
            .collect();
        set.endpoints.push(vec![eps]);
    }
    set
}

#[cfg(test)]
pub mod strategies {
    //! proptest strategies over every Service feature the engines must handle.
    use super::*;
    use proptest::prelude::*;

    fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
        (
            0u32..64,
            prop::sample::select(vec![8080u16, 9090]),
            0u32..4,
            any::<bool>(),
            any::<bool>(),
            0u8..10,
        )
            .prop_map(|(ip, port, node, serving, terminating, ready_roll)| {
                // Mostly ready; some serving-terminating; a few unready.
                let ready = ready_roll < 8 && !terminating;
                Endpoint {
                    ip: Ipv4Addr::new(10, 244, (ip / 16) as u8, (ip % 16) as u8 + 2),
                    port,
                    node: format!("node-{node}"),
                    ready,
                    serving: ready || serving,
                    terminating,
                }
            })
    }

    prop_compose! {
        fn arb_service(index: u32)(
            kind in prop::sample::select(vec![ServiceType::ClusterIP, ServiceType::NodePort, ServiceType::LoadBalancer]),
            headless in prop::bool::weighted(0.1),
            nports in 1usize..3,
            udp in any::<bool>(),
            affinity in prop::option::weighted(0.2, 1u32..20_000),
            etp_local in prop::bool::weighted(0.3),
            itp_local in prop::bool::weighted(0.2),
            external_ip in prop::bool::weighted(0.2),
            ranges in prop::bool::weighted(0.3),
        ) -> Service {
            let kind = if headless { ServiceType::ClusterIP } else { kind };
            let ports = (0..nports).map(|p| ServicePort {
                name: if nports == 1 { String::new() } else { format!("p{p}") },
                protocol: if udp && p == 1 { Protocol::Udp } else { Protocol::Tcp },
                port: 80 + p as u16,
                node_port: (kind != ServiceType::ClusterIP).then_some(30000 + (index as u16) * 4 + p as u16),
            }).collect();
            Service {
                namespace: if index % 2 == 0 { "a".into() } else { "b".into() },
                name: format!("s{index}"),
                kind,
                cluster_ip: (!headless).then(|| Ipv4Addr::new(172, 20, 0, 10 + index as u8)),
                external_ips: if external_ip { vec![Ipv4Addr::new(203, 0, 113, 10 + index as u8)] } else { vec![] },
                load_balancer_ips: if kind == ServiceType::LoadBalancer { vec![Ipv4Addr::new(198, 51, 100, 10 + index as u8)] } else { vec![] },
                load_balancer_source_ranges: if ranges && kind == ServiceType::LoadBalancer { vec!["192.0.2.0/24".parse().unwrap()] } else { vec![] },
                session_affinity_seconds: affinity,
                external_traffic_policy: if etp_local { TrafficPolicy::Local } else { TrafficPolicy::Cluster },
                internal_traffic_policy: if itp_local { TrafficPolicy::Local } else { TrafficPolicy::Cluster },
                ports,
            }
        }
    }

    /// Up to `max` services with endpoints; some ports have none.
    pub fn arb_service_set(max: u32) -> impl Strategy<Value = ServiceSet> {
        (1..=max).prop_flat_map(|n| {
            let services: Vec<_> = (0..n).map(arb_service).collect();
            services.prop_flat_map(|services| {
                let eps: Vec<_> = services
                    .iter()
                    .map(|s| {
                        prop::collection::vec(
                            prop::collection::vec(arb_endpoint(), 0..6),
                            s.ports.len()..=s.ports.len(),
                        )
                    })
                    .collect();
                (Just(services), eps).prop_map(|(services, endpoints)| ServiceSet { services, endpoints })
            })
        })
    }

    /// A packet aimed at something in `set` most of the time (VIP, node port, external or LB
    /// address), from a pod, the host or outside, with the draws the lookup may consume.
    pub fn arb_lookup(set: ServiceSet) -> impl Strategy<Value = (ServiceSet, Packet, Origin, Vec<u32>)> {
        let n = set.services.len();
        (
            Just(set),
            0..n,
            0usize..3,
            0u8..6,
            any::<bool>(),
            0u8..3,
            prop::collection::vec(any::<u32>(), 0..16),
            any::<bool>(),
        )
            .prop_map(|(set, s, p, target, udp, origin, draws, src_outside)| {
                let svc = &set.services[s];
                let port = &svc.ports[p % svc.ports.len()];
                let node = node_view();
                let (dst, dport) = match target {
                    0 => (svc.cluster_ip.unwrap_or(Ipv4Addr::new(172, 20, 0, 250)), port.port),
                    1 => (node.node_ips[0], port.node_port.unwrap_or(30999)),
                    2 => (
                        svc.external_ips
                            .first()
                            .copied()
                            .unwrap_or(Ipv4Addr::new(203, 0, 113, 250)),
                        port.port,
                    ),
                    3 => (
                        svc.load_balancer_ips
                            .first()
                            .copied()
                            .unwrap_or(Ipv4Addr::new(198, 51, 100, 250)),
                        port.port,
                    ),
                    4 => (Ipv4Addr::new(172, 20, 0, 10 + s as u8), 9999),
                    _ => (Ipv4Addr::new(10, 244, 3, 3), 8080),
                };
                let proto = if udp { Protocol::Udp } else { port.protocol };
                let origin = [Origin::LocalPod, Origin::Host, Origin::External][origin as usize];
                let src = if src_outside {
                    Ipv4Addr::new(192, 0, 2, 7)
                } else {
                    Ipv4Addr::new(10, 244, 1, 5)
                };
                (
                    set,
                    Packet {
                        src,
                        dst,
                        sport: 40000,
                        dport,
                        proto,
                    },
                    origin,
                    draws,
                )
            })
    }
}
