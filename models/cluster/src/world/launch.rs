//! Nodes a scale event adds during the run (`node_group: NAME, count: N`).
//!
//! The world pre-builds every node a group has at its largest, as it pre-builds the pods a
//! scale event creates later. A node launched during the run is in `World::nodes` with its
//! `launch` set: it has its name, subnet and address from the start, but until it is Ready
//! (`NodeLaunch::ready_at`, the event plus `calibration::NODE_JOIN_LATENCY`) it holds no
//! subnet address, no IPAM state, no pod and no place in scheduling (`sim::ipamd` joins it).
//!
//! Addresses, decided here so that they never depend on the run:
//! - A launched node takes the highest address of its subnet not yet given to a node, in
//!   launch order (the subnet's top down, where nodes at t=0 go from `.4` up). EC2 picks any
//!   free address; the top is a deterministic stand-in that ipamd's pools, which take the
//!   lowest free addresses first, reach last. If a pool has taken it all the same by the
//!   join, the launch fails as EC2's would in a full subnet (the node never joins).
//! - Host-local: kube-controller-manager gives the next free node CIDR when the node
//!   registers. CIDRs are never given back during a run (a node a scale-down removes keeps
//!   its CIDR: `sim::drain`), so the CIDR each launched
//!   node will get is known now: the world holds it from t=0 (its VPC route and VTEP entry
//!   exist before the join, unreachable since no pod holds an address in it) and the live
//!   engine gives the same at the join (asserted).

use super::ipam::IpamState;
use super::{NodeId, World};
use cnsim_ipam::{InstanceCatalog, NodeJoin};
use sim_core::SimTime;

/// How a node a scale event adds joins the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLaunch {
    /// The scale event (index into the scenario's `events`) that launched it.
    pub event: u32,
    /// When it is Ready: its ipamd, kube-proxy and kubelet start and the scheduler sees it.
    pub ready_at: SimTime,
}

/// Launched nodes in the order they join: by Ready time, then event, then node.
pub fn join_order(world: &World) -> Vec<NodeId> {
    let mut late: Vec<(SimTime, u32, NodeId)> = (0..world.nodes.len() as NodeId)
        .filter_map(|id| {
            let l = world.nodes[id as usize].launch?;
            Some((l.ready_at, l.event, id))
        })
        .collect();
    late.sort_unstable();
    late.into_iter().map(|(_, _, id)| id).collect()
}

/// Host-local: the pod CIDR each launched node gets when it joins, given out on a copy of the
/// engine in join order after the nodes at t=0 (the world's own engine stays as at t=0).
pub fn plan_host_local_cidrs(world: &mut World, ipam: &IpamState) {
    let IpamState::HostLocal(h) = ipam else { return };
    let mut later = IpamState::HostLocal(h.clone());
    let catalog = InstanceCatalog::embedded();
    for id in join_order(world) {
        let n = &world.nodes[id as usize];
        let join = NodeJoin {
            node: id,
            name: &n.name,
            instance: catalog.get(&n.instance_type).expect("validated"),
            primary_ip: n.ip,
            subnet: world.subnets[n.subnet as usize].cidr,
        };
        let (pod_cidr, ipam_error) = match later.engine().add_node(&join, 0) {
            Ok(a) => (a.pod_prefixes.first().copied(), None),
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(c) = pod_cidr {
            world.pod_prefixes.insert(c, id);
        }
        let n = &mut world.nodes[id as usize];
        n.pod_cidr = pod_cidr;
        n.ipam_error = ipam_error;
    }
}
