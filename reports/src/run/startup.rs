//! How long pods waited to start, for runs where pods start during the run (timed IPAM or
//! scale events): the CDF of time-to-ready per variant, from `pod_startup`.

use super::latency::cdf_of;
use crate::chart::{Fit, LineChart, Panel, Scale, Series, Style};
use crate::figure::{Block, Figure, Spec};
use crate::units::{opt_duration_ns, thousands, Unit};
use cnsim_cluster::results::PodStartup;
use cnsim_cluster::RunResult;

/// Pods still pending at the end of the run.
pub fn pending_total(p: &PodStartup) -> u64 {
    p.pending_by_reason.values().map(|&n| u64::from(n)).sum()
}

/// The CDF of time-to-ready in seconds, over every pod that became Running or is still pending,
/// so a curve stops short of 1 by the share still pending. It runs flat to `until_ns`.
fn ready_cdf(p: &PodStartup, until_ns: u64) -> Vec<(f64, f64)> {
    let total = p.time_to_ready.count() + pending_total(p);
    let mut pts: Vec<(f64, f64)> = cdf_of(&p.time_to_ready, total)
        .into_iter()
        .map(|(ns, f)| (ns / 1e9, f))
        .collect();
    if total > 0 {
        let last = pts.last().map_or(0.0, |p| p.1);
        let end = until_ns as f64 / 1e9;
        if pts.is_empty() {
            pts.push((0.0, 0.0));
        }
        if pts.last().is_some_and(|p| p.0 < end) {
            pts.push((end, last));
        }
    }
    pts
}

/// None when no variant reports pod startup (every pod addressed before the run).
pub fn time_to_ready(r: &RunResult) -> Option<Block> {
    if !r.variants.iter().any(|v| v.pod_startup.is_some()) {
        return None;
    }
    let slowest = (r.variants.iter())
        .filter_map(|v| v.pod_startup.as_ref()?.time_to_ready.0.last().map(|b| b[0]))
        .max()
        .unwrap_or(0);
    let mut c = LineChart::new(
        "pod-startup",
        "How long do pods wait for an address? Time from pod created to Running",
        "time from pod created to Running",
        Fit::new(Unit::Seconds, Scale::Linear),
    );
    c.empty_note = "No pod started".into();
    let mut p = Panel::new("fraction of pods Running within", Unit::Fraction, Scale::Linear);
    p.y_fit.fixed = Some((0.0, 1.0));
    let mut summary = Vec::new();
    for (i, v) in r.variants.iter().enumerate() {
        let Some(s) = &v.pod_startup else { continue };
        p.series.push(Series {
            label: v.name.clone(),
            style: Style::variant(i),
            points: ready_cdf(s, slowest),
        });
        summary.push(format!(
            "{}: p50 {}, p99 {}, {} pending",
            v.name,
            opt_duration_ns(s.time_to_ready_ns.p50),
            opt_duration_ns(s.time_to_ready_ns.p99),
            thousands(pending_total(s))
        ));
    }
    c.panels.push(p);
    Some(Block::figure(Figure {
        spec: Spec::Line(c),
        caption: format!(
            "Cumulative share of pods Running within a given time of being created \
             (pod_startup.time_to_ready; pods addressed at the start count 0). The share is of \
             every pod that became Running plus those still pending at the end \
             (pod_startup.pending_by_reason), so a curve that levels off below 1 leaves that \
             share of pods waiting; a curve further left starts pods sooner. {}.",
            summary.join("; ")
        ),
        alt: format!("Time-to-ready CDF per variant; {}", summary.join("; ")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnsim_cluster::results::{Buckets, Percentiles};
    use std::collections::BTreeMap;

    #[test]
    fn pending_pods_keep_the_curve_below_one_and_it_runs_flat_to_the_end() {
        let p = PodStartup {
            time_to_ready_ns: Percentiles {
                count: 3,
                p50: None,
                p90: None,
                p99: None,
                max: None,
                mean: None,
            },
            time_to_ready: Buckets(vec![[0, 2], [2_000_000_000, 1]]),
            pods_created: 4,
            pods_deleted: 0,
            pods_evicted: 0,
            sandbox_retries: 0,
            node_launch_failures: Vec::new(),
            pending_by_reason: BTreeMap::from([("Too many pods".to_string(), 1)]),
        };
        let pts = ready_cdf(&p, 5_000_000_000);
        assert_eq!(pts[0], (0.0, 0.0));
        assert_eq!(pts[1], (0.0, 0.5));
        assert_eq!(pts.last(), Some(&(5.0, 0.75)));
    }
}
