//! Axis ranges and ticks, chosen here rather than by plotters so that every chart gets round
//! ticks in its unit (1-2-5 steps; on a log axis 1, 2, 5 × 10^k or whole decades) and never an
//! empty or NaN range, whatever the data. A log axis is drawn as a linear axis over log10 of the
//! value, so one mapping to pixels serves every chart.

use crate::units::Unit;
use std::ops::Range;

/// How a chart wants an axis scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
    /// Log when every value is positive and they span at least 100×, else linear.
    Auto,
}

/// A fitted axis: its range and ticks in data units.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub log: bool,
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub unit: Unit,
    /// Named positions 0, 1, 2... instead of numbers (a swept value that is not a number).
    pub categories: Option<Vec<String>>,
}

/// What an axis must cover.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub scale: Scale,
    pub unit: Unit,
    /// A range that holds whatever the data (a fraction 0..1).
    pub fixed: Option<(f64, f64)>,
    /// A linear axis starts at zero (quantities; not a time window).
    pub from_zero: bool,
    /// Room above the largest value, as a fraction of the drawn range (labels over bars).
    pub headroom: f64,
    /// The axis reaches at least this value (100 for a percentage of a limit).
    pub at_least: Option<f64>,
}

impl Fit {
    pub fn new(unit: Unit, scale: Scale) -> Fit {
        Fit {
            scale,
            unit,
            fixed: None,
            from_zero: true,
            headroom: 0.0,
            at_least: None,
        }
    }
}

/// Whether values that span `lo..=hi` read better on a log axis.
pub fn wants_log(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo >= 100.0
}

impl Axis {
    pub fn fit(values: impl IntoIterator<Item = f64>, f: Fit) -> Axis {
        let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if let Some((lo, hi)) = f.fixed {
            return linear(lo, hi, f.unit);
        }
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let max = f.at_least.map_or(max, |a| max.max(a));
        // The share of the drawn range left free above the data, kept below 1.
        let room = f.headroom.clamp(0.0, 0.8);
        let log = match f.scale {
            Scale::Linear => false,
            Scale::Log => min > 0.0,
            Scale::Auto => wants_log(min, max),
        };
        if finite.is_empty() {
            let span = f.unit.empty_span();
            return match f.scale {
                Scale::Log => logarithmic(span, span * 1000.0, f.unit),
                Scale::Linear | Scale::Auto => linear(0.0, span, f.unit),
            };
        }
        if log {
            let decades = (max / min).log10().max(1.0);
            return logarithmic(min, max * 10f64.powf(decades * room / (1.0 - room)), f.unit);
        }
        let lo = if f.from_zero { min.min(0.0) } else { min };
        let hi = max + (max - lo) * room / (1.0 - room);
        if f.from_zero || hi <= lo {
            return linear(lo, hi.max(0.0), f.unit);
        }
        // A window on the data (a swept range, a time span): no stretch to the next round
        // tick, which could add most of the axis for 1000..10000.
        let pad = (hi - lo) * 0.03;
        let mut a = linear(lo - pad, hi + pad, f.unit);
        a.lo = lo - pad;
        a.hi = hi + pad;
        a.ticks.retain(|&t| t >= a.lo && t <= a.hi);
        a
    }

    /// Positions 0..n named by `names`.
    pub fn categories(names: Vec<String>) -> Axis {
        let n = names.len().max(1);
        Axis {
            log: false,
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: (0..names.len()).map(|i| i as f64).collect(),
            unit: Unit::Count,
            categories: Some(names),
        }
    }

    /// Where a value sits on the drawn (linear) coordinate; None for a value a log axis cannot show.
    pub fn pos(&self, v: f64) -> Option<f64> {
        match (self.log, v.is_finite()) {
            (_, false) => None,
            (true, _) if v <= 0.0 => None,
            (true, _) => Some(v.log10()),
            (false, _) => Some(v),
        }
    }

    /// The drawn range.
    pub fn range(&self) -> Range<f64> {
        if self.log {
            self.lo.log10()..self.hi.log10()
        } else {
            self.lo..self.hi
        }
    }

    /// The label of the tick at value `t`.
    pub fn label(&self, t: f64) -> String {
        match &self.categories {
            Some(names) => names.get(t.round().max(0.0) as usize).cloned().unwrap_or_default(),
            None => self.unit.format(t),
        }
    }

    /// The lowest value a bar can start from (a log axis has no zero).
    pub fn baseline(&self) -> f64 {
        if self.log {
            self.lo
        } else {
            0f64.clamp(self.lo, self.hi)
        }
    }
}

/// The 1-2-5 step nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    let k = raw.log10().floor();
    let base = 10f64.powf(k);
    let m = raw / base;
    let m = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * base
}

fn linear(lo: f64, hi: f64, unit: Unit) -> Axis {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, unit.empty_span())
    } else {
        // One value: show it in the middle of a range around it.
        (lo.min(0.0).min(lo * 0.5), hi.max(0.0).max(hi * 1.5))
    };
    let mut step = nice_step((hi - lo) / 5.0);
    if matches!(unit, Unit::Count | Unit::Nanos) {
        step = step.max(1.0);
    }
    let lo = (lo / step).floor() * step;
    let hi = (hi / step).ceil() * step;
    let n = ((hi - lo) / step).round() as usize;
    let ticks = (0..=n).map(|i| clean(lo + i as f64 * step)).collect();
    Axis {
        log: false,
        lo,
        hi,
        ticks,
        unit,
        categories: None,
    }
}

/// 1, 2, 5 × 10^k at or below / at or above `v`.
fn one_two_five(v: f64, up: bool) -> f64 {
    let k = v.log10().floor();
    let base = 10f64.powf(k);
    let steps = [1.0, 2.0, 5.0, 10.0];
    if up {
        steps
            .iter()
            .map(|m| m * base)
            .find(|&x| x >= v * (1.0 - 1e-9))
            .unwrap_or(10.0 * base)
    } else {
        steps
            .iter()
            .rev()
            .map(|m| m * base)
            .find(|&x| x <= v * (1.0 + 1e-9))
            .unwrap_or(base)
    }
}

fn logarithmic(min: f64, max: f64, unit: Unit) -> Axis {
    let (mut lo, mut hi) = (one_two_five(min, false), one_two_five(max, true));
    if hi <= lo {
        lo = one_two_five(lo * 0.99, false);
        hi = one_two_five(hi * 1.01, true);
    }
    let decades = (hi / lo).log10();
    let ticks: Vec<f64> = if decades <= 2.5 {
        let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (k0..=k1)
            .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
            .filter(|&t| t >= lo * (1.0 - 1e-9) && t <= hi * (1.0 + 1e-9))
            .collect()
    } else {
        lo = 10f64.powf(lo.log10().floor());
        hi = 10f64.powf(hi.log10().ceil());
        let (k0, k1) = (lo.log10().round() as i32, hi.log10().round() as i32);
        let every = ((k1 - k0) as f64 / 6.0).ceil().max(1.0) as i32;
        (k0..=k1)
            .filter(|k| (k - k0) % every == 0)
            .map(|k| 10f64.powi(k))
            .collect()
    };
    Axis {
        log: true,
        lo,
        hi,
        ticks: ticks.into_iter().map(clean).collect(),
        unit,
        categories: None,
    }
}

/// Drops float noise from a tick (0.30000000000000004 → 0.3).
fn clean(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(12 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(values: &[f64], scale: Scale) -> Axis {
        Axis::fit(values.iter().copied(), Fit::new(Unit::Count, scale))
    }

    #[test]
    fn linear_ticks_are_round_and_cover_the_data() {
        let a = fit(&[3.0, 47.0], Scale::Linear);
        assert_eq!((a.lo, a.hi), (0.0, 50.0));
        assert_eq!(a.ticks, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    }

    #[test]
    fn log_ticks_are_one_two_five_or_decades() {
        let a = fit(&[3.0, 40.0], Scale::Log);
        assert!(a.log);
        assert_eq!(a.ticks, vec![2.0, 5.0, 10.0, 20.0, 50.0]);
        let wide = fit(&[3.0, 3e7], Scale::Log);
        assert_eq!(wide.ticks.first(), Some(&1.0));
        assert_eq!(wide.ticks.last(), Some(&1e8));
    }

    #[test]
    fn auto_goes_log_only_for_wide_positive_spans() {
        assert!(fit(&[1.0, 1000.0], Scale::Auto).log);
        assert!(!fit(&[1.0, 50.0], Scale::Auto).log);
        assert!(!fit(&[0.0, 1e6], Scale::Auto).log);
    }

    #[test]
    fn degenerate_data_still_gives_a_finite_range() {
        for values in [&[][..], &[0.0], &[5.0], &[f64::NAN], &[7.0, 7.0]] {
            for scale in [Scale::Linear, Scale::Log, Scale::Auto] {
                let a = fit(values, scale);
                let r = a.range();
                assert!(
                    r.start.is_finite() && r.end.is_finite() && r.end > r.start,
                    "{values:?} {scale:?}: {a:?}"
                );
                assert!(!a.ticks.is_empty());
            }
        }
    }

    #[test]
    fn a_window_axis_stays_on_the_data() {
        let mut f = Fit::new(Unit::Count, Scale::Linear);
        f.from_zero = false;
        let a = Axis::fit([1000.0, 10_000.0], f);
        assert!(
            a.lo > 500.0 && a.lo < 1000.0 && a.hi > 10_000.0 && a.hi < 10_500.0,
            "{a:?}"
        );
        assert_eq!(a.ticks, vec![2000.0, 4000.0, 6000.0, 8000.0, 10_000.0]);
    }

    #[test]
    fn empty_axes_show_a_round_range_in_their_unit() {
        let latency = Axis::fit([], Fit::new(Unit::Nanos, Scale::Log));
        assert_eq!((latency.lo, latency.hi), (1e3, 1e6));
        let dollars = Axis::fit([0.0], Fit::new(Unit::MicroUsd, Scale::Linear));
        assert_eq!(dollars.label(dollars.hi), "$1");
    }

    #[test]
    fn labels_carry_the_unit_or_the_category() {
        let a = Axis::fit([1e3, 1e6], Fit::new(Unit::Nanos, Scale::Log));
        let labels: Vec<String> = a.ticks.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["1 µs", "10 µs", "100 µs", "1 ms"]);
        let c = Axis::categories(vec!["a".into(), "b".into()]);
        assert_eq!(c.label(1.0), "b");
    }
}
