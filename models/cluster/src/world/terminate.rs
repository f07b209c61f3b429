//! Nodes a scale event removes (`node_group: NAME, count: N` below the group's size): which
//! ones, and when each is drained and leaves.
//!
//! An EKS managed node group is an Auto Scaling group: lowering its desired size makes the ASG
//! pick instances to terminate, and EKS cordons and drains each before the instance goes. The
//! ASG's default termination policy first balances Availability Zones (it terminates in the
//! zone with the most instances), then prefers instances of the oldest launch template or
//! configuration, then the one closest to its next billing hour, then picks at random. cnsim
//! keeps the first rule and replaces the rest with a deterministic stand-in (every node of a
//! group shares one launch template, so that rule never separates them; per-second billing and
//! the random pick have no counterpart in a simulation):
//! 1. a zone with the most of the group's nodes still present;
//! 2. in those zones, the newest-joined node (a node a growth event launched before one there
//!    at t=0);
//! 3. then the highest node index.
//!
//! The choice is made here, before the run, from the planned join times: a node whose launch
//! fails during the run (`world::launch`) is still the ASG's instance and is chosen as if it
//! had joined (it holds nothing, so its drain is empty). Validation keeps the plan exact: a
//! group never grows again after it has shrunk, and it shrinks only once every node it
//! launched has joined.
//!
//! Timing (CALIBRATION.md "Node scale-down"): at the event the node is cordoned and its pods
//! are evicted (`sim::drain`); it leaves the cluster `calibration::NODE_LEAVE_LATENCY` later.

use super::{NodeId, World};
use crate::calibration::NODE_LEAVE_LATENCY;
use crate::scenario::events;
use crate::scenario::format::Scenario;
use sim_core::SimTime;

/// How a node a scale event removes goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLeave {
    /// The scale event (index into the scenario's `events`) that removes it.
    pub event: u32,
    /// The event's time: the node is cordoned and its pods are evicted.
    pub drain_at: SimTime,
    /// The instance is terminated and the node leaves the cluster.
    pub left_at: SimTime,
}

/// Sets `leave` on every node a shrinking scale event removes, by the module doc's rule.
pub fn plan(s: &Scenario, world: &mut World) {
    // Per group, the nodes present (joined or launched) and when each joins.
    let mut present: Vec<Vec<NodeId>> = vec![Vec::new(); s.node_groups.len()];
    for (id, n) in world.nodes.iter().enumerate() {
        if n.launch.is_none() {
            present[n.group].push(id as NodeId);
        }
    }
    for e in events::in_run_order(s) {
        let Some((g, count)) = events::node_group_target(s, e) else {
            continue;
        };
        // Nodes this event launches join the group (validation: before any later shrink).
        for (id, n) in world.nodes.iter().enumerate() {
            if n.launch.is_some_and(|l| l.event == e as u32) {
                present[g].push(id as NodeId);
            }
        }
        while present[g].len() > count as usize {
            let at = choose(world, &present[g]);
            let id = present[g].remove(at);
            let drain_at = s.events[e].at;
            world.nodes[id as usize].leave = Some(NodeLeave {
                event: e as u32,
                drain_at,
                left_at: drain_at + NODE_LEAVE_LATENCY,
            });
        }
    }
}

/// The index in `present` of the node to terminate next.
fn choose(world: &World, present: &[NodeId]) -> usize {
    let mut per_zone = vec![0u32; world.azs.len()];
    for &id in present {
        per_zone[world.nodes[id as usize].az as usize] += 1;
    }
    let most = per_zone.iter().copied().max().unwrap_or(0);
    let joins = |id: NodeId| world.nodes[id as usize].launch.map_or(SimTime::ZERO, |l| l.ready_at);
    (0..present.len())
        .filter(|&i| per_zone[world.nodes[present[i] as usize].az as usize] == most)
        .max_by_key(|&i| (joins(present[i]), present[i]))
        .expect("a group larger than its new count has a node")
}
