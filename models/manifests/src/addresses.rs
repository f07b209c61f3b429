//! Deterministic address assignment for what the manifests leave out: pod IPs, node IPs and
//! ClusterIPs. Each range hands out its addresses in ascending order, skipping any address the
//! manifests already use, so the same manifests always get the same addresses.

use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Ascending addresses of one CIDR, minus those taken.
pub(crate) struct Sequential {
    hosts: ipnet::IpAddrRange,
}

impl Sequential {
    /// `skip_first` leaves out the first usable address (the ClusterIP range reserves it for
    /// the `kubernetes` Service).
    pub fn new(cidr: IpNet, skip_first: bool) -> Sequential {
        let mut hosts = cidr.trunc().hosts();
        if skip_first {
            hosts.next();
        }
        Sequential { hosts }
    }

    /// The next free address, marking it taken; None when the range is used up.
    pub fn next(&mut self, taken: &mut BTreeSet<IpAddr>) -> Option<IpAddr> {
        self.hosts.by_ref().find(|ip| taken.insert(*ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_taken_and_stops_at_the_end() {
        let mut s = Sequential::new("10.0.0.0/30".parse().unwrap(), false);
        let mut taken: BTreeSet<IpAddr> = ["10.0.0.1".parse().unwrap()].into();
        assert_eq!(s.next(&mut taken), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(s.next(&mut taken), None, "a /30 has two hosts, one taken");
        let mut c = Sequential::new("10.96.0.0/12".parse().unwrap(), true);
        assert_eq!(c.next(&mut BTreeSet::new()), Some("10.96.0.2".parse().unwrap()));
    }
}
