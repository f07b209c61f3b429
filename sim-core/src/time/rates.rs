//! Packet rates, bandwidths and byte sizes: exact integer quantities with text forms, and the
//! conversions to `SimTime` that models need (event spacing, serialization delay).

use super::parse::{Quantity, UnitError};
use super::{serde_via_text, SimTime};
use std::fmt;

const NS_PER_S: u128 = 1_000_000_000;

const PACKET_RATE: Quantity = Quantity {
    units: &[
        ("pps", 1),
        ("kpps", 1_000),
        ("Mpps", 1_000_000),
        ("Gpps", 1_000_000_000),
    ],
    expected: r#"a packet rate like "3125pps", "10kpps", "1.5Mpps" (units: pps, kpps, Mpps, Gpps)"#,
    whole: r#"a whole, positive number of packets per second, like "1.5kpps" (= 1500pps)"#,
    too_large: "a packet rate of at most 18446744073709551615pps",
    display: &[
        ("Gpps", 1_000_000_000),
        ("Mpps", 1_000_000),
        ("kpps", 1_000),
        ("pps", 1),
    ],
    zero: "0pps",
};

const BANDWIDTH: Quantity = Quantity {
    units: &[
        ("bps", 1),
        ("kbps", 1_000),
        ("Mbps", 1_000_000),
        ("Gbps", 1_000_000_000),
        ("Tbps", 1_000_000_000_000),
    ],
    expected: r#"a bandwidth like "10Gbps", "100Mbps", "800kbps" (units: bps, kbps, Mbps, Gbps, Tbps)"#,
    whole: r#"a whole, positive number of bits per second, like "1.5Gbps""#,
    too_large: "a bandwidth of at most 18446744073709551615bps",
    display: &[
        ("Tbps", 1_000_000_000_000),
        ("Gbps", 1_000_000_000),
        ("Mbps", 1_000_000),
        ("kbps", 1_000),
        ("bps", 1),
    ],
    zero: "0bps",
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

const BYTE_SIZE: Quantity = Quantity {
    units: &[
        ("B", 1),
        ("KB", 1_000),
        ("kB", 1_000),
        ("KiB", KIB),
        ("MB", 1_000_000),
        ("MiB", MIB),
        ("GB", 1_000_000_000),
        ("GiB", GIB),
        ("TB", 1_000_000_000_000),
        ("TiB", TIB),
    ],
    expected: r#"a size like "512B", "9001B", "64KiB", "1.5MB" (units: B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)"#,
    whole: r#"a whole number of bytes, like "1.5KiB" (= 1536B)"#,
    too_large: "a size of at most 18446744073709551615B",
    // Largest unit first, binary before decimal at each step because it is the larger.
    display: &[
        ("TiB", TIB),
        ("TB", 1_000_000_000_000),
        ("GiB", GIB),
        ("GB", 1_000_000_000),
        ("MiB", MIB),
        ("MB", 1_000_000),
        ("KiB", KIB),
        ("KB", 1_000),
        ("B", 1),
    ],
    zero: "0B",
};

/// A constant packet rate, in packets per second (always positive when parsed).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PacketRate {
    pub per_sec: u64,
}

impl PacketRate {
    /// Parses "3125pps", "10kpps", "1.5Mpps"; the result must be a positive whole rate.
    pub fn parse(input: &str) -> Result<PacketRate, UnitError> {
        match PACKET_RATE.parse(input)? {
            0 => Err(PACKET_RATE.error(input, PACKET_RATE.whole)),
            per_sec => Ok(PacketRate { per_sec }),
        }
    }

    /// Offset from the schedule start of the k-th event (k = 0 is the first, at zero).
    ///
    /// Computed from k directly (floor(k * 1e9 / rate) in u128) rather than by adding a
    /// rounded interval k times, so a constant-rate schedule never drifts.
    /// Panics if the rate is zero or the offset does not fit in `SimTime`.
    pub fn interval_of(&self, k: u64) -> SimTime {
        assert!(self.per_sec > 0, "PacketRate::interval_of: rate is 0pps");
        let ns = u128::from(k) * NS_PER_S / u128::from(self.per_sec);
        match u64::try_from(ns) {
            Ok(ns) => SimTime(ns),
            Err(_) => panic!("PacketRate::interval_of: event {k} at {self} is past SimTime::MAX"),
        }
    }

    /// The (rounded-down) spacing between consecutive events; use `interval_of` for schedules.
    pub fn period(&self) -> SimTime {
        self.interval_of(1)
    }
}

impl fmt::Display for PacketRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        PACKET_RATE.format(self.per_sec, f)
    }
}

serde_via_text!(PacketRate, UnitError, "a packet rate string like \"10kpps\"");

/// A link bandwidth in bits per second (always positive when parsed).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Bandwidth {
    pub bits_per_sec: u64,
}

impl Bandwidth {
    /// Parses "10Gbps", "100Mbps", "1.5Gbps", "800kbps", "1000bps" (decimal SI prefixes).
    pub fn parse(input: &str) -> Result<Bandwidth, UnitError> {
        match BANDWIDTH.parse(input)? {
            0 => Err(BANDWIDTH.error(input, BANDWIDTH.whole)),
            bits_per_sec => Ok(Bandwidth { bits_per_sec }),
        }
    }

    /// Time to put `bytes` on the wire: ceil(bytes * 8 * 1e9 / bps) ns, exact in u128.
    ///
    /// Rounded up so a non-empty frame never takes zero time. Panics if the bandwidth is zero
    /// or the result does not fit in `SimTime`.
    pub fn serialization_time(&self, bytes: u64) -> SimTime {
        assert!(
            self.bits_per_sec > 0,
            "Bandwidth::serialization_time: bandwidth is 0bps"
        );
        let bits_ns = u128::from(bytes) * 8 * NS_PER_S;
        let ns = bits_ns.div_ceil(u128::from(self.bits_per_sec));
        match u64::try_from(ns) {
            Ok(ns) => SimTime(ns),
            Err(_) => {
                panic!("Bandwidth::serialization_time: {bytes}B at {self} exceeds SimTime::MAX")
            }
        }
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        BANDWIDTH.format(self.bits_per_sec, f)
    }
}

serde_via_text!(Bandwidth, UnitError, "a bandwidth string like \"10Gbps\"");

/// A size in bytes. Text uses decimal (KB = 1000, "kB" accepted) or binary (KiB = 1024) units.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses "512B", "1KB"/"1kB", "1KiB", "1.5MiB", ... into whole bytes.
    pub fn parse(input: &str) -> Result<ByteSize, UnitError> {
        BYTE_SIZE.parse(input).map(ByteSize)
    }

    pub const fn as_bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    /// Canonical form: the largest binary or decimal unit that represents the value exactly,
    /// else plain bytes ("9001B").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        BYTE_SIZE.format(self.0, f)
    }
}

impl std::str::FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ByteSize::parse(s)
    }
}

impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    /// Accepts the text form or a plain non-negative integer meaning bytes.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte size like \"9001B\" or \"64KiB\", or an integer number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("byte size {v} is negative")))
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}
