//! Routing decisions, shared by the packet path and `cnsim trace`: where a node sends a packet
//! (a local pod's veth, or out of its ENI, encapsulated or not), and where the VPC route table
//! of the sending node's subnet (or a NAT gateway's) delivers it.
//!
//! With VPC pod addresses (the AWS VPC CNI) a node has no pod CIDR: which node holds a pod
//! address is a question for [`PodAddresses`], answered by the world at t=0 (`cnsim trace`) or
//! by the run's live pod table (`sim::pods`), since addresses come and go during a run.

use super::metrics::DropReason;
use crate::scenario::format::NetworkMode;
use crate::world::{NodeId, VpcTarget, World};
use std::net::Ipv4Addr;

/// A node's routing decision for a packet to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    /// `dst` is in the node's own pod CIDR: out through that pod's veth.
    LocalPod,
    /// Out of the ENI; `encapsulate`: VXLAN to the node holding `dst` (overlay mode).
    Eni { encapsulate: bool },
}

/// Which node holds a pod address now.
pub trait PodAddresses {
    fn pod_node(&self, ip: Ipv4Addr) -> Option<NodeId>;
}

impl PodAddresses for World {
    fn pod_node(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.node_of_pod(ip)
    }
}

/// Whether `node` delivers `dst` to one of its own pods' veths: `dst` is in its pod CIDR, or
/// (VPC pod addresses) a pod on the node holds it. ipamd adds a host route per pod.
pub fn holds_pod(world: &World, pods: &impl PodAddresses, node: NodeId, dst: Ipv4Addr) -> bool {
    world.nodes[node as usize].pod_cidr.is_some_and(|c| c.contains(&dst))
        || (world.vpc_pod_addresses && pods.pod_node(dst) == Some(node))
}

pub fn egress(world: &World, node: NodeId, dst: Ipv4Addr) -> Egress {
    egress_in(world, world, node, dst)
}

pub fn egress_in(world: &World, pods: &impl PodAddresses, node: NodeId, dst: Ipv4Addr) -> Egress {
    if holds_pod(world, pods, node, dst) {
        return Egress::LocalPod;
    }
    // Overlay: pod prefixes of other nodes are reached through VXLAN to the node address.
    let encapsulate = world.mode == NetworkMode::Overlay && world.node_of_pod_ip(dst).is_some();
    Egress::Eni { encapsulate }
}

/// The destination the VPC sees: the far node's address when encapsulated.
pub fn outer_destination(world: &World, dst: Ipv4Addr, encapsulated: bool) -> Ipv4Addr {
    if encapsulated {
        let node = world
            .node_of_pod_ip(dst)
            .expect("encapsulated only toward a known VTEP");
        world.nodes[node as usize].ip
    } else {
        dst
    }
}

/// Where a VPC route takes a packet next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpcNext {
    /// An ENI of this node (the local route, or a pod CIDR's route).
    Node(NodeId),
    /// This NAT gateway (`world.nat_gateways`), which translates and routes it on.
    NatGateway(u16),
    /// Out of the VPC; only a source with a public address gets through (`sim::egress`).
    InternetGateway,
}

/// Where the VPC delivers a packet, and the route that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VpcHop {
    pub next: VpcNext,
    pub table: u16,
    pub prefix_len: u8,
    pub target: VpcTarget,
}

/// Looks `outer_dst` up in the route table of `src`'s subnet.
pub fn vpc(world: &World, src: NodeId, outer_dst: Ipv4Addr) -> Result<VpcHop, DropReason> {
    vpc_in(world, world, src, outer_dst)
}

/// As [`vpc`]; the local route also finds pod addresses (secondary IPs or prefixes of a node's
/// ENIs) through `pods`.
pub fn vpc_in(world: &World, pods: &impl PodAddresses, src: NodeId, outer_dst: Ipv4Addr) -> Result<VpcHop, DropReason> {
    vpc_from_subnet(world, pods, world.nodes[src as usize].subnet, outer_dst)
}

/// Looks `outer_dst` up in the route table of `subnet` (a node's, or a NAT gateway's).
pub fn vpc_from_subnet(
    world: &World,
    pods: &impl PodAddresses,
    subnet: u16,
    outer_dst: Ipv4Addr,
) -> Result<VpcHop, DropReason> {
    let table = world.subnets[subnet as usize].route_table;
    let Some((prefix_len, target)) = world.route_tables[table as usize].routes.lookup(outer_dst) else {
        return Err(DropReason::VpcNoRoute);
    };
    let next = match *target {
        VpcTarget::Blackhole => return Err(DropReason::VpcBlackhole),
        VpcTarget::InternetGateway => VpcNext::InternetGateway,
        VpcTarget::NatGateway(g) => VpcNext::NatGateway(g),
        VpcTarget::NodeEni(n) => VpcNext::Node(n),
        VpcTarget::Local => VpcNext::Node(
            world
                .node_by_ip(outer_dst)
                .or_else(|| world.vpc_pod_addresses.then(|| pods.pod_node(outer_dst)).flatten())
                .ok_or(DropReason::VpcNoSuchAddress)?,
        ),
    };
    Ok(VpcHop {
        next,
        table,
        prefix_len,
        target: *target,
    })
}
