//! Any text given as a scenario is either loaded or rejected with located diagnostics: the
//! parser, the source map, variant overrides and validation never panic. Whatever loads must
//! also build its world (validation promised it could) and run.
#![no_main]

use cnsim_cluster::scenario::format::ScaleTarget;
use cnsim_cluster::scenario::refs::{self, PodSet};
use cnsim_cluster::scenario::{events, load_str};
use cnsim_cluster::run_variant;
use cnsim_cluster::world::World;
use sim_core::SimTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A scenario may name manifest files or directories (even "/") that loading would read;
    // the manifest parser has its own target (manifest_load), so no file is read here.
    if text.contains("manifests") {
        return;
    }
    match load_str("fuzz.ron", "fuzz", text, &[]) {
        Ok(loaded) => {
            for v in &loaded.variants {
                // Keep each input cheap: building is linear in nodes and pods. The world holds
                // every node and pod the run will ever have: each group and workload at its
                // largest over the scale events.
                let nodes: u64 = events::node_group_largest(&v.scenario).iter().map(|&c| u64::from(c)).sum();
                let mut most: Vec<u64> = v.scenario.workloads.iter().map(|w| u64::from(w.replicas)).collect();
                for e in &v.scenario.events {
                    if let Some(ScaleTarget::Workload { scale, replicas }) = e.target() {
                        if let Ok(PodSet::Workload(w)) = refs::pod_set(&v.scenario, scale) {
                            most[w] = most[w].max(u64::from(replicas));
                        }
                    }
                }
                let pods: u64 = most.iter().sum();
                if nodes <= 64 && pods <= 1024 {
                    let world = World::build(&v.scenario);
                    assert_eq!(world.pods.len() as u64, pods);
                }
                // And run it briefly when the traffic is light: every packet sent is delivered,
                // dropped or still in flight, exactly once.
                let load: u64 = v.scenario.traffic.iter().map(|f| f.rate.per_sec.saturating_mul(u64::from(pods))).sum();
                if nodes <= 64 && pods <= 256 && load <= 200_000 {
                    let mut short = v.clone();
                    short.scenario.duration = short.scenario.duration.min(SimTime::from_millis(20));
                    for f in &mut short.scenario.traffic {
                        f.stop = Some(f.stop.unwrap_or(short.scenario.duration).min(short.scenario.duration));
                        f.start = f.start.min(f.stop.unwrap());
                    }
                    let r = run_variant(&short);
                    let dropped: u64 = r.packets.dropped.values().sum();
                    assert_eq!(r.packets.sent, r.packets.delivered + dropped + r.packets.in_flight);
                }
            }
        }
        Err(diags) => {
            assert!(diags.has_errors());
            for d in &diags.errors {
                assert!(!d.message.is_empty());
            }
        }
    }
});
