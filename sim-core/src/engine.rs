//! The simulation clock and event loop core: owns the pending-event queue, the current time,
//! the trace digest and the executed-event count. Models own their state and dispatch; the
//! engine only decides which event is next and records that it happened.

use crate::digest::{Digest, TraceDigest, TraceEvent};
use crate::queue::{EventQueue, RadixHeapQueue};
use crate::time::SimTime;
use std::marker::PhantomData;

/// A discrete-event engine over events `E` and a queue `Q` (radix heap by default).
///
/// Typical loop: `while let Some(ev) = engine.next_event(end) { model.handle(&mut engine, ev) }`.
#[derive(Debug)]
pub struct Engine<E, Q = RadixHeapQueue<E>> {
    queue: Q,
    now: SimTime,
    digest: TraceDigest,
    executed: u64,
    // `fn() -> E`: the engine hands out E values but stores none itself, so its auto traits
    // follow Q's.
    _events: PhantomData<fn() -> E>,
}

impl<E> Engine<E, RadixHeapQueue<E>> {
    pub fn new() -> Self {
        Self::with_queue(RadixHeapQueue::new())
    }
}

impl<E> Default for Engine<E, RadixHeapQueue<E>> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, Q: EventQueue<E>> Engine<E, Q> {
    /// An engine at time zero over `queue`, which must be empty (pending events would bypass
    /// the scheduling checks).
    pub fn with_queue(queue: Q) -> Self {
        assert!(queue.is_empty(), "Engine::with_queue: queue must start empty");
        Engine {
            queue,
            now: SimTime::ZERO,
            digest: TraceDigest::new(),
            executed: 0,
            _events: PhantomData,
        }
    }

    /// The time of the event being (or last) executed.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `ev` at absolute time `at`. Panics if `at` is before `now`.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, ev: E) {
        assert!(
            at >= self.now,
            "Engine::schedule_at: event at {at} is before the current time {}",
            self.now
        );
        self.queue.push(at, ev);
    }

    /// Schedules `ev` after `delay` from now. Panics if that overflows `SimTime`.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimTime, ev: E) {
        let at = self.now + delay;
        self.queue.push(at, ev);
    }

    /// Number of events waiting in the queue.
    #[inline]
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Time of the next pending event, if any.
    #[inline]
    pub fn next_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// Pops the next event if it is due at or before `until`: advances `now` to its time,
    /// records it in the digest and counts it. Returns None (leaving later events queued and
    /// `now` unchanged) when the queue is empty or the next event is after `until`.
    #[inline]
    pub fn next_event(&mut self, until: SimTime) -> Option<E>
    where
        E: TraceEvent,
    {
        if self.queue.peek_time()? > until {
            return None;
        }
        let (at, ev) = self.queue.pop().expect("Engine: queue lost an event it peeked");
        assert!(
            at >= self.now && at <= until,
            "Engine: popped an event at {at} outside [{}, {until}]",
            self.now
        );
        self.now = at;
        self.digest.record(at, &ev);
        self.executed += 1;
        Some(ev)
    }

    /// Moves the clock forward to `t` without executing anything, e.g. to the end of a run
    /// window. Panics if `t` is before `now` or after the next pending event.
    pub fn advance_to(&mut self, t: SimTime) {
        assert!(
            t >= self.now,
            "Engine::advance_to: {t} is before the current time {}",
            self.now
        );
        if let Some(next) = self.queue.peek_time() {
            assert!(
                t <= next,
                "Engine::advance_to: {t} would skip the pending event at {next}"
            );
        }
        self.now = t;
    }

    /// Number of events executed (returned by `next_event`) so far.
    #[inline]
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// The digest of the executed-event trace so far.
    pub fn digest(&self) -> Digest {
        self.digest.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::TraceWriter;
    use crate::queue::BinaryHeapQueue;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Ping(u32);

    impl TraceEvent for Ping {
        fn trace(&self, w: &mut TraceWriter) {
            w.kind(1);
            w.u32(self.0);
        }
    }

    /// Runs a model where event i at time t schedules follow-ups from a fixed table, and
    /// returns the executed (time, id) sequence plus the digest.
    fn run<Q: EventQueue<Ping>>(mut engine: Engine<Ping, Q>, seeds: &[(u64, u32)]) -> (Vec<(SimTime, u32)>, Digest) {
        for &(t, id) in seeds {
            engine.schedule_at(SimTime(t), Ping(id));
        }
        let mut trace = Vec::new();
        while let Some(Ping(id)) = engine.next_event(SimTime::MAX) {
            trace.push((engine.now(), id));
            if id < 1000 {
                engine.schedule_in(SimTime(u64::from(id % 3)), Ping(id + 1000));
            }
        }
        assert_eq!(engine.executed(), trace.len() as u64);
        assert_eq!(engine.pending(), 0);
        (trace, engine.digest())
    }

    /// The same model on a plain Vec scanned for the minimum (time, push sequence).
    fn reference_run(seeds: &[(u64, u32)]) -> Vec<(SimTime, u32)> {
        let mut pending: Vec<(u64, u64, u32)> = Vec::new();
        let mut seq = 0u64;
        for &(t, id) in seeds {
            pending.push((t, seq, id));
            seq += 1;
        }
        let mut trace = Vec::new();
        while let Some(index) = (0..pending.len()).min_by_key(|&i| (pending[i].0, pending[i].1)) {
            let (t, _, id) = pending.remove(index);
            trace.push((SimTime(t), id));
            if id < 1000 {
                pending.push((t + u64::from(id % 3), seq, id + 1000));
                seq += 1;
            }
        }
        trace
    }

    proptest! {
        #[test]
        fn events_come_out_in_time_then_push_order(
            seeds in prop::collection::vec((0u64..20, 0u32..1000), 0..60)
        ) {
            let (trace, digest) = run(Engine::new(), &seeds);
            prop_assert_eq!(&trace, &reference_run(&seeds));
            // Same model on the other queue: identical trace and digest.
            let (trace2, digest2) = run(Engine::with_queue(BinaryHeapQueue::new()), &seeds);
            prop_assert_eq!(trace2, trace);
            prop_assert_eq!(digest2, digest);
        }
    }

    #[test]
    fn digest_depends_on_event_content_and_time() {
        let base = run(Engine::new(), &[(1, 1), (2, 2)]).1;
        assert_eq!(run(Engine::new(), &[(1, 1), (2, 2)]).1, base);
        assert_ne!(run(Engine::new(), &[(1, 1), (2, 3)]).1, base);
        assert_ne!(run(Engine::new(), &[(1, 1), (3, 2)]).1, base);
        assert_ne!(run(Engine::new(), &[(1, 2), (2, 1)]).1, base);
        assert_eq!(Engine::<Ping>::new().digest(), TraceDigest::new().finish());
    }

    #[test]
    fn until_is_respected() {
        let mut engine = Engine::new();
        for t in [5u64, 10, 10, 15] {
            engine.schedule_at(SimTime(t), Ping(t as u32));
        }
        assert_eq!(engine.next_event(SimTime(4)), None);
        assert_eq!(engine.now(), SimTime::ZERO);
        assert_eq!(engine.next_event(SimTime(10)), Some(Ping(5)));
        assert_eq!(engine.next_event(SimTime(10)), Some(Ping(10)));
        assert_eq!(engine.next_event(SimTime(10)), Some(Ping(10)));
        assert_eq!(engine.next_event(SimTime(10)), None);
        assert_eq!((engine.now(), engine.pending(), engine.executed()), (SimTime(10), 1, 3));
        assert_eq!(engine.next_time(), Some(SimTime(15)));
        engine.advance_to(SimTime(12));
        assert_eq!(engine.now(), SimTime(12));
        assert_eq!(engine.next_event(SimTime::MAX), Some(Ping(15)));
        assert_eq!(engine.next_event(SimTime::MAX), None);
    }

    #[test]
    #[should_panic(expected = "is before the current time 10ns")]
    fn scheduling_in_the_past_panics() {
        let mut engine = Engine::new();
        engine.schedule_at(SimTime(10), Ping(0));
        engine.next_event(SimTime::MAX);
        engine.schedule_at(SimTime(9), Ping(1));
    }

    #[test]
    #[should_panic(expected = "would skip the pending event")]
    fn advancing_past_a_pending_event_panics() {
        let mut engine = Engine::new();
        engine.schedule_at(SimTime(10), Ping(0));
        engine.advance_to(SimTime(11));
    }
}
