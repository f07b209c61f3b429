//! Event-queue throughput in the classic "hold" model (Jones 1986): the queue holds N pending
//! events; each measured operation pops the minimum and pushes one event at the popped time
//! plus an exponentially distributed increment (mean 1 ms), so the pending size stays N.
//!
//! One reported element = one hold operation = one pop plus one push (count pops and pushes
//! separately and the rate doubles). Project target: >= 20 M hold operations/s at N = 10^5
//! on the radix heap.
//!
//! Prefill happens once per (queue, N), outside the timed region; the same queue is reused
//! across criterion's iterations (`iter_custom`), which is valid because each operation leaves
//! the size unchanged. The increments are drawn up front so RNG cost is not measured.
//!
//! Quick run: `cargo bench --bench event_queue -- --quick`; one size: add a filter, e.g.
//! `-- hold/100000`.

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use sim_core::{BinaryHeapQueue, EventQueue, RadixHeapQueue, RngStream, SimTime};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A 16-byte payload, the size of a typical small event (ids plus a handle).
#[derive(Clone, Copy)]
struct Payload {
    a: u64,
    b: u64,
}

/// Precomputed increments; a power of two so the index is a mask.
const DELTAS: usize = 1 << 16;
const MEAN_DELTA: SimTime = SimTime::from_millis(1);

fn deltas() -> Vec<SimTime> {
    let mut rng = RngStream::new(1, "bench/hold/delta");
    (0..DELTAS).map(|_| rng.exponential(MEAN_DELTA)).collect()
}

fn prefill<Q: EventQueue<Payload>>(mut queue: Q, n: usize) -> Q {
    let mut rng = RngStream::new(1, "bench/hold/prefill");
    for i in 0..n as u64 {
        queue.push(rng.exponential(MEAN_DELTA), Payload { a: i, b: !i });
    }
    assert_eq!(queue.len(), n);
    queue
}

fn bench_hold<Q: EventQueue<Payload>>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    queue: Q,
    n: usize,
    deltas: &[SimTime],
) {
    let mut queue = prefill(queue, n);
    let mut cursor = 0usize;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let (at, ev) = queue.pop().expect("hold model keeps the queue non-empty");
                let delta = deltas[cursor & (DELTAS - 1)];
                cursor = cursor.wrapping_add(1);
                queue.push(
                    at + delta,
                    Payload {
                        a: ev.a,
                        b: ev.b.wrapping_add(1),
                    },
                );
            }
            let elapsed = start.elapsed();
            black_box(queue.peek_time());
            elapsed
        })
    });
    assert_eq!(queue.len(), n, "hold model must keep the pending size at N");
}

fn hold(c: &mut Criterion) {
    let deltas = deltas();
    for n in [1_000usize, 100_000, 1_000_000, 10_000_000] {
        let mut group = c.benchmark_group(format!("hold/{n}"));
        group.throughput(Throughput::Elements(1));
        // Large queues are slow to prefill and noisy anyway; keep the suite to about a minute.
        if n >= 1_000_000 {
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(2));
        } else {
            group.sample_size(20);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(2));
        }
        bench_hold(&mut group, "binary_heap", BinaryHeapQueue::with_capacity(n), n, &deltas);
        bench_hold(&mut group, "radix_heap", RadixHeapQueue::with_capacity(n), n, &deltas);
        group.finish();
    }
}

criterion_group!(benches, hold);
criterion_main!(benches);
