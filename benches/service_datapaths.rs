//! Wall-clock cost of the service datapaths' FAST implementations (what the simulator runs):
//! iptables `IptablesFast`, nftables `NftablesFast`, IPVS `Ipvs::new_fast`, eBPF `EbpfEngine`.
//!
//! - `lookup/<engine>/<N>`: one first-packet `lookup` (Origin::LocalPod, ClusterIP:80/TCP) to a
//!   Service drawn uniformly from N = 10^2 … 10^5 ClusterIP Services × 10 endpoints. The
//!   engine is full-synced once, outside the timed region (lazily, so a criterion filter that
//!   skips a benchmark skips its setup too); packets come from a precomputed list of
//!   `PACKETS` SplitMix draws, and the engine's own random draws from another SplitMix. The
//!   simulated kernel work grows with N for iptables (`Work.rules_evaluated`, about N/2 per
//!   hit) and IPVS (hash probes, about N/512): the fast evaluators must stay flat in WALL time
//!   anyway. The mean `Work` per lookup is printed once per engine and size (stderr).
//! - `sync/full/<engine>`: a full sync of 30,000 Services × 10 endpoints on a fresh engine
//!   (the first sync after start: generation, restore/transaction accounting, indexes).
//!   Target < 1 s each in release. Engine construction and drop are outside the timer.
//! - `sync/partial/<engine>`: a partial sync after one endpoint of one Service changed its
//!   address (30,000 × 10 programmed; alternates between the two states).
//!
//! Services: `testing::cluster_ip_services`, with addresses moved so that 10^5 Services × 10
//! endpoints stay distinct: `testing` puts VIPs at 172.20.0.1 + i (past its /16 above 65,534
//! Services) and wraps endpoint addresses modulo 65,534 (so at 10^4 × 10 and beyond endpoints
//! would repeat across Services). Here VIPs are 172.16.0.1 + i (172.16.0.0/12, room for 2^20)
//! and endpoints 10.64.0.1 + k (10.64.0.0/10). The node is `testing::node_view()` (cluster CIDR
//! 10.244.0.0/16); endpoint addresses outside it change nothing on this path, where the
//! masquerade decision depends on the client's source (10.244.1.5, inside).
//!
//! iptables at 10^5 × 10 endpoints is run as is (3.2 M nat rules): its setup is the slowest
//! of the suite (about 7 s of full sync and 2 GB peak, once), which is acceptable, so no
//! endpoint reduction is needed. eBPF's top size is 65,535 Services instead of 10^5: Cilium's
//! reverse-NAT id (`lb4_reverse_nat` key, `rev_nat_index`) is 16 bits and `EbpfEngine` panics
//! ("rev NAT ids exhausted") past 65,535 frontends, so `lookup/ebpf/65535` stands in for
//! `lookup/ebpf/100000`.
//!
//! Run: `cargo bench --bench service_datapaths` (about 3 minutes on a busy 2-core machine:
//! sample size 10, 1 s lookup windows, flat sampling for the syncs; the 10^5 setups and the
//! slow syncs dominate); one part: `-- lookup/nftables` or `-- sync/full`.

use cnsim_services::ebpf::{EbpfConfig, EbpfEngine};
use cnsim_services::iptables::{IptablesFast, ProxierConfig};
use cnsim_services::ipvs::{Ipvs, IpvsConfig};
use cnsim_services::nftables::{NftConfig, NftablesFast};
use cnsim_services::testing::{self, SplitMix};
use cnsim_services::{
    cost, Decision, Mode, NodeView, Origin, Packet, Protocol, RandomSource, ServiceDatapath, ServiceSet, Work,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use std::cell::OnceCell;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const ENGINES: [Mode; 4] = [Mode::Iptables, Mode::Nftables, Mode::Ipvs, Mode::Ebpf];
const LOOKUP_SIZES: [u32; 4] = [100, 1_000, 10_000, 100_000];
const ENDPOINTS: u32 = 10;
const SYNC_SERVICES: u32 = 30_000;
/// Precomputed first packets per (engine, size); a power of two so the index is a mask.
const PACKETS: usize = 1 << 12;
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
/// Frontends an eBPF datapath can hold: reverse-NAT ids are u16 (see the module doc).
const EBPF_MAX_FRONTENDS: u32 = u16::MAX as u32;

/// The Service count an engine is benchmarked at for size `n`.
fn size_for(mode: Mode, n: u32) -> u32 {
    match mode {
        Mode::Ebpf => n.min(EBPF_MAX_FRONTENDS),
        _ => n,
    }
}

fn engine(mode: Mode) -> Box<dyn ServiceDatapath> {
    match mode {
        Mode::Iptables => Box::new(IptablesFast::new(ProxierConfig::default())),
        Mode::Nftables => Box::new(NftablesFast::new(NftConfig::default())),
        Mode::Ipvs => Box::new(Ipvs::new_fast(IpvsConfig::default())),
        Mode::Ebpf => Box::new(EbpfEngine::new(EbpfConfig::default())),
    }
}

/// `n` ClusterIP Services × `e` endpoints, every VIP and endpoint address distinct (see the
/// module doc for why `testing`'s addresses are moved).
fn services(n: u32, e: u32) -> ServiceSet {
    assert!(n < 1 << 20 && u64::from(n) * u64::from(e) < 1 << 22, "fits the ranges");
    let mut set = testing::cluster_ip_services(n, e);
    let vip_base = u32::from(Ipv4Addr::new(172, 16, 0, 0));
    let ep_base = u32::from(Ipv4Addr::new(10, 64, 0, 0));
    for (i, (svc, eps)) in set.services.iter_mut().zip(&mut set.endpoints).enumerate() {
        svc.cluster_ip = Some(Ipv4Addr::from(vip_base + 1 + i as u32));
        for (j, ep) in eps[0].iter_mut().enumerate() {
            ep.ip = Ipv4Addr::from(ep_base + 1 + i as u32 * e + j as u32);
        }
    }
    set
}

/// First packets to uniformly drawn Services (multiply-shift over one SplitMix draw each).
fn packets(set: &ServiceSet, seed: u64) -> Vec<Packet> {
    let mut rng = SplitMix(seed);
    let n = set.services.len() as u64;
    (0..PACKETS)
        .map(|i| {
            let s = ((u64::from(rng.next_u32()) * n) >> 32) as usize;
            let svc = &set.services[s];
            Packet {
                src: CLIENT,
                dst: svc.cluster_ip.expect("ClusterIP"),
                sport: 32_768 + (i as u16 & 0x3fff),
                dport: svc.ports[0].port,
                proto: Protocol::Tcp,
            }
        })
        .collect()
}

/// A programmed engine and its packets, built on first use.
struct Prepared {
    dp: Box<dyn ServiceDatapath>,
    pkts: Vec<Packet>,
    rng: SplitMix,
    cursor: usize,
}

fn prepare(mode: Mode, set: &ServiceSet, node: &NodeView) -> Prepared {
    let n = set.services.len();
    let mut dp = engine(mode);
    let t = Instant::now();
    let stats = dp.full_sync(set, node);
    let sync_s = t.elapsed().as_secs_f64();
    let pkts = packets(set, 0xbe4c_0000 + n as u64);
    // Mean work over the whole packet list (one pass, outside the timing).
    let mut rng = SplitMix(0x5eed);
    let mut sum = Work::default();
    let mut dnat = 0usize;
    let mut model_ns = 0u64;
    for (i, p) in pkts.iter().enumerate() {
        let v = dp.lookup(p, Origin::LocalPod, i as u64, &mut rng, None);
        dnat += usize::from(matches!(v.decision, Decision::Dnat { .. }));
        model_ns += cost::lookup_cost(mode).ns(&v.work);
        sum.add(v.work);
    }
    assert_eq!(dnat, pkts.len(), "{mode}: every first packet to a VIP is DNATed");
    let k = pkts.len() as f64;
    eprintln!(
        "[lookup/{mode}/{n}] setup: full sync {sync_s:.2} s ({} objects); mean Work per lookup: \
         rules_evaluated {:.1}, hash_probes {:.2}, map_lookups {:.2}, random_draws {:.2}; \
         modelled kernel CPU {:.2} µs",
        stats.objects_written,
        f64::from(sum.rules_evaluated) / k,
        f64::from(sum.hash_probes) / k,
        f64::from(sum.map_lookups) / k,
        f64::from(sum.random_draws) / k,
        model_ns as f64 / k / 1e3,
    );
    Prepared {
        dp,
        pkts,
        rng,
        cursor: 0,
    }
}

fn lookup(c: &mut Criterion) {
    let node = testing::node_view();
    let mut group = c.benchmark_group("lookup");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for n in LOOKUP_SIZES {
        // Built once per size, on the first benchmark that runs (none if all are filtered out).
        let set: OnceCell<ServiceSet> = OnceCell::new();
        for mode in ENGINES {
            let mut prepared: Option<Prepared> = None;
            let size = size_for(mode, n);
            group.bench_function(BenchmarkId::new(mode.to_string(), size), |b| {
                let p = prepared.get_or_insert_with(|| {
                    if size == n {
                        prepare(mode, set.get_or_init(|| services(n, ENDPOINTS)), &node)
                    } else {
                        prepare(mode, &services(size, ENDPOINTS), &node)
                    }
                });
                let mask = p.pkts.len() - 1;
                b.iter(|| {
                    let pkt = &p.pkts[p.cursor & mask];
                    p.cursor = p.cursor.wrapping_add(1);
                    black_box(p.dp.lookup(pkt, Origin::LocalPod, p.cursor as u64, &mut p.rng, None))
                })
            });
            // The engine (up to GBs for iptables at 10^5) is dropped before the next one.
            drop(prepared);
        }
    }
    group.finish();
}

fn sync(c: &mut Criterion) {
    let node = testing::node_view();
    let set: OnceCell<ServiceSet> = OnceCell::new();
    let get = || set.get_or_init(|| services(SYNC_SERVICES, ENDPOINTS));

    let mut group = c.benchmark_group("sync");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        // Flat sampling, one iteration per sample for the slow syncs: 10 syncs plus a warm-up
        // one is the least criterion allows.
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(3));

    for mode in ENGINES {
        let mut printed = false;
        group.bench_function(BenchmarkId::new("full", mode.to_string()), |b| {
            let set = get();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut dp = engine(mode);
                    let t = Instant::now();
                    let stats = dp.full_sync(black_box(set), &node);
                    total += t.elapsed();
                    if !printed {
                        printed = true;
                        eprintln!(
                            "[sync/full/{mode}] {SYNC_SERVICES} × {ENDPOINTS}: {} objects, {} bytes \
                             written; modelled programming time {:.2} s",
                            stats.objects_written,
                            stats.bytes_written,
                            cost::sync_cost(mode).ns(&stats, u64::from(SYNC_SERVICES)) as f64 / 1e9
                        );
                    }
                    drop(dp);
                }
                total
            })
        });
    }

    // One endpoint of the middle Service moves: the two states a partial sync alternates between.
    let changed = (SYNC_SERVICES / 2) as usize;
    let moved: OnceCell<ServiceSet> = OnceCell::new();
    let get_moved = || {
        moved.get_or_init(|| {
            let mut s = get().clone();
            s.endpoints[changed][0][0].ip = Ipv4Addr::new(10, 255, 255, 254);
            s
        })
    };
    for mode in ENGINES {
        let mut dp: Option<Box<dyn ServiceDatapath>> = None;
        let mut flip = false;
        group.bench_function(BenchmarkId::new("partial", mode.to_string()), |b| {
            let (a, m) = (get(), get_moved());
            let dp = dp.get_or_insert_with(|| {
                let mut dp = engine(mode);
                dp.full_sync(a, &node);
                let stats = dp.partial_sync(m, &node, &[changed]);
                eprintln!(
                    "[sync/partial/{mode}] one endpoint moved in {SYNC_SERVICES} × {ENDPOINTS}: \
                     {} objects, {} bytes written; modelled programming time {:.1} ms",
                    stats.objects_written,
                    stats.bytes_written,
                    cost::sync_cost(mode).ns(&stats, u64::from(SYNC_SERVICES)) as f64 / 1e6
                );
                flip = true;
                dp
            });
            b.iter(|| {
                flip = !flip;
                let to = if flip { m } else { a };
                black_box(dp.partial_sync(black_box(to), &node, &[changed]))
            })
        });
        drop(dp);
    }
    group.finish();
}

criterion_group!(benches, lookup, sync);
criterion_main!(benches);
