//! Simulated time (`SimTime`, integer nanoseconds) and the other quantities scenarios write
//! as text: packet rates, bandwidths, byte sizes. Parsing is exact integer arithmetic and the
//! display form is canonical, so text → value → text round-trips bit for bit.

mod parse;
mod rates;
#[cfg(test)]
mod tests;

pub use parse::UnitError;
pub use rates::{Bandwidth, ByteSize, PacketRate};

use parse::Quantity;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Implements `FromStr`, `Serialize` (display form) and `Deserialize` (text form) for a type
/// with `parse(&str) -> Result<Self, E>` and a canonical `Display`.
macro_rules! serde_via_text {
    ($ty:ty, $err:ty, $expecting:literal) => {
        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct TextVisitor;
                impl ::serde::de::Visitor<'_> for TextVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        <$ty>::parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(TextVisitor)
            }
        }
    };
}
pub(crate) use serde_via_text;

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

const DURATION: Quantity = Quantity {
    units: &[
        ("ns", 1),
        ("us", NS_PER_US),
        ("µs", NS_PER_US),
        ("ms", NS_PER_MS),
        ("s", NS_PER_S),
        ("m", 60 * NS_PER_S),
        ("h", 3600 * NS_PER_S),
    ],
    expected: r#"a duration like "10s", "250us", "1.5ms" (units: ns, us, ms, s, m, h)"#,
    whole: r#"a whole number of nanoseconds, like "1.5ms" or "250ns" (not finer than 1ns)"#,
    too_large: "a duration of at most 18446744073709551615ns (about 584 years)",
    display: &[("s", NS_PER_S), ("ms", NS_PER_MS), ("us", NS_PER_US), ("ns", 1)],
    zero: "0s",
};

/// A simulated instant or span in integer nanoseconds since the start of the run.
///
/// One type for both keeps arithmetic simple; the engine's clock starts at `SimTime::ZERO`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_nanos(ns: u64) -> SimTime {
        SimTime(ns)
    }

    /// Panics if the result exceeds `SimTime::MAX` (about 584 years).
    pub const fn from_micros(us: u64) -> SimTime {
        match us.checked_mul(NS_PER_US) {
            Some(ns) => SimTime(ns),
            None => panic!("SimTime::from_micros: overflows u64 nanoseconds"),
        }
    }

    /// Panics if the result exceeds `SimTime::MAX` (about 584 years).
    pub const fn from_millis(ms: u64) -> SimTime {
        match ms.checked_mul(NS_PER_MS) {
            Some(ns) => SimTime(ns),
            None => panic!("SimTime::from_millis: overflows u64 nanoseconds"),
        }
    }

    /// Panics if the result exceeds `SimTime::MAX` (about 584 years).
    pub const fn from_secs(s: u64) -> SimTime {
        match s.checked_mul(NS_PER_S) {
            Some(ns) => SimTime(ns),
            None => panic!("SimTime::from_secs: overflows u64 nanoseconds"),
        }
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole microseconds, rounded down.
    pub const fn as_micros(self) -> u64 {
        self.0 / NS_PER_US
    }

    /// Whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / NS_PER_MS
    }

    /// Whole seconds, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / NS_PER_S
    }

    pub const fn saturating_add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }

    pub const fn checked_add(self, rhs: SimTime) -> Option<SimTime> {
        match self.0.checked_add(rhs.0) {
            Some(ns) => Some(SimTime(ns)),
            None => None,
        }
    }

    pub const fn saturating_sub(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(rhs.0))
    }

    pub const fn checked_sub(self, rhs: SimTime) -> Option<SimTime> {
        match self.0.checked_sub(rhs.0) {
            Some(ns) => Some(SimTime(ns)),
            None => None,
        }
    }

    /// Parses "10s", "250us", "1.5ms", "2m", "1h" (units ns, us, µs, ms, s, m, h).
    ///
    /// Exact: fractions must come out to whole nanoseconds; negatives, overflow and a missing
    /// or unknown unit are errors.
    pub fn parse(input: &str) -> Result<SimTime, UnitError> {
        DURATION.parse(input).map(SimTime)
    }
}

impl Add for SimTime {
    type Output = SimTime;

    /// Panics on overflow: a time past `SimTime::MAX` is a model bug, never a value to wrap.
    fn add(self, rhs: SimTime) -> SimTime {
        match self.0.checked_add(rhs.0) {
            Some(ns) => SimTime(ns),
            None => panic!("SimTime overflow: {self} + {rhs} exceeds u64 nanoseconds"),
        }
    }
}

impl AddAssign for SimTime {
    fn add_assign(&mut self, rhs: SimTime) {
        *self = *self + rhs;
    }
}

impl Sub for SimTime {
    type Output = SimTime;

    /// Panics on underflow: a negative span is a model bug; use `saturating_sub` to clamp.
    fn sub(self, rhs: SimTime) -> SimTime {
        match self.0.checked_sub(rhs.0) {
            Some(ns) => SimTime(ns),
            None => panic!("SimTime underflow: {self} - {rhs} is negative"),
        }
    }
}

impl fmt::Display for SimTime {
    /// Canonical form: the largest of s, ms, us, ns that represents the value exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DURATION.format(self.0, f)
    }
}

serde_via_text!(SimTime, UnitError, "a duration string like \"10s\" or \"1.5ms\"");
