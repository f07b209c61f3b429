//! Report rendering time: `render_run` of a 4-variant run (target < 2 s) and `render_sweep` of
//! a 50-point sweep (target < 10 s). Inputs come from the real cluster model: a small scenario
//! on the four service datapaths, and for the sweep that run's result repeated at 50 Service
//! counts with its numbers scaled, so every curve has 50 distinct points.

use cnsim_cluster::results::{SweepAxis, SweepPoint, SweepResult, SWEEP_SCHEMA};
use cnsim_cluster::scenario::load_str;
use cnsim_cluster::{run_variant, RunResult, RUN_SCHEMA};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const SCENARIO: &str = r#"Scenario(
    version: 1,
    seed: 11,
    duration: "1s",
    vpc: (cidr: "10.0.0.0/16", azs: ["a", "b", "c"], subnets: [
        (name: "sa", az: "a", cidr: "10.0.0.0/20"), (name: "sb", az: "b", cidr: "10.0.16.0/20"),
        (name: "sc", az: "c", cidr: "10.0.32.0/20")]),
    node_groups: [(name: "w", instance_type: "m5.xlarge", count: 6)],
    namespaces: [(name: "bulk"), (name: "app")],
    service_generators: [(namespace: "bulk", prefix: "svc", count: 500, endpoints: 10, pool: 40)],
    workloads: [(namespace: "app", name: "client", replicas: 12)],
    traffic: [
        (name: "start", from: "app/client", to: "bulk/svc/svc-0:80", protocol: TCP, rate: "50pps",
         arrival: Poisson, request: "512B", response: "4KiB"),
        (name: "end", from: "app/client", to: "bulk/svc/svc-99:80", protocol: TCP, rate: "50pps",
         arrival: Poisson, request: "512B", response: "4KiB", requests: 5),
    ],
    variants: [
        (name: "iptables", set: {"kube_proxy.mode": "Iptables"}),
        (name: "ipvs", set: {"kube_proxy.mode": "Ipvs"}),
        (name: "nftables", set: {"kube_proxy.mode": "Nftables"}),
        (name: "ebpf", set: {"kube_proxy.mode": "Ebpf"}),
    ],
)
"#;

fn four_variants() -> RunResult {
    let loaded = load_str("bench.ron", "bench", SCENARIO, &[]).expect("the bench scenario loads");
    RunResult {
        schema: RUN_SCHEMA,
        cnsim_version: env!("CARGO_PKG_VERSION").into(),
        scenario: loaded.name.clone(),
        seed: loaded.base.seed,
        duration_ns: loaded.base.duration.as_nanos(),
        variants: loaded.variants.iter().map(run_variant).collect(),
        scenario_file: Some("bench.ron".into()),
        scenario_text: Some(SCENARIO.into()),
    }
}

/// The run at 50 Service counts, its latencies and datapath figures scaled with the count.
fn fifty_points(base: &RunResult) -> SweepResult {
    let counts: Vec<u32> = (1..=50).map(|k| k * 200).collect();
    let points = counts
        .iter()
        .enumerate()
        .map(|(k, &count)| {
            let mut result = base.clone();
            result.scenario_file = None;
            result.scenario_text = None;
            let f = 1.0 + k as f64 / 10.0;
            for v in &mut result.variants {
                let scale = |x: &mut Option<u64>| *x = x.map(|x| (x as f64 * f) as u64);
                scale(&mut v.latency_ns.p50);
                scale(&mut v.latency_ns.p99);
                scale(&mut v.service_datapath.first_packet_latency_ns.p99);
                let sd = &mut v.service_datapath;
                sd.services = count;
                sd.rules_per_lookup = (sd.rules_per_lookup as f64 * f) as u64;
                sd.full_sync_ns = (sd.full_sync_ns as f64 * f) as u64;
                v.cross_az.monthly_cost_micro_usd = (v.cross_az.monthly_cost_micro_usd as f64 * f) as u64;
            }
            SweepPoint {
                index: k as u32,
                values: vec![count.to_string()],
                result,
            }
        })
        .collect();
    SweepResult {
        schema: SWEEP_SCHEMA,
        cnsim_version: base.cnsim_version.clone(),
        scenario: base.scenario.clone(),
        seed: base.seed,
        scenario_file: "bench.ron".into(),
        scenario_text: SCENARIO.into(),
        axes: vec![SweepAxis {
            path: "service_generators[0].count".into(),
            values: counts.iter().map(u32::to_string).collect(),
        }],
        points_total: 50,
        shard: None,
        points,
    }
}

fn bench(c: &mut Criterion) {
    let run = four_variants();
    let sweep = fifty_points(&run);
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.bench_function("render_run/4-variants", |b| {
        b.iter(|| cnsim_reports::render_run(black_box(&run)).expect("renders"))
    });
    g.bench_function("render_sweep/50-points", |b| {
        b.iter(|| cnsim_reports::render_sweep(black_box(&sweep)).expect("renders"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
