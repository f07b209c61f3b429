//! The parts of a result that are distributions and time series, kept whole so that a report
//! can draw them: latency histograms bucket by bucket, and state sampled over the run.

use serde::{Deserialize, Serialize};
use sim_core::Histogram;

/// A latency histogram as its non-empty buckets: `[upper bound ns, count]`, ascending. The
/// bound is the bucket's upper edge (at most 1/128 above any value in it), clamped to the
/// largest value recorded, so the last bucket's bound is the exact maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Buckets(pub Vec<[u64; 2]>);

impl Buckets {
    pub fn of(h: &Histogram) -> Buckets {
        let max = h.max().unwrap_or(0);
        Buckets(h.buckets().map(|(_, high, n)| [high.min(max), n]).collect())
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|b| b[1]).sum()
    }
}

/// Latency distributions of a variant, for CDF charts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyBuckets {
    /// One-way latency of every delivered packet.
    pub packets: Buckets,
    /// Packets that opened a connection (walked the service rules).
    pub first_packet: Buckets,
    /// Every other delivered packet: connections already tracked.
    pub established: Buckets,
    /// TCP request → response, when the variant has TCP flows.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<Buckets>,
}

/// State sampled at 101 evenly spaced times from 0 to the run's duration (both included).
/// Every series has one value per entry of `t_ns`. A sample at t shows the state after every
/// event at or before t.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub t_ns: Vec<u64>,
    /// Live conntrack entries summed over all nodes.
    pub conntrack_entries: Vec<u64>,
    /// Live conntrack entries on the busiest node.
    pub conntrack_entries_max_node: Vec<u64>,
    pub pods_running: Vec<u32>,
    pub pods_pending: Vec<u32>,
    /// Nodes in the cluster (joined, not left); only in runs where a `node_group` scale event
    /// adds or removes nodes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub nodes_joined: Vec<u32>,
    /// Addresses in use in each subnet (node and pod addresses), in `VariantResult::subnets`
    /// order.
    pub subnet_addresses_used: Vec<Vec<u64>>,
    /// Pod addresses on the node holding the most.
    pub node_addresses_max: Vec<u32>,
    /// Mean pod addresses per node, in thousandths.
    pub node_addresses_mean_milli: Vec<u64>,
    /// Pod addresses per node, in `VariantResult::nodes` order; only for clusters of at most
    /// 64 nodes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_addresses: Option<Vec<Vec<u32>>>,
    /// The AWS VPC CNI's pools (absent with host-local). ENIs attached over all nodes (primary
    /// and trunk included; one still attaching is not), and on the node with the most.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub enis_attached: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub enis_attached_max_node: Vec<u32>,
    /// Pod addresses ipamd holds in its pools (secondary IPs, or every address of its /28
    /// prefixes), over all nodes, and how many of them pods have.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub addresses_held: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub addresses_assigned: Vec<u64>,
    /// /28 prefixes held over all nodes (prefix delegation only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prefixes_held: Vec<u64>,
    /// EC2 API calls ipamd made so far (cumulative, failed ones included).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ec2_calls: Vec<u64>,
    /// Per node, in `VariantResult::nodes` order, only for clusters of at most 64 nodes: ENIs
    /// attached and pod addresses held in the pool.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_enis: Option<Vec<Vec<u32>>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_addresses_held: Option<Vec<Vec<u32>>>,
}

/// A subnet of the VPC and how much of it the run used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetResult {
    pub name: String,
    pub az: String,
    pub cidr: String,
    /// Assignable addresses: the subnet's size less the 5 AWS reserves.
    pub capacity: u64,
    /// Addresses in use at the end of the run.
    pub used: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_every_count_and_end_at_the_max() {
        let mut h = Histogram::new();
        for v in [3u64, 3, 900, 901, 1_000_003, 77_777_777] {
            h.record(v);
        }
        let b = Buckets::of(&h);
        assert_eq!(b.count(), 6);
        assert_eq!(b.0.last().unwrap()[0], 77_777_777);
        assert!(b.0.windows(2).all(|w| w[0][0] < w[1][0]), "ascending: {b:?}");
        assert_eq!(b.0[0], [3, 2]);
    }
}
