//! Figures of a run's state over time and its bill: conntrack occupancy, address use (subnet,
//! node, pending pods) and the cross-AZ transfer cost.
//!
//! Address use is one chart of stacked panels sharing the time axis. Host-local IPAM keeps
//! these lines flat; with the AWS VPC CNI they move, and two more panels show its pools: ENIs
//! attached, and pod addresses held (solid) against assigned (dashed).

use super::variant_legend;
use crate::chart::{Bar, BarChart, BarGroup, Fit, LineChart, Panel, RefLine, Scale, Series, Style};
use crate::figure::{Block, Figure, Spec};
use crate::metrics::{busiest_node_max_pods, busiest_subnet, monthly_cross_az_bytes, times_s};
use crate::palette;
use crate::units::{bytes, duration_ns, thousands, usd_micro, Unit};
use cnsim_cluster::{RunResult, VariantResult};
use std::collections::BTreeSet;

fn time_axis() -> Fit {
    Fit::new(Unit::Seconds, Scale::Linear)
}

fn series(label: &str, i: usize, t: &[u64], ys: impl IntoIterator<Item = f64>) -> Series {
    Series {
        label: label.to_string(),
        style: Style::variant(i),
        points: times_s(t).into_iter().zip(ys).collect(),
    }
}

fn f64s<T: Copy + Into<u64>>(v: &[T]) -> impl Iterator<Item = f64> + '_ {
    v.iter().map(|&x| x.into() as f64)
}

/// A reference line per distinct limit; labelled with the variant when variants differ.
fn limit_lines(r: &RunResult, name: &str, limit: impl Fn(usize) -> Option<u64>) -> Vec<RefLine> {
    let distinct: BTreeSet<u64> = (0..r.variants.len()).filter_map(&limit).collect();
    if distinct.len() == 1 {
        let y = *distinct.iter().next().unwrap_or(&0) as f64;
        return vec![RefLine {
            label: name.into(),
            colour: palette::REFERENCE,
            y,
        }];
    }
    let mut seen = BTreeSet::new();
    (0..r.variants.len())
        .filter_map(|i| {
            let y = limit(i)?;
            seen.insert(y).then(|| RefLine {
                label: format!("{name} ({})", r.variants[i].name),
                colour: palette::variant(i),
                y: y as f64,
            })
        })
        .collect()
}

pub fn conntrack(r: &RunResult) -> Block {
    let mut c = LineChart::new(
        "conntrack",
        "Is any node's conntrack table close to full?",
        "time since start of run",
        time_axis(),
    );
    c.empty_note = "No conntrack entries".into();
    let mut p = Panel::new("conntrack entries, busiest node", Unit::Count, Scale::Linear);
    for (i, v) in r.variants.iter().enumerate() {
        p.series.push(series(
            &v.name,
            i,
            &v.timeline.t_ns,
            f64s(&v.timeline.conntrack_entries_max_node),
        ));
    }
    let peak = (r.variants.iter())
        .flat_map(|v| v.timeline.conntrack_entries_max_node.iter().copied())
        .max()
        .unwrap_or(0);
    let lines = limit_lines(r, "nf_conntrack_max", |i| {
        Some(r.variants[i].service_datapath.conntrack_max).filter(|&m| m > 0)
    });
    let smallest = lines.iter().map(|l| l.y as u64).min();
    let mut caption = "Live conntrack entries on the node holding the most, sampled 101 times over \
                       the run (timeline.conntrack_entries_max_node). "
        .to_string();
    match smallest {
        Some(max) if peak > 0 && max <= peak.saturating_mul(10) => {
            caption += "Dotted: the table size (nf_conntrack_max, service_datapath.conntrack_max); \
                        at the line, new connections are dropped.";
            p.refs = lines;
        }
        Some(max) => {
            caption += &format!(
                "The table holds {} entries (nf_conntrack_max, the smallest of any node), more \
                 than 10× the peak of {}: far from full, so the limit is not drawn.",
                thousands(max),
                thousands(peak)
            );
        }
        None => caption += "No conntrack table size is reported.",
    }
    c.panels.push(p);
    Block::figure(Figure {
        spec: Spec::Line(c),
        caption,
        alt: format!(
            "Conntrack entries on the busiest node over time; peak {}",
            thousands(peak)
        ),
    })
}

/// Whether a variant's timeline carries the AWS VPC CNI's pool series.
fn has_pools(v: &VariantResult) -> bool {
    !v.timeline.enis_attached.is_empty()
}

/// The AWS VPC CNI's pools over time: ENIs attached over all nodes, and pod addresses held in
/// the pools (solid) against those pods have (dashed). None when no variant has them.
fn pool_panels(r: &RunResult) -> Option<[Panel; 2]> {
    if !r.variants.iter().any(has_pools) {
        return None;
    }
    let mut enis = Panel::new("ENIs attached, all nodes", Unit::Count, Scale::Linear);
    let mut pool = Panel::new("pod addresses in pools, all nodes", Unit::Count, Scale::Linear);
    for (i, v) in r.variants.iter().enumerate().filter(|(_, v)| has_pools(v)) {
        let tl = &v.timeline;
        let t = &tl.t_ns;
        enis.series.push(series(&v.name, i, t, f64s(&tl.enis_attached)));
        pool.series
            .push(series(&format!("{}: held", v.name), i, t, f64s(&tl.addresses_held)));
        let mut assigned = series(&format!("{}: assigned", v.name), i, t, f64s(&tl.addresses_assigned));
        assigned.style = assigned.style.dashed();
        pool.series.push(assigned);
    }
    Some([enis, pool])
}

/// "prefix-delegation 15 /28 prefixes (240 addresses)" at the end of the run, for the variants
/// that delegate prefixes.
fn prefixes_at_end(r: &RunResult) -> Vec<String> {
    (r.variants.iter())
        .filter_map(|v| {
            let p = *v.timeline.prefixes_held.last()?;
            Some(format!(
                "{} {} /28 prefixes ({} addresses)",
                v.name,
                thousands(p),
                thousands(p * 16)
            ))
        })
        .collect()
}

pub fn address_use(r: &RunResult) -> Block {
    let pools = pool_panels(r);
    let title = if pools.is_some() {
        "Are addresses running out? Subnets, nodes, ENIs, pools and pending pods over time"
    } else {
        "Are addresses running out? Subnets, nodes and pending pods over time"
    };
    let mut c = LineChart::new("address-use", title, "time since start of run", time_axis());
    let mut subnet = Panel::new("busiest subnet, % of addresses used", Unit::Percent, Scale::Linear);
    // Against the whole subnet: a line near the bottom is the answer "far from running out".
    subnet.y_fit.at_least = Some(100.0);
    let mut node = Panel::new("pod addresses, busiest node", Unit::Count, Scale::Linear);
    let mut pending = Panel::new("pods pending", Unit::Count, Scale::Linear);
    let mut busiest = Vec::new();
    for (i, v) in r.variants.iter().enumerate() {
        let t = &v.timeline.t_ns;
        if let Some((k, pct)) = busiest_subnet(v) {
            subnet.series.push(series(&v.name, i, t, pct));
            let s = &v.subnets[k];
            busiest.push(format!(
                "{}: {} ({}, {} of {} addresses at the end)",
                v.name,
                s.name,
                s.cidr,
                thousands(s.used),
                thousands(s.capacity)
            ));
        }
        node.series
            .push(series(&v.name, i, t, f64s(&v.timeline.node_addresses_max)));
        pending
            .series
            .push(series(&v.name, i, t, f64s(&v.timeline.pods_pending)));
    }
    node.refs = limit_lines(r, "max_pods", |i| busiest_node_max_pods(&r.variants[i]).map(u64::from));
    let mut caption = format!(
        "Top: addresses in use in the busiest subnet (node and pod addresses; \
         timeline.subnet_addresses_used over the subnet's capacity less the 5 AWS reserves). \
         Busiest subnet: {}. {}: pod addresses on the node holding the most \
         (timeline.node_addresses_max), dotted at that node's max_pods. ",
        if busiest.is_empty() {
            "none".into()
        } else {
            busiest.join("; ")
        },
        if pools.is_some() { "Second" } else { "Middle" }
    );
    let alt;
    match pools {
        None => {
            c.panels = vec![subnet, node, pending];
            alt = "Three panels over time: busiest subnet utilisation, busiest node's pod addresses, pods pending";
        }
        Some([enis, pool]) => {
            c.panels = vec![subnet, node, enis, pool, pending];
            caption += "Third: ENIs attached over all nodes, primary and trunk included \
                        (timeline.enis_attached). Fourth: pod addresses ipamd holds in its pools \
                        (solid; secondary IPs, or every address of its /28 prefixes; \
                        timeline.addresses_held) against those pods have (dashed; \
                        timeline.addresses_assigned): the gap is addresses held idle, taken from \
                        the subnet but used by no pod. ";
            let prefixes = prefixes_at_end(r);
            if !prefixes.is_empty() {
                caption += &format!("Prefixes held at the end: {}. ", prefixes.join("; "));
            }
            alt = "Five panels over time: busiest subnet utilisation, busiest node's pod addresses, \
                   ENIs attached, pod addresses held and assigned, pods pending";
        }
    }
    // Node-group scale events: how many nodes the cluster had, just above pending pods, so a
    // wait for a node reads against the node that ended it.
    let mut alt = alt.to_string();
    if r.variants.iter().any(|v| !v.timeline.nodes_joined.is_empty()) {
        alt += ", and nodes in the cluster";
        let mut nodes = Panel::new("nodes in the cluster", Unit::Count, Scale::Linear);
        for (i, v) in r.variants.iter().enumerate() {
            let joined: Vec<u32> = if v.timeline.nodes_joined.is_empty() {
                vec![v.nodes.len() as u32; v.timeline.t_ns.len()]
            } else {
                v.timeline.nodes_joined.clone()
            };
            nodes.series.push(series(&v.name, i, &v.timeline.t_ns, f64s(&joined)));
        }
        let at = c.panels.len() - 1;
        c.panels.insert(at, nodes);
        caption += "Above the bottom: nodes joined and not yet left (timeline.nodes_joined; node-group \
                    scale events add nodes after their launch and bootstrap, and drain and remove them). ";
    }
    caption += "Bottom: pods that could not be placed or given an address (timeline.pods_pending).";
    Block::figure(Figure {
        spec: Spec::Line(c),
        caption,
        alt,
    })
}

pub fn cross_az(r: &RunResult) -> Block {
    let groups = (r.variants.iter().enumerate())
        .map(|(i, v)| {
            let monthly = v.cross_az.monthly_cost_micro_usd as f64;
            let gb = monthly_cross_az_bytes(&v.cross_az, v.duration_ns);
            BarGroup {
                label: v.name.clone(),
                bars: vec![Bar {
                    colour: palette::variant(i),
                    value: Some(monthly),
                    text: Some(format!("{}/mo · {}/mo", usd_micro(monthly), bytes(gb))),
                }],
            }
        })
        .collect();
    let rates: BTreeSet<u64> = r.variants.iter().map(|v| v.cross_az.rate_micro_usd_per_gb).collect();
    let rates: Vec<String> = rates.iter().map(|&m| usd_micro(m as f64)).collect();
    let duration = r.variants.first().map_or(r.duration_ns, |v| v.duration_ns);
    Block::figure(Figure {
        spec: Spec::Bar(BarChart {
            name: "cross-az-cost".into(),
            title: "What would this traffic cost in cross-AZ transfer per month?".into(),
            x_title: "variant".into(),
            y_title: "USD per month (730 h)".into(),
            y_unit: Unit::MicroUsd,
            y_scale: Scale::Linear,
            groups,
            legend: variant_legend(r),
            empty_note: "No traffic crossed availability zones".into(),
        }),
        caption: format!(
            "Bytes that crossed availability zones in the {} run, sustained for a 730-hour month \
             (cross_az.monthly_cost_micro_usd; the label gives the monthly volume). Rate: {} per \
             GB in each direction, both directions billed (cross_az.rate_micro_usd_per_gb, the \
             scenario's pricing.inter_az_usd_per_gb; AWS EC2 data transfer pricing, inter-AZ).",
            duration_ns(duration as f64),
            rates.join(" / ")
        ),
        alt: "Bars of cross-AZ transfer cost per month per variant".into(),
    })
}
