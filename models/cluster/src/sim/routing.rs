//! Routing decisions, shared by the packet path and `cnsim trace`: where a node sends a packet
//! (a local pod's veth, or out of its ENI, encapsulated or not), and where the VPC route table
//! of the sending node's subnet delivers it.

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

pub fn egress(world: &World, node: NodeId, dst: Ipv4Addr) -> Egress {
    if world.nodes[node as usize].pod_cidr.is_some_and(|c| c.contains(&dst)) {
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

/// Where the VPC delivers a packet: the far node, and the route that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VpcHop {
    pub far: NodeId,
    pub table: u16,
    pub prefix_len: u8,
    pub target: VpcTarget,
}

/// Looks `outer_dst` up in the route table of `src`'s subnet.
pub fn vpc(world: &World, src: NodeId, outer_dst: Ipv4Addr) -> Result<VpcHop, DropReason> {
    let table = world.subnets[world.nodes[src as usize].subnet as usize].route_table;
    let Some((prefix_len, target)) = world.route_tables[table as usize].routes.lookup(outer_dst) else {
        return Err(DropReason::VpcNoRoute);
    };
    let far = match *target {
        VpcTarget::Blackhole => return Err(DropReason::VpcBlackhole),
        VpcTarget::InternetGateway | VpcTarget::NatGateway(_) => return Err(DropReason::VpcEgressNotSimulated),
        VpcTarget::NodeEni(n) => n,
        VpcTarget::Local => world.node_by_ip(outer_dst).ok_or(DropReason::VpcNoSuchAddress)?,
    };
    Ok(VpcHop {
        far,
        table,
        prefix_len,
        target: *target,
    })
}
