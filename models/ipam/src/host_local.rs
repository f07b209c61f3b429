//! Host-local IPAM: each node gets a pod CIDR carved from one cluster CIDR, and pods take
//! addresses from their node's range.
//!
//! Node CIDRs are handed out the way kube-controller-manager's range allocator does
//! (`--cluster-cidr`, `--node-cidr-mask-size`, default /24): the lowest free block first, in
//! join order. Within a node, addresses follow the CNI host-local plugin: the range runs from
//! the subnet's `.2` to the address before broadcast (`.1` is the bridge gateway, as Flannel's
//! cni0 holds it), and allocation continues after the last reserved address (next-fit), so a
//! released address is not handed out again until the range wraps.

use crate::seam::{IpamEngine, IpamError, NodeAddressing, NodeId, NodeJoin, NodeRemoval, PodId};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// kube-controller-manager's default `--node-cidr-mask-size` for IPv4.
pub const DEFAULT_NODE_CIDR_MASK: u8 = 24;
/// A node range must leave room for network, gateway, one pod and broadcast.
pub const MAX_NODE_CIDR_MASK: u8 = 29;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostLocalConfig {
    pub cluster_cidr: Ipv4Net,
    pub node_cidr_mask: u8,
}

impl HostLocalConfig {
    /// How many node CIDRs the cluster CIDR holds; None if the masks don't fit together.
    pub fn node_cidr_count(&self) -> Option<u64> {
        let cluster = self.cluster_cidr.prefix_len();
        if self.node_cidr_mask < cluster || self.node_cidr_mask > MAX_NODE_CIDR_MASK {
            return None;
        }
        Some(1u64 << (self.node_cidr_mask - cluster))
    }

    /// Addresses a node range gives to pods: the block minus network, gateway and broadcast.
    pub fn addresses_per_node(&self) -> u32 {
        (1u32 << (32 - u32::from(self.node_cidr_mask))) - 3
    }
}

/// One node's host-local range.
#[derive(Clone, Debug)]
struct NodeRange {
    cidr: Ipv4Net,
    first: u32,
    last: u32,
    /// The host-local plugin's `last_reserved_ip`: allocation resumes after it.
    last_reserved: Option<u32>,
    /// Address (as u32) → pod holding it.
    by_address: BTreeMap<u32, PodId>,
    by_pod: BTreeMap<PodId, u32>,
}

#[derive(Clone, Debug)]
pub struct HostLocal {
    config: HostLocalConfig,
    /// Indexed by NodeId; None for a node that got no CIDR.
    nodes: Vec<Option<NodeRange>>,
    /// Node CIDR blocks in use, by block index within the cluster CIDR.
    used_blocks: BTreeMap<u64, NodeId>,
}

impl HostLocal {
    /// Panics if the masks don't fit: validation rejects such a scenario before an engine exists.
    pub fn new(config: HostLocalConfig) -> HostLocal {
        assert!(
            config.node_cidr_count().is_some(),
            "node CIDR mask /{} does not fit cluster CIDR {}",
            config.node_cidr_mask,
            config.cluster_cidr
        );
        HostLocal {
            config,
            nodes: Vec::new(),
            used_blocks: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &HostLocalConfig {
        &self.config
    }

    /// The pod CIDR of `node`, if it got one.
    pub fn node_cidr(&self, node: NodeId) -> Option<Ipv4Net> {
        self.range(node).map(|r| r.cidr)
    }

    fn range(&self, node: NodeId) -> Option<&NodeRange> {
        self.nodes.get(node as usize).and_then(Option::as_ref)
    }

    fn range_mut(&mut self, node: NodeId) -> Result<&mut NodeRange, IpamError> {
        self.nodes
            .get_mut(node as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| IpamError::Invalid {
                message: format!("node {node} has no pod CIDR"),
            })
    }

    fn block(&self, index: u64) -> Ipv4Net {
        let base = u32::from(self.config.cluster_cidr.network());
        let size = 1u64 << (32 - u32::from(self.config.node_cidr_mask));
        let start = base as u64 + index * size;
        Ipv4Net::new(Ipv4Addr::from(start as u32), self.config.node_cidr_mask).expect("mask <= 32")
    }
}

impl IpamEngine for HostLocal {
    fn name(&self) -> &'static str {
        "host-local"
    }

    fn add_node(&mut self, join: &NodeJoin<'_>, _now_ns: u64) -> Result<NodeAddressing, IpamError> {
        let slot = join.vacant_slot(&mut self.nodes)?;
        let count = self.config.node_cidr_count().expect("checked in new");
        let index = (0..count).find(|i| !self.used_blocks.contains_key(i)).ok_or_else(|| {
            // kube-controller-manager's own words when the cluster CIDR is full.
            IpamError::Exhausted {
                message: format!(
                    "CIDR allocation failed for node {}: there are no remaining CIDRs left to allocate in the accepted range {}",
                    join.name, self.config.cluster_cidr
                ),
            }
        })?;
        self.used_blocks.insert(index, join.node);
        let cidr = self.block(index);
        let network = u32::from(cidr.network());
        let broadcast = u32::from(cidr.broadcast());
        self.nodes[slot] = Some(NodeRange {
            cidr,
            first: network + 2,
            last: broadcast - 1,
            last_reserved: None,
            by_address: BTreeMap::new(),
            by_pod: BTreeMap::new(),
        });
        Ok(NodeAddressing {
            pod_prefixes: vec![cidr],
            address_capacity: self.config.addresses_per_node(),
        })
    }

    fn assign_pod(&mut self, node: NodeId, pod: PodId, _now_ns: u64) -> Result<Ipv4Addr, IpamError> {
        let range = self.range_mut(node)?;
        if range.by_pod.contains_key(&pod) {
            return Err(IpamError::Invalid {
                message: format!("pod {pod} already has an address"),
            });
        }
        let span = range.last - range.first + 1;
        let start = match range.last_reserved {
            Some(last) if last < range.last => last + 1,
            _ => range.first,
        };
        let free = (0..span)
            .map(|k| range.first + (start - range.first + k) % span)
            .find(|a| !range.by_address.contains_key(a));
        let Some(addr) = free else {
            // The CNI host-local plugin's error text, which kubelet events show.
            return Err(IpamError::Exhausted {
                message: format!(
                    "failed to allocate for range 0: no IP addresses available in range set: {}-{}",
                    Ipv4Addr::from(range.first),
                    Ipv4Addr::from(range.last)
                ),
            });
        };
        range.by_address.insert(addr, pod);
        range.by_pod.insert(pod, addr);
        range.last_reserved = Some(addr);
        Ok(Ipv4Addr::from(addr))
    }

    fn release_pod(&mut self, node: NodeId, pod: PodId, _now_ns: u64) -> Result<Ipv4Addr, IpamError> {
        let range = self.range_mut(node)?;
        let addr = range.by_pod.remove(&pod).ok_or_else(|| IpamError::Invalid {
            message: format!("pod {pod} holds no address on node {node}"),
        })?;
        let holder = range.by_address.remove(&addr);
        assert_eq!(holder, Some(pod), "address table and pod table disagree");
        Ok(Ipv4Addr::from(addr))
    }

    /// kube-controller-manager's range allocator releases a node's CIDR when the Node object
    /// is deleted (`ReleaseCIDR`): the block is free for the next node that registers.
    fn remove_node(&mut self, node: NodeId, _now_ns: u64) -> Result<NodeRemoval, IpamError> {
        let range = self
            .nodes
            .get_mut(node as usize)
            .and_then(Option::take)
            .ok_or_else(|| IpamError::Invalid {
                message: format!("node {node} has no pod CIDR"),
            })?;
        self.used_blocks.retain(|_, n| *n != node);
        Ok(NodeRemoval {
            addresses_released: (1u64 << (32 - u32::from(self.config.node_cidr_mask))).min(u64::from(u32::MAX)) as u32,
            pods_dropped: range.by_pod.len() as u32,
        })
    }

    fn assigned_on(&self, node: NodeId) -> u32 {
        self.range(node).map_or(0, |r| r.by_pod.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::InstanceCatalog;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn join(node: NodeId) -> NodeJoin<'static> {
        NodeJoin {
            node,
            name: "n",
            instance: InstanceCatalog::embedded().get("m5.large").unwrap(),
            primary_ip: Ipv4Addr::new(10, 0, 0, 10),
            subnet: "10.0.0.0/24".parse().unwrap(),
        }
    }

    fn engine(cluster: &str, mask: u8) -> HostLocal {
        HostLocal::new(HostLocalConfig {
            cluster_cidr: cluster.parse().unwrap(),
            node_cidr_mask: mask,
        })
    }

    #[test]
    fn a_node_that_leaves_frees_its_block_for_the_next_node() {
        let mut ipam = engine("10.244.0.0/16", 24);
        ipam.add_node(&join(0), 0).unwrap();
        ipam.add_node(&join(1), 0).unwrap();
        ipam.assign_pod(0, 7, 0).unwrap();
        let gone = ipam.remove_node(0, 5).unwrap();
        assert_eq!(
            gone,
            NodeRemoval {
                addresses_released: 256,
                pods_dropped: 1
            }
        );
        assert_eq!(ipam.node_cidr(0), None);
        assert_eq!(ipam.assigned_on(0), 0);
        assert!(matches!(ipam.remove_node(0, 6), Err(IpamError::Invalid { .. })));
        let c = ipam.add_node(&join(2), 7).unwrap();
        assert_eq!(c.pod_prefixes, vec!["10.244.0.0/24".parse::<Ipv4Net>().unwrap()]);
    }

    #[test]
    fn nodes_get_consecutive_blocks_and_pods_start_at_dot_two() {
        let mut ipam = engine("10.244.0.0/16", 24);
        let a = ipam.add_node(&join(0), 0).unwrap();
        let b = ipam.add_node(&join(1), 0).unwrap();
        assert_eq!(a.pod_prefixes, vec!["10.244.0.0/24".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(b.pod_prefixes, vec!["10.244.1.0/24".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(a.address_capacity, 253);
        assert_eq!(ipam.assign_pod(1, 7, 0).unwrap(), Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(ipam.assign_pod(1, 8, 0).unwrap(), Ipv4Addr::new(10, 244, 1, 3));
    }

    #[test]
    fn released_address_is_not_reused_until_the_range_wraps() {
        let mut ipam = engine("10.0.0.0/24", 29); // .2 .. .6: five addresses
        ipam.add_node(&join(0), 0).unwrap();
        for pod in 0..5 {
            ipam.assign_pod(0, pod, 0).unwrap();
        }
        let err = ipam.assign_pod(0, 5, 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("no IP addresses available in range set: 10.0.0.2-10.0.0.6"),
            "{err}"
        );
        assert_eq!(ipam.release_pod(0, 1, 0).unwrap(), Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(ipam.assign_pod(0, 5, 0).unwrap(), Ipv4Addr::new(10, 0, 0, 3));
    }

    #[test]
    fn cluster_cidr_exhaustion_uses_the_controller_manager_message() {
        let mut ipam = engine("10.0.0.0/23", 24);
        ipam.add_node(&join(0), 0).unwrap();
        ipam.add_node(&join(1), 0).unwrap();
        let err = ipam.add_node(&join(2), 0).unwrap_err();
        assert!(matches!(err, IpamError::Exhausted { .. }));
        assert!(err.to_string().contains("no remaining CIDRs left to allocate"), "{err}");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Assign(PodId),
        Release(PodId),
    }

    proptest! {
        /// Against a reference of the plugin's rules: next-fit after the last reserved address,
        /// never a duplicate, exhaustion exactly when every address is held.
        #[test]
        fn matches_next_fit_reference(ops in prop::collection::vec(
            prop_oneof![(0u32..40).prop_map(Op::Assign), (0u32..40).prop_map(Op::Release)], 1..200)) {
            let mut ipam = engine("10.1.0.0/16", 27); // .2 .. .30: 29 addresses
            ipam.add_node(&join(0), 0).unwrap();
            let (first, last) = (u32::from(Ipv4Addr::new(10, 1, 0, 2)), u32::from(Ipv4Addr::new(10, 1, 0, 30)));
            let mut held: BTreeMap<PodId, u32> = BTreeMap::new();
            let mut last_reserved: Option<u32> = None;
            for op in ops {
                match op {
                    Op::Assign(pod) => {
                        let got = ipam.assign_pod(0, pod, 0);
                        if held.contains_key(&pod) {
                            prop_assert!(matches!(got, Err(IpamError::Invalid { .. })), "expected Invalid, got {:?}", got);
                            continue;
                        }
                        let used: BTreeSet<u32> = held.values().copied().collect();
                        let mut candidate = match last_reserved { Some(l) if l < last => l + 1, _ => first };
                        let mut expected = None;
                        for _ in first..=last {
                            if !used.contains(&candidate) { expected = Some(candidate); break; }
                            candidate = if candidate == last { first } else { candidate + 1 };
                        }
                        match expected {
                            Some(addr) => {
                                prop_assert_eq!(got.unwrap(), Ipv4Addr::from(addr));
                                held.insert(pod, addr);
                                last_reserved = Some(addr);
                            }
                            None => prop_assert!(matches!(got, Err(IpamError::Exhausted { .. })), "expected Exhausted, got {:?}", got),
                        }
                    }
                    Op::Release(pod) => {
                        let got = ipam.release_pod(0, pod, 0);
                        match held.remove(&pod) {
                            Some(addr) => prop_assert_eq!(got.unwrap(), Ipv4Addr::from(addr)),
                            None => prop_assert!(got.is_err()),
                        }
                    }
                }
                prop_assert_eq!(ipam.assigned_on(0) as usize, held.len());
            }
        }
    }
}
