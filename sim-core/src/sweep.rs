//! Parameter sweeps: independent runs executed in parallel, results returned in input order.
//!
//! Parallelism is only across runs — each run is single-threaded and deterministic — so the
//! output is identical for any thread count. No reduction happens here; callers combine
//! results in input order, which keeps float aggregation sequential and reproducible.

use rayon::prelude::*;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Upper bound on the threads a sweep may ask for; more is certainly a configuration error.
pub const SWEEP_THREADS_MAX: usize = 1024;

/// Why a sweep could not start.
#[derive(Debug)]
pub enum SweepError {
    /// `Some(0)` threads, or more than `SWEEP_THREADS_MAX`.
    InvalidThreadCount(usize),
    /// Rayon could not build the requested pool (e.g. the OS refused to spawn threads).
    ThreadPool(rayon::ThreadPoolBuildError),
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepError::InvalidThreadCount(n) => write!(
                f,
                "invalid sweep thread count {n}: expected 1 to {SWEEP_THREADS_MAX}, or none for \
                 one per core"
            ),
            SweepError::ThreadPool(e) => write!(f, "could not start the sweep thread pool: {e}"),
        }
    }
}

impl std::error::Error for SweepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SweepError::InvalidThreadCount(_) => None,
            SweepError::ThreadPool(e) => Some(e),
        }
    }
}

/// Runs `f(index, input)` for every input in parallel and returns the outputs in input order.
///
/// `threads: None` uses rayon's global pool (one thread per core unless configured);
/// `Some(n)` builds a dedicated pool of exactly n threads for this call. A panic in `f`
/// propagates to the caller once the other runs stop.
pub fn run_ordered<I, O, F>(inputs: &[I], threads: Option<usize>, f: F) -> Result<Vec<O>, SweepError>
where
    I: Sync,
    O: Send,
    F: Fn(usize, &I) -> O + Sync,
{
    run_ordered_by_cost(inputs, threads, |_| 0, f)
}

/// `run_ordered`, starting the inputs with the highest `cost` estimate first. A sweep's runs
/// differ in size by orders of magnitude, and the biggest usually come last in grid order;
/// started last, one of them alone decides the wall time. Longest-first scheduling bounds
/// that. Only the order of execution changes: outputs are in input order, so results do not
/// depend on the estimate or on the thread count.
pub fn run_ordered_by_cost<I, O, C, F>(
    inputs: &[I],
    threads: Option<usize>,
    cost: C,
    f: F,
) -> Result<Vec<O>, SweepError>
where
    I: Sync,
    O: Send,
    C: Fn(&I) -> u64,
    F: Fn(usize, &I) -> O + Sync,
{
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    // Stable: equal estimates keep input order.
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&inputs[i])));
    // One worker per thread, each taking the next input in `order` from a shared cursor as it
    // frees up. (Splitting `order` into rayon tasks would not do this: a second thread steals
    // the back half and starts at the median input, not the second biggest.)
    let next = AtomicUsize::new(0);
    let run = || -> Vec<(usize, O)> {
        let workers = rayon::current_num_threads().clamp(1, inputs.len().max(1));
        (0..workers)
            .into_par_iter()
            .with_max_len(1)
            .flat_map_iter(|_| {
                std::iter::from_fn(|| {
                    let i = *order.get(next.fetch_add(1, Ordering::Relaxed))?;
                    Some((i, f(i, &inputs[i])))
                })
            })
            .collect()
    };
    let done = match threads {
        None => run(),
        Some(n) => {
            if n == 0 || n > SWEEP_THREADS_MAX {
                return Err(SweepError::InvalidThreadCount(n));
            }
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("sweep-{i}"))
                .build()
                .map_err(SweepError::ThreadPool)?;
            pool.install(run)
        }
    };
    // The cursor hands out each input once; back into input order.
    let mut done = done;
    done.sort_unstable_by_key(|&(i, _)| i);
    assert_eq!(done.len(), inputs.len(), "sweep lost results");
    let outputs: Vec<O> = done.into_iter().map(|(_, o)| o).collect();
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::RngStream;

    /// Deterministic busy work whose duration varies a lot with the input, so parallel runs
    /// finish out of order.
    fn work(index: usize, rounds: &u64) -> (usize, u64, u64) {
        let mut rng = RngStream::new(*rounds, "sweep-test");
        let mut acc = 0u64;
        for _ in 0..*rounds {
            acc = acc.wrapping_mul(31).wrapping_add(rng.next_u64());
        }
        (index, *rounds, acc)
    }

    #[test]
    fn results_are_in_input_order_for_any_thread_count() {
        // Long items first, so with several threads the later (short) ones finish first.
        let inputs: Vec<u64> = (0..40u64).map(|i| (40 - i) * (40 - i) * 50 + i % 7).collect();
        let sequential: Vec<_> = inputs.iter().enumerate().map(|(i, x)| work(i, x)).collect();
        for threads in [Some(1), Some(2), Some(4), None] {
            let got = run_ordered(&inputs, threads, work).unwrap();
            assert_eq!(got, sequential, "threads {threads:?}");
        }
    }

    #[test]
    fn cost_order_changes_scheduling_not_results() {
        let inputs: Vec<u64> = (0..30u64).map(|i| i * i * 40 + i % 5).collect();
        let sequential: Vec<_> = inputs.iter().enumerate().map(|(i, x)| work(i, x)).collect();
        for threads in [Some(1), Some(2), Some(3)] {
            let got = run_ordered_by_cost(&inputs, threads, |&x| x, work).unwrap();
            assert_eq!(got, sequential, "threads {threads:?}");
        }
        // On one thread the order of execution is the cost order, biggest first.
        let seen = std::sync::Mutex::new(Vec::new());
        run_ordered_by_cost(&inputs, Some(1), |&x| x, |i, _| seen.lock().unwrap().push(i)).unwrap();
        let want: Vec<usize> = (0..30).rev().collect();
        assert_eq!(*seen.lock().unwrap(), want);
    }

    #[test]
    fn two_threads_start_the_two_biggest_first() {
        let inputs: Vec<u64> = (0..12u64).collect();
        let seen = std::sync::Mutex::new(Vec::new());
        // The first two runs wait for each other, so both are started before either ends.
        let both_started = std::sync::Barrier::new(2);
        run_ordered_by_cost(
            &inputs,
            Some(2),
            |&x| x,
            |i, _| {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(i);
                    seen.len()
                };
                if n <= 2 {
                    both_started.wait();
                }
            },
        )
        .unwrap();
        let mut first_two = seen.lock().unwrap()[..2].to_vec();
        first_two.sort_unstable();
        assert_eq!(first_two, [10, 11]);
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let got = run_ordered(&[] as &[u64], Some(2), work).unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn invalid_thread_counts_are_errors() {
        for n in [0, SWEEP_THREADS_MAX + 1] {
            let err = run_ordered(&[1u64], Some(n), work).unwrap_err();
            assert!(matches!(err, SweepError::InvalidThreadCount(m) if m == n));
            assert!(err.to_string().contains("expected 1 to 1024"), "{err}");
        }
    }
}
