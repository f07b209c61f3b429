//! Validation of Services, service generators and the service proxy settings, as the API
//! server and kube-proxy would reject them, plus warnings for what is legal but suspicious.

use super::diag::{one_of, Finding};
use super::format::{Protocol, Scenario};
use super::names;
use super::services::{ServiceKind, TargetPort};
use ipnet::Ipv4Net;
use sim_core::SimTime;
use std::collections::BTreeSet;

/// The API server's default --service-node-port-range.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;
/// sessionAffinityConfig.clientIP.timeoutSeconds must be in 1..=86400.
const MAX_AFFINITY: SimTime = SimTime::from_secs(86_400);
/// The API server refuses a service CIDR with more than 20 host bits (prefix shorter than /12).
const MIN_SERVICE_PREFIX: u8 = 12;
/// cnsim's limit on Services in one run (DESIGN.md: 10,000, with headroom for sweeps).
pub const MAX_SERVICES: usize = 100_000;
/// Maglev table sizes Cilium accepts (primes).
pub const MAGLEV_SIZES: [u32; 10] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/// The Service CIDR: the scenario's, or EKS's choice (172.20.0.0/16 when the VPC CIDR is inside
/// 10.0.0.0/8, else 10.100.0.0/16).
pub fn service_cidr(s: &Scenario) -> Ipv4Net {
    s.network.service_cidr.unwrap_or_else(|| {
        let ten: Ipv4Net = "10.0.0.0/8".parse().expect("constant");
        let cidr = if ten.contains(&s.vpc.cidr) {
            "172.20.0.0/16"
        } else {
            "10.100.0.0/16"
        };
        cidr.parse().expect("constant")
    })
}

/// Generators are checked before expansion (their own fields).
pub fn generators(s: &Scenario) -> Vec<Finding> {
    let mut out = Vec::new();
    let ns: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
    for (i, g) in s.service_generators.iter().enumerate() {
        let f = |x: &str| format!("service_generators[{i}].{x}");
        if !ns.contains(&g.namespace.as_str()) {
            out.push(
                Finding::error(
                    f("namespace"),
                    format!("namespace {:?} is not declared in `namespaces`", g.namespace),
                )
                .valid(one_of(&ns)),
            );
        }
        if g.count as usize > MAX_SERVICES {
            out.push(
                Finding::error(f("count"), format!("{} Services", g.count)).valid(format!("at most {MAX_SERVICES}")),
            );
        }
        if !(1..=1000).contains(&g.endpoints) {
            out.push(
                Finding::error(f("endpoints"), format!("{} endpoints per Service", g.endpoints)).valid("1 to 1000"),
            );
        }
        if g.pool == Some(0) {
            out.push(Finding::error(f("pool"), "a pool of 0 pods").valid("1 or more"));
        }
        if let Err(e) = names::dns1123_label(&g.prefix) {
            out.push(Finding::error(f("prefix"), e));
        }
        if g.port == 0 || g.target_port == 0 {
            out.push(Finding::error(f("port"), "port 0").valid("1 to 65535"));
        }
    }
    out
}

pub fn services(s: &Scenario, out: &mut Vec<Finding>) {
    let cidr = service_cidr(s);
    if cidr.prefix_len() < MIN_SERVICE_PREFIX {
        out.push(
            Finding::error("network.service_cidr", format!("{cidr} is too large")).valid("a prefix of /12 or longer"),
        );
    }
    for c in std::iter::once(&s.vpc.cidr).chain(&s.vpc.secondary_cidrs) {
        if cidr.contains(&c.network()) || c.contains(&cidr.network()) {
            out.push(
                Finding::error(
                    "network.service_cidr",
                    format!("service CIDR {cidr} overlaps VPC CIDR {c}"),
                )
                .valid("a range outside the VPC, e.g. 172.20.0.0/16"),
            );
        }
    }
    let cluster_cidr = s.network.ipam.host_local_cidr();
    if let Some(cluster_cidr) = cluster_cidr.filter(|c| cidr.contains(&c.network()) || c.contains(&cidr.network())) {
        out.push(Finding::error(
            "network.service_cidr",
            format!("service CIDR {cidr} overlaps the cluster CIDR {cluster_cidr}"),
        ));
    }
    let ns: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut ips = BTreeSet::new();
    let mut node_ports = BTreeSet::new();
    if s.services.len() > MAX_SERVICES {
        out.push(
            Finding::error("services", format!("{} Services", s.services.len()))
                .valid(format!("at most {MAX_SERVICES}")),
        );
    }
    // The first address is the `kubernetes` Service's; network and broadcast are never handed out.
    let capacity = (1u64 << (32 - u32::from(cidr.prefix_len()))).saturating_sub(3);
    let wanted = s.services.iter().filter(|x| !x.headless).count() as u64;
    if wanted > capacity {
        out.push(
            Finding::error(
                "network.service_cidr",
                format!("{wanted} Services need a ClusterIP but {cidr} holds {capacity}"),
            )
            .valid("a larger service CIDR"),
        );
    }
    for (i, svc) in s.services.iter().enumerate() {
        let f = |x: &str| format!("services[{i}].{x}");
        if !ns.contains(&svc.namespace.as_str()) {
            out.push(
                Finding::error(
                    f("namespace"),
                    format!("namespace {:?} is not declared in `namespaces`", svc.namespace),
                )
                .valid(one_of(&ns)),
            );
        }
        if !seen.insert((svc.namespace.as_str(), svc.name.as_str())) {
            out.push(Finding::error(
                f("name"),
                format!("duplicate Service {}/{}", svc.namespace, svc.name),
            ));
        }
        if let Err(e) = names::dns1123_label(&svc.name) {
            out.push(Finding::error(f("name"), e));
        }
        if svc.headless && (svc.kind != ServiceKind::ClusterIP || svc.cluster_ip.is_some()) {
            out.push(
                Finding::error(
                    f("headless"),
                    "a headless Service has no cluster IP, so it must be kind ClusterIP without cluster_ip",
                )
                .valid("headless: false, or kind: ClusterIP"),
            );
        }
        if let Some(ip) = svc.cluster_ip {
            if !cidr.contains(&ip) || ip == cidr.network() || ip == cidr.broadcast() {
                out.push(Finding::error(
                    f("cluster_ip"),
                    format!("{ip} is not a usable address of the service CIDR {cidr}"),
                ));
            } else if !ips.insert(ip) {
                out.push(Finding::error(
                    f("cluster_ip"),
                    format!("{ip} is already taken by another Service"),
                ));
            }
        }
        if svc.ports.is_empty() {
            out.push(Finding::error(f("ports"), "a Service needs at least one port"));
        }
        if !svc.selector.is_empty() && !svc.endpoints.is_empty() {
            out.push(Finding::error(
                f("endpoints"),
                "a Service has either a selector or explicit endpoints, not both",
            ));
        }
        let mut port_keys = BTreeSet::new();
        let mut port_names = BTreeSet::new();
        for (j, p) in svc.ports.iter().enumerate() {
            let pf = format!("services[{i}].ports[{j}]");
            if p.port == 0 {
                out.push(Finding::error(format!("{pf}.port"), "port 0").valid("1 to 65535"));
            }
            if !port_keys.insert((p.port, p.protocol)) {
                out.push(Finding::error(
                    format!("{pf}.port"),
                    format!("duplicate port {} {:?}", p.port, p.protocol),
                ));
            }
            match &p.name {
                None if svc.ports.len() > 1 => out.push(Finding::error(
                    format!("{pf}.name"),
                    "every port of a multi-port Service needs a name",
                )),
                Some(n) => {
                    if let Err(e) = names::port_name(n) {
                        out.push(Finding::error(format!("{pf}.name"), e));
                    }
                    if !port_names.insert(n.as_str()) {
                        out.push(Finding::error(
                            format!("{pf}.name"),
                            format!("duplicate port name {n:?}"),
                        ));
                    }
                }
                None => {}
            }
            if p.protocol == Protocol::SCTP {
                out.push(
                    Finding::error(format!("{pf}.protocol"), "SCTP Services are not simulated yet").valid("TCP or UDP"),
                );
            }
            if let Some(TargetPort::Number(0)) = p.target_port {
                out.push(
                    Finding::error(format!("{pf}.target_port"), "target port 0")
                        .valid("1 to 65535 or a container port name"),
                );
            }
            if let Some(np) = p.node_port {
                if svc.kind == ServiceKind::ClusterIP {
                    out.push(
                        Finding::error(format!("{pf}.node_port"), "a ClusterIP Service has no node port")
                            .valid("kind: NodePort or LoadBalancer"),
                    );
                } else if !NODE_PORT_RANGE.contains(&np) {
                    out.push(
                        Finding::error(
                            format!("{pf}.node_port"),
                            format!("node port {np} is outside the node port range"),
                        )
                        .valid("30000 to 32767"),
                    );
                } else if !node_ports.insert((np, p.protocol)) {
                    out.push(Finding::error(
                        format!("{pf}.node_port"),
                        format!("node port {np} is already allocated"),
                    ));
                }
            }
        }
        if let Some(t) = svc.session_affinity {
            if t == SimTime::ZERO || t > MAX_AFFINITY || t.as_nanos() % 1_000_000_000 != 0 {
                out.push(
                    Finding::error(f("session_affinity"), format!("affinity timeout {t}"))
                        .valid("whole seconds from 1s to 86400s (Kubernetes default 10800s)"),
                );
            }
        }
        for (j, r) in svc.load_balancer_source_ranges.iter().enumerate() {
            if *r != r.trunc() {
                out.push(
                    Finding::error(
                        format!("services[{i}].load_balancer_source_ranges[{j}]"),
                        format!("{r} has host bits set"),
                    )
                    .valid(format!("{}", r.trunc())),
                );
            }
        }
        if !svc.load_balancer_source_ranges.is_empty() && svc.kind != ServiceKind::LoadBalancer {
            out.push(Finding::warning(
                f("load_balancer_source_ranges"),
                "source ranges only apply to LoadBalancer Services",
            ));
        }
        endpoints_exist(s, i, out);
    }
    let explicit: usize = s
        .services
        .iter()
        .filter(|x| !x.headless && x.ports.iter().any(|p| p.node_port.is_none()) && x.kind != ServiceKind::ClusterIP)
        .map(|x| x.ports.len())
        .sum();
    let free = NODE_PORT_RANGE.count() - node_ports.len();
    if explicit > free {
        out.push(Finding::error(
            "services",
            format!("{explicit} node ports to allocate, {free} free in 30000-32767"),
        ));
    }
    let k = &s.kube_proxy;
    if k.mode == super::services::ProxyMode::Ebpf {
        let needed = ebpf_frontends(s);
        if needed > cnsim_services::ebpf::MAX_FRONTENDS {
            out.push(Finding::error("services", format!("{needed} eBPF frontends (ClusterIP, node port, external and LB addresses per Service port) on each node")).valid(format!("at most {} (Cilium's reverse-NAT ids are 16 bits)", cnsim_services::ebpf::MAX_FRONTENDS)));
        }
    }
    if !MAGLEV_SIZES.contains(&k.maglev_table_size) {
        out.push(
            Finding::error(
                "kube_proxy.maglev_table_size",
                format!("{} is not a table size Cilium accepts", k.maglev_table_size),
            )
            .valid(format!("{MAGLEV_SIZES:?}")),
        );
    }
    if k.conntrack_max == Some(0) {
        out.push(Finding::error("kube_proxy.conntrack_max", "a conntrack table of 0 entries").valid("1 or more"));
    }
}

/// A selector that matches no pod, or explicit endpoints that name no pod: legal (the Service
/// exists, traffic to it is rejected), so a warning, the way an SRE would want it flagged.
fn endpoints_exist(s: &Scenario, i: usize, out: &mut Vec<Finding>) {
    let svc = &s.services[i];
    let in_ns = || s.workloads.iter().filter(|w| w.namespace == svc.namespace);
    if !svc.selector.is_empty() {
        let any = in_ns().any(|w| w.replicas > 0 && svc.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v)));
        if !any {
            out.push(Finding::warning(
                format!("services[{i}].selector"),
                format!(
                    "the selector of {}/{} matches no pod: traffic to it will be rejected",
                    svc.namespace, svc.name
                ),
            ));
        }
    }
    for (j, pod) in svc.endpoints.iter().enumerate() {
        let known = pod
            .rsplit_once('-')
            .and_then(|(w, r)| Some((w, r.parse::<u32>().ok()?)))
            .is_some_and(|(w, r)| in_ns().any(|x| x.name == w && r < x.replicas));
        if !known {
            out.push(Finding::error(
                format!("services[{i}].endpoints[{j}]"),
                format!("no pod {pod:?} in namespace {:?}", svc.namespace),
            ));
        }
    }
}

/// Frontends Cilium programs on one node, counted as `cnsim_services::ebpf::frontends_needed`
/// counts them (one reverse-NAT id per distinct address, port and protocol), from the scenario:
/// ClusterIPs are distinct per Service, a node port takes the node's address and the 0.0.0.0
/// surrogate, external and LB addresses may be shared between Services.
pub fn ebpf_frontends(s: &Scenario) -> usize {
    let mut shared: BTreeSet<(std::net::Ipv4Addr, u16, Protocol)> = BTreeSet::new();
    let mut distinct = 0usize;
    for svc in s.services.iter().filter(|x| !x.headless) {
        for p in &svc.ports {
            distinct += 1;
            if svc.kind != ServiceKind::ClusterIP {
                distinct += 2;
            }
            for ip in svc.external_ips.iter().chain(&svc.load_balancer_ip) {
                shared.insert((*ip, p.port, p.protocol));
            }
        }
    }
    distinct + shared.len()
}
