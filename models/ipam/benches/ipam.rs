//! IPAM benches: max pods for every catalog type, and ipamd's pools for a 5,000-node cluster
//! scaling to 150,000 pods, with ticks and ENI attaches driven by a plain event loop.

use cnsim_ipam::vpc_cni::config::IpamdConfig;
use cnsim_ipam::{
    max_pods, CniVersion, InstanceCatalog, IpamEngine, MaxPodsQuery, NodeJoin, SubnetSpec, Subnets, VpcCni,
};
use criterion::{criterion_group, criterion_main, Criterion};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

const NODES: u32 = 5_000;
const PODS_PER_NODE: u32 = 30;
const S: u64 = 1_000_000_000;
/// Each node gets a pod every 20 s: 30 pods over 10 minutes.
const POD_INTERVAL_NS: u64 = 20 * S;
const END_NS: u64 = 15 * 60 * S;

fn bench_max_pods(c: &mut Criterion) {
    let catalog = InstanceCatalog::embedded();
    c.bench_function("max_pods/all_catalog_types_x4_modes", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for ty in catalog.iter() {
                for (custom, pd) in [(false, false), (true, false), (false, true), (true, true)] {
                    let q = MaxPodsQuery {
                        instance: ty,
                        cni_version: Some(CniVersion { major: 1, minor: 19 }),
                        custom_networking: custom,
                        prefix_delegation: pd,
                        max_eni: None,
                        show_max_allowed: true,
                    };
                    sum += u64::from(max_pods(&q).unwrap().value);
                }
            }
            black_box(sum)
        })
    });
}

struct Outcome {
    running: u64,
    reconciles: u64,
    bytes_per_node: usize,
    ec2_calls: u64,
}

/// 3 AZs, each with the nodes' /16 and a tagged /16 for subnet discovery.
fn cluster() -> (VpcCni, Vec<Ipv4Addr>) {
    let mut specs = Vec::new();
    for az in 0..3u8 {
        for (k, tagged) in [(0u8, false), (1, true)] {
            specs.push(SubnetSpec {
                name: format!("az{az}-{k}"),
                cidr: format!("10.{}.0.0/16", az * 2 + k).parse().unwrap(),
                az: format!("az-{az}"),
                cni_discovery_tag: tagged,
            });
        }
    }
    let mut cni = VpcCni::new(IpamdConfig::default(), Subnets::new(specs).unwrap()).unwrap();
    let ips: Vec<Ipv4Addr> = (0..NODES)
        .map(|n| {
            let az = (n % 3) as u8;
            let k = n / 3 + 4;
            Ipv4Addr::new(10, az * 2, (k / 256) as u8, (k % 256) as u8)
        })
        .collect();
    for &ip in &ips {
        cni.reserve_node_address(ip).unwrap();
    }
    (cni, ips)
}

fn run_cluster() -> Outcome {
    let ty = InstanceCatalog::embedded().get("m5.xlarge").unwrap();
    let (mut cni, ips) = cluster();
    // (time, kind, node): kind 0 = ipamd wakeup, 1 = pod arrival or retry.
    let mut events: BinaryHeap<Reverse<(u64, u8, u32)>> = BinaryHeap::new();
    for (n, &ip) in ips.iter().enumerate() {
        let join = NodeJoin {
            node: n as u32,
            name: "node",
            instance: ty,
            primary_ip: ip,
            subnet: "10.0.0.0/16".parse().unwrap(),
        };
        cni.add_node(&join, 0).unwrap();
        events.push(Reverse((cni.next_wakeup(n as u32).unwrap(), 0, n as u32)));
        // Arrivals staggered across nodes within the first interval.
        events.push(Reverse(((n as u64 * POD_INTERVAL_NS) / u64::from(NODES), 1, n as u32)));
    }
    let mut wanted = vec![0u32; NODES as usize];
    let mut running = vec![0u32; NODES as usize];
    let mut reconciles = 0u64;
    let mut next_pod = 0u32;
    while let Some(Reverse((t, kind, n))) = events.pop() {
        if t > END_NS {
            break;
        }
        let i = n as usize;
        if kind == 0 {
            cni.reconcile(n, t);
            reconciles += 1;
            if let Some(w) = cni.next_wakeup(n) {
                events.push(Reverse((w, 0, n)));
            }
            continue;
        }
        if wanted[i] < PODS_PER_NODE && t >= u64::from(wanted[i]) * POD_INTERVAL_NS {
            wanted[i] += 1;
            if wanted[i] < PODS_PER_NODE {
                events.push(Reverse((t + POD_INTERVAL_NS, 1, n)));
            }
        }
        while running[i] < wanted[i] {
            match cni.assign_pod(n, next_pod, t) {
                Ok(_) => {
                    next_pod += 1;
                    running[i] += 1;
                }
                Err(e) => {
                    let retry = match e {
                        cnsim_ipam::IpamError::Retry { retry_after_ns, .. } => retry_after_ns,
                        other => panic!("{other}"),
                    };
                    events.push(Reverse((t + retry, 1, n)));
                    break;
                }
            }
        }
    }
    let bytes: usize = (0..NODES).map(|n| cni.node_bytes(n)).sum();
    Outcome {
        running: running.iter().map(|&r| u64::from(r)).sum(),
        reconciles,
        bytes_per_node: bytes / NODES as usize,
        ec2_calls: cni.ec2_calls().total(),
    }
}

fn bench_cluster(c: &mut Criterion) {
    let start = Instant::now();
    let o = run_cluster();
    let wall = start.elapsed();
    assert_eq!(o.running, u64::from(NODES * PODS_PER_NODE), "every pod got an address");
    println!(
        "vpc_cni cluster: {NODES} nodes, {} pods running, {} ipamd reconciles, {} EC2 calls, {:.2?} wall, {} bytes of ipamd state per node",
        o.running, o.reconciles, o.ec2_calls, wall, o.bytes_per_node
    );
    let mut g = c.benchmark_group("vpc_cni");
    g.sample_size(10);
    g.bench_function("5000_nodes_to_150000_pods_15min", |b| {
        b.iter(|| black_box(run_cluster().running))
    });
    g.finish();
}

criterion_group!(benches, bench_max_pods, bench_cluster);
criterion_main!(benches);
