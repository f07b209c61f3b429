//! Tests for the trace digest: sensitivity, and the pinned canonical encoding.

use super::*;
use proptest::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

#[derive(Clone, Debug, PartialEq)]
struct Ev {
    kind: u16,
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    name: Vec<u8>,
}

impl TraceEvent for Ev {
    fn trace(&self, w: &mut TraceWriter) {
        w.kind(self.kind);
        w.u8(self.a);
        w.u16(self.b);
        w.u32(self.c);
        w.u64(self.d);
        w.bytes(&self.name);
    }
}

/// The documented v2 layout (v2 changed only the version header here; the cluster model added node ids to its events), written out by hand (independently of `TraceWriter`).
fn layout(events: &[(u64, Ev)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&2u32.to_le_bytes());
    for (time, ev) in events {
        out.extend_from_slice(&time.to_le_bytes());
        out.extend_from_slice(&ev.kind.to_le_bytes());
        out.push(ev.a);
        out.extend_from_slice(&ev.b.to_le_bytes());
        out.extend_from_slice(&ev.c.to_le_bytes());
        out.extend_from_slice(&ev.d.to_le_bytes());
        out.extend_from_slice(&(ev.name.len() as u32).to_le_bytes());
        out.extend_from_slice(&ev.name);
    }
    out
}

fn digest_of(events: &[(u64, Ev)]) -> Digest {
    let mut d = TraceDigest::new();
    for (time, ev) in events {
        d.record(SimTime(*time), ev);
    }
    assert_eq!(d.events(), events.len() as u64);
    d.finish()
}

fn sample() -> Vec<(u64, Ev)> {
    vec![
        (
            0,
            Ev {
                kind: 1,
                a: 2,
                b: 3,
                c: 4,
                d: 5,
                name: b"pod-a".to_vec(),
            },
        ),
        (
            1_500_000,
            Ev {
                kind: 7,
                a: 255,
                b: 65535,
                c: 0xdead_beef,
                d: u64::MAX,
                name: Vec::new(),
            },
        ),
        (
            1_500_000,
            Ev {
                kind: 2,
                a: 0,
                b: 0,
                c: 0,
                d: 0,
                name: vec![0xab; 300],
            },
        ),
    ]
}

#[test]
fn pinned_encoding_matches_documented_layout() {
    let events = sample();
    let expected = Digest(xxh3_128(&layout(&events)));
    assert_eq!(digest_of(&events), expected);
    // The literal pins xxh3 itself too: a hash-crate change must not pass silently.
    assert_eq!(
        digest_of(&events).to_string(),
        "v2:9f844c22b1f4c497e3813b337a5d83ca",
        "canonical v2 encoding changed: that requires bumping DIGEST_VERSION"
    );
    // The empty trace is the hash of the version header alone.
    assert_eq!(TraceDigest::new().finish(), Digest(xxh3_128(&2u32.to_le_bytes())));
}

#[test]
fn encode_returns_the_event_bytes() {
    let ev = sample()[0].1.clone();
    let full = layout(&[(0, ev.clone())]);
    // Skip the version header and the time.
    assert_eq!(TraceWriter::encode(&ev), full[12..].to_vec());
}

#[test]
fn every_field_time_and_order_matter() {
    let base = sample();
    let base_digest = digest_of(&base);
    assert_eq!(digest_of(&sample()), base_digest, "not deterministic");

    let mut variants: Vec<Vec<(u64, Ev)>> = Vec::new();
    let mut v = base.clone();
    v[0].0 += 1;
    variants.push(v);
    let mut v = base.clone();
    v[0].1.kind ^= 1;
    variants.push(v);
    let mut v = base.clone();
    v[0].1.a ^= 1;
    variants.push(v);
    let mut v = base.clone();
    v[0].1.b ^= 1;
    variants.push(v);
    let mut v = base.clone();
    v[0].1.c ^= 1;
    variants.push(v);
    let mut v = base.clone();
    v[0].1.d ^= 1;
    variants.push(v);
    let mut v = base.clone();
    v[0].1.name.push(b'x');
    variants.push(v);
    let mut v = base.clone();
    v[2].1.name[299] ^= 1;
    variants.push(v);
    let mut v = base.clone();
    v.swap(1, 2);
    variants.push(v);
    let mut v = base.clone();
    v.pop();
    variants.push(v);

    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(digest_of(variant), base_digest, "variant {i} collided");
    }
}

#[test]
fn digest_text_form_round_trips_and_is_strict() {
    let d = Digest(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
    let text = d.to_string();
    assert_eq!(text, "v2:0123456789abcdef0011223344556677");
    assert_eq!(Digest::parse(&text), Ok(d));
    assert_eq!(text.parse::<Digest>(), Ok(d));
    assert_eq!(Digest(0).to_string(), format!("v2:{}", "0".repeat(32)));
    for bad in [
        "0123456789abcdef0011223344556677",
        "v1:0123456789abcdef0011223344556677",
        "v2:0123456789ABCDEF0011223344556677",
        "v2:0123456789abcdef001122334455667",
        "v2:0123456789abcdef00112233445566778",
        "v2:+123456789abcdef0011223344556677",
        "v2:0123456789abcdef001122334455667g",
    ] {
        let err = Digest::parse(bad).unwrap_err();
        assert!(err.to_string().contains("32 lowercase hex"), "{bad}");
    }
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
}

fn ev_strategy() -> impl Strategy<Value = (u64, Ev)> {
    (
        any::<u64>(),
        any::<u16>(),
        any::<u8>(),
        any::<u16>(),
        any::<u32>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(|(t, kind, a, b, c, d, name)| (t, Ev { kind, a, b, c, d, name }))
}

proptest! {
    /// Whatever the sizes (including spills past the staging buffer), the streamed digest is
    /// the one-shot hash of the documented layout.
    #[test]
    fn streaming_equals_one_shot_layout_hash(events in prop::collection::vec(ev_strategy(), 0..20)) {
        prop_assert_eq!(digest_of(&events), Digest(xxh3_128(&layout(&events))));
    }
}
