//! Histogram tests against a sorted-vector reference.

use super::*;
use proptest::prelude::*;

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..300,
        any::<u64>(),
        (u64::MAX - 1000)..=u64::MAX,
        0u64..10_000_000_000,
        (0u32..64).prop_map(|b| 1u64 << b),
        (1u32..64).prop_map(|b| (1u64 << b) - 1),
    ]
}

fn values() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(value(), 1..300)
}

fn histogram_of(values: &[u64]) -> Histogram {
    let mut h = Histogram::new();
    for &v in values {
        h.record(v);
    }
    h
}

/// Nearest-rank percentile of a sorted slice.
fn exact_percentile(sorted: &[u64], bp: u32) -> u64 {
    let n = sorted.len() as u128;
    let rank = (u128::from(bp) * n).div_ceil(10_000).max(1);
    sorted[rank as usize - 1]
}

const BASIS_POINTS: [u32; 10] = [0, 1, 100, 2500, 5000, 9000, 9900, 9990, 9999, 10_000];

#[test]
fn empty_histogram() {
    let h = Histogram::new();
    assert_eq!(h.count(), 0);
    assert_eq!(
        (h.min(), h.max(), h.mean(), h.percentile(5000)),
        (None, None, None, None)
    );
    assert_eq!(h.sum(), 0);
    assert_eq!(h, Histogram::default());
}

#[test]
fn small_values_are_exact() {
    let h = histogram_of(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(h.percentile(5000), Some(5));
    assert_eq!(h.percentile(9000), Some(9));
    assert_eq!(h.percentile(9900), Some(10));
    assert_eq!(h.percentile(0), Some(1));
    assert_eq!(h.mean(), Some(5));
    assert_eq!(h.sum(), 55);
}

#[test]
fn large_values_report_the_bucket_upper_bound() {
    // 1000 lies in [1000, 1003] (width 4 for 512..1024); 1001 is in the same bucket.
    let h = histogram_of(&[1000, 1001, 5000]);
    assert_eq!(h.percentile(5000), Some(1003));
    assert_eq!(h.percentile(10_000), Some(5000));
    assert_eq!(h.percentile(0), Some(1003));
}

#[test]
#[should_panic(expected = "above 10000")]
fn percentile_rejects_more_than_p100() {
    histogram_of(&[1]).percentile(10_001);
}

#[test]
fn bucket_layout_edges() {
    assert_eq!(bucket_of(255), 255);
    assert_eq!(bucket_of(256), 256);
    assert_eq!(bucket_bounds(256), (256, 257));
    assert_eq!(bucket_of(u64::MAX), HISTOGRAM_BUCKETS - 1);
    assert_eq!(bucket_bounds(HISTOGRAM_BUCKETS - 1).1, u64::MAX);
    for i in 1..HISTOGRAM_BUCKETS {
        // Buckets tile the u64 range with no gap or overlap.
        assert_eq!(bucket_bounds(i - 1).1 + 1, bucket_bounds(i).0, "bucket {i}");
    }
}

#[test]
fn serde_form_is_sparse_and_validated() {
    let h = histogram_of(&[1, 1, 300]);
    let json = serde_json::to_string(&h).unwrap();
    assert_eq!(
        json,
        r#"{"count":3,"min":1,"max":300,"sum":"302","buckets":[[1,2],[278,1]]}"#
    );
    let empty = serde_json::to_string(&Histogram::new()).unwrap();
    assert_eq!(empty, r#"{"count":0,"min":null,"max":null,"sum":"0","buckets":[]}"#);
    assert_eq!(serde_json::from_str::<Histogram>(&empty).unwrap(), Histogram::new());
    let bad = [
        r#"{"count":4,"min":1,"max":300,"sum":"302","buckets":[[1,2],[278,1]]}"#,
        r#"{"count":3,"min":2,"max":300,"sum":"302","buckets":[[1,2],[278,1]]}"#,
        r#"{"count":3,"min":1,"max":300,"sum":"9999","buckets":[[1,2],[278,1]]}"#,
        r#"{"count":3,"min":1,"max":300,"sum":"302","buckets":[[278,1],[1,2]]}"#,
        r#"{"count":3,"min":1,"max":300,"sum":"302","buckets":[[1,2],[9999,1]]}"#,
        r#"{"count":3,"min":1,"max":300,"sum":"-1","buckets":[[1,2],[278,1]]}"#,
        r#"{"count":2,"min":1,"max":300,"sum":"302","buckets":[[1,2],[278,0]]}"#,
        r#"{"count":0,"min":null,"max":null,"sum":"5","buckets":[]}"#,
    ];
    for text in bad {
        assert!(serde_json::from_str::<Histogram>(text).is_err(), "{text}");
    }
}

proptest! {
    #[test]
    fn percentiles_bound_the_exact_value(values in values(), extra_bp in 0u32..=10_000) {
        let h = histogram_of(&values);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for bp in BASIS_POINTS.into_iter().chain([extra_bp]) {
            let exact = exact_percentile(&sorted, bp);
            let got = h.percentile(bp).unwrap();
            prop_assert!(got >= exact, "p{} got {} exact {}", bp, got, exact);
            prop_assert!(
                u128::from(got) <= u128::from(exact) + u128::from(exact) / 128 + 1,
                "p{} got {} exact {}", bp, got, exact
            );
            if exact < 256 {
                prop_assert_eq!(got, exact, "p{}", bp);
            }
        }
        prop_assert_eq!(h.percentile(10_000), sorted.last().copied());
    }

    #[test]
    fn aggregates_are_exact(values in values()) {
        let h = histogram_of(&values);
        let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
        prop_assert_eq!(h.count(), values.len() as u64);
        prop_assert_eq!(h.min(), values.iter().copied().min());
        prop_assert_eq!(h.max(), values.iter().copied().max());
        prop_assert_eq!(h.sum(), sum);
        prop_assert_eq!(h.mean(), Some((sum / values.len() as u128) as u64));
        let bucket_total: u64 = h.buckets().map(|(_, _, n)| n).sum();
        prop_assert_eq!(bucket_total, h.count());
        for (low, high, _) in h.buckets() {
            prop_assert!(values.iter().any(|v| (low..=high).contains(v)));
        }
    }

    #[test]
    fn merge_equals_recording_the_union(a in values(), b in values()) {
        let union: Vec<u64> = a.iter().chain(&b).copied().collect();
        let mut ab = histogram_of(&a);
        ab.merge(&histogram_of(&b));
        let mut ba = histogram_of(&b);
        ba.merge(&histogram_of(&a));
        let expected = histogram_of(&union);
        prop_assert_eq!(&ab, &expected);
        prop_assert_eq!(&ba, &expected);
        let mut with_empty = expected.clone();
        with_empty.merge(&Histogram::new());
        prop_assert_eq!(&with_empty, &expected);
    }

    #[test]
    fn record_n_equals_repeated_record(v in value(), n in 0u64..50) {
        let mut once = Histogram::new();
        once.record_n(v, n);
        let repeated = histogram_of(&vec![v; n as usize]);
        prop_assert_eq!(once, repeated);
    }

    #[test]
    fn serde_round_trips(values in prop::collection::vec(value(), 0..300)) {
        let h = histogram_of(&values);
        let json = serde_json::to_string(&h).unwrap();
        let back: Histogram = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &h);
        for bp in BASIS_POINTS {
            prop_assert_eq!(back.percentile(bp), h.percentile(bp));
        }
    }

    #[test]
    fn buckets_hold_their_values(v in value()) {
        let i = bucket_of(v);
        let (low, high) = bucket_bounds(i);
        prop_assert!(low <= v && v <= high);
        if v >= 256 {
            prop_assert!(u128::from(high - low + 1) * 128 <= u128::from(low));
        } else {
            prop_assert_eq!((low, high), (v, v));
        }
        if v > 0 {
            prop_assert!(bucket_of(v - 1) <= i);
        }
    }
}
