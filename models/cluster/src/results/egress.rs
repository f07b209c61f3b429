//! Traffic that left the VPC: the nodes' SNAT, each NAT gateway's translations and what AWS
//! bills for them, and the internet gateway's bytes (`sim::egress`).

use crate::scenario::format::Pricing;
use crate::sim::egress::Egress;
use crate::world::World;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressResult {
    /// NEW connections the nodes masqueraded to their primary address (the VPC CNI's SNAT
    /// rule with AWS_VPC_K8S_CNI_EXTERNALSNAT false; the overlay's masquerade).
    pub snat_connections: u64,
    /// Bytes through the internet gateway, out of and into the VPC.
    pub internet_bytes_out: u64,
    pub internet_bytes_in: u64,
    pub nat_gateways: Vec<NatGatewayResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatGatewayResult {
    pub name: String,
    pub az: String,
    /// Bytes and packets processed, both directions.
    pub bytes: u64,
    pub packets: u64,
    /// Translations created; connections refused for want of a port (CloudWatch's
    /// ErrorPortAllocation); translations ended by a close, and by the 350 s idle timeout.
    pub connections: u64,
    pub port_allocation_errors: u64,
    pub closed: u64,
    pub idle_timeouts: u64,
    /// The most connections open to one destination at once (the limit is 55,000).
    pub peak_connections_per_destination: u32,
    /// Data processing at `pricing.nat_gateway_usd_per_gb`.
    pub processing_cost_micro_usd: u64,
}

/// None when nothing left the VPC (the result stays as it was for such runs).
/// `end_ns`: the end of the run, when translations still idle count as timed out.
pub fn egress(
    world: &World,
    e: &Egress,
    snat_connections: u64,
    pricing: &Pricing,
    end_ns: u64,
) -> Option<EgressResult> {
    let rate = u128::from(pricing.nat_gateway_micro_usd_per_gb());
    let nat_gateways: Vec<NatGatewayResult> = world
        .nat_gateways
        .iter()
        .zip(&e.nat_gateways)
        .map(|(info, g)| NatGatewayResult {
            name: info.name.clone(),
            az: world.azs[info.az as usize].clone(),
            bytes: g.stats.bytes,
            packets: g.stats.packets,
            connections: g.stats.connections,
            port_allocation_errors: g.stats.port_allocation_errors,
            closed: g.stats.closed,
            idle_timeouts: g.stats.idle_timeouts + g.idle_at(end_ns),
            peak_connections_per_destination: g.stats.peak_per_destination,
            processing_cost_micro_usd: (u128::from(g.stats.bytes) * rate / 1_000_000_000) as u64,
        })
        .collect();
    let used = snat_connections > 0
        || e.internet_bytes_out > 0
        || nat_gateways
            .iter()
            .any(|g| g.packets > 0 || g.port_allocation_errors > 0);
    used.then_some(EgressResult {
        snat_connections,
        internet_bytes_out: e.internet_bytes_out,
        internet_bytes_in: e.internet_bytes_in,
        nat_gateways,
    })
}
