//! VPC subnet accounting: which addresses of each subnet are in use, handed out the way EC2
//! does, failing the way EC2 fails.
//!
//! Owns one bitmap per subnet. Every address a cnsim engine gives a node, an ENI or a pod is
//! taken here, so an address can never be handed out twice anywhere in the VPC. AWS reserves five
//! addresses in every subnet (network, VPC router, DNS, future use, broadcast; VPC user guide,
//! "Subnet CIDR blocks"). Requests are all-or-nothing, as EC2's AssignPrivateIpAddresses and
//! CreateNetworkInterface are: a subnet without enough free addresses fails the whole call with
//! `InsufficientFreeAddressesInSubnet`; prefix delegation needs aligned, entirely free /28 blocks
//! and fails with `InsufficientCidrBlocks` when fragmentation leaves none, even if enough single
//! addresses are free.
//!
//! Which free address EC2 picks is not documented; cnsim takes the lowest free address (and the
//! lowest free aligned /28), so runs are deterministic.

use ipnet::Ipv4Net;
use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;

/// Addresses AWS keeps in every subnet: the first four and the last.
pub const AWS_RESERVED_PER_SUBNET: u32 = 5;
/// AWS subnets are /16 to /28 (VPC user guide).
pub const MIN_SUBNET_PREFIX_LEN: u8 = 16;
pub const MAX_SUBNET_PREFIX_LEN: u8 = 28;
/// A delegated IPv4 prefix is a /28: 16 addresses, aligned.
pub const PREFIX_LEN: u8 = 28;
const PREFIX_SIZE: u32 = 16;

/// Index of a subnet in [`Subnets`], in the order given to [`Subnets::new`].
pub type SubnetIdx = u32;

/// A subnet of the scenario's VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubnetSpec {
    pub name: String,
    pub cidr: Ipv4Net,
    pub az: String,
    /// Tagged `kubernetes.io/role/cni` (ipamd's subnet discovery may place new ENIs here).
    pub cni_discovery_tag: bool,
}

/// EC2's answer when a subnet cannot supply a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code")]
pub enum Ec2Error {
    InsufficientFreeAddressesInSubnet { subnet: String },
    InsufficientCidrBlocks { subnet: String },
}

impl Ec2Error {
    /// EC2's error code, as ipamd matches it.
    pub fn code(&self) -> &'static str {
        match self {
            Ec2Error::InsufficientFreeAddressesInSubnet { .. } => "InsufficientFreeAddressesInSubnet",
            Ec2Error::InsufficientCidrBlocks { .. } => "InsufficientCidrBlocks",
        }
    }
}

impl fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ec2Error::InsufficientFreeAddressesInSubnet { subnet } => write!(
                f,
                "InsufficientFreeAddressesInSubnet: The specified subnet {subnet} does not have enough free addresses to satisfy the request."
            ),
            Ec2Error::InsufficientCidrBlocks { subnet } => write!(
                f,
                "InsufficientCidrBlocks: The specified subnet {subnet} does not have enough contiguous free address space to satisfy the request."
            ),
        }
    }
}

/// A subnet that cannot be accounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubnetError {
    BadMask { subnet: String, cidr: Ipv4Net },
    Overlap { a: String, b: String },
}

impl fmt::Display for SubnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubnetError::BadMask { subnet, cidr } => write!(
                f,
                "subnet {subnet} ({cidr}): AWS subnets are /{MIN_SUBNET_PREFIX_LEN} to /{MAX_SUBNET_PREFIX_LEN}"
            ),
            SubnetError::Overlap { a, b } => write!(f, "subnets {a} and {b} overlap"),
        }
    }
}

impl std::error::Error for SubnetError {}

#[derive(Clone, Debug)]
struct SubnetState {
    spec: SubnetSpec,
    base: u32,
    size: u32,
    /// Bit i set: address base + i is in use (reserved ones included).
    used: Vec<u64>,
    free: u32,
    /// No free address below word `hint` (a lower bound, kept for speed).
    hint: usize,
}

/// Every subnet of the VPC and the addresses in use in each.
#[derive(Clone, Debug)]
pub struct Subnets {
    subnets: Vec<SubnetState>,
}

impl Subnets {
    pub fn new(specs: Vec<SubnetSpec>) -> Result<Subnets, SubnetError> {
        for (i, a) in specs.iter().enumerate() {
            let len = a.cidr.prefix_len();
            if !(MIN_SUBNET_PREFIX_LEN..=MAX_SUBNET_PREFIX_LEN).contains(&len) {
                return Err(SubnetError::BadMask {
                    subnet: a.name.clone(),
                    cidr: a.cidr,
                });
            }
            if let Some(b) = specs[..i]
                .iter()
                .find(|b| b.cidr.contains(&a.cidr.network()) || a.cidr.contains(&b.cidr.network()))
            {
                return Err(SubnetError::Overlap {
                    a: b.name.clone(),
                    b: a.name.clone(),
                });
            }
        }
        let subnets = specs
            .into_iter()
            .map(|spec| {
                let cidr = spec.cidr.trunc();
                let size = 1u32 << (32 - u32::from(cidr.prefix_len()));
                let mut s = SubnetState {
                    spec,
                    base: u32::from(cidr.network()),
                    size,
                    used: vec![0; size.div_ceil(64) as usize],
                    free: size,
                    hint: 0,
                };
                for offset in [0, 1, 2, 3, size - 1] {
                    s.mark(offset);
                }
                // Bits past the end of a subnet smaller than 64 addresses are not addresses:
                // set them so no scan (single or /28) ever sees them as free.
                if size < 64 {
                    s.used[0] |= !0u64 << size;
                }
                s
            })
            .collect();
        Ok(Subnets { subnets })
    }

    pub fn len(&self) -> usize {
        self.subnets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subnets.is_empty()
    }

    pub fn spec(&self, idx: SubnetIdx) -> &SubnetSpec {
        &self.subnets[idx as usize].spec
    }

    /// Free addresses, as DescribeSubnets' AvailableIpAddressCount reports them.
    pub fn available(&self, idx: SubnetIdx) -> u32 {
        self.subnets[idx as usize].free
    }

    /// Addresses in use, the five reserved ones excluded.
    pub fn in_use(&self, idx: SubnetIdx) -> u32 {
        let s = &self.subnets[idx as usize];
        s.size - s.free - AWS_RESERVED_PER_SUBNET
    }

    /// The subnet holding `addr`.
    pub fn find(&self, addr: Ipv4Addr) -> Option<SubnetIdx> {
        self.subnets
            .iter()
            .position(|s| s.spec.cidr.contains(&addr))
            .map(|i| i as SubnetIdx)
    }

    pub fn is_used(&self, idx: SubnetIdx, addr: u32) -> bool {
        let s = &self.subnets[idx as usize];
        let offset = addr.wrapping_sub(s.base);
        assert!(offset < s.size, "{} is outside {}", Ipv4Addr::from(addr), s.spec.cidr);
        s.is_set(offset)
    }

    /// Takes one given address (a node's primary address, chosen outside IPAM). False if it is
    /// reserved or already in use.
    pub fn take_specific(&mut self, idx: SubnetIdx, addr: Ipv4Addr) -> bool {
        let s = &mut self.subnets[idx as usize];
        let offset = u32::from(addr).wrapping_sub(s.base);
        if offset >= s.size || s.is_set(offset) {
            return false;
        }
        s.mark(offset);
        true
    }

    /// `count` single addresses, lowest first, or none at all.
    pub fn take_addresses(&mut self, idx: SubnetIdx, count: u32, out: &mut Vec<u32>) -> Result<(), Ec2Error> {
        let s = &mut self.subnets[idx as usize];
        if s.free < count {
            return Err(Ec2Error::InsufficientFreeAddressesInSubnet {
                subnet: s.spec.name.clone(),
            });
        }
        for _ in 0..count {
            let offset = s.lowest_free().expect("free count says there is one");
            s.mark(offset);
            out.push(s.base + offset);
        }
        Ok(())
    }

    /// `count` aligned, entirely free /28 blocks, lowest first, or none at all.
    pub fn take_prefixes(&mut self, idx: SubnetIdx, count: u32, out: &mut Vec<u32>) -> Result<(), Ec2Error> {
        let s = &mut self.subnets[idx as usize];
        let mut found = Vec::with_capacity(count as usize);
        // Four /28 lanes per 64-bit word; a lane of zero is a free block.
        'words: for (w, word) in s.used.iter().enumerate() {
            for lane in 0..4u32 {
                if (word >> (lane * PREFIX_SIZE)) & 0xFFFF == 0 {
                    found.push(w as u32 * 64 + lane * PREFIX_SIZE);
                    if found.len() == count as usize {
                        break 'words;
                    }
                }
            }
        }
        if found.len() < count as usize {
            return Err(Ec2Error::InsufficientCidrBlocks {
                subnet: s.spec.name.clone(),
            });
        }
        for &offset in &found {
            for k in 0..PREFIX_SIZE {
                s.mark(offset + k);
            }
            out.push(s.base + offset);
        }
        Ok(())
    }

    pub fn release_address(&mut self, idx: SubnetIdx, addr: u32) {
        let s = &mut self.subnets[idx as usize];
        let offset = addr.wrapping_sub(s.base);
        assert!(
            offset < s.size && offset > 3 && offset < s.size - 1,
            "release of {} outside the usable range of {}",
            Ipv4Addr::from(addr),
            s.spec.cidr
        );
        s.unmark(offset);
    }

    pub fn release_prefix(&mut self, idx: SubnetIdx, base: u32) {
        assert_eq!(base % PREFIX_SIZE, 0, "prefix base must be /28 aligned");
        for k in 0..PREFIX_SIZE {
            self.release_address(idx, base + k);
        }
    }

    /// Subnets in ipamd's subnet-discovery order for a new ENI in `az`: the node's own subnet and
    /// the tagged ones, most free addresses first (a stable sort over `Subnets` order).
    pub fn discovery_order(&self, az: &str, node_subnet: SubnetIdx) -> Vec<SubnetIdx> {
        let mut order: Vec<SubnetIdx> = (0..self.subnets.len() as SubnetIdx)
            .filter(|&i| {
                let s = &self.subnets[i as usize];
                s.spec.az == az && (i == node_subnet || s.spec.cni_discovery_tag)
            })
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.subnets[i as usize].free));
        order
    }
}

impl SubnetState {
    fn is_set(&self, offset: u32) -> bool {
        self.used[(offset / 64) as usize] & (1 << (offset % 64)) != 0
    }

    fn mark(&mut self, offset: u32) {
        let bit = 1u64 << (offset % 64);
        let word = &mut self.used[(offset / 64) as usize];
        assert!(
            *word & bit == 0,
            "address offset {offset} taken twice in {}",
            self.spec.cidr
        );
        *word |= bit;
        self.free -= 1;
    }

    fn unmark(&mut self, offset: u32) {
        let w = (offset / 64) as usize;
        let bit = 1u64 << (offset % 64);
        assert!(
            self.used[w] & bit != 0,
            "address offset {offset} released while free in {}",
            self.spec.cidr
        );
        self.used[w] &= !bit;
        self.free += 1;
        self.hint = self.hint.min(w);
    }

    fn lowest_free(&mut self) -> Option<u32> {
        while self.hint < self.used.len() {
            let word = self.used[self.hint];
            if word != u64::MAX {
                let offset = self.hint as u32 * 64 + (!word).trailing_zeros();
                return (offset < self.size).then_some(offset);
            }
            self.hint += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn subnets(cidrs: &[&str]) -> Subnets {
        Subnets::new(
            cidrs
                .iter()
                .enumerate()
                .map(|(i, c)| SubnetSpec {
                    name: format!("subnet-{i}"),
                    cidr: c.parse().unwrap(),
                    az: "az-a".into(),
                    cni_discovery_tag: false,
                })
                .collect(),
        )
        .unwrap()
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn five_addresses_are_reserved_and_the_first_free_is_dot_four() {
        let mut s = subnets(&["10.0.0.0/24"]);
        assert_eq!(s.available(0), 251);
        let mut out = Vec::new();
        s.take_addresses(0, 2, &mut out).unwrap();
        assert_eq!(out, vec![ip("10.0.0.4"), ip("10.0.0.5")]);
        assert_eq!((s.available(0), s.in_use(0)), (249, 2));
    }

    #[test]
    fn requests_are_all_or_nothing_with_ec2s_error() {
        let mut s = subnets(&["10.0.0.0/28"]); // 16 − 5 = 11 usable
        let mut out = Vec::new();
        let err = s.take_addresses(0, 12, &mut out).unwrap_err();
        assert_eq!(err.code(), "InsufficientFreeAddressesInSubnet");
        assert!(out.is_empty() && s.available(0) == 11);
        s.take_addresses(0, 11, &mut out).unwrap();
        assert!(s.take_addresses(0, 1, &mut out).is_err());
    }

    #[test]
    fn prefixes_need_aligned_free_blocks_and_fragmentation_fails_them() {
        let mut s = subnets(&["10.0.0.0/26"]); // /28 blocks at .0 (reserved .0-.3), .16, .32, .48 (broadcast)
        let mut out = Vec::new();
        s.take_prefixes(0, 2, &mut out).unwrap();
        assert_eq!(out, vec![ip("10.0.0.16"), ip("10.0.0.32")]);
        let err = s.take_prefixes(0, 1, &mut out).unwrap_err();
        assert_eq!(err.code(), "InsufficientCidrBlocks");
        // 12 single addresses are still free (.4-.15), yet no /28 can be carved.
        assert_eq!(s.available(0), 64 - 5 - 32);
        s.release_prefix(0, ip("10.0.0.16"));
        let mut one = Vec::new();
        s.take_addresses(0, 13, &mut one).unwrap(); // .4-.15 and .16: the block at .16 is broken
        assert!(s.take_prefixes(0, 1, &mut out).is_err());
    }

    #[test]
    fn discovery_order_prefers_most_free_then_given_order_and_skips_untagged() {
        let mut specs: Vec<SubnetSpec> = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/25", "10.0.3.0/24"]
            .iter()
            .enumerate()
            .map(|(i, c)| SubnetSpec {
                name: format!("s{i}"),
                cidr: c.parse().unwrap(),
                az: if i == 3 { "az-b".into() } else { "az-a".into() },
                cni_discovery_tag: i != 1,
            })
            .collect();
        specs[3].cni_discovery_tag = true;
        let s = Subnets::new(specs).unwrap();
        assert_eq!(s.discovery_order("az-a", 1), vec![0, 1, 2]);
        assert_eq!(s.discovery_order("az-a", 2), vec![0, 2]);
    }

    #[test]
    fn a_subnet_smaller_than_a_word_has_no_phantom_blocks() {
        let mut s = subnets(&["10.0.1.0/27"]); // blocks .0 (reserved .0-.3) and .16 (broadcast)
        let mut out = Vec::new();
        assert_eq!(
            s.take_prefixes(0, 1, &mut out).unwrap_err().code(),
            "InsufficientCidrBlocks"
        );
        s.take_addresses(0, 27, &mut out).unwrap();
        assert!(s.take_addresses(0, 1, &mut out).is_err());
        assert!(out.iter().all(|&a| a < ip("10.0.1.31")));
    }

    #[test]
    fn bad_masks_and_overlaps_are_refused() {
        let spec = |c: &str| SubnetSpec {
            name: c.into(),
            cidr: c.parse().unwrap(),
            az: "a".into(),
            cni_discovery_tag: false,
        };
        assert!(matches!(
            Subnets::new(vec![spec("10.0.0.0/29")]),
            Err(SubnetError::BadMask { .. })
        ));
        assert!(matches!(
            Subnets::new(vec![spec("10.0.0.0/16"), spec("10.0.5.0/24")]),
            Err(SubnetError::Overlap { .. })
        ));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Take(u32),
        Prefix(u32),
        Release(usize),
    }

    proptest! {
        /// The bitmap against a set and a linear scan: same addresses, same errors.
        #[test]
        fn bitmap_matches_a_set(small in any::<bool>(), ops in prop::collection::vec(prop_oneof![
            (1u32..6).prop_map(Op::Take), (1u32..3).prop_map(Op::Prefix), (0usize..64).prop_map(Op::Release)], 1..120)) {
            let mut s = subnets(&[if small { "10.9.0.0/27" } else { "10.9.0.0/25" }]);
            let base = ip("10.9.0.0");
            let size: u32 = if small { 32 } else { 128 };
            let mut used: BTreeSet<u32> = [0, 1, 2, 3, size - 1].iter().map(|o| base + o).collect();
            let mut held: Vec<(u32, bool)> = Vec::new();
            for op in ops {
                match op {
                    Op::Take(n) => {
                        let expect: Vec<u32> = (base..base + size).filter(|a| !used.contains(a)).take(n as usize).collect();
                        let mut out = Vec::new();
                        match s.take_addresses(0, n, &mut out) {
                            Ok(()) => { prop_assert_eq!(&out, &expect); used.extend(&out); held.extend(out.iter().map(|&a| (a, false))); }
                            Err(_) => prop_assert!(expect.len() < n as usize),
                        }
                    }
                    Op::Prefix(n) => {
                        let expect: Vec<u32> = (0..size / 16).map(|k| base + k * 16)
                            .filter(|b| (*b..*b + 16).all(|a| !used.contains(&a))).take(n as usize).collect();
                        let mut out = Vec::new();
                        match s.take_prefixes(0, n, &mut out) {
                            Ok(()) => { prop_assert_eq!(&out, &expect); for b in &out { used.extend(*b..*b + 16); held.push((*b, true)); } }
                            Err(_) => prop_assert!(expect.len() < n as usize),
                        }
                    }
                    Op::Release(i) => {
                        if held.is_empty() { continue; }
                        let (a, prefix) = held.remove(i % held.len());
                        if prefix { s.release_prefix(0, a); for x in a..a + 16 { used.remove(&x); } }
                        else { s.release_address(0, a); used.remove(&a); }
                    }
                }
                prop_assert_eq!(s.available(0) as usize, size as usize - used.len());
            }
        }
    }
}
