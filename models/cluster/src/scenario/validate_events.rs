//! Validation of the scenario's events: each either scales a workload (`scale` + `replicas`)
//! or resizes a node group (`node_group` + `count`), before the end of the run. A node group
//! may grow and then shrink, not the other way round (`node_group_sizes`).

use super::diag::{one_of, Finding};
use super::format::*;
use super::refs::{self, PodSet};
use super::validate::MAX_PODS;
use crate::calibration::NODE_JOIN_LATENCY;
use sim_core::SimTime;

/// cnsim's limit on scale events in one scenario (each is one event, but its pods are many).
pub const MAX_SCALE_EVENTS: usize = 10_000;

pub fn scale_events(s: &Scenario, out: &mut Vec<Finding>) {
    if s.events.len() > MAX_SCALE_EVENTS {
        out.push(Finding::error(
            "events",
            format!("{} events; cnsim allows at most {MAX_SCALE_EVENTS}", s.events.len()),
        ));
    }
    let mut most: Vec<u64> = s.workloads.iter().map(|w| u64::from(w.replicas)).collect();
    for (i, e) in s.events.iter().enumerate() {
        let field = |f: &str| format!("events[{i}].{f}");
        if e.at >= s.duration {
            out.push(
                Finding::error(field("at"), format!("{} is not before the end of the run", e.at))
                    .valid(format!("0s up to (not including) the duration {}", s.duration)),
            );
        }
        match e.target() {
            None => out.push(form_error(i, e)),
            Some(ScaleTarget::Workload { scale, replicas }) => match refs::pod_set(s, scale) {
                Ok(PodSet::Workload(w)) => most[w] = most[w].max(u64::from(replicas)),
                Ok(PodSet::Pod { .. }) => out.push(
                    Finding::error(field("scale"), format!("{scale:?} is a pod; only a workload scales"))
                        .valid("NAMESPACE/WORKLOAD"),
                ),
                Err(err) => out.push(Finding::error(field("scale"), err.message).valid(err.valid)),
            },
            Some(ScaleTarget::NodeGroup { name, .. }) => {
                if !s.node_groups.iter().any(|g| g.name == name) {
                    let names: Vec<&str> = s.node_groups.iter().map(|g| g.name.as_str()).collect();
                    out.push(
                        Finding::error(field("node_group"), format!("unknown node group {name:?}"))
                            .valid(one_of(&names)),
                    );
                }
            }
        }
    }
    node_group_sizes(s, out);
    let total: u64 = most.iter().sum();
    if !s.events.is_empty() && total > MAX_PODS {
        out.push(Finding::error(
            "events",
            format!("the workloads reach {total} pods at their largest; cnsim allows at most {MAX_PODS}"),
        ));
    }
}

/// The located error for an event with neither form, or parts of both.
fn form_error(i: usize, e: &ScaleEvent) -> Finding {
    let set: Vec<&str> = [
        ("scale", e.scale.is_some()),
        ("replicas", e.replicas.is_some()),
        ("node_group", e.node_group.is_some()),
        ("count", e.count.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let what = if set.is_empty() {
        "sets nothing to resize".to_string()
    } else {
        format!("sets {}", set.join(", "))
    };
    Finding::error(format!("events[{i}]"), format!("the event {what}"))
        .valid("either scale: \"NAMESPACE/WORKLOAD\" with replicas: N, or node_group: \"NAME\" with count: N")
}

/// A node group event grows its group (nodes launched, `world::launch`) or shrinks it (nodes
/// drained and terminated, `world::terminate`). Two orders are not modelled and are refused:
/// growing a group again after it has shrunk (the pre-built nodes would have to be reused), and
/// shrinking it while nodes it launched have not joined yet (the ASG would terminate instances
/// still booting).
fn node_group_sizes(s: &Scenario, out: &mut Vec<Finding>) {
    let mut have: Vec<u32> = s.node_groups.iter().map(|g| g.count).collect();
    // Per group: the event that first shrank it, and when its last launched node joins.
    let mut shrunk: Vec<Option<usize>> = vec![None; s.node_groups.len()];
    let mut last_join: Vec<Option<SimTime>> = vec![None; s.node_groups.len()];
    for i in super::events::in_run_order(s) {
        let Some((g, count)) = super::events::node_group_target(s, i) else {
            continue;
        };
        let (at, name) = (s.events[i].at, &s.node_groups[g].name);
        if count > have[g] {
            if let Some(j) = shrunk[g] {
                out.push(
                    Finding::error(
                        format!("events[{i}].count"),
                        format!(
                            "node group {name:?} shrank at {} (events[{j}]); growing it again afterwards is not modelled",
                            s.events[j].at
                        ),
                    )
                    .valid(format!("a count of at most {}", have[g])),
                );
            }
            last_join[g] = Some(at + NODE_JOIN_LATENCY);
        } else if count < have[g] {
            if let Some(ready) = last_join[g].filter(|&r| r >= at) {
                out.push(
                    Finding::error(
                        format!("events[{i}].at"),
                        format!(
                            "node group {name:?} has nodes launched earlier that join at {ready}; shrinking it before they have joined is not modelled"
                        ),
                    )
                    .valid(format!("a time after {ready}")),
                );
            }
            shrunk[g].get_or_insert(i);
        }
        have[g] = count;
    }
}
