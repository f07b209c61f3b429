//! IPv6 mode of the VPC CNI: one /80 prefix per node, no warm pool.
//!
//! Owns the per-node IPv6 prefix and the pod addresses in it. Facts (ipamd.go): IPv6 needs
//! prefix delegation and excludes custom networking (`isConfigValid`); ipamd assigns a single
//! IPv6 prefix to the primary ENI at start (`assignIPv6Prefix`, one AssignIpv6Addresses call)
//! and attaches no further ENI outside security groups for pods (`StartNodeIPPoolManager`
//! returns early), so WARM_* and MINIMUM_IP_TARGET do nothing. EC2 delegates a /80 out of the
//! subnet's /64. Which /80 EC2 picks is not documented; cnsim gives the k-th node of a subnet the
//! k-th /80 (assumption, deterministic). Pod addresses start at the prefix's first address + 1.

use ipnet::Ipv6Net;
use std::net::Ipv6Addr;

/// The delegated prefix length.
pub const NODE_PREFIX_LEN: u8 = 80;

/// The `index`-th /80 of a /64 subnet; None past the 65,536th.
pub fn node_prefix(subnet: Ipv6Net, index: u32) -> Option<Ipv6Net> {
    if subnet.prefix_len() != 64 || index >= 1 << 16 {
        return None;
    }
    let base = u128::from(subnet.network()) | (u128::from(index) << 48);
    Ipv6Net::new(Ipv6Addr::from(base), NODE_PREFIX_LEN).ok()
}

/// One node's IPv6 pod addresses (next-fit, never reused while held).
#[derive(Clone, Debug)]
pub struct Ipv6Node {
    pub prefix: Ipv6Net,
    next: u64,
    held: std::collections::BTreeMap<u32, u64>,
}

impl Ipv6Node {
    pub fn new(prefix: Ipv6Net) -> Ipv6Node {
        assert_eq!(prefix.prefix_len(), NODE_PREFIX_LEN);
        Ipv6Node {
            prefix,
            next: 1,
            held: Default::default(),
        }
    }

    /// A /80 holds 2^48 addresses: the pool never runs dry at any cnsim scale.
    pub fn assign(&mut self, pod: u32) -> Ipv6Addr {
        assert!(!self.held.contains_key(&pod), "pod {pod} already has an IPv6 address");
        let offset = self.next;
        self.next += 1;
        self.held.insert(pod, offset);
        Ipv6Addr::from(u128::from(self.prefix.network()) + u128::from(offset))
    }

    pub fn release(&mut self, pod: u32) -> Option<Ipv6Addr> {
        let offset = self.held.remove(&pod)?;
        Some(Ipv6Addr::from(u128::from(self.prefix.network()) + u128::from(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_distinct_slash_80s_and_pods_distinct_addresses() {
        let subnet: Ipv6Net = "2600:1f14:abc:de00::/64".parse().unwrap();
        let a = node_prefix(subnet, 0).unwrap();
        let b = node_prefix(subnet, 1).unwrap();
        assert_eq!(a.to_string(), "2600:1f14:abc:de00::/80");
        assert_eq!(b.to_string(), "2600:1f14:abc:de00:1::/80");
        assert!(node_prefix(subnet, 1 << 16).is_none());
        let mut n = Ipv6Node::new(b);
        let p0 = n.assign(0);
        let p1 = n.assign(1);
        assert!(p0 != p1 && b.contains(&p0) && b.contains(&p1));
        assert_eq!(n.release(0), Some(p0));
        assert_ne!(n.assign(2), p0);
    }
}
