//! Service datapath figures of a run: work per new connection and programming (sync) time,
//! drawn as curves over the number of Services when the run's variants hold one mode at several
//! Service counts (scenarios/services-sweep.ron), else as bars per variant; and drops by reason.

use super::variant_legend;
use crate::chart::{Bar, BarChart, BarGroup, Fit, LineChart, Panel, Scale, Series, Style};
use crate::figure::{Block, Figure, Spec};
use crate::metrics::{dropped_total, first_packet_p99, uses_services, work_per_connection};
use crate::palette;
use crate::units::{thousands, Unit};
use cnsim_cluster::{RunResult, VariantResult};
use std::collections::BTreeSet;

/// Variants grouped by service mode, in order of first appearance, for modes seen at two or
/// more Service counts. Each group: (mode, index of its first variant, variants by count).
pub fn scaling_groups(r: &RunResult) -> Vec<(String, usize, Vec<usize>)> {
    let mut modes: Vec<(String, usize, Vec<usize>)> = Vec::new();
    for (i, v) in r.variants.iter().enumerate() {
        let mode = &v.service_datapath.mode;
        match modes.iter_mut().find(|(m, _, _)| m == mode) {
            Some((_, _, members)) => members.push(i),
            None => modes.push((mode.clone(), i, vec![i])),
        }
    }
    modes.retain(|(_, _, members)| {
        let counts: BTreeSet<u32> = members
            .iter()
            .map(|&i| r.variants[i].service_datapath.services)
            .collect();
        counts.len() >= 2
    });
    for (_, _, members) in &mut modes {
        members.sort_by_key(|&i| (r.variants[i].service_datapath.services, i));
    }
    modes
}

pub fn figures(r: &RunResult) -> Vec<Block> {
    let groups = scaling_groups(r);
    if groups.is_empty() {
        bars(r)
    } else {
        curves(r, &groups)
    }
}

fn services_axis() -> Fit {
    let mut f = Fit::new(Unit::Count, Scale::Auto);
    f.from_zero = false;
    f
}

fn curve(
    r: &RunResult,
    groups: &[(String, usize, Vec<usize>)],
    panel: &mut Panel,
    suffix: &str,
    dashed: bool,
    y: impl Fn(&VariantResult) -> Option<f64>,
) {
    for (mode, first, members) in groups {
        let points = members
            .iter()
            .filter_map(|&i| {
                let v = &r.variants[i];
                Some((f64::from(v.service_datapath.services), y(v)?))
            })
            .collect();
        let style = Style::variant(*first).with_marker();
        panel.series.push(Series {
            label: format!("{mode}{suffix}"),
            style: if dashed { style.dashed() } else { style },
            points,
        });
    }
}

fn curves(r: &RunResult, groups: &[(String, usize, Vec<usize>)]) -> Vec<Block> {
    let x_title = "Services (ClusterIP), log scale where they span 100× or more";
    let mut work = LineChart::new(
        "datapath-work",
        "How does the work per new connection grow with the number of Services?",
        x_title,
        services_axis(),
    );
    let mut p = Panel::new("rules + hash probes + map lookups", Unit::Count, Scale::Auto);
    curve(r, groups, &mut p, "", false, |v| {
        work_per_connection(&v.service_datapath).map(|w| w as f64)
    });
    work.panels.push(p);

    let mut first = LineChart::new(
        "first-packet-p99",
        "How does the first packet's tail latency grow with the number of Services?",
        x_title,
        services_axis(),
    );
    let mut p = Panel::new("first-packet p99 latency", Unit::Nanos, Scale::Auto);
    curve(r, groups, &mut p, "", false, |v| first_packet_p99(v).map(|x| x as f64));
    first.panels.push(p);

    let mut sync = LineChart::new(
        "sync-time",
        "How long does programming the datapath take as Services grow?",
        x_title,
        services_axis(),
    );
    let mut p = Panel::new("modelled programming time (log)", Unit::Nanos, Scale::Log);
    curve(r, groups, &mut p, ": full sync", false, |v| {
        Some(v.service_datapath.full_sync_ns as f64).filter(|&x| x > 0.0)
    });
    curve(r, groups, &mut p, ": one endpoint change", true, |v| {
        v.service_datapath.endpoint_change_ns.map(|x| x as f64)
    });
    sync.panels.push(p);

    vec![
        Block::figure(Figure {
            spec: Spec::Line(work),
            caption: "Mean work the service datapath does to choose a backend for a new \
                      connection: iptables rules evaluated plus hash-table probes plus eBPF map \
                      lookups (service_datapath.rules_per_lookup + hash_probes_per_lookup + \
                      map_lookups_per_lookup), one point per variant, one line per mode."
                .into(),
            alt: "Work per new connection against the number of Services, one line per mode".into(),
        }),
        Block::figure(Figure {
            spec: Spec::Line(first),
            caption: "p99 one-way latency of the first packet of each connection, the one that \
                      walks the rules (service_datapath.first_packet_latency_ns.p99)."
                .into(),
            alt: "First-packet p99 latency against the number of Services, one line per mode".into(),
        }),
        Block::figure(Figure {
            spec: Spec::Line(sync),
            caption: "Modelled time for one node to program its datapath: the first full sync \
                      (solid, service_datapath.full_sync_ns) and re-syncing after one endpoint \
                      change (dashed, endpoint_change_ns). The cost model and its sources are \
                      in models/services/CALIBRATION.md."
                .into(),
            alt: "Full-sync and endpoint-change programming time against the number of Services".into(),
        }),
    ]
}

fn bars(r: &RunResult) -> Vec<Block> {
    let mut out = Vec::new();
    let bar = |i: usize, value: Option<f64>| Bar {
        colour: palette::variant(i),
        value,
        text: None,
    };
    if r.variants.iter().any(|v| uses_services(&v.service_datapath)) {
        type Pick = fn(&VariantResult) -> u64;
        let parts: [(&str, Pick); 3] = [
            ("rules evaluated", |v| v.service_datapath.rules_per_lookup),
            ("hash probes", |v| v.service_datapath.hash_probes_per_lookup),
            ("map lookups", |v| v.service_datapath.map_lookups_per_lookup),
        ];
        let groups = parts
            .iter()
            .map(|(label, pick)| BarGroup {
                label: (*label).into(),
                bars: r
                    .variants
                    .iter()
                    .enumerate()
                    .map(|(i, v)| bar(i, uses_services(&v.service_datapath).then(|| pick(v) as f64)))
                    .collect(),
            })
            .collect();
        out.push(Block::figure(Figure {
            spec: Spec::Bar(BarChart {
                name: "datapath-work".into(),
                title: "How much work does the datapath do to route a new connection?".into(),
                x_title: String::new(),
                y_title: "mean per new connection".into(),
                y_unit: Unit::Count,
                y_scale: Scale::Linear,
                groups,
                legend: variant_legend(r),
                empty_note: "No connection went through a Service".into(),
            }),
            caption: "Mean work per new connection through the service datapath, by kind: \
                      iptables rules evaluated, hash-table probes (IPVS, nftables maps), eBPF map \
                      lookups (service_datapath.rules_per_lookup, hash_probes_per_lookup, \
                      map_lookups_per_lookup)."
                .into(),
            alt: "Bars of datapath work per new connection per variant".into(),
        }));
    }
    if r.variants.iter().any(|v| v.service_datapath.full_sync_ns > 0) {
        let groups = vec![
            BarGroup {
                label: "full sync".into(),
                bars: (r.variants.iter().enumerate())
                    .map(|(i, v)| bar(i, Some(v.service_datapath.full_sync_ns as f64)))
                    .collect(),
            },
            BarGroup {
                label: "one endpoint change".into(),
                bars: (r.variants.iter().enumerate())
                    .map(|(i, v)| bar(i, v.service_datapath.endpoint_change_ns.map(|x| x as f64)))
                    .collect(),
            },
        ];
        out.push(Block::figure(Figure {
            spec: Spec::Bar(BarChart {
                name: "sync-time".into(),
                title: "How long does one node take to program its service datapath?".into(),
                x_title: String::new(),
                y_title: "modelled programming time".into(),
                y_unit: Unit::Nanos,
                y_scale: Scale::Auto,
                groups,
                legend: variant_legend(r),
                empty_note: "Nothing was programmed".into(),
            }),
            caption: "Modelled time for one node to write its first full sync \
                      (service_datapath.full_sync_ns) and to re-sync after one endpoint change \
                      (endpoint_change_ns); sources in models/services/CALIBRATION.md."
                .into(),
            alt: "Bars of full-sync and endpoint-change programming time per variant".into(),
        }));
    }
    out
}

/// Grouped bars of drops by reason, or a sentence when nothing was dropped.
pub fn drops(r: &RunResult) -> Block {
    let reasons: BTreeSet<&String> = r.variants.iter().flat_map(|v| v.packets.dropped.keys()).collect();
    if reasons.is_empty() {
        return Block::Note {
            heading: "Why were packets dropped?".into(),
            text: "No packets were dropped in any variant.".into(),
        };
    }
    let groups = reasons
        .iter()
        .map(|reason| BarGroup {
            label: reason.to_string(),
            bars: (r.variants.iter().enumerate())
                .map(|(i, v)| Bar {
                    colour: palette::variant(i),
                    value: Some(v.packets.dropped.get(*reason).copied().unwrap_or(0) as f64),
                    text: None,
                })
                .collect(),
        })
        .collect();
    let totals: Vec<String> = (r.variants.iter())
        .map(|v| format!("{} {}", v.name, thousands(dropped_total(v))))
        .collect();
    Block::figure(Figure {
        spec: Spec::Bar(BarChart {
            name: "drops".into(),
            title: "Why were packets dropped? Drops by reason".into(),
            x_title: "drop reason".into(),
            y_title: "packets dropped".into(),
            y_unit: Unit::Count,
            y_scale: Scale::Linear,
            groups,
            legend: variant_legend(r),
            empty_note: "No packets were dropped".into(),
        }),
        caption: "Packets dropped during the run, by the reason the datapath gave (packets.dropped).".into(),
        alt: format!("Bars of drops by reason; totals: {}", totals.join(", ")),
    })
}
