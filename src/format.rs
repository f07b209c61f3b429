//! Human formatting of numbers for tables: thousands separators, durations, byte counts.
//! Counts share the report's rule (`cnsim_reports::thousands`). Durations, bytes and dollars
//! keep the table's own strings ("12.5us", one decimal, exact micro-dollars), which differ from
//! the report's three-significant-figure labels ("12.5 µs").

/// 1234567 → "1,234,567": the report's rule, so counts read the same in the table and the report.
pub use cnsim_reports::thousands as count;

/// Nanoseconds with a unit chosen for 3–4 significant digits: "850ns", "12.5us", "1.204ms".
pub fn nanos(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{:.1}us", ns as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.3}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

pub fn opt_nanos(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".into(), nanos)
}

/// Bytes in decimal units, as AWS bills them: "512 B", "12.4 MB".
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Micro-dollars as dollars: "$0.000246".
pub fn usd(micro: u64) -> String {
    format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(nanos(850), "850ns");
        assert_eq!(nanos(12_500), "12.5us");
        assert_eq!(nanos(1_204_000), "1.204ms");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(12_400_000), "12.4 MB");
        assert_eq!(usd(246), "$0.000246");
        assert_eq!(usd(12_000_001), "$12.000001");
    }
}
