//! How numbers read in a report: durations, bytes, dollars and counts with their units, to about
//! three significant figures. Charts and tables share these so that a value reads the same in
//! both.

/// A value with at most `sig` significant figures, trailing zeros dropped ("1.5", "12", "0.035").
pub fn sig(x: f64, sig: usize) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (sig as i32 - 1 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Nanoseconds as "850 ns", "12.5 µs", "3.4 ms" or "1.2 s".
pub fn duration_ns(ns: f64) -> String {
    let a = ns.abs();
    let (v, unit) = if a < 1e3 {
        (ns, "ns")
    } else if a < 1e6 {
        (ns / 1e3, "µs")
    } else if a < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig(v, 3))
}

/// An optional latency, as a table shows it ("–" when nothing was measured).
pub fn opt_duration_ns(ns: Option<u64>) -> String {
    ns.map_or_else(|| "–".into(), |v| duration_ns(v as f64))
}

/// Bytes in decimal units, as AWS bills them: "512 B", "340 kB", "1.2 GB".
pub fn bytes(b: f64) -> String {
    const UNITS: [(f64, &str); 5] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")];
    let (scale, unit) = UNITS.iter().copied().find(|(s, _)| b.abs() >= *s).unwrap_or((1.0, "B"));
    format!("{} {unit}", sig(b / scale, 3))
}

/// Millionths of a US dollar as dollars: "$1,234.56", "$12.35", "$0.0042", "$0".
pub fn usd_micro(micro: f64) -> String {
    let usd = micro / 1e6;
    if usd == 0.0 {
        "$0".into()
    } else if usd.abs() >= 1000.0 || (usd >= 1.0 && usd.fract() == 0.0) {
        format!("${}", thousands(usd.round() as u64))
    } else if usd.abs() >= 0.01 {
        format!("${usd:.2}")
    } else {
        format!("${}", sig(usd, 2))
    }
}

/// An integer with thousands separators: "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count for an axis tick: "950", "1.5k", "12k", "3.5M".
pub fn count_short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{}G", sig(x / 1e9, 3))
    } else if a >= 1e6 {
        format!("{}M", sig(x / 1e6, 3))
    } else if a >= 1e3 {
        format!("{}k", sig(x / 1e3, 3))
    } else {
        sig(x, 3)
    }
}

/// A percentage: "42%", "0.5%".
pub fn percent(x: f64) -> String {
    format!("{}%", sig(x, 3))
}

/// The unit of a chart axis: how its tick labels are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Values in nanoseconds.
    Nanos,
    /// Values in seconds (the time axis of a timeline).
    Seconds,
    Count,
    /// A fraction from 0 to 1.
    Fraction,
    /// Already in percent.
    Percent,
    /// Millionths of a US dollar.
    MicroUsd,
}

impl Unit {
    /// The range an axis shows when it has nothing to show: round, and sensible in the unit.
    pub fn empty_span(self) -> f64 {
        match self {
            Unit::Nanos => 1e3,
            Unit::MicroUsd => 1e6,
            Unit::Percent => 100.0,
            Unit::Seconds | Unit::Count | Unit::Fraction => 1.0,
        }
    }

    pub fn format(self, x: f64) -> String {
        match self {
            Unit::Nanos | Unit::Seconds if x == 0.0 => "0".into(),
            Unit::Nanos => duration_ns(x),
            Unit::Seconds => format!("{} s", sig(x, 3)),
            Unit::Count => count_short(x),
            Unit::Fraction => sig(x, 3),
            Unit::Percent => percent(x),
            Unit::MicroUsd => usd_micro(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_the_unit_and_keep_three_figures() {
        assert_eq!(duration_ns(850.0), "850 ns");
        assert_eq!(duration_ns(12_345.0), "12.3 µs");
        assert_eq!(duration_ns(3_400_000.0), "3.4 ms");
        assert_eq!(duration_ns(1_000.0), "1 µs");
        assert_eq!(duration_ns(2.5e9), "2.5 s");
        assert_eq!(duration_ns(0.0), "0 ns");
        assert_eq!(opt_duration_ns(None), "–");
    }

    #[test]
    fn bytes_and_dollars_read_as_billed() {
        assert_eq!(bytes(1.2e9), "1.2 GB");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(usd_micro(12_345_678.0), "$12.35");
        assert_eq!(usd_micro(4_200.0), "$0.0042");
        assert_eq!(usd_micro(1_234_560_000.0), "$1,235");
        assert_eq!(usd_micro(300_000_000.0), "$300");
        assert_eq!(usd_micro(0.0), "$0");
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(count_short(30_000.0), "30k");
        assert_eq!(count_short(1_500.0), "1.5k");
        assert_eq!(Unit::Nanos.format(0.0), "0");
        assert_eq!(count_short(2_500_000.0), "2.5M");
        assert_eq!(sig(0.035, 3), "0.035");
        assert_eq!(sig(f64::NAN, 3), "–");
    }
}
