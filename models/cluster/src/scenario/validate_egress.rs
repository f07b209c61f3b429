//! Validation of traffic that leaves the VPC: flows to `IP:PORT` destinations, the internet
//! latency, the NAT gateway price and the VPC CNI's SNAT exclusions. Every rule names its field.

use super::diag::Finding;
use super::format::*;
use crate::calibration::{INTERNET_MTU, UDP_IP_HEADER_BYTES};
use sim_core::SimTime;
use std::net::SocketAddrV4;

/// cnsim's limit on the one-way internet latency: beyond it the value is a typo (a satellite
/// hop is ~300 ms).
const MAX_INTERNET_LATENCY: SimTime = SimTime::from_secs(5);

pub fn settings(s: &Scenario, out: &mut Vec<Finding>) {
    if s.fabric.internet_latency > MAX_INTERNET_LATENCY {
        out.push(
            Finding::error(
                "fabric.internet_latency",
                format!("{} one way to the internet", s.fabric.internet_latency),
            )
            .valid(format!("at most {MAX_INTERNET_LATENCY}")),
        );
    }
    let rate = s.pricing.nat_gateway_usd_per_gb;
    if !(0.0..=1.0).contains(&rate) {
        out.push(
            Finding::error("pricing.nat_gateway_usd_per_gb", format!("{rate} USD per GB"))
                .valid("0 to 1 USD per GB (AWS charges 0.045 in us-east-1)"),
        );
    }
    if let IpamConfig::AwsVpcCni { exclude_snat_cidrs, .. } = &s.network.ipam {
        for (i, c) in exclude_snat_cidrs.iter().enumerate() {
            if c.prefix_len() == 0 {
                out.push(
                    Finding::error(
                        format!("network.ipam.exclude_snat_cidrs[{i}]"),
                        "0.0.0.0/0 excludes every destination from SNAT",
                    )
                    .valid("external_snat: true, if no pod traffic should be translated on the node"),
                );
            }
        }
    }
}

/// A flow to `addr`, a destination beyond the VPC.
pub fn external_target(s: &Scenario, i: usize, addr: SocketAddrV4, fl: &Flow, out: &mut Vec<Finding>) {
    let field = format!("traffic[{i}].to");
    let ip = *addr.ip();
    if addr.port() == 0 {
        out.push(Finding::error(&field, format!("{addr}: port 0")).valid("a port from 1 to 65535"));
    }
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() || ip.is_link_local() {
        out.push(
            Finding::error(&field, format!("{ip} is not a routable unicast address"))
                .valid("a unicast address outside the VPC, e.g. \"203.0.113.10:443\""),
        );
    }
    let cluster = s.network.ipam.host_local_cidr();
    let service = super::validate_services::service_cidr(s);
    let inside = std::iter::once(&s.vpc.cidr)
        .chain(&s.vpc.secondary_cidrs)
        .map(|c| (c, "the VPC"))
        .chain(cluster.iter().map(|c| (c, "the cluster CIDR")))
        .chain(std::iter::once((&service, "the Service CIDR")))
        .find(|(c, _)| c.contains(&ip));
    if let Some((cidr, what)) = inside {
        out.push(
            Finding::error(
                &field,
                format!("{ip} is inside {what} ({cidr}): only addresses beyond the VPC are external"),
            )
            .valid(
                "NAMESPACE/WORKLOAD:PORT for pods, NAMESPACE/svc/NAME:PORT for Services, or an address outside the VPC",
            ),
        );
    }
    if fl.protocol == Protocol::UDP && fl.packet_size.0 > u64::from(INTERNET_MTU) {
        out.push(
            Finding::error(
                format!("traffic[{i}].packet_size"),
                format!(
                    "{}-byte datagrams to the internet, whose gateways carry at most {INTERNET_MTU} bytes (fragmentation is not simulated)",
                    fl.packet_size.0
                ),
            )
            .valid(format!("{UDP_IP_HEADER_BYTES} to {INTERNET_MTU} bytes")),
        );
    }
}
