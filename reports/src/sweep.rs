//! The report of a sweep: one table row per grid point and variant, and each key metric as a
//! curve over the swept value. The x axis is the first axis whose values are all numbers (log
//! when they span 100× or more); with none, the first axis's values in grid order. There is a
//! line per variant and per combination of the other axes' values: the variant keeps its
//! colour, the other axes change the dash.

use crate::chart::{Dash, Fit, LineChart, Panel, Scale, Series, Style};
use crate::figure::{self, Block, Figure, Spec};
use crate::html::{self, n, swatch, Header};
use crate::metrics::{dropped_total, first_packet_p99, work_per_connection};
use crate::units::{duration_ns, opt_duration_ns, thousands, usd_micro, Unit};
use crate::{ReportError, ReportFile};
use cnsim_cluster::results::{SweepPoint, SweepResult};
use cnsim_cluster::VariantResult;
use maud::html;

type Metric = fn(&VariantResult) -> Option<f64>;

/// One curve chart: file stem, title, y title, unit, and one metric per panel.
struct Curve {
    file: &'static str,
    title: &'static str,
    caption: &'static str,
    unit: Unit,
    panels: &'static [(&'static str, Metric)],
}

const CURVES: &[Curve] = &[
    Curve {
        file: "sweep-latency",
        title: "How do median and tail latency move across the sweep?",
        caption: "p50 (top) and p99 (bottom) one-way latency of every delivered packet (latency_ns).",
        unit: Unit::Nanos,
        panels: &[
            ("p50 one-way latency", |v| v.latency_ns.p50.map(|x| x as f64)),
            ("p99 one-way latency", |v| v.latency_ns.p99.map(|x| x as f64)),
        ],
    },
    Curve {
        file: "sweep-first-packet-p99",
        title: "What does the first packet of a connection pay across the sweep?",
        caption: "p99 latency of the first packet of each connection through a Service \
                  (service_datapath.first_packet_latency_ns.p99).",
        unit: Unit::Nanos,
        panels: &[("first-packet p99 latency", |v| first_packet_p99(v).map(|x| x as f64))],
    },
    Curve {
        file: "sweep-datapath-work",
        title: "How much datapath work does a new connection take across the sweep?",
        caption: "Mean rules evaluated + hash probes + map lookups per new connection through the \
                  service datapath (service_datapath.*_per_lookup).",
        unit: Unit::Count,
        panels: &[("rules + hash probes + map lookups", |v| {
            work_per_connection(&v.service_datapath).map(|w| w as f64)
        })],
    },
    Curve {
        file: "sweep-sync-time",
        title: "How long does one node take to program its datapath across the sweep?",
        caption: "Modelled time of the first full sync on one node (service_datapath.full_sync_ns).",
        unit: Unit::Nanos,
        panels: &[("full sync time", |v| {
            Some(v.service_datapath.full_sync_ns as f64).filter(|&x| x > 0.0)
        })],
    },
    Curve {
        file: "sweep-drops",
        title: "How many packets are dropped across the sweep?",
        caption: "Packets dropped for any reason (the sum of packets.dropped).",
        unit: Unit::Count,
        panels: &[("packets dropped", |v| Some(dropped_total(v) as f64))],
    },
    Curve {
        file: "sweep-pods-pending",
        title: "How many pods are left pending across the sweep?",
        caption: "Pods that could not be placed or given an address at the end of the run \
                  (pods.pending).",
        unit: Unit::Count,
        panels: &[("pods pending at the end", |v| Some(v.pods.pending.len() as f64))],
    },
    Curve {
        file: "sweep-cross-az-cost",
        title: "What does cross-AZ transfer cost per month across the sweep?",
        caption: "The run's inter-AZ bytes sustained for a 730-hour month, at the scenario's rate \
                  per GB each way, both directions billed (cross_az.monthly_cost_micro_usd; AWS EC2 \
                  data transfer pricing, inter-AZ).",
        unit: Unit::MicroUsd,
        panels: &[("USD per month (730 h)", |v| {
            Some(v.cross_az.monthly_cost_micro_usd as f64)
        })],
    },
];

/// Which axis is drawn along x, and each point's position on it.
struct XAxis {
    axis: usize,
    title: String,
    /// Position per point, in `points` order.
    at: Vec<f64>,
    categories: Option<Vec<String>>,
}

fn x_axis(s: &SweepResult) -> XAxis {
    let numeric = (0..s.axes.len()).find(|&a| s.points.iter().all(|p| p.values[a].trim().parse::<f64>().is_ok()));
    match numeric {
        Some(a) => XAxis {
            axis: a,
            title: format!("{} (swept)", s.axes[a].path),
            at: s
                .points
                .iter()
                .map(|p| p.values[a].trim().parse().unwrap_or(0.0))
                .collect(),
            categories: None,
        },
        None => {
            let names = s.axes.first().map(|a| a.values.clone()).unwrap_or_default();
            let at = (s.points.iter())
                .map(|p| {
                    let v = p.values.first().map(String::as_str).unwrap_or("");
                    names.iter().position(|n| n == v).unwrap_or(0) as f64
                })
                .collect();
            XAxis {
                axis: 0,
                title: s
                    .axes
                    .first()
                    .map_or("grid point".into(), |a| format!("{} (swept)", a.path)),
                at,
                categories: Some(names),
            }
        }
    }
}

/// The values of every axis but x, as "path=value, ..." (empty with one axis).
fn others(s: &SweepResult, p: &SweepPoint, x: usize) -> String {
    (s.axes.iter().zip(&p.values).enumerate())
        .filter(|(a, _)| *a != x)
        .map(|(_, (axis, v))| format!("{}={v}", axis.path))
        .collect::<Vec<_>>()
        .join(", ")
}

fn curve_figure(s: &SweepResult, x: &XAxis, c: &Curve) -> Block {
    let mut fit = Fit::new(Unit::Count, Scale::Auto);
    fit.from_zero = false;
    let mut chart = LineChart::new(c.file, c.title, &x.title, fit);
    chart.x_categories = x.categories.clone();
    chart.empty_note = "No value at any point".into();
    // Series keys in order of first appearance: (variant index, other axes).
    let mut keys: Vec<(usize, String)> = Vec::new();
    for p in &s.points {
        for (i, _) in p.result.variants.iter().enumerate() {
            let key = (i, others(s, p, x.axis));
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let combos: Vec<&String> = keys.iter().map(|k| &k.1).fold(Vec::new(), |mut acc, o| {
        if !acc.contains(&o) {
            acc.push(o);
        }
        acc
    });
    for (title, metric) in c.panels {
        let mut panel = Panel::new(*title, c.unit, Scale::Auto);
        for (vi, other) in &keys {
            let mut points: Vec<(f64, f64)> = (s.points.iter().zip(&x.at))
                .filter(|(p, _)| &others(s, p, x.axis) == other)
                .filter_map(|(p, &at)| Some((at, metric(p.result.variants.get(*vi)?)?)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let name = (s.points.iter())
                .find_map(|p| p.result.variants.get(*vi))
                .map_or(String::new(), |v| v.name.clone());
            let combo = combos.iter().position(|o| *o == other).unwrap_or(0);
            let mut style = Style::variant(*vi).with_marker();
            style.dash = [Dash::Solid, Dash::Dashed, Dash::Dotted][combo % 3];
            panel.series.push(Series {
                label: if other.is_empty() {
                    name
                } else {
                    format!("{name} · {other}")
                },
                style,
                points,
            });
        }
        chart.panels.push(panel);
    }
    Block::figure(Figure {
        spec: Spec::Line(chart),
        caption: c.caption.into(),
        alt: format!("{}: one line per variant over {}", c.title, x.title),
    })
}

fn points_table(s: &SweepResult) -> maud::Markup {
    html! {
        section {
            h2 { "Every point" }
            table #points {
                thead { tr {
                    th { "#" }
                    @for a in &s.axes { th { code { (a.path) } } }
                    th { "variant" } th { "p50" } th { "p99" } th { "first-packet p99" }
                    th { "work / new conn." } th { "full sync" } th { "dropped" } th { "pods pending" }
                    th { "cross-AZ $/month" } th { "digest" }
                } }
                tbody {
                    @for p in &s.points {
                        @for (i, v) in p.result.variants.iter().enumerate() {
                            tr {
                                td.n { (p.index) }
                                @for value in &p.values { td { (value) } }
                                td { (swatch(i)) (v.name) }
                                td.n { (opt_duration_ns(v.latency_ns.p50)) }
                                td.n { (opt_duration_ns(v.latency_ns.p99)) }
                                td.n { (opt_duration_ns(first_packet_p99(v))) }
                                td.n { (work_per_connection(&v.service_datapath).map_or("–".into(), thousands)) }
                                td.n { (duration_ns(v.service_datapath.full_sync_ns as f64)) }
                                (n(dropped_total(v)))
                                (n(v.pods.pending.len() as u64))
                                td.n { (usd_micro(v.cross_az.monthly_cost_micro_usd as f64)) }
                                td { code { (v.digest.to_string()) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn render(s: &SweepResult) -> Result<Vec<ReportFile>, ReportError> {
    let x = x_axis(s);
    let blocks: Vec<Block> = if s.points.is_empty() {
        vec![Block::Note {
            heading: "Curves".into(),
            text: "This sweep holds no points.".into(),
        }]
    } else {
        CURVES.iter().map(|c| curve_figure(s, &x, c)).collect()
    };
    let shown = figure::draw(blocks)?;
    let axes: Vec<String> = s
        .axes
        .iter()
        .map(|a| format!("{} = {}", a.path, a.values.join(", ")))
        .collect();
    let mut extra = vec![
        ("points", format!("{} of {}", s.points.len(), s.points_total)),
        ("swept", axes.join("; ")),
    ];
    if let Some(sh) = s.shard {
        extra.push(("shard", format!("{}/{}", sh.index, sh.count)));
    }
    let header = Header {
        kind: "sweep",
        scenario: &s.scenario,
        cnsim_version: &s.cnsim_version,
        seed: s.seed,
        duration_ns: s.points.first().map_or(0, |p| p.result.duration_ns),
        scenario_file: Some(&s.scenario_file),
        extra,
    };
    let body = html! {
        (html::blocks(&shown))
        (points_table(s))
        (html::scenario_text(Some(&s.scenario_text)))
    };
    Ok(figure::files(html::page(&header, body), shown))
}
