//! The service proxy a scenario asks for: which `cnsim_services` engine each node runs, and
//! the conntrack limit it gets.

use crate::scenario::format::Scenario;
use crate::scenario::services::{IpvsScheduler, KubeProxy, LbAlgorithm, ProxyMode};
use crate::world::{NodeId, World};
use cnsim_ipam::InstanceCatalog;
use cnsim_services::conntrack::{ConntrackConfig, Timeouts};
use cnsim_services::{Mode, ServiceDatapath, ServiceSet, SyncStats};

pub fn mode(m: ProxyMode) -> Mode {
    match m {
        ProxyMode::Iptables => Mode::Iptables,
        ProxyMode::Ipvs => Mode::Ipvs,
        ProxyMode::Nftables => Mode::Nftables,
        ProxyMode::Ebpf => Mode::Ebpf,
    }
}

/// Each node's conntrack table: `kube_proxy.conntrack_max` if set, else kube-proxy's sizing
/// from the node's vCPUs.
pub fn conntrack<'a>(s: &'a Scenario, world: &'a World) -> impl Fn(NodeId) -> ConntrackConfig + 'a {
    move |n| match s.kube_proxy.conntrack_max {
        Some(max) => ConntrackConfig::with_max(max, Timeouts::kube_proxy()),
        None => {
            let ty = &world.nodes[n as usize].instance_type;
            let vcpus = InstanceCatalog::embedded()
                .get(ty)
                .and_then(|t| t.default_vcpus)
                .unwrap_or(2);
            ConntrackConfig::kube_proxy(vcpus)
        }
    }
}

/// A fresh engine for one node: the fast (indexed) implementation of the scenario's mode.
pub fn engine(k: &KubeProxy) -> Option<Box<dyn ServiceDatapath>> {
    use cnsim_services::ebpf::{Algorithm, EbpfConfig, EbpfEngine};
    match k.mode {
        ProxyMode::Ebpf => {
            let algorithm = match k.lb_algorithm {
                LbAlgorithm::Random => Algorithm::Random,
                LbAlgorithm::Maglev => Algorithm::Maglev {
                    table_size: k.maglev_table_size,
                },
            };
            Some(Box::new(EbpfEngine::new(EbpfConfig {
                algorithm,
                socket_lb: k.socket_lb,
                ..EbpfConfig::default()
            })))
        }
        ProxyMode::Iptables => Some(Box::new(cnsim_services::iptables::IptablesFast::new(
            cnsim_services::iptables::ProxierConfig::default(),
        ))),
        ProxyMode::Nftables => Some(Box::new(cnsim_services::nftables::NftablesFast::new(
            cnsim_services::nftables::NftConfig::default(),
        ))),
        ProxyMode::Ipvs => {
            use cnsim_services::ipvs::{Ipvs, IpvsConfig, Scheduler};
            let scheduler = match k.ipvs_scheduler {
                IpvsScheduler::Rr => Scheduler::Rr,
                IpvsScheduler::Wrr => Scheduler::Wrr,
                IpvsScheduler::Lc => Scheduler::Lc,
                IpvsScheduler::Sh => Scheduler::Sh,
            };
            Some(Box::new(Ipvs::new_fast(IpvsConfig {
                scheduler,
                ..IpvsConfig::default()
            })))
        }
    }
}

/// Cilium socket-level LB: connections from the node's own pods are translated at connect(),
/// so packets leave already addressed to the backend and no per-packet NAT state exists.
pub fn socket_lb(k: &KubeProxy) -> bool {
    k.mode == ProxyMode::Ebpf && k.socket_lb
}

/// Every node's netfilter path for a scenario, the datapath of each node there at t=0 fully
/// synced.
pub fn netfilter(s: &Scenario, world: &World, set: ServiceSet) -> (super::netfilter::Netfilter, Vec<SyncStats>) {
    let mut nf = super::netfilter::Netfilter::new(
        world,
        s.seed,
        mode(s.kube_proxy.mode),
        socket_lb(&s.kube_proxy),
        set,
        conntrack(s, world),
        || engine(&s.kube_proxy),
    );
    let syncs = nf.full_sync(|n| world.nodes[n as usize].joined_at_start());
    (nf, syncs)
}
