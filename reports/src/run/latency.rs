//! Latency figures of a run: the CDF of every delivered packet, first packets against
//! established ones when Services are in the path, and p50/p99 bars per variant.

use super::variant_legend;
use crate::chart::{Bar, BarChart, BarGroup, Fit, LineChart, Panel, Scale, Series, Style};
use crate::figure::{Block, Figure, Spec};
use crate::metrics::uses_services;
use crate::palette;
use crate::units::{opt_duration_ns, Unit};
use cnsim_cluster::results::{Buckets, Percentiles};
use cnsim_cluster::RunResult;

/// The empirical CDF as a step line: flat across latencies no packet had, rising across each
/// bucket (from its lower edge, at most 1/128 below the upper bound, to the upper bound).
pub fn cdf(b: &Buckets) -> Vec<(f64, f64)> {
    cdf_of(b, b.count())
}

/// The same steps as a fraction of `total` (at least the buckets' count): a curve that ends at
/// count/total, for things that never happened to the rest (pods still pending).
pub fn cdf_of(b: &Buckets, total: u64) -> Vec<(f64, f64)> {
    let total = total.max(b.count());
    if total == 0 {
        return Vec::new();
    }
    let mut pts = Vec::with_capacity(b.0.len() * 2);
    let (mut cum, mut prev_upper) = (0u64, 0.0);
    for &[upper, n] in &b.0 {
        let upper = upper as f64;
        let lower = (upper * (1.0 - 1.0 / 128.0)).max(prev_upper);
        pts.push((lower, cum as f64 / total as f64));
        cum += n;
        pts.push((upper, cum as f64 / total as f64));
        prev_upper = upper;
    }
    pts
}

fn cdf_chart(name: &str, title: &str) -> LineChart {
    let mut c = LineChart::new(
        name,
        title,
        "one-way latency (log scale)",
        Fit::new(Unit::Nanos, Scale::Log),
    );
    c.empty_note = "No packets were delivered".into();
    c
}

fn fraction_panel() -> Panel {
    let mut p = Panel::new("fraction of packets at or below", Unit::Fraction, Scale::Linear);
    p.y_fit.fixed = Some((0.0, 1.0));
    p
}

pub fn packets_cdf(r: &RunResult) -> Block {
    let mut c = cdf_chart(
        "latency-cdf",
        "How long do packets take? One-way latency of every delivered packet",
    );
    let mut p = fraction_panel();
    for (i, v) in r.variants.iter().enumerate() {
        p.series.push(Series {
            label: v.name.clone(),
            style: Style::variant(i),
            points: cdf(&v.latency_buckets.packets),
        });
    }
    c.panels.push(p);
    let p99s: Vec<String> = r
        .variants
        .iter()
        .map(|v| format!("{} {}", v.name, opt_duration_ns(v.latency_ns.p99)))
        .collect();
    Block::figure(Figure {
        spec: Spec::Line(c),
        caption: "Cumulative distribution of one-way latency (sender's pod to receiver's pod) over \
                  every delivered packet, from latency_buckets.packets. A curve further left is \
                  faster; where it reaches 0.99 is the p99."
            .into(),
        alt: format!("Latency CDF per variant; p99: {}", p99s.join(", ")),
    })
}

/// First packets (which walk the service rules) against established ones; None when no
/// variant sends through Services.
pub fn first_vs_established_cdf(r: &RunResult) -> Option<Block> {
    if !r.variants.iter().any(|v| uses_services(&v.service_datapath)) {
        return None;
    }
    let mut c = cdf_chart(
        "latency-cdf-first-packet",
        "What does opening a connection cost? First packet vs established packets",
    );
    let mut p = fraction_panel();
    for (i, v) in r.variants.iter().enumerate() {
        if !uses_services(&v.service_datapath) {
            continue;
        }
        p.series.push(Series {
            label: format!("{}: first packet", v.name),
            style: Style::variant(i),
            points: cdf(&v.latency_buckets.first_packet),
        });
        p.series.push(Series {
            label: format!("{}: established", v.name),
            style: Style::variant(i).dashed(),
            points: cdf(&v.latency_buckets.established),
        });
    }
    c.panels.push(p);
    Some(Block::figure(Figure {
        spec: Spec::Line(c),
        caption: "Solid: the first packet of each connection, which walks the service datapath's \
                  rules before conntrack knows the flow (latency_buckets.first_packet). Dashed: \
                  every other packet, which conntrack already tracks (latency_buckets.established). \
                  The gap between a variant's two curves is the price of a new connection."
            .into(),
        alt: "Latency CDF of first packets (solid) and established packets (dashed) per variant".into(),
    }))
}

/// p50 and p99 per variant: first packet and established when Services are involved, every
/// packet otherwise.
pub fn percentile_bars(r: &RunResult) -> Block {
    let services = r.variants.iter().any(|v| uses_services(&v.service_datapath));
    type Pick = fn(&cnsim_cluster::VariantResult) -> Option<&Percentiles>;
    let groups: Vec<(&str, Pick, bool)> = if services {
        vec![
            (
                "first packet p50",
                |v| svc(v).map(|s| &s.first_packet_latency_ns),
                false,
            ),
            ("first packet p99", |v| svc(v).map(|s| &s.first_packet_latency_ns), true),
            ("established p50", |v| svc(v).map(|s| &s.established_latency_ns), false),
            ("established p99", |v| svc(v).map(|s| &s.established_latency_ns), true),
        ]
    } else {
        vec![
            ("all packets p50", |v| Some(&v.latency_ns), false),
            ("all packets p99", |v| Some(&v.latency_ns), true),
        ]
    };
    let groups = groups
        .into_iter()
        .map(|(label, pick, p99)| BarGroup {
            label: label.into(),
            bars: r
                .variants
                .iter()
                .enumerate()
                .map(|(i, v)| Bar {
                    colour: palette::variant(i),
                    value: pick(v).and_then(|p| if p99 { p.p99 } else { p.p50 }).map(|x| x as f64),
                    text: None,
                })
                .collect(),
        })
        .collect();
    let chart = BarChart {
        name: "latency-percentiles".into(),
        title: "How slow are the median and the tail? p50 and p99 latency per variant".into(),
        x_title: String::new(),
        y_title: "one-way latency".into(),
        y_unit: Unit::Nanos,
        y_scale: Scale::Auto,
        groups,
        legend: variant_legend(r),
        empty_note: "No packets were delivered".into(),
    };
    let caption = if services {
        "p50 and p99 of the first packet of each connection and of established packets \
         (service_datapath.first_packet_latency_ns and established_latency_ns)."
    } else {
        "p50 and p99 one-way latency of every delivered packet (latency_ns)."
    };
    Block::figure(Figure {
        spec: Spec::Bar(chart),
        caption: caption.into(),
        alt: "Bars of p50 and p99 latency per variant".into(),
    })
}

fn svc(v: &cnsim_cluster::VariantResult) -> Option<&cnsim_cluster::results::ServiceDatapathResult> {
    uses_services(&v.service_datapath).then_some(&v.service_datapath)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdf_steps_through_each_bucket_and_ends_at_one() {
        let pts = cdf(&Buckets(vec![[1000, 1], [5000, 3]]));
        assert_eq!(pts.len(), 4);
        assert_eq!(pts[0], (1000.0 * 127.0 / 128.0, 0.0));
        assert_eq!(pts[1], (1000.0, 0.25));
        // Flat from the first bucket to the second: no packet took 1 µs..4.96 µs.
        assert_eq!(pts[2].1, 0.25);
        assert_eq!(pts[3], (5000.0, 1.0));
        assert!(cdf(&Buckets::default()).is_empty());
    }
}
