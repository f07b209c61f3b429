//! Longest-prefix-match tables for IPv4 routes (VPC route tables, node routes).
//!
//! One hash map per prefix length present, probed from the longest length down: a lookup
//! costs at most one probe per distinct length (a handful in practice), whatever the number
//! of routes. `LinearLpm` is the obviously-correct reference the fast table is held to.

use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;
use std::net::Ipv4Addr;

/// A route table from prefixes to values of `T`.
#[derive(Clone, Debug)]
pub struct Lpm<T> {
    /// (prefix length, masked network → value), longest length first.
    levels: Vec<(u8, FxHashMap<u32, T>)>,
    len: usize,
}

impl<T> Default for Lpm<T> {
    fn default() -> Self {
        Lpm {
            levels: Vec::new(),
            len: 0,
        }
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl<T> Lpm<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a route, replacing (and returning) any value for the same prefix.
    pub fn insert(&mut self, net: Ipv4Net, value: T) -> Option<T> {
        let len = net.prefix_len();
        let key = u32::from(net.network()) & mask(len);
        let pos = match self.levels.iter().position(|(l, _)| *l <= len) {
            Some(p) if self.levels[p].0 == len => p,
            Some(p) => {
                self.levels.insert(p, (len, FxHashMap::default()));
                p
            }
            None => {
                self.levels.push((len, FxHashMap::default()));
                self.levels.len() - 1
            }
        };
        let old = self.levels[pos].1.insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value of the longest prefix containing `addr`, with that prefix's length.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<(u8, &T)> {
        let a = u32::from(addr);
        self.levels
            .iter()
            .find_map(|(len, map)| map.get(&(a & mask(*len))).map(|v| (*len, v)))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The reference: every route checked, the longest match kept.
#[derive(Clone, Debug, Default)]
pub struct LinearLpm<T> {
    routes: Vec<(Ipv4Net, T)>,
}

impl<T> LinearLpm<T> {
    pub fn insert(&mut self, net: Ipv4Net, value: T) {
        let net = net.trunc();
        self.routes.retain(|(n, _)| *n != net);
        self.routes.push((net, value));
    }

    pub fn lookup(&self, addr: Ipv4Addr) -> Option<(u8, &T)> {
        self.routes
            .iter()
            .filter(|(n, _)| n.contains(&addr))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(n, v)| (n.prefix_len(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(a: u32, len: u8) -> Ipv4Net {
        Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = Lpm::new();
        t.insert("10.0.0.0/16".parse().unwrap(), "local");
        t.insert("10.0.1.0/24".parse().unwrap(), "node");
        t.insert("0.0.0.0/0".parse().unwrap(), "nat");
        assert_eq!(t.lookup("10.0.1.9".parse().unwrap()), Some((24, &"node")));
        assert_eq!(t.lookup("10.0.2.9".parse().unwrap()), Some((16, &"local")));
        assert_eq!(t.lookup("8.8.8.8".parse().unwrap()), Some((0, &"nat")));
        assert_eq!(t.len(), 3);
    }

    proptest! {
        /// The indexed table answers exactly as a linear scan, including replaced routes.
        #[test]
        fn matches_linear_scan(
            routes in prop::collection::vec((any::<u32>(), 0u8..=32, any::<u16>()), 0..64),
            // Probe near route networks as well as anywhere, so matches are common.
            probes in prop::collection::vec((any::<u32>(), 0usize..64, any::<u8>()), 1..64),
        ) {
            let mut fast = Lpm::new();
            let mut slow = LinearLpm::default();
            for (a, len, v) in &routes {
                fast.insert(net(*a, *len), *v);
                slow.insert(net(*a, *len), *v);
            }
            for (a, i, low) in probes {
                let addr = match routes.get(i) {
                    Some((ra, _, _)) => Ipv4Addr::from((ra & !0xff) | u32::from(low)),
                    None => Ipv4Addr::from(a),
                };
                prop_assert_eq!(fast.lookup(addr), slow.lookup(addr));
            }
        }
    }
}
