//! The AWS VPC CNI's IP address management (ipamd) as a cnsim IPAM engine.
//!
//! Owns the cluster-wide engine [`VpcCni`]: one datastore per node ([`node`]), ipamd's pool
//! manager ([`pool`]), every address taken from the VPC's real subnets ([`crate::subnet`]), the
//! EC2 calls counted ([`ec2`]). Pod addresses are VPC addresses: the datastore's warm pool hands
//! them out with no EC2 call; the pool manager grows and shrinks the pool on its own clock.
//!
//! How the cluster's event loop drives it:
//! - `add_node(join, now)`: the node's primary ENI; ipamd's start-up growth (`handlePreScaling`);
//!   with ENABLE_POD_ENI the trunk ENI.
//! - `next_wakeup(node)` → schedule an event; on it, `reconcile(node, now)` and ask again. A
//!   node wakes every 5 s (ipamd's pool loop) and when an ENI attach completes.
//! - `assign_pod(node, pod, now)`: the CNI ADD. An empty pool answers `Retry` with ipamd's error
//!   text; the pod stays ContainerCreating and the kubelet retries. cnsim suggests retrying at
//!   the node's next wakeup (the real kubelet's sandbox retry backoff is not modelled).
//! - `release_pod(node, pod, now)`: the CNI DEL; the address cools down for 30 s.
//! - Security groups for pods: `assign_branch_pod` gives the pod its own branch ENI.
//!
//! Modelled choices (facts and assumptions are listed in `CALIBRATION.md`): instance metadata
//! is never stale, so ipamd's 60 s IMDS reconciliation changes nothing and makes no EC2 call;
//! EC2 calls succeed unless the subnet lacks addresses; ENI detach frees addresses at once.

pub mod config;
pub mod ec2;
#[cfg(test)]
mod equivalence;
pub mod ipv6;
pub mod node;
mod pool;
#[cfg(test)]
mod reference;
pub mod snat;
#[cfg(test)]
mod tests;
pub mod timeline;

use crate::seam::{IpamEngine, IpamError, NodeAddressing, NodeId, NodeJoin, NodeRemoval, PodId};
use crate::subnet::{SubnetIdx, Subnets};
use config::{IpamdConfig, NodeLimits, POOL_FIRST_TICK_NS};
use ec2::Ec2Calls;
use node::{Eni, NodeIpam, NodeSnapshot, PoolStats};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// ipamd's error when the datastore has no address (datastore `ErrNoAvailableIPInDataStore`).
pub const IPAMD_NO_ADDRESS: &str = "AssignPodIPAddress: no available IP/Prefix addresses";
/// How the aws-cni plugin reports a failed ADD in the pod's events.
pub const CNI_ADD_FAILED: &str = "add cmd: failed to assign an IP address to container";

/// The VPC CNI for a whole cluster.
#[derive(Clone, Debug)]
pub struct VpcCni {
    config: IpamdConfig,
    subnets: Subnets,
    nodes: Vec<Option<NodeIpam>>,
    /// Node primary addresses taken before their node joined (see `reserve_node_address`).
    reserved_primaries: BTreeSet<u32>,
    /// EC2 calls of nodes that have left: the cluster's totals keep them.
    retired_ec2: Ec2Calls,
}

impl VpcCni {
    /// Fails if an ENIConfig names a subnet that is not in `subnets`.
    pub fn new(config: IpamdConfig, subnets: Subnets) -> Result<VpcCni, String> {
        for ec in config.eni_configs.iter().flatten() {
            if !(0..subnets.len() as SubnetIdx).any(|i| subnets.spec(i).name == ec.subnet) {
                return Err(format!(
                    "ENIConfig {}: subnet {:?} is not a subnet of the VPC",
                    ec.az, ec.subnet
                ));
            }
        }
        Ok(VpcCni {
            config,
            subnets,
            nodes: Vec::new(),
            reserved_primaries: BTreeSet::new(),
            retired_ec2: Ec2Calls::default(),
        })
    }

    /// Takes a node's primary address ahead of `add_node`. EC2 gives an instance its address at
    /// launch, before ipamd runs; a cluster that builds nodes one after another must reserve every
    /// node's address first, or an earlier node's warm pool may take a later node's address.
    pub fn reserve_node_address(&mut self, addr: Ipv4Addr) -> Result<(), IpamError> {
        let idx = self.subnets.find(addr).ok_or_else(|| IpamError::Invalid {
            message: format!("{addr} is in no subnet of the VPC"),
        })?;
        if !self.subnets.take_specific(idx, addr) {
            return Err(IpamError::Invalid {
                message: format!("address {addr} is reserved or already in use"),
            });
        }
        self.reserved_primaries.insert(u32::from(addr));
        Ok(())
    }

    pub fn config(&self) -> &IpamdConfig {
        &self.config
    }

    pub fn subnets(&self) -> &Subnets {
        &self.subnets
    }

    pub fn node(&self, node: NodeId) -> Option<&NodeIpam> {
        self.nodes.get(node as usize).and_then(Option::as_ref)
    }

    pub fn snapshot(&self, node: NodeId) -> Option<NodeSnapshot> {
        self.node(node).map(|n| n.snapshot(&self.subnets))
    }

    pub fn stats(&self, node: NodeId) -> Option<PoolStats> {
        self.node(node).map(NodeIpam::stats)
    }

    /// EC2 calls of every node, summed (nodes that have left included).
    pub fn ec2_calls(&self) -> Ec2Calls {
        let mut sum = self.retired_ec2;
        for n in self.nodes.iter().flatten() {
            sum.add(&n.ec2);
        }
        sum
    }

    /// Security groups for pods: the pod gets a branch ENI of its own, with one address from the
    /// pod subnet (the ENIConfig's with custom networking, else the node's). Branch pods count
    /// against max pods; the instance's branch ENI limit comes from the resource controller's
    /// table (`instance_limits.csv` `branch_enis`).
    pub fn assign_branch_pod(&mut self, node: NodeId, pod: PodId, now_ns: u64) -> Result<Ipv4Addr, IpamError> {
        let n = node_mut(&mut self.nodes, node)?;
        n.expire_cooling(now_ns);
        if n.pods.iter().chain(&n.branch_pods).any(|&(p, _)| p == pod) {
            return Err(IpamError::Invalid {
                message: format!("pod {pod} already has an address"),
            });
        }
        if !n.enis.iter().any(|e| e.trunk) {
            return Err(IpamError::Invalid {
                message: format!("node {node} has no trunk ENI: security groups for pods is off or unsupported"),
            });
        }
        if n.branch_pods.len() as u32 >= n.limits.branch_enis || n.pod_count() >= n.limits.max_pods {
            // The resource controller's node resource vpc.amazonaws.com/pod-eni is used up: the
            // scheduler would not place the pod; cnsim reports it as exhausted.
            return Err(IpamError::Exhausted {
                message: format!("0/1 nodes are available: 1 Insufficient vpc.amazonaws.com/pod-eni (node {node})"),
            });
        }
        let subnet = if n.custom_networking {
            n.pod_subnet.unwrap_or(n.subnet)
        } else {
            n.subnet
        };
        let mut got = Vec::with_capacity(1);
        n.ec2.create_network_interface += 1;
        if let Err(err) = self.subnets.take_addresses(subnet, 1, &mut got) {
            n.ec2.record_error(&err);
            return Err(IpamError::Retry {
                retry_after_ns: n.next_wakeup().saturating_sub(now_ns).max(1),
                message: err.to_string(),
            });
        }
        n.ec2.associate_trunk_interface += 1;
        n.branch_pods.push((pod, got[0]));
        Ok(Ipv4Addr::from(got[0]))
    }

    /// Cluster-wide checks: every node's own invariants, no address held twice, and the subnets'
    /// bitmaps holding exactly the addresses the nodes hold.
    pub fn check_invariants(&self) {
        let mut held = BTreeSet::new();
        let mut put = |a: u32| assert!(held.insert(a), "{} held twice", Ipv4Addr::from(a));
        for n in self.nodes.iter().flatten() {
            n.check_invariants();
            let size = n.limits.slot_size;
            let enis = n.enis.iter().chain(n.pending.as_ref().map(|p| &p.eni));
            for e in enis {
                put(e.address);
                for s in &e.slots {
                    (s.base..s.base + size).for_each(&mut put);
                }
            }
            n.branch_pods.iter().for_each(|&(_, a)| put(a));
        }
        self.reserved_primaries.iter().for_each(|&a| put(a));
        let mut in_use = 0;
        for i in 0..self.subnets.len() as SubnetIdx {
            in_use += self.subnets.in_use(i) as usize;
        }
        assert_eq!(held.len(), in_use, "subnet accounting and node state disagree");
        for &a in &held {
            let idx = self
                .subnets
                .find(Ipv4Addr::from(a))
                .expect("every address is in a subnet");
            assert!(self.subnets.is_used(idx, a));
        }
    }

    /// Heap and inline bytes one node's state holds (for the per-node memory report).
    pub fn node_bytes(&self, node: NodeId) -> usize {
        let Some(n) = self.node(node) else { return 0 };
        use std::mem::size_of;
        let slot = size_of::<node::Slot>();
        size_of::<NodeIpam>()
            + n.enis.capacity() * size_of::<Eni>()
            + n.enis.iter().map(|e| e.slots.capacity() * slot).sum::<usize>()
            + (n.pods.capacity() + n.branch_pods.capacity()) * size_of::<(PodId, u32)>()
            + n.cooling.capacity() * size_of::<(u32, u64)>()
            + n.limits.notes.iter().map(String::capacity).sum::<usize>()
            + n.az.capacity()
    }
}

/// The node's state, borrowing only the node table (so `subnets` stays free alongside).
fn node_mut(nodes: &mut [Option<NodeIpam>], node: NodeId) -> Result<&mut NodeIpam, IpamError> {
    nodes
        .get_mut(node as usize)
        .and_then(Option::as_mut)
        .ok_or_else(|| IpamError::Invalid {
            message: format!("node {node} is not managed by the VPC CNI"),
        })
}

impl IpamEngine for VpcCni {
    fn name(&self) -> &'static str {
        "aws-vpc-cni"
    }

    fn add_node(&mut self, join: &NodeJoin<'_>, now_ns: u64) -> Result<NodeAddressing, IpamError> {
        let slot = join.vacant_slot(&mut self.nodes)?;
        let subnet = self.subnets.find(join.primary_ip).ok_or_else(|| IpamError::Invalid {
            message: format!("node {}: {} is in no subnet of the VPC", join.name, join.primary_ip),
        })?;
        let reserved = self.reserved_primaries.remove(&u32::from(join.primary_ip));
        if !reserved && !self.subnets.take_specific(subnet, join.primary_ip) {
            return Err(IpamError::Invalid {
                message: format!(
                    "node {}: address {} is reserved or already in use",
                    join.name, join.primary_ip
                ),
            });
        }
        let limits = NodeLimits::resolve(&self.config, join.instance);
        let az = self.subnets.spec(subnet).az.clone();
        let pod_subnet = self.config.eni_configs.as_ref().and_then(|cfgs| {
            let ec = cfgs.iter().find(|c| c.az == az)?;
            (0..self.subnets.len() as SubnetIdx).find(|&i| self.subnets.spec(i).name == ec.subnet)
        });
        let custom = self.config.custom_networking();
        let pool_enis = limits.max_enis - u32::from(custom) - u32::from(limits.branch_enis > 0);
        let capacity = pool_enis * limits.ips_per_eni();
        let mut node = NodeIpam {
            limits,
            az,
            subnet,
            pod_subnet,
            custom_networking: custom,
            enis: Vec::new(),
            pending: None,
            pods: Vec::new(),
            branch_pods: Vec::new(),
            cooling: Vec::new(),
            stats: PoolStats::default(),
            next_tick_ns: now_ns + POOL_FIRST_TICK_NS,
            last_decrease_ns: None,
            last_insufficient_ns: None,
            ec2: Ec2Calls::default(),
        };
        node.insert_eni(Eni {
            device: 0,
            subnet,
            address: u32::from(join.primary_ip),
            primary: true,
            trunk: false,
            added_ns: now_ns,
            slots: Vec::new(),
            assigned: 0,
        });
        if node.limits.branch_enis > 0 && node.limits.max_enis > 1 {
            // The VPC resource controller creates and attaches the trunk ENI in the node's subnet.
            let mut got = Vec::with_capacity(1);
            node.ec2.create_network_interface += 1;
            match self.subnets.take_addresses(subnet, 1, &mut got) {
                Ok(()) => {
                    node.ec2.attach_network_interface += 1;
                    let device = node.free_device();
                    node.insert_eni(Eni {
                        device,
                        subnet,
                        address: got[0],
                        primary: false,
                        trunk: true,
                        added_ns: now_ns,
                        slots: Vec::new(),
                        assigned: 0,
                    });
                }
                Err(err) => node.ec2.record_error(&err),
            }
        }
        pool::prescale(&mut node, &mut self.subnets, &self.config, now_ns);
        if let Some(p) = node.pending.as_mut() {
            p.resume_after_ns = POOL_FIRST_TICK_NS;
            node.next_tick_ns = u64::MAX;
        }
        self.nodes[slot] = Some(node);
        Ok(NodeAddressing {
            pod_prefixes: Vec::new(),
            address_capacity: capacity,
        })
    }

    fn assign_pod(&mut self, node: NodeId, pod: PodId, now_ns: u64) -> Result<Ipv4Addr, IpamError> {
        let n = node_mut(&mut self.nodes, node)?;
        if n.pods.iter().chain(&n.branch_pods).any(|&(p, _)| p == pod) {
            return Err(IpamError::Invalid {
                message: format!("pod {pod} already has an address"),
            });
        }
        if n.pod_count() >= n.limits.max_pods {
            return Err(IpamError::Invalid {
                message: format!("node {node} already runs its max pods ({})", n.limits.max_pods),
            });
        }
        match n.assign(pod, now_ns) {
            Some(addr) => Ok(Ipv4Addr::from(addr)),
            None => Err(IpamError::Retry {
                retry_after_ns: n.next_wakeup().saturating_sub(now_ns).max(1),
                message: format!("{CNI_ADD_FAILED}: {IPAMD_NO_ADDRESS}"),
            }),
        }
    }

    fn release_pod(&mut self, node: NodeId, pod: PodId, now_ns: u64) -> Result<Ipv4Addr, IpamError> {
        let n = node_mut(&mut self.nodes, node)?;
        if let Some(addr) = n.release(pod, now_ns) {
            return Ok(Ipv4Addr::from(addr));
        }
        if let Some(at) = n.branch_pods.iter().position(|&(p, _)| p == pod) {
            let (_, addr) = n.branch_pods.swap_remove(at);
            n.ec2.disassociate_trunk_interface += 1;
            n.ec2.delete_network_interface += 1;
            let subnet = self
                .subnets
                .find(Ipv4Addr::from(addr))
                .expect("a branch address is in a subnet");
            self.subnets.release_address(subnet, addr);
            return Ok(Ipv4Addr::from(addr));
        }
        Err(IpamError::Invalid {
            message: format!("pod {pod} holds no address on node {node}"),
        })
    }

    /// The instance is terminated: EC2 deletes the ENIs ipamd created (it marks each
    /// DeleteOnTermination when it attaches it, `ModifyNetworkInterfaceAttribute`) and the
    /// primary one, so every address, secondary IP and prefix goes back to its subnet with no
    /// cooldown and no call counted against ipamd. An ENI still attaching goes too.
    fn remove_node(&mut self, node: NodeId, _now_ns: u64) -> Result<NodeRemoval, IpamError> {
        let n = self
            .nodes
            .get_mut(node as usize)
            .and_then(Option::take)
            .ok_or_else(|| IpamError::Invalid {
                message: format!("node {node} is not managed by the VPC CNI"),
            })?;
        let size = n.limits.slot_size;
        let mut released = 0;
        for eni in n.enis.iter().chain(n.pending.as_ref().map(|p| &p.eni)) {
            let bases: Vec<u32> = eni.slots.iter().map(|s| s.base).collect();
            n.return_to_subnet(&mut self.subnets, eni.subnet, &bases);
            self.subnets.release_address(eni.subnet, eni.address);
            released += 1 + bases.len() as u32 * size;
        }
        for &(_, addr) in &n.branch_pods {
            let subnet = self
                .subnets
                .find(Ipv4Addr::from(addr))
                .expect("a branch address is in a subnet");
            self.subnets.release_address(subnet, addr);
            released += 1;
        }
        self.retired_ec2.add(&n.ec2);
        Ok(NodeRemoval {
            addresses_released: released,
            pods_dropped: n.pod_count(),
        })
    }

    fn assigned_on(&self, node: NodeId) -> u32 {
        self.node(node).map_or(0, NodeIpam::pod_count)
    }

    fn next_wakeup(&self, node: NodeId) -> Option<u64> {
        self.node(node).map(NodeIpam::next_wakeup)
    }

    fn reconcile(&mut self, node: NodeId, now_ns: u64) {
        if let Some(n) = self.nodes.get_mut(node as usize).and_then(Option::as_mut) {
            pool::reconcile(n, &mut self.subnets, &self.config, now_ns);
        }
    }
}
