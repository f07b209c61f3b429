//! A sweep's wall time on 2 threads against 1: the headline scenario (4 service datapaths) at
//! 4 Service counts, 16 independent runs, as `cnsim sweep` schedules them (one rayon job per
//! point and variant, results in grid order). Project target: >= 1.8x speedup on 2 cores.
//!
//! Run: `cargo bench --bench sweep`; the speedup is the ratio of the two times.

use cnsim_cluster::results::sweep::{grid, SweepAxis};
use cnsim_cluster::run_variant;
use cnsim_cluster::scenario::{load_str, VariantSpec};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn specs() -> Vec<VariantSpec> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/1000-services-iptables-vs-ipvs.ron"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let axes = [
        SweepAxis::parse("service_generators.0.count=1000,2000,3000,5000").unwrap(),
        SweepAxis::parse("duration=1s").unwrap(),
    ];
    grid(&axes)
        .unwrap()
        .into_iter()
        .flat_map(|values| {
            let sets: Vec<(String, String)> = axes.iter().map(|a| a.path.clone()).zip(values).collect();
            load_str(path, "headline", &text, &sets)
                .unwrap_or_else(|d| panic!("{d}"))
                .variants
        })
        .collect()
}

fn sweep_threads(c: &mut Criterion) {
    let specs = specs();
    assert_eq!(specs.len(), 16);
    let mut group = c.benchmark_group("sweep_16_runs");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for threads in [1, 2] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| black_box(sim_core::run_ordered(&specs, Some(threads), |_, s| run_variant(s)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, sweep_threads);
criterion_main!(benches);
