//! What a scenario's events add up to, for the world and the run: the order they happen in,
//! and how large each node group gets. Validation has checked every event's form; an event
//! that does not resolve is left out here rather than panicking (the loader never builds a
//! world from an invalid scenario, and the fuzz target holds it to that).

use super::format::{ScaleTarget, Scenario};

/// Event indices in the order the run executes them: by time, then as written (the engine's
/// (time, insertion) order, since every event is scheduled at start in scenario order).
pub fn in_run_order(s: &Scenario) -> Vec<usize> {
    let mut order: Vec<usize> = (0..s.events.len()).collect();
    order.sort_by_key(|&i| (s.events[i].at, i));
    order
}

/// The node group an event resizes, and to how many nodes.
pub fn node_group_target(s: &Scenario, event: usize) -> Option<(usize, u32)> {
    match s.events[event].target()? {
        ScaleTarget::NodeGroup { name, count } => {
            let g = s.node_groups.iter().position(|g| g.name == name)?;
            Some((g, count))
        }
        ScaleTarget::Workload { .. } => None,
    }
}

/// Per node group, the most nodes it has over the run: its `count`, or more if an event
/// grows it. The world pre-builds that many.
pub fn node_group_largest(s: &Scenario) -> Vec<u32> {
    let mut most: Vec<u32> = s.node_groups.iter().map(|g| g.count).collect();
    for i in 0..s.events.len() {
        if let Some((g, count)) = node_group_target(s, i) {
            most[g] = most[g].max(count);
        }
    }
    most
}

/// Per node group, per node index `k` (0 up to its largest count): the event that launches
/// node `k`, or None for the nodes there at t=0. Growth only: a node is launched by the first
/// event, in run order, that asks for more than `k` nodes (validation: never after the group
/// has shrunk; which nodes a shrink removes is `world::terminate`'s).
pub fn node_launches(s: &Scenario) -> Vec<Vec<Option<usize>>> {
    let most = node_group_largest(s);
    let mut launch: Vec<Vec<Option<usize>>> = most.iter().map(|&m| vec![None; m as usize]).collect();
    let mut have: Vec<u32> = s.node_groups.iter().map(|g| g.count).collect();
    for i in in_run_order(s) {
        let Some((g, count)) = node_group_target(s, i) else {
            continue;
        };
        for k in have[g]..count {
            launch[g][k as usize] = Some(i);
        }
        have[g] = have[g].max(count);
    }
    launch
}
