//! Simulation-scale AWS VPC CNI: `scenarios/bench/vpc-cni-5000-nodes.ron`, 5,000 m5.xlarge
//! nodes scaling a Deployment from 5,000 to 150,000 pods over 10 simulated minutes with every
//! node's ipamd ticking every 5 s for 15 minutes (about 0.9 M events). One iteration is one
//! whole run. Issue 6's target: < 5 s wall on one thread of a release build.
//!
//! Memory: the process's peak resident set (VmHWM) before and after one run, divided by the
//! nodes, is printed once; it is all of a run's state (pods, ipamd pools, subnets, timeline).
//!
//! Run: `cargo bench --bench vpc_cni_scale`.

use cnsim_cluster::run_variant;
use cnsim_cluster::scenario::load_file;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const NODES: u64 = 5_000;
const PODS: u64 = 150_000;

/// Peak resident set size in bytes (Linux), if it can be read.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn vpc_cni_scale(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench/vpc-cni-5000-nodes.ron");
    let loaded = load_file(&path).unwrap_or_else(|d| panic!("{d}"));
    let spec = &loaded.variants[0];
    let before = peak_rss();
    let r = run_variant(spec);
    let after = peak_rss();
    // The run must be the one described: every pod placed and addressed.
    assert_eq!(r.nodes.len() as u64, NODES);
    let startup = r.pod_startup.as_ref().expect("a VPC CNI run reports pod startup");
    assert_eq!(startup.pods_created + 5_000, PODS, "{startup:?}");
    assert!(startup.pending_by_reason.is_empty(), "{:?}", startup.pending_by_reason);
    let vpc = r.vpc_cni.as_ref().expect("a VPC CNI run reports its pools");
    let assigned: u64 = vpc.nodes.iter().map(|n| u64::from(n.addresses_assigned)).sum();
    assert_eq!(assigned, PODS, "every pod holds an address");
    if let (Some(b), Some(a)) = (before, after) {
        eprintln!(
            "vpc_cni_scale: peak RSS grew {} MiB over one run: {} bytes per node ({} per pod)",
            (a - b) >> 20,
            (a - b) / NODES,
            (a - b) / PODS
        );
    }
    let mut group = c.benchmark_group("end_to_end");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("vpc_cni_5000_nodes_to_150000_pods", |b| {
        b.iter(|| black_box(run_variant(black_box(spec))))
    });
    group.finish();
}

criterion_group!(benches, vpc_cni_scale);
criterion_main!(benches);
