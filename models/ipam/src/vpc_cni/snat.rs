//! The VPC CNI's SNAT decision for pod traffic, as a pure function the packet path calls.
//!
//! Owns the rule only. Facts (aws/amazon-vpc-cni-k8s README, `AWS_VPC_K8S_CNI_EXTERNALSNAT`,
//! `AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS`): by default (external SNAT false) the node's iptables
//! SNAT traffic from a pod to any address outside the VPC's CIDRs (and outside the excluded
//! CIDRs) to the primary address of the node's primary ENI. With external SNAT true the rule is
//! not installed: the pod's own address leaves the node, so a NAT gateway (or another NAT
//! device) must sit on the route to the internet, and the node must be in a private subnet.

use ipnet::Ipv4Net;
use serde::Serialize;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SnatPolicy {
    /// AWS_VPC_K8S_CNI_EXTERNALSNAT.
    pub external_snat: bool,
    /// The VPC's IPv4 CIDRs (primary and secondary).
    pub vpc_cidrs: Vec<Ipv4Net>,
    /// AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS.
    pub exclude_snat_cidrs: Vec<Ipv4Net>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SnatDecision {
    /// Inside the VPC (or an excluded CIDR): the pod address is the source.
    PodAddress,
    /// Rewritten to the node's primary ENI address.
    NodePrimary { source: Ipv4Addr },
    /// External SNAT: the pod address leaves the VPC's node; only a NAT gateway (or other NAT
    /// device) on the route makes the reply come back.
    PodAddressNeedsNatGateway,
}

impl SnatPolicy {
    pub fn decide(&self, node_primary: Ipv4Addr, destination: Ipv4Addr) -> SnatDecision {
        let inside = |nets: &[Ipv4Net]| nets.iter().any(|n| n.contains(&destination));
        if inside(&self.vpc_cidrs) || inside(&self.exclude_snat_cidrs) {
            SnatDecision::PodAddress
        } else if self.external_snat {
            SnatDecision::PodAddressNeedsNatGateway
        } else {
            SnatDecision::NodePrimary { source: node_primary }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_traffic_keeps_the_pod_address_and_internet_traffic_depends_on_external_snat() {
        let mut p = SnatPolicy {
            external_snat: false,
            vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            exclude_snat_cidrs: vec!["192.168.0.0/16".parse().unwrap()],
        };
        let node = Ipv4Addr::new(10, 0, 1, 4);
        assert_eq!(p.decide(node, Ipv4Addr::new(10, 0, 9, 9)), SnatDecision::PodAddress);
        assert_eq!(p.decide(node, Ipv4Addr::new(192, 168, 1, 1)), SnatDecision::PodAddress);
        assert_eq!(
            p.decide(node, Ipv4Addr::new(8, 8, 8, 8)),
            SnatDecision::NodePrimary { source: node }
        );
        p.external_snat = true;
        assert_eq!(
            p.decide(node, Ipv4Addr::new(8, 8, 8, 8)),
            SnatDecision::PodAddressNeedsNatGateway
        );
    }
}
