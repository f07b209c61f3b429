//! The policy engine at DESIGN.md's scale: compiling 10,000 NetworkPolicies over 150,000 pods
//! (target under 2 s, and the bytes the compiled structures hold), single verdicts (target 10
//! M/s compiled), and a 1,000 x 1,000 pod matrix on one port (target under 1 s). The same
//! questions on a 1,000-pod cluster show the cost of cache misses; the reference engine is
//! timed there too.

use cnsim_policy::testing::{scale_case, Scale};
use cnsim_policy::{Compiled, Connection, Endpoint, PodId, PolicyEngine, Protocol, Reference};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;

/// Deterministic pseudo-random connections between pods of the case.
fn queries(pods: u32, n: usize) -> Vec<Connection> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let ports = [80, 443, 8080, 9090, 5432, 30080];
    (0..n)
        .map(|_| {
            let r = next();
            Connection {
                src: Endpoint::Pod(PodId((r % u64::from(pods)) as u32)),
                dst: Endpoint::Pod(PodId(((r >> 24) % u64::from(pods)) as u32)),
                protocol: Protocol::Tcp,
                port: ports[(r >> 48) as usize % ports.len()],
            }
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let case = scale_case(Scale::TARGET);
    let (cluster, policies) = (&case.cluster, &case.policies);
    let started = Instant::now();
    let compiled = Compiled::build(cluster, policies, case.options);
    println!(
        "scale: {} pods, {} NetworkPolicies, {} cluster policies; one build {:.3} s; compiled structures hold {:.1} MiB ({} bytes, {:.0} B/pod)",
        cluster.pods.len(),
        policies.network_policies.len(),
        policies.cluster_policies.len(),
        started.elapsed().as_secs_f64(),
        compiled.memory_bytes() as f64 / (1 << 20) as f64,
        compiled.memory_bytes(),
        compiled.memory_bytes() as f64 / cluster.pods.len() as f64,
    );

    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("150k_pods_10k_policies", |b| {
        b.iter_batched(
            || (),
            |_| Compiled::build(cluster, policies, case.options),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let qs = queries(cluster.pods.len() as u32, 4096);
    let allowed = qs.iter().filter(|q| compiled.is_allowed(q)).count();
    println!("single verdicts: {allowed} of {} sampled connections allowed", qs.len());
    let mut group = c.benchmark_group("verdict");
    group.throughput(Throughput::Elements(qs.len() as u64));
    group.bench_function("compiled_is_allowed", |b| {
        b.iter(|| qs.iter().filter(|q| compiled.is_allowed(black_box(q))).count())
    });
    group.bench_function("compiled_evaluate_explained", |b| {
        b.iter(|| qs.iter().filter(|q| compiled.evaluate(black_box(q)).allowed).count())
    });
    group.finish();

    // 1,000 pods spread over the namespaces (every 150th), all pairs, TCP 8080.
    let step = cluster.pods.len() as u32 / 1000;
    let pods: Vec<Endpoint> = (0..1000).map(|i| Endpoint::Pod(PodId(i * step))).collect();
    let mut group = c.benchmark_group("matrix");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("1000x1000_tcp_8080", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for &src in &pods {
                for &dst in &pods {
                    allowed += u32::from(compiled.is_allowed(&Connection {
                        src,
                        dst,
                        protocol: Protocol::Tcp,
                        port: 8080,
                    }));
                }
            }
            allowed
        })
    });
    group.finish();

    let small = scale_case(Scale {
        namespaces: 20,
        pods_per_namespace: 50,
        policies_per_namespace: 10,
        pods_per_node: 30,
    });
    let reference = Reference::new(&small.cluster, &small.policies, small.options);
    let small_qs = queries(small.cluster.pods.len() as u32, 256);
    let small_compiled = Compiled::build(&small.cluster, &small.policies, small.options);
    let mut group = c.benchmark_group("verdict");
    group.throughput(Throughput::Elements(small_qs.len() as u64));
    group.bench_function("compiled_is_allowed_1k_pods_in_cache", |b| {
        b.iter(|| {
            small_qs
                .iter()
                .filter(|q| small_compiled.is_allowed(black_box(q)))
                .count()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("reference");
    group.throughput(Throughput::Elements(small_qs.len() as u64));
    group.bench_function("1k_pods_200_policies_evaluate", |b| {
        b.iter(|| {
            small_qs
                .iter()
                .filter(|q| reference.evaluate(black_box(q)).allowed)
                .count()
        })
    });
    group.finish();
}

criterion_group!(policy, benches);
criterion_main!(policy);
