//! What a run with pods starting during it reports: how long pods waited for an address, why
//! the others still wait, and (AWS VPC CNI) each node's pool and the EC2 calls ipamd made.

use super::{Buckets, Percentiles};
use crate::sim::ipamd::Lifecycle;
use crate::world::World;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Pods that started during the run (a dynamic run: timed IPAM or scale events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodStartup {
    /// Created → Running, for every pod that became Running (pods addressed at t=0 count 0).
    pub time_to_ready_ns: Percentiles,
    pub time_to_ready: Buckets,
    /// Pods scale events created and deleted, and sandbox retries after an address error.
    pub pods_created: u64,
    pub pods_deleted: u64,
    /// Pods a node drain evicted (a node group scale-down); each is also in `pods_deleted`,
    /// and its replacement in `pods_created`.
    #[serde(default)]
    pub pods_evicted: u64,
    pub sandbox_retries: u64,
    /// Pods pending at the end, by reason.
    pub pending_by_reason: BTreeMap<String, u32>,
    /// Nodes a scale event launched that could not join, and why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub node_launch_failures: Vec<String>,
}

/// One node's ipamd at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcCniNode {
    pub name: String,
    /// The pod subnet (the node's, or its AZ's ENIConfig subnet); None: no ENIConfig.
    pub pod_subnet: Option<String>,
    pub prefix_delegation: bool,
    pub max_enis: u32,
    pub max_pods: u32,
    pub enis: u32,
    pub addresses_held: u32,
    pub addresses_assigned: u32,
    pub prefixes_held: u32,
    /// Security groups for pods: pods on a branch ENI of their own (not in the pool's counts).
    #[serde(default)]
    pub branch_pods: u32,
    pub ec2_calls: u64,
    /// EC2 calls refused with InsufficientFreeAddressesInSubnet or InsufficientCidrBlocks.
    pub ec2_insufficient_addresses: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcCniResult {
    /// Every EC2 call kind ipamd made, with its count (kinds never called are left out).
    pub ec2_calls: BTreeMap<String, u64>,
    pub ec2_calls_total: u64,
    pub nodes: Vec<VpcCniNode>,
}

pub fn pod_startup(life: &Lifecycle) -> Option<PodStartup> {
    if !life.is_dynamic() {
        return None;
    }
    let mut pending_by_reason = BTreeMap::new();
    for (_, reason) in life.pods.pending() {
        *pending_by_reason.entry(reason.to_string()).or_insert(0) += 1;
    }
    Some(PodStartup {
        time_to_ready_ns: Percentiles::of(&life.pods.time_to_ready),
        time_to_ready: Buckets::of(&life.pods.time_to_ready),
        pods_created: life.pods_created,
        pods_deleted: life.pods_deleted,
        pods_evicted: life.pods_evicted,
        sandbox_retries: life.sandbox_retries,
        pending_by_reason,
        node_launch_failures: life.join_failures.iter().flatten().cloned().collect(),
    })
}

pub fn vpc_cni(world: &World, life: &Lifecycle) -> Option<VpcCniResult> {
    let v = life.ipam.vpc_cni()?;
    let calls = v.ec2_calls();
    let ec2_calls = match serde_json::to_value(calls).expect("counters serialize") {
        serde_json::Value::Object(m) => m
            .into_iter()
            .filter_map(|(k, n)| n.as_u64().filter(|&n| n > 0).map(|n| (k, n)))
            .collect(),
        _ => unreachable!("Ec2Calls is a struct"),
    };
    let nodes = (0..world.nodes.len())
        .filter_map(|i| {
            let n = v.node(i as u32)?;
            let st = n.stats();
            Some(VpcCniNode {
                name: world.nodes[i].name.clone(),
                pod_subnet: n.pod_subnet().map(|s| v.subnets().spec(s).name.clone()),
                prefix_delegation: n.limits().prefix_delegation,
                max_enis: n.limits().max_enis,
                max_pods: n.limits().max_pods,
                enis: n.enis_attached(),
                addresses_held: st.total_ips,
                addresses_assigned: st.assigned,
                prefixes_held: st.total_prefixes,
                branch_pods: n.branch_pod_count(),
                ec2_calls: n.ec2().total(),
                ec2_insufficient_addresses: n.ec2().insufficient_free_addresses + n.ec2().insufficient_cidr_blocks,
            })
        })
        .collect();
    Some(VpcCniResult {
        ec2_calls,
        ec2_calls_total: calls.total(),
        nodes,
    })
}
