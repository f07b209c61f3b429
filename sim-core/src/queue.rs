//! The pending-event set: a priority queue ordered by (time, insertion sequence).
//!
//! Ties in time pop in push order (FIFO). That rule is part of determinism: two events at the
//! same nanosecond always execute in the order the model scheduled them, whatever the queue.
//! Two implementations: `BinaryHeapQueue` (general, any push order) and `RadixHeapQueue`
//! (monotone: faster, but pushes may never precede the last popped time).

use crate::time::SimTime;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// A priority queue of events keyed by (time, insertion sequence).
pub trait EventQueue<E> {
    /// Queues `ev` at `at`; among equal times it pops after everything pushed before it.
    fn push(&mut self, at: SimTime, ev: E);
    /// Removes and returns the earliest event (lowest time, then lowest sequence).
    fn pop(&mut self) -> Option<(SimTime, E)>;
    /// The time `pop` would return, without removing anything.
    fn peek_time(&self) -> Option<SimTime>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug)]
struct HeapEntry<E> {
    time: SimTime,
    seq: u64,
    ev: E,
}

impl<E> PartialEq for HeapEntry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl<E> Eq for HeapEntry<E> {}

impl<E> PartialOrd for HeapEntry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for HeapEntry<E> {
    /// Reversed, because `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// `std::collections::BinaryHeap` ordered by (time, seq): O(log n) push and pop, any order of
/// pushes. The reference implementation and the fallback for non-monotone uses.
#[derive(Clone, Debug)]
pub struct BinaryHeapQueue<E> {
    heap: BinaryHeap<HeapEntry<E>>,
    next_seq: u64,
}

impl<E> BinaryHeapQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    pub fn with_capacity(n: usize) -> Self {
        BinaryHeapQueue {
            heap: BinaryHeap::with_capacity(n),
            next_seq: 0,
        }
    }
}

impl<E> Default for BinaryHeapQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> for BinaryHeapQueue<E> {
    fn push(&mut self, at: SimTime, ev: E) {
        let seq = self.next_seq;
        // 2^64 pushes would take centuries; reaching it means a runaway model.
        self.next_seq = seq.checked_add(1).expect("BinaryHeapQueue: sequence overflow");
        self.heap.push(HeapEntry { time: at, seq, ev });
    }

    fn pop(&mut self) -> Option<(SimTime, E)> {
        self.heap.pop().map(|e| (e.time, e.ev))
    }

    fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// Bits per radix digit. Each event moves at most 64 / DIGIT_BITS times; wider digits mean
/// fewer moves but more buckets to skip over when looking for the minimum.
const DIGIT_BITS: u32 = 4;
const DIGITS: usize = 1 << DIGIT_BITS;
const LEVELS: usize = 64 / DIGIT_BITS as usize;
/// Bucket `level * DIGITS + digit`; digit 0 slots stay empty (see `bucket_of`).
const RADIX_BUCKETS: usize = LEVELS * DIGITS;
const OCCUPANCY_WORDS: usize = RADIX_BUCKETS / 64;
// Levels must tile the 64 time bits exactly and the occupancy bitmap must cover every bucket.
const _: () = assert!(64 % DIGIT_BITS == 0 && RADIX_BUCKETS % 64 == 0);

/// Upper bound on the up-front reservation of `with_capacity`: only the current-time deque
/// can be sized ahead (which bucket an event lands in depends on the times), and reserving
/// millions of slots there would mostly waste memory.
const RADIX_RESERVE_LIMIT: usize = 4096;

/// A monotone radix heap on time with FIFO tie-break (Ahuja, Mehlhorn, Orlin, Tarjan 1990),
/// with 16-ary digits.
///
/// Valid because a discrete-event simulation never schedules before the current time: every
/// push is ≥ the last popped time (`last`), asserted. An event at time t > last lives in the
/// bucket (level, digit) where `level` is the highest 4-bit digit in which t differs from
/// `last` and `digit` is t's value there (necessarily above last's); events at exactly
/// `last` live in the `current` deque. Bucket index order is value order, so the lowest
/// non-empty bucket holds the minimum. Popping from an empty `current` empties that bucket:
/// its minimum becomes the new `last` and its other events share every digit from `level` up
/// with it, so they move to strictly lower levels. Each event moves at most 16 times; push is
/// O(1) and pop amortized O(16).
///
/// The (time, seq) order needs no stored sequence numbers: every bucket is kept in push
/// order, because a push appends the newest event and a redistribution (which only happens
/// when all lower buckets are empty) appends a bucket's events to empty buckets in their
/// existing order. Hence the events reaching `current` for one time arrive in push order.
#[derive(Clone, Debug)]
pub struct RadixHeapQueue<E> {
    /// Events at exactly `last`, in push order.
    current: VecDeque<E>,
    /// Events at times above `last`, by `bucket_of`, each bucket in push order.
    buckets: [Vec<(u64, E)>; RADIX_BUCKETS],
    /// Minimum time in each bucket (u64::MAX when empty), so pop and peek need no scan.
    bucket_min: [u64; RADIX_BUCKETS],
    /// Bit b of word w set iff bucket 64 * w + b is non-empty.
    occupied: [u64; OCCUPANCY_WORDS],
    /// The last popped time (0 before the first pop): the floor for pushes.
    last: u64,
    len: usize,
}

impl<E> RadixHeapQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// `n` is a hint: up to `RADIX_RESERVE_LIMIT` slots are reserved for same-time events;
    /// buckets grow on demand and keep their capacity, so a steady state allocates nothing.
    pub fn with_capacity(n: usize) -> Self {
        RadixHeapQueue {
            current: VecDeque::with_capacity(n.min(RADIX_RESERVE_LIMIT)),
            buckets: std::array::from_fn(|_| Vec::new()),
            bucket_min: [u64::MAX; RADIX_BUCKETS],
            occupied: [0; OCCUPANCY_WORDS],
            last: 0,
            len: 0,
        }
    }

    /// The last popped time: pushes earlier than this panic.
    pub fn last_popped(&self) -> SimTime {
        SimTime(self.last)
    }

    #[inline]
    fn bucket_of(time: u64, last: u64) -> usize {
        debug_assert!(time > last);
        let level = (63 - (time ^ last).leading_zeros()) / DIGIT_BITS;
        let digit = (time >> (level * DIGIT_BITS)) as usize & (DIGITS - 1);
        debug_assert!(digit > 0, "radix heap: time above last must have a higher digit");
        level as usize * DIGITS + digit
    }

    #[inline]
    fn first_occupied(&self) -> Option<usize> {
        self.occupied
            .iter()
            .position(|&word| word != 0)
            .map(|w| w * 64 + self.occupied[w].trailing_zeros() as usize)
    }

    #[inline]
    fn put(&mut self, i: usize, time: u64, ev: E) {
        self.buckets[i].push((time, ev));
        self.bucket_min[i] = self.bucket_min[i].min(time);
        self.occupied[i / 64] |= 1u64 << (i % 64);
    }

    /// Moves the lowest non-empty bucket into `current` and lower buckets. Requires `current`
    /// empty and returns false if there was nothing to move.
    fn refill_current(&mut self) -> bool {
        assert!(self.current.is_empty());
        let Some(i) = self.first_occupied() else {
            return false;
        };
        let new_last = self.bucket_min[i];
        assert!(new_last > self.last, "radix heap: bucket minimum not above last");
        self.last = new_last;
        self.occupied[i / 64] &= !(1u64 << (i % 64));
        self.bucket_min[i] = u64::MAX;
        // Taking the Vec out and putting it back keeps its capacity for the next round.
        let mut moving = std::mem::take(&mut self.buckets[i]);
        for (time, ev) in moving.drain(..) {
            if time == new_last {
                self.current.push_back(ev);
            } else {
                let j = Self::bucket_of(time, new_last);
                debug_assert!(j / DIGITS < i / DIGITS, "radix heap: event did not move down");
                self.put(j, time, ev);
            }
        }
        self.buckets[i] = moving;
        assert!(!self.current.is_empty(), "radix heap: bucket minimum not found");
        true
    }
}

impl<E> Default for RadixHeapQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> for RadixHeapQueue<E> {
    #[inline]
    fn push(&mut self, at: SimTime, ev: E) {
        let time = at.0;
        assert!(
            time >= self.last,
            "RadixHeapQueue: push at {at} is earlier than the last popped time {}; \
             the model scheduled an event in the past",
            SimTime(self.last)
        );
        if time == self.last {
            self.current.push_back(ev);
        } else {
            self.put(Self::bucket_of(time, self.last), time, ev);
        }
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.current.is_empty() && !self.refill_current() {
            assert_eq!(self.len, 0, "radix heap: length out of sync");
            return None;
        }
        let ev = self.current.pop_front()?;
        self.len -= 1;
        Some((SimTime(self.last), ev))
    }

    #[inline]
    fn peek_time(&self) -> Option<SimTime> {
        if !self.current.is_empty() {
            Some(SimTime(self.last))
        } else {
            self.first_occupied().map(|i| SimTime(self.bucket_min[i]))
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Push at last popped time + delta (always valid for a monotone queue).
        Push(u64),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Mostly tiny deltas, so many events share a time and FIFO ties are exercised.
            4 => (0u64..3).prop_map(Op::Push),
            2 => (0u64..2_000).prop_map(Op::Push),
            1 => any::<u64>().prop_map(Op::Push),
            1 => (0u32..64).prop_map(|b| Op::Push(1u64 << b)),
            4 => Just(Op::Pop),
        ]
    }

    /// The reference: a Vec scanned for the minimum (time, seq).
    #[derive(Default)]
    struct Reference {
        items: Vec<(u64, u64, u64)>,
        next_seq: u64,
    }

    impl Reference {
        fn push(&mut self, time: u64, id: u64) {
            self.items.push((time, self.next_seq, id));
            self.next_seq += 1;
        }
        fn pop(&mut self) -> Option<(SimTime, u64)> {
            let (index, _) = self.items.iter().enumerate().min_by_key(|(_, &(t, s, _))| (t, s))?;
            let (t, _, id) = self.items.remove(index);
            Some((SimTime(t), id))
        }
        fn peek_time(&self) -> Option<SimTime> {
            self.items.iter().map(|&(t, _, _)| SimTime(t)).min()
        }
    }

    fn check_against_reference<Q: EventQueue<u64>>(mut q: Q, ops: &[Op]) -> Result<(), TestCaseError> {
        let mut reference = Reference::default();
        let mut last = 0u64;
        for (id, op) in (0u64..).zip(ops) {
            match *op {
                Op::Push(delta) => {
                    let at = last.saturating_add(delta);
                    q.push(SimTime(at), id);
                    reference.push(at, id);
                }
                Op::Pop => {
                    let got = q.pop();
                    prop_assert_eq!(got, reference.pop());
                    if let Some((t, _)) = got {
                        prop_assert!(t.0 >= last);
                        last = t.0;
                    }
                }
            }
            prop_assert_eq!(q.len(), reference.items.len());
            prop_assert_eq!(q.is_empty(), reference.items.is_empty());
            prop_assert_eq!(q.peek_time(), reference.peek_time());
        }
        // Drain: the remaining order must match too.
        loop {
            let got = q.pop();
            prop_assert_eq!(got, reference.pop());
            if got.is_none() {
                return Ok(());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn binary_heap_matches_reference(ops in prop::collection::vec(op(), 0..400)) {
            check_against_reference(BinaryHeapQueue::new(), &ops)?;
        }

        #[test]
        fn radix_heap_matches_reference(ops in prop::collection::vec(op(), 0..400)) {
            check_against_reference(RadixHeapQueue::new(), &ops)?;
        }

        #[test]
        fn radix_heap_with_capacity_matches_reference(ops in prop::collection::vec(op(), 0..100)) {
            check_against_reference(RadixHeapQueue::with_capacity(10_000), &ops)?;
        }
    }

    #[test]
    fn equal_times_pop_in_push_order() {
        let mut radix = RadixHeapQueue::new();
        let mut heap = BinaryHeapQueue::new();
        // Interleave two times so the FIFO rule must survive a redistribution.
        for id in 0..100u64 {
            let at = SimTime(if id % 2 == 0 { 10 } else { 7 });
            radix.push(at, id);
            heap.push(at, id);
        }
        let expected: Vec<(SimTime, u64)> = (0..100)
            .filter(|id| id % 2 == 1)
            .map(|id| (SimTime(7), id))
            .chain((0..100).filter(|id| id % 2 == 0).map(|id| (SimTime(10), id)))
            .collect();
        let radix_order: Vec<_> = std::iter::from_fn(|| radix.pop()).collect();
        let heap_order: Vec<_> = std::iter::from_fn(|| heap.pop()).collect();
        assert_eq!(radix_order, expected);
        assert_eq!(heap_order, expected);
    }

    #[test]
    fn binary_heap_accepts_any_push_order() {
        let mut q = BinaryHeapQueue::new();
        q.push(SimTime(5), 'a');
        assert_eq!(q.pop(), Some((SimTime(5), 'a')));
        q.push(SimTime(1), 'b');
        assert_eq!(q.pop(), Some((SimTime(1), 'b')));
        assert_eq!(q.pop(), None);
    }

    #[test]
    #[should_panic(expected = "earlier than the last popped time")]
    fn radix_heap_rejects_push_into_the_past() {
        let mut q = RadixHeapQueue::new();
        q.push(SimTime(5), ());
        assert_eq!(q.pop(), Some((SimTime(5), ())));
        assert_eq!(q.last_popped(), SimTime(5));
        q.push(SimTime(4), ());
    }
}
