//! Traffic that left the VPC: the nodes' SNAT, each NAT gateway's translations and what AWS
//! bills for them, and the internet gateway's bytes (`sim::egress`).

use crate::scenario::format::Pricing;
use crate::sim::egress::{Egress, NatGatewayStats};
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
    /// Bytes and packets processed (both directions), translations created, refused for want
    /// of a port, ended by a close and by the 350 s idle timeout, and the peak per destination.
    #[serde(flatten)]
    pub stats: NatGatewayStats,
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
            stats: g.stats_at(end_ns),
            processing_cost_micro_usd: (u128::from(g.stats.bytes) * rate / 1_000_000_000) as u64,
        })
        .collect();
    let used = snat_connections > 0 || e.internet_bytes_out > 0 || nat_gateways.iter().any(|g| g.stats.used());
    used.then_some(EgressResult {
        snat_connections,
        internet_bytes_out: e.internet_bytes_out,
        internet_bytes_in: e.internet_bytes_in,
        nat_gateways,
    })
}
