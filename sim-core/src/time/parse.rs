//! Exact parsing of "<decimal><unit>" quantities and the error every unit parser returns.
//!
//! All arithmetic is integer: a scenario that says "1.5ms" must mean exactly 1_500_000 ns on
//! every machine, so floats never touch the input.

use std::fmt;

/// A quantity string that does not parse; the message says what would have been valid.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnitError {
    /// The text as given.
    pub input: String,
    /// What a valid value looks like, e.g. `a duration like "10s" ...`.
    pub expected: &'static str,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: expected {}", self.input, self.expected)
    }
}

impl std::error::Error for UnitError {}

/// The units and error texts of one kind of quantity.
pub(crate) struct Quantity {
    /// Unit suffix and how many base units (ns, pps, bps, bytes) it stands for.
    pub units: &'static [(&'static str, u64)],
    /// Shown for a malformed number or a missing/unknown unit.
    pub expected: &'static str,
    /// Shown when the value is not a whole number of base units (e.g. "0.5ns").
    pub whole: &'static str,
    /// Shown when the value does not fit in u64 base units.
    pub too_large: &'static str,
    /// Units used by `format`, largest first, ending with the base unit (size 1). Every entry
    /// must also be accepted by `units` so that the display form parses back.
    pub display: &'static [(&'static str, u64)],
    /// The canonical spelling of zero (every unit divides zero, so it is chosen explicitly).
    pub zero: &'static str,
}

impl Quantity {
    pub(crate) fn error(&self, input: &str, expected: &'static str) -> UnitError {
        UnitError {
            input: input.to_owned(),
            expected,
        }
    }

    /// Parses `input` as `<digits>[.<digits>]<unit>` into whole base units.
    ///
    /// Strict on purpose: no sign, no whitespace, no exponent, digits on both sides of a '.',
    /// so that a typo in a scenario is an error instead of a silently different number.
    pub(crate) fn parse(&self, input: &str) -> Result<u64, UnitError> {
        let split = input
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(input.len());
        let (number, unit) = input.split_at(split);
        let multiplier = self
            .units
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, m)| u128::from(m))
            .ok_or_else(|| self.error(input, self.expected))?;
        assert!(multiplier > 0, "unit table entries must be positive");

        let (int_part, frac_part) = match number.split_once('.') {
            Some((int_part, frac_part)) => {
                if frac_part.is_empty() || frac_part.contains('.') {
                    return Err(self.error(input, self.expected));
                }
                (int_part, frac_part)
            }
            None => (number, ""),
        };
        if int_part.is_empty() {
            return Err(self.error(input, self.expected));
        }

        let mut int_value: u128 = 0;
        for digit in int_part.bytes() {
            int_value = int_value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(digit - b'0')))
                .ok_or_else(|| self.error(input, self.too_large))?;
        }
        let whole_units = int_value
            .checked_mul(multiplier)
            .ok_or_else(|| self.error(input, self.too_large))?;

        // Trailing zeros add no precision ("1.500ms" is "1.5ms"); dropping them keeps the
        // power of ten small enough for u128.
        let frac_digits = frac_part.trim_end_matches('0');
        let mut frac_units: u128 = 0;
        if !frac_digits.is_empty() {
            let exponent = u32::try_from(frac_digits.len()).unwrap_or(u32::MAX);
            let denominator = 10u128
                .checked_pow(exponent)
                .ok_or_else(|| self.error(input, self.whole))?;
            let mut numerator: u128 = 0;
            for digit in frac_digits.bytes() {
                // Cannot overflow: numerator < denominator, which fits in u128.
                numerator = numerator * 10 + u128::from(digit - b'0');
            }
            // An overflow here means more significant fraction digits than any unit multiplier
            // can absorb, i.e. the value is finer than one base unit.
            let scaled = numerator
                .checked_mul(multiplier)
                .ok_or_else(|| self.error(input, self.whole))?;
            if scaled % denominator != 0 {
                return Err(self.error(input, self.whole));
            }
            frac_units = scaled / denominator;
        }

        let total = whole_units
            .checked_add(frac_units)
            .ok_or_else(|| self.error(input, self.too_large))?;
        u64::try_from(total).map_err(|_| self.error(input, self.too_large))
    }

    /// Writes `value` with the first (largest) display unit that represents it exactly.
    pub(crate) fn format(&self, value: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if value == 0 {
            return f.write_str(self.zero);
        }
        let &(name, size) = self
            .display
            .iter()
            .find(|&&(_, size)| value % size == 0)
            .expect("display units must end with a unit of size 1");
        write!(f, "{}{}", value / size, name)
    }
}
