//! Integer log-linear histograms (HdrHistogram-like) for latencies and sizes.
//!
//! Values below 256 get one bucket each (exact); above, each power of two [2^e, 2^(e+1)) is
//! split into 128 equal buckets, so a bucket is at most 1/128 of its lower bound wide.
//! Everything is integer — counts, sum, bounds — so merging is exact and commutative and the
//! reported percentiles do not depend on the order values arrived in or on thread timing.

use serde::{Deserialize, Serialize};
use std::fmt;

/// log2 of the number of buckets per power of two.
const SUB_BITS: u32 = 7;
/// Buckets per power of two above the exact range (and per storage group).
const GROUP_SIZE: usize = 1 << SUB_BITS;
/// Values below this get one bucket each.
const EXACT_LIMIT: u64 = 2 << SUB_BITS;
/// Storage groups: two exact groups (0..256) then one per exponent 8..=63.
const GROUPS: usize = 2 + (64 - 8);
/// Total number of buckets; bucket indices are 0..HISTOGRAM_BUCKETS.
pub const HISTOGRAM_BUCKETS: usize = GROUPS * GROUP_SIZE;

/// Bucket index of value `v`: `v` itself below 256, else 128 * (e - 6) + the 7 bits below
/// the leading one, where e is the position of the leading one.
#[inline]
fn bucket_of(v: u64) -> usize {
    if v < EXACT_LIMIT {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) as usize & (GROUP_SIZE - 1);
    ((e as usize - 6) << SUB_BITS) + sub
}

/// Inclusive [low, high] of the values in bucket `i`.
fn bucket_bounds(i: usize) -> (u64, u64) {
    assert!(i < HISTOGRAM_BUCKETS, "histogram bucket {i} out of range");
    if i < EXACT_LIMIT as usize {
        return (i as u64, i as u64);
    }
    let e = (i >> SUB_BITS) as u32 + 6;
    let sub = (i & (GROUP_SIZE - 1)) as u64;
    let width_log2 = e - SUB_BITS;
    let low = (1u64 << e) + (sub << width_log2);
    // Cannot overflow: the last bucket's high is exactly u64::MAX.
    (low, low + ((1u64 << width_log2) - 1))
}

type Group = Box<[u64; GROUP_SIZE]>;

/// A histogram of u64 values. Storage is allocated per power of two on first use (1 KiB
/// each), so a latency histogram spanning a few decades costs a few KiB; record is O(1).
#[derive(Clone)]
pub struct Histogram {
    /// `groups[i >> 7][i & 127]` is the count of bucket i; None means all zero.
    groups: [Option<Group>; GROUPS],
    count: u64,
    /// u64::MAX / 0 while empty; only read through `min()` / `max()`.
    min: u64,
    max: u64,
    sum: u128,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            groups: std::array::from_fn(|_| None),
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    /// Records `n` occurrences of `v`. Panics if the total count would exceed u64::MAX.
    #[inline]
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.add_to_bucket(bucket_of(v), n);
        self.count = self.count.checked_add(n).expect("Histogram: count overflows u64");
        // Cannot overflow: count <= u64::MAX, so sum <= u64::MAX^2 < u128::MAX.
        self.sum += u128::from(v) * u128::from(n);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    #[inline]
    fn add_to_bucket(&mut self, i: usize, n: u64) {
        let group = self.groups[i >> SUB_BITS].get_or_insert_with(|| Box::new([0; GROUP_SIZE]));
        let slot = &mut group[i & (GROUP_SIZE - 1)];
        *slot = slot.checked_add(n).expect("Histogram: bucket count overflows u64");
    }

    /// Adds every value of `other`; the result equals recording the union, in any order.
    pub fn merge(&mut self, other: &Histogram) {
        for (g, group) in other.groups.iter().enumerate() {
            let Some(group) = group else { continue };
            for (offset, &n) in group.iter().enumerate() {
                if n > 0 {
                    self.add_to_bucket((g << SUB_BITS) + offset, n);
                }
            }
        }
        self.count = self
            .count
            .checked_add(other.count)
            .expect("Histogram: count overflows u64");
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Exact smallest value recorded.
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// Exact largest value recorded.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// Exact sum of all values recorded.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Exact mean, rounded down.
    pub fn mean(&self) -> Option<u64> {
        // sum / count <= max, so it fits.
        (self.count > 0).then(|| (self.sum / u128::from(self.count)) as u64)
    }

    /// Nearest-rank percentile in basis points (p50 = 5000, p99 = 9900, p99.9 = 9990).
    ///
    /// The rank is max(1, ceil(bp * count / 10000)); the answer is the upper bound of the
    /// bucket holding that rank, clamped into [min, max]. So it is never below the exact
    /// value, at most 1/128 above it, exact below 256, and p10000 is exactly the max.
    /// Panics if `basis_points > 10000`.
    pub fn percentile(&self, basis_points: u32) -> Option<u64> {
        assert!(
            basis_points <= 10_000,
            "Histogram::percentile: {basis_points} basis points is above 10000 (p100)"
        );
        if self.count == 0 {
            return None;
        }
        let rank = (u128::from(basis_points) * u128::from(self.count))
            .div_ceil(10_000)
            .max(1);
        let mut seen: u128 = 0;
        for (i, n) in self.nonzero_buckets() {
            seen += u128::from(n);
            if seen >= rank {
                let (_, high) = bucket_bounds(i);
                return Some(high.clamp(self.min, self.max));
            }
        }
        unreachable!("Histogram: bucket counts sum below count")
    }

    /// Non-empty buckets as (low, high, count), ascending; low..=high is the value range.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.nonzero_buckets().map(|(i, n)| {
            let (low, high) = bucket_bounds(i);
            (low, high, n)
        })
    }

    fn nonzero_buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(g, group)| group.as_ref().map(|group| (g, group)))
            .flat_map(|(g, group)| {
                group
                    .iter()
                    .enumerate()
                    .filter(|&(_, &n)| n > 0)
                    .map(move |(offset, &n)| ((g << SUB_BITS) + offset, n))
            })
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Histogram {
    /// Equal contents; whether a group of zeros is allocated does not matter.
    fn eq(&self, other: &Self) -> bool {
        (self.count, self.min(), self.max(), self.sum) == (other.count, other.min(), other.max(), other.sum)
            && self.nonzero_buckets().eq(other.nonzero_buckets())
    }
}

impl Eq for Histogram {}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("sum", &self.sum)
            .field("buckets", &self.nonzero_buckets().count())
            .finish()
    }
}

/// The serde form: sparse (bucket index, count) pairs plus the exact aggregates. `sum` is a
/// decimal string because a u128 is not portable through every text format (JSON readers
/// often lose precision above 2^53, some formats lack 128-bit integers).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistogramRepr {
    count: u64,
    min: Option<u64>,
    max: Option<u64>,
    sum: String,
    buckets: Vec<(u32, u64)>,
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HistogramRepr {
            count: self.count,
            min: self.min(),
            max: self.max(),
            sum: self.sum.to_string(),
            buckets: self.nonzero_buckets().map(|(i, n)| (i as u32, n)).collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = HistogramRepr::deserialize(d)?;
        Histogram::from_repr(repr).map_err(serde::de::Error::custom)
    }
}

impl Histogram {
    /// Rebuilds a histogram, checking that the parts are consistent with each other.
    fn from_repr(repr: HistogramRepr) -> Result<Histogram, String> {
        let sum: u128 = repr
            .sum
            .parse()
            .map_err(|_| format!("histogram sum {:?} is not a u128 in decimal", repr.sum))?;
        let mut h = Histogram::new();
        let mut previous: Option<usize> = None;
        let mut total: u64 = 0;
        for &(index, n) in &repr.buckets {
            let i = index as usize;
            if i >= HISTOGRAM_BUCKETS || previous.is_some_and(|p| i <= p) || n == 0 {
                return Err(format!(
                    "histogram bucket ({index}, {n}): indices must be increasing and below \
                     {HISTOGRAM_BUCKETS}, counts positive"
                ));
            }
            total = total.checked_add(n).ok_or("histogram bucket counts overflow u64")?;
            h.add_to_bucket(i, n);
            previous = Some(i);
        }
        if total != repr.count {
            return Err(format!(
                "histogram count {} differs from the bucket total {total}",
                repr.count
            ));
        }
        match (repr.min, repr.max, repr.buckets.first(), repr.buckets.last()) {
            (None, None, None, None) if sum == 0 => {}
            (Some(min), Some(max), Some(&(first, _)), Some(&(last, _)))
                if min <= max
                    && bucket_of(min) == first as usize
                    && bucket_of(max) == last as usize
                    && u128::from(min) * u128::from(total) <= sum
                    && sum <= u128::from(max) * u128::from(total) =>
            {
                h.min = min;
                h.max = max;
            }
            _ => {
                return Err("histogram min, max and sum are inconsistent with its buckets".into());
            }
        }
        h.count = total;
        h.sum = sum;
        Ok(h)
    }
}

#[cfg(test)]
mod tests;
