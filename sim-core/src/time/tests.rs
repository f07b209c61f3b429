//! Tests for time and quantity parsing, display and arithmetic.

use super::*;
use proptest::prelude::*;

#[test]
fn parses_durations_exactly() {
    let cases: &[(&str, u64)] = &[
        ("0s", 0),
        ("0ns", 0),
        ("1ns", 1),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("1.5ms", 1_500_000),
        ("1.500000ms", 1_500_000),
        ("10s", 10_000_000_000),
        ("0.000000001s", 1),
        ("2m", 120_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("007ms", 7_000_000),
        ("18446744073709551615ns", u64::MAX),
        ("18446744073.709551615s", u64::MAX),
    ];
    for &(text, ns) in cases {
        assert_eq!(SimTime::parse(text), Ok(SimTime(ns)), "{text}");
    }
}

#[test]
fn rejects_bad_durations_with_a_useful_reason() {
    let malformed = [
        "", "1", "s", "1x", "-1s", "+1s", "1 s", " 1s", "1s ", ".5s", "1.s", "1..5s", "1.5.5s", "1e3ns", "1S", "1sec",
    ];
    for text in malformed {
        let err = SimTime::parse(text).unwrap_err();
        assert_eq!(err.input, text);
        assert!(err.expected.starts_with("a duration like"), "{text}: {err}");
    }
    for text in ["0.5ns", "1.0000000001s", "0.1us1"] {
        let err = SimTime::parse(text).unwrap_err();
        if text == "0.1us1" {
            assert!(err.expected.starts_with("a duration like"), "{text}: {err}");
        } else {
            assert!(err.expected.contains("whole number"), "{text}: {err}");
        }
    }
    for text in [
        "18446744073709551616ns",
        "18446744074s",
        "5124096h",
        "99999999999999999999999999999999999999999999s",
    ] {
        let err = SimTime::parse(text).unwrap_err();
        assert!(err.expected.contains("at most"), "{text}: {err}");
    }
    // Many fraction digits must not overflow internally; trailing zeros are harmless.
    let zeros = format!("1.{}s", "0".repeat(80));
    assert_eq!(SimTime::parse(&zeros), Ok(SimTime::from_secs(1)));
    let fine = format!("1.{}1s", "0".repeat(80));
    assert!(SimTime::parse(&fine).unwrap_err().expected.contains("whole"));
}

#[test]
fn unit_error_message_names_valid_forms() {
    let err = SimTime::parse("1x").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#""1x": expected a duration like "10s", "250us", "1.5ms" (units: ns, us, ms, s, m, h)"#
    );
    let err = PacketRate::parse("0pps").unwrap_err();
    assert!(err.to_string().contains("positive"), "{err}");
}

#[test]
fn displays_canonically() {
    let cases: &[(u64, &str)] = &[
        (0, "0s"),
        (1, "1ns"),
        (1_000, "1us"),
        (250_000, "250us"),
        (1_500_000, "1500us"),
        (10_000_000_000, "10s"),
        (60_000_000_000, "60s"),
        (1_000_000_001, "1000000001ns"),
        (u64::MAX, "18446744073709551615ns"),
    ];
    for &(ns, text) in cases {
        assert_eq!(SimTime(ns).to_string(), text);
    }
}

#[test]
fn constructors_and_arithmetic() {
    assert_eq!(SimTime::from_micros(3), SimTime(3_000));
    assert_eq!(SimTime::from_millis(3), SimTime(3_000_000));
    assert_eq!(SimTime::from_secs(3), SimTime(3_000_000_000));
    assert_eq!(SimTime(5) + SimTime(7), SimTime(12));
    assert_eq!(SimTime(7) - SimTime(5), SimTime(2));
    let mut t = SimTime(1);
    t += SimTime(2);
    assert_eq!(t, SimTime(3));
    assert_eq!(SimTime::MAX.checked_add(SimTime(1)), None);
    assert_eq!(SimTime::MAX.saturating_add(SimTime(1)), SimTime::MAX);
    assert_eq!(SimTime(1).saturating_sub(SimTime(2)), SimTime::ZERO);
    assert_eq!(SimTime(1).checked_sub(SimTime(2)), None);
    assert_eq!(SimTime(1_999_999_999).as_secs(), 1);
}

#[test]
#[should_panic(expected = "SimTime overflow")]
fn add_overflow_panics() {
    let _ = SimTime::MAX + SimTime(1);
}

#[test]
#[should_panic(expected = "SimTime underflow")]
fn sub_underflow_panics() {
    let _ = SimTime(1) - SimTime(2);
}

#[test]
#[should_panic(expected = "from_secs")]
fn from_secs_overflow_panics() {
    let _ = SimTime::from_secs(u64::MAX);
}

#[test]
fn serde_uses_the_text_form() {
    let t = SimTime::from_micros(1_500);
    assert_eq!(serde_json::to_string(&t).unwrap(), r#""1500us""#);
    assert_eq!(serde_json::from_str::<SimTime>(r#""1.5ms""#).unwrap(), t);
    let err = serde_json::from_str::<SimTime>(r#""1.5""#).unwrap_err();
    assert!(err.to_string().contains("a duration like"), "{err}");
    assert!(serde_json::from_str::<SimTime>("1500").is_err());
}

#[test]
fn packet_rates() {
    assert_eq!(PacketRate::parse("3125pps").unwrap().per_sec, 3125);
    assert_eq!(PacketRate::parse("10kpps").unwrap().per_sec, 10_000);
    assert_eq!(PacketRate::parse("1.5Mpps").unwrap().per_sec, 1_500_000);
    for bad in ["0pps", "0.0kpps", "1.5pps", "10", "10kps", "-3pps"] {
        assert!(PacketRate::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(PacketRate { per_sec: 3125 }.to_string(), "3125pps");
    assert_eq!(PacketRate { per_sec: 10_000 }.to_string(), "10kpps");
    let rate = PacketRate { per_sec: 3 };
    // 1e9 / 3 is not whole: the k-th start is floor(k * 1e9 / 3), not k * floor(1e9 / 3).
    assert_eq!(rate.interval_of(0), SimTime::ZERO);
    assert_eq!(rate.interval_of(1), SimTime(333_333_333));
    assert_eq!(rate.interval_of(2), SimTime(666_666_666));
    assert_eq!(rate.interval_of(3), SimTime::from_secs(1));
    assert_eq!(rate.interval_of(3_000_000), SimTime::from_secs(1_000_000));
    let json = serde_json::to_string(&PacketRate { per_sec: 3125 }).unwrap();
    assert_eq!(json, r#""3125pps""#);
}

#[test]
fn bandwidths() {
    let ten_g = Bandwidth::parse("10Gbps").unwrap();
    assert_eq!(ten_g.bits_per_sec, 10_000_000_000);
    assert_eq!(Bandwidth::parse("100Mbps").unwrap().bits_per_sec, 100_000_000);
    assert_eq!(Bandwidth::parse("1.5Gbps").unwrap().bits_per_sec, 1_500_000_000);
    assert_eq!(Bandwidth::parse("800kbps").unwrap().bits_per_sec, 800_000);
    assert_eq!(Bandwidth::parse("1000bps").unwrap().bits_per_sec, 1000);
    for bad in ["0bps", "10GBps", "10Gb", "1.5bps", "10 Gbps"] {
        assert!(Bandwidth::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(ten_g.to_string(), "10Gbps");
    assert_eq!(Bandwidth { bits_per_sec: 1000 }.to_string(), "1kbps");
    assert_eq!(ten_g.serialization_time(1500), SimTime(1200));
    assert_eq!(ten_g.serialization_time(0), SimTime::ZERO);
    // Rounded up, never down: 8 bits at 3bps is 2.666..s.
    let slow = Bandwidth { bits_per_sec: 3 };
    assert_eq!(slow.serialization_time(1), SimTime(2_666_666_667));
}

#[test]
fn byte_sizes() {
    let cases: &[(&str, u64)] = &[
        ("512B", 512),
        ("1KB", 1000),
        ("1kB", 1000),
        ("1KiB", 1024),
        ("1.5KiB", 1536),
        ("2MB", 2_000_000),
        ("2MiB", 2 << 20),
        ("3GB", 3_000_000_000),
        ("3GiB", 3 << 30),
        ("0B", 0),
    ];
    for &(text, bytes) in cases {
        assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
    }
    for bad in ["1.5B", "1Kb", "1K", "512", "1kiB", "-1B"] {
        assert!(ByteSize::parse(bad).is_err(), "{bad}");
    }
    let shown: &[(u64, &str)] = &[
        (0, "0B"),
        (512, "512B"),
        (9001, "9001B"),
        (1000, "1KB"),
        (1024, "1KiB"),
        (2_048_000, "2000KiB"),
        (1 << 30, "1GiB"),
    ];
    for &(bytes, text) in shown {
        assert_eq!(ByteSize(bytes).to_string(), text);
    }
    assert_eq!(serde_json::from_str::<ByteSize>("9001").unwrap(), ByteSize(9001));
    assert_eq!(serde_json::from_str::<ByteSize>(r#""9001B""#).unwrap(), ByteSize(9001));
    assert!(serde_json::from_str::<ByteSize>("-1").is_err());
    assert_eq!(serde_json::to_string(&ByteSize(1024)).unwrap(), r#""1KiB""#);
}

/// Units with their size in base units, for writing a value in an arbitrary unit.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Writes `value` base units as a decimal in a unit of `size` (a power of ten times a small
/// factor), or None if not exactly representable with a finite decimal fraction.
fn write_in_unit(value: u64, name: &str, size: u64, extra_zeros: usize) -> Option<String> {
    let int = value / size;
    let rem = value % size;
    if rem == 0 && extra_zeros == 0 {
        return Some(format!("{int}{name}"));
    }
    // rem / size as a decimal: find k with size | rem * 10^k.
    let mut scale: u128 = 1;
    for _ in 0..40 {
        let scaled = u128::from(rem).checked_mul(scale)?;
        if scaled % u128::from(size) == 0 {
            let digits = scaled / u128::from(size);
            let width = scale.ilog10() as usize;
            let frac = if width == 0 {
                String::new()
            } else {
                format!("{digits:0width$}")
            };
            let zeros = "0".repeat(extra_zeros);
            let frac = if frac.is_empty() && zeros.is_empty() {
                "0".to_owned()
            } else {
                frac + &zeros
            };
            return Some(format!("{int}.{frac}{name}"));
        }
        scale *= 10;
    }
    None
}

proptest! {
    #[test]
    fn duration_display_round_trips(ns in any::<u64>()) {
        let text = SimTime(ns).to_string();
        prop_assert_eq!(SimTime::parse(&text), Ok(SimTime(ns)));
        let json = serde_json::to_string(&SimTime(ns)).unwrap();
        prop_assert_eq!(serde_json::from_str::<SimTime>(&json).unwrap(), SimTime(ns));
    }

    #[test]
    fn duration_parses_any_exact_decimal(
        ns in prop_oneof![any::<u64>(), 0u64..10_000_000, (0u64..100_000).prop_map(|x| x * 1000)],
        unit in 0usize..DURATION_UNITS.len(),
        extra_zeros in 0usize..4,
    ) {
        let (name, size) = DURATION_UNITS[unit];
        if let Some(text) = write_in_unit(ns, name, size, extra_zeros) {
            prop_assert_eq!(SimTime::parse(&text), Ok(SimTime(ns)), "{}", text);
        }
    }

    #[test]
    fn duration_rejects_sub_nanosecond(ns in 0u64..u64::MAX / 10, digit in 1u8..10) {
        // ns written in seconds with all 9 decimals, then one more non-zero digit.
        let text = format!("{}.{:09}{}s", ns / 1_000_000_000, ns % 1_000_000_000, digit);
        let err = SimTime::parse(&text).unwrap_err();
        prop_assert!(err.expected.contains("whole"), "{}", err);
    }

    #[test]
    fn rates_and_sizes_round_trip(v in 1u64..) {
        let rate = PacketRate { per_sec: v };
        prop_assert_eq!(PacketRate::parse(&rate.to_string()), Ok(rate));
        let bw = Bandwidth { bits_per_sec: v };
        prop_assert_eq!(Bandwidth::parse(&bw.to_string()), Ok(bw));
        prop_assert_eq!(ByteSize::parse(&ByteSize(v).to_string()), Ok(ByteSize(v)));
        let json = serde_json::to_string(&ByteSize(v)).unwrap();
        prop_assert_eq!(serde_json::from_str::<ByteSize>(&json).unwrap(), ByteSize(v));
    }

    #[test]
    fn interval_of_is_exact_floor(per_sec in 1u64.., k in 0u64..1u64 << 40) {
        let rate = PacketRate { per_sec };
        let t = u128::from(rate.interval_of(k).as_nanos());
        let target = u128::from(k) * 1_000_000_000;
        prop_assert!(t * u128::from(per_sec) <= target);
        prop_assert!((t + 1) * u128::from(per_sec) > target);
        prop_assert!(rate.interval_of(k + 1) >= rate.interval_of(k));
    }

    #[test]
    fn serialization_time_is_exact_ceiling(bps in 1u64.., bytes in 0u64..1u64 << 40) {
        let bw = Bandwidth { bits_per_sec: bps };
        let bits_ns = u128::from(bytes) * 8_000_000_000;
        if bits_ns.div_ceil(u128::from(bps)) <= u128::from(u64::MAX) {
            let t = u128::from(bw.serialization_time(bytes).as_nanos());
            prop_assert!(t * u128::from(bps) >= bits_ns);
            prop_assert!(t == 0 || (t - 1) * u128::from(bps) < bits_ns);
        }
    }
}
