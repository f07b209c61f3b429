//! The IPAM seam: what the cluster model asks of any IP address management engine.
//!
//! Engines are pure: no clock of their own (time comes in as `now_ns`), no I/O. Host-local has
//! no timed behaviour; the AWS VPC CNI (ipamd, with warm pools and ENI attach latency) asks to be
//! woken (`next_wakeup`, `reconcile`), and assignment can answer "not yet, retry later".

use crate::catalog::InstanceType;
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// Index of a node in the cluster model's node table.
pub type NodeId = u32;
/// Index of a pod in the cluster model's pod table.
pub type PodId = u32;

/// What the cluster knows about a node when it joins.
#[derive(Clone, Debug)]
pub struct NodeJoin<'a> {
    pub node: NodeId,
    pub name: &'a str,
    pub instance: &'a InstanceType,
    /// The node's primary ENI address.
    pub primary_ip: Ipv4Addr,
    /// The subnet the node's primary ENI sits in.
    pub subnet: Ipv4Net,
}

impl NodeJoin<'_> {
    /// The joining node's slot in an engine's node table (grown to hold it); Invalid if the
    /// node has joined before.
    pub(crate) fn vacant_slot<T>(&self, nodes: &mut Vec<Option<T>>) -> Result<usize, IpamError> {
        let slot = self.node as usize;
        if nodes.len() <= slot {
            nodes.resize_with(slot + 1, || None);
        }
        if nodes[slot].is_some() {
            return Err(IpamError::Invalid {
                message: format!("node {} joined twice", self.name),
            });
        }
        Ok(slot)
    }
}

/// What a node got from the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddressing {
    /// Prefixes whose addresses live on this node (host-local: the node's pod CIDR). The
    /// datapath routes these to the node: VPC routes in underlay mode, VXLAN peers in overlay.
    /// Empty when pod addresses are VPC addresses found through the VPC's local route.
    pub pod_prefixes: Vec<Ipv4Net>,
    /// How many pod addresses the node can hold at most, whatever max-pods says.
    pub address_capacity: u32,
}

/// What a node gave back when it left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeRemoval {
    /// Addresses (and, with prefix delegation, every address of each prefix) returned to the
    /// subnet or cluster CIDR: the ENIs' own, their secondary IPs or prefixes, branch ENIs'.
    pub addresses_released: u32,
    /// Pods that still held an address when the node went (their addresses went with it).
    pub pods_dropped: u32,
}

/// Why an engine could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpamError {
    /// No address can ever be had for this request in the current state (range or pool empty).
    Exhausted { message: String },
    /// Not now; the kubelet retries the sandbox after `retry_after_ns` (e.g. an ENI attaching).
    Retry { retry_after_ns: u64, message: String },
    /// The request itself is wrong (unknown node, pod already has an address).
    Invalid { message: String },
}

impl fmt::Display for IpamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpamError::Exhausted { message } | IpamError::Invalid { message } => f.write_str(message),
            IpamError::Retry {
                retry_after_ns,
                message,
            } => {
                write!(f, "{message} (retry in {retry_after_ns} ns)")
            }
        }
    }
}

impl std::error::Error for IpamError {}

/// An IP address management engine, as the cluster model drives it.
pub trait IpamEngine {
    /// The engine's name as reports show it (e.g. "host-local").
    fn name(&self) -> &'static str;
    /// A node joins the cluster; the engine prepares its addressing.
    fn add_node(&mut self, join: &NodeJoin<'_>, now_ns: u64) -> Result<NodeAddressing, IpamError>;
    /// A pod sandbox on `node` asks for its address (the CNI ADD call).
    fn assign_pod(&mut self, node: NodeId, pod: PodId, now_ns: u64) -> Result<Ipv4Addr, IpamError>;
    /// The pod is gone (the CNI DEL call); its address goes back to the node.
    fn release_pod(&mut self, node: NodeId, pod: PodId, now_ns: u64) -> Result<Ipv4Addr, IpamError>;
    /// The node leaves the cluster (its instance is terminated): everything it held goes back,
    /// at once and with no cooldown, and the node is unknown to the engine from then on (its
    /// `next_wakeup` is None). Pods still on it lose their addresses. Invalid if the node is not
    /// in the engine.
    fn remove_node(&mut self, node: NodeId, now_ns: u64) -> Result<NodeRemoval, IpamError>;
    /// Addresses currently assigned to pods on `node`.
    fn assigned_on(&self, node: NodeId) -> u32;
    /// When the engine next wants `reconcile(node, t)` called (a pool tick, an ENI attach
    /// completing). None: never; host-local has no timed behaviour.
    fn next_wakeup(&self, _node: NodeId) -> Option<u64> {
        None
    }
    /// Runs whatever is due on `node` at `now_ns`. Calling early or twice is harmless.
    fn reconcile(&mut self, _node: NodeId, _now_ns: u64) {}
}
