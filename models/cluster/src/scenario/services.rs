//! Scenario types for Services and the service proxy: `services`, `service_generators` and
//! `kube_proxy`. Kept apart from `format` because they grow with each datapath.

use super::format::{Labels, Protocol};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use sim_core::SimTime;
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceKind {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

/// A Service port's targetPort: a number, or a container port name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePortDef {
    /// Required when the Service has more than one port.
    #[serde(default)]
    pub name: Option<String>,
    pub port: u16,
    /// Default: the same number as `port`.
    #[serde(default)]
    pub target_port: Option<TargetPort>,
    #[serde(default)]
    pub protocol: Protocol,
    /// NodePort/LoadBalancer: default allocated from 30000–32767 in declaration order.
    #[serde(default)]
    pub node_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub kind: ServiceKind,
    /// Pods with all these labels in the Service's namespace are its endpoints.
    #[serde(default)]
    pub selector: Labels,
    /// For a Service without a selector: its endpoints as pod names in its namespace (an
    /// EndpointSlice managed by hand). Service generators fill this.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// `clusterIP: None`: no virtual IP, so no datapath rules.
    #[serde(default)]
    pub headless: bool,
    /// Default: allocated from `network.service_cidr` in declaration order.
    #[serde(default)]
    pub cluster_ip: Option<Ipv4Addr>,
    pub ports: Vec<ServicePortDef>,
    #[serde(default)]
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`. AWS load balancers publish hostnames, not IPs, so
    /// kube-proxy holds no LB-IP rules on EKS unless this is set.
    #[serde(default)]
    pub load_balancer_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    /// `sessionAffinity: ClientIP` with this timeout (Kubernetes default 3h = "10800s").
    #[serde(default)]
    pub session_affinity: Option<SimTime>,
    #[serde(default)]
    pub external_traffic_policy: TrafficPolicy,
    #[serde(default)]
    pub internal_traffic_policy: TrafficPolicy,
}

impl ServiceDef {
    /// A Service with these ports and every other field as a scenario file's default (no
    /// selector, no endpoints, an allocated ClusterIP).
    pub fn with_ports(namespace: &str, name: &str, kind: ServiceKind, ports: Vec<ServicePortDef>) -> ServiceDef {
        ServiceDef {
            namespace: namespace.to_string(),
            name: name.to_string(),
            kind,
            selector: Labels::new(),
            endpoints: Vec::new(),
            headless: false,
            cluster_ip: None,
            ports,
            external_ips: Vec::new(),
            load_balancer_ip: None,
            load_balancer_source_ranges: Vec::new(),
            session_affinity: None,
            external_traffic_policy: TrafficPolicy::default(),
            internal_traffic_policy: TrafficPolicy::default(),
        }
    }
}

/// `count` ClusterIP-style Services, each with `endpoints` endpoints drawn from one pool of
/// `pool` pods (default: `endpoints`), so 30,000 Services need not mean 300,000 pods. Services
/// are `PREFIX-0 ..`; the pool is workload `PREFIX-backend`; Service i's endpoints are pool
/// pods i·E .. i·E+E-1 (mod pool). The endpoints are listed explicitly, as for a Service
/// without a selector whose EndpointSlices are managed by hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceGenerator {
    pub namespace: String,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    pub count: u32,
    pub endpoints: u32,
    #[serde(default)]
    pub pool: Option<u32>,
    #[serde(default)]
    pub kind: ServiceKind,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_target_port")]
    pub target_port: u16,
    #[serde(default)]
    pub protocol: Protocol,
    /// Node labels the pool pods must run on.
    #[serde(default)]
    pub node_selector: Labels,
}

fn default_prefix() -> String {
    "svc".into()
}

fn default_port() -> u16 {
    80
}

fn default_target_port() -> u16 {
    8080
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyMode {
    /// kube-proxy --proxy-mode=iptables (the default).
    #[default]
    Iptables,
    Ipvs,
    Nftables,
    /// Cilium's kube-proxy replacement.
    Ebpf,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvsScheduler {
    #[default]
    Rr,
    Wrr,
    Lc,
    Sh,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LbAlgorithm {
    /// Cilium's default.
    #[default]
    Random,
    Maglev,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeProxy {
    #[serde(default)]
    pub mode: ProxyMode,
    #[serde(default)]
    pub ipvs_scheduler: IpvsScheduler,
    #[serde(default)]
    pub lb_algorithm: LbAlgorithm,
    /// Cilium's `bpf-lb-maglev-table-size` (a prime; default 16381).
    #[serde(default = "default_maglev")]
    pub maglev_table_size: u32,
    /// Cilium socket-level load balancing for east-west traffic (default on).
    #[serde(default = "yes")]
    pub socket_lb: bool,
    /// nf_conntrack_max. Default: as kube-proxy sets it, max(32768 × vCPUs, 131072).
    #[serde(default)]
    pub conntrack_max: Option<u32>,
    /// The least time between two syncs of a node's service proxy (kube-proxy's
    /// `minSyncPeriod`). Default: the mode's (`calibration::min_sync_period`: iptables and
    /// nftables 1 s, IPVS and eBPF 0).
    #[serde(default)]
    pub min_sync_period: Option<SimTime>,
}

impl Default for KubeProxy {
    fn default() -> Self {
        KubeProxy {
            mode: ProxyMode::default(),
            ipvs_scheduler: IpvsScheduler::default(),
            lb_algorithm: LbAlgorithm::default(),
            maglev_table_size: default_maglev(),
            socket_lb: true,
            conntrack_max: None,
            min_sync_period: None,
        }
    }
}

fn default_maglev() -> u32 {
    16381
}

fn yes() -> bool {
    true
}
