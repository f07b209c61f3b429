//! End-to-end throughput on `scenarios/bench/pod-to-pod-udp.ron`: 32 pods on 2 nodes in 2 AZs,
//! 16 UDP flows of 3125 packets/s of 512 bytes for 10 simulated seconds (500,000 packets).
//! One element = one delivered packet, so criterion's throughput is delivered packets per
//! wall-second. Project target: >= 1,000,000 on one thread of a release build.
//!
//! Run: `cargo bench --bench pod_to_pod`.

use cnsim_cluster::run_variant;
use cnsim_cluster::scenario::load_file;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

fn pod_to_pod_udp(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench/pod-to-pod-udp.ron");
    let loaded = load_file(&path).unwrap_or_else(|d| panic!("{d}"));
    let spec = &loaded.variants[0];
    let delivered = run_variant(spec).packets.delivered;
    assert!(
        delivered > 490_000,
        "the bench scenario delivers its packets ({delivered})"
    );
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(delivered));
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    group.bench_function("pod_to_pod_udp", |b| b.iter(|| black_box(run_variant(black_box(spec)))));
    group.finish();
}

criterion_group!(benches, pod_to_pod_udp);
criterion_main!(benches);
