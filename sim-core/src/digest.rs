//! The trace digest: a streaming 128-bit xxh3 hash of every executed event, versioned like
//! OMNeT++ fingerprints. Two runs with equal digests executed the same events at the same
//! times in the same order; a model change that alters behaviour changes the digest.
//!
//! Canonical byte layout, version 1 (all integers little-endian, fixed width):
//! - stream header: `DIGEST_VERSION` as u32;
//! - per event: its time as u64 nanoseconds, then whatever `TraceEvent::trace` writes —
//!   by convention a u16 kind code, then the fields; `bytes` writes a u32 length then the
//!   bytes. Each kind's layout must be self-delimiting (fixed fields plus length-prefixed
//!   bytes) so that different event sequences cannot encode to the same stream.
//!
//! The hash is xxh3-128 with the default secret and seed 0 (`Xxh3Default`, which produces the
//! same values as `Xxh3::new()` with less state). Changing any of this is a version bump.

use crate::time::SimTime;
use std::fmt;
use xxhash_rust::xxh3::Xxh3Default;

/// Version of the canonical encoding; part of every digest's text form ("v2:...").
pub const DIGEST_VERSION: u32 = 2;

/// Size of the per-event staging buffer. Typical events (time, kind, a few ids) fit, so each
/// costs a single hasher update; longer ones spill to the hasher, which changes nothing in
/// the result because xxh3 streaming is independent of how input is chunked.
const TRACE_BUFFER: usize = 128;

/// An event with a canonical binary encoding for the digest.
pub trait TraceEvent {
    /// Writes a kind code (`w.kind(..)`) and then the fields that define the event.
    fn trace(&self, w: &mut TraceWriter);
}

/// Collects one event's encoding in a small inline buffer and hands it to the hasher.
#[derive(Clone)]
pub struct TraceWriter {
    buf: [u8; TRACE_BUFFER],
    len: usize,
    hasher: Xxh3Default,
    /// When set (see `encode`), bytes go here instead of to the hasher.
    capture: Option<Vec<u8>>,
}

impl TraceWriter {
    fn hashing() -> TraceWriter {
        TraceWriter {
            buf: [0; TRACE_BUFFER],
            len: 0,
            hasher: Xxh3Default::new(),
            capture: None,
        }
    }

    /// The exact bytes `ev` contributes to the digest (after its time); for testing a
    /// model's `TraceEvent` impls against their documented layout.
    pub fn encode<E: TraceEvent + ?Sized>(ev: &E) -> Vec<u8> {
        let mut w = TraceWriter {
            capture: Some(Vec::new()),
            ..TraceWriter::hashing()
        };
        ev.trace(&mut w);
        w.flush();
        w.capture.take().expect("capture buffer present")
    }

    #[inline]
    fn flush(&mut self) {
        let pending = &self.buf[..self.len];
        match &mut self.capture {
            Some(out) => out.extend_from_slice(pending),
            None => self.hasher.update(pending),
        }
        self.len = 0;
    }

    #[inline]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        const { assert!(N <= TRACE_BUFFER) };
        if self.len + N > TRACE_BUFFER {
            self.flush();
        }
        self.buf[self.len..self.len + N].copy_from_slice(&bytes);
        self.len += N;
    }

    /// The event kind code; by convention the first thing an event writes.
    #[inline]
    pub fn kind(&mut self, kind: u16) {
        self.put(kind.to_le_bytes());
    }

    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.put([v]);
    }

    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.put(v.to_le_bytes());
    }

    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes());
    }

    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes());
    }

    /// A u128 (e.g. an IPv6 address) as 16 little-endian bytes.
    #[inline]
    pub fn u128(&mut self, v: u128) {
        self.put(v.to_le_bytes());
    }

    /// A bool as one byte, 0 or 1.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.put([u8::from(v)]);
    }

    /// A time as its u64 nanoseconds.
    #[inline]
    pub fn time(&mut self, t: SimTime) {
        self.put(t.0.to_le_bytes());
    }

    /// A u32 length prefix, then the bytes. Panics beyond u32::MAX bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        let n = u32::try_from(v.len()).expect("TraceWriter::bytes: longer than u32::MAX");
        self.u32(n);
        if self.len + v.len() <= TRACE_BUFFER {
            self.buf[self.len..self.len + v.len()].copy_from_slice(v);
            self.len += v.len();
        } else {
            self.flush();
            match &mut self.capture {
                Some(out) => out.extend_from_slice(v),
                None => self.hasher.update(v),
            }
        }
    }
}

/// Streaming digest of an event trace.
#[derive(Clone)]
pub struct TraceDigest {
    writer: TraceWriter,
    events: u64,
}

impl TraceDigest {
    pub fn new() -> TraceDigest {
        let mut writer = TraceWriter::hashing();
        writer.hasher.update(&DIGEST_VERSION.to_le_bytes());
        TraceDigest { writer, events: 0 }
    }

    /// Appends one event at `time`: its time then its own encoding, as one hasher update.
    #[inline]
    pub fn record<E: TraceEvent + ?Sized>(&mut self, time: SimTime, ev: &E) {
        assert_eq!(self.writer.len, 0, "TraceDigest: staging buffer not flushed");
        self.writer.time(time);
        ev.trace(&mut self.writer);
        self.writer.flush();
        self.events += 1;
    }

    /// Number of events recorded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The digest of everything recorded so far (recording may continue afterwards).
    pub fn finish(&self) -> Digest {
        assert_eq!(self.writer.len, 0, "TraceDigest: staging buffer not flushed");
        Digest(self.writer.hasher.digest128())
    }
}

impl Default for TraceDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TraceDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceDigest")
            .field("events", &self.events)
            .field("digest", &self.finish())
            .finish()
    }
}

/// A trace digest value. Text form: "v2:" (the version) then 32 lowercase hex digits; serde uses the text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Digest(pub u128);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{DIGEST_VERSION}:{:032x}", self.0)
    }
}

/// A digest string that is not "v2:" followed by 32 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DigestParseError {
    pub input: String,
}

impl fmt::Display for DigestParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: expected a trace digest \"v{DIGEST_VERSION}:\" followed by 32 lowercase hex \
             digits (digests of other versions are not comparable)",
            self.input
        )
    }
}

impl std::error::Error for DigestParseError {}

impl Digest {
    pub fn parse(input: &str) -> Result<Digest, DigestParseError> {
        let err = || DigestParseError {
            input: input.to_owned(),
        };
        let hex = input.strip_prefix(&format!("v{DIGEST_VERSION}:")).ok_or_else(err)?;
        // Only the canonical spelling: from_str_radix alone would accept '+' and uppercase.
        let canonical = hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical {
            return Err(err());
        }
        u128::from_str_radix(hex, 16).map(Digest).map_err(|_| err())
    }
}

crate::time::serde_via_text!(
    Digest,
    DigestParseError,
    "a trace digest string like \"v2:<32 hex digits>\""
);

#[cfg(test)]
mod tests;
