//! The tables of a run report: the summary (one row per variant), flows, subnets, pending pods
//! by reason (runs where pods start during the run) and the pending pods themselves.

use super::startup::pending_total;
use crate::html::{n, swatch};
use crate::metrics::{dropped_total, first_packet_p99};
use crate::units::{opt_duration_ns, percent, thousands, usd_micro};
use cnsim_cluster::RunResult;
use maud::{html, Markup};

/// Pending pods listed per variant; the rest are counted.
const PENDING_LISTED: usize = 50;

pub fn summary(r: &RunResult) -> Markup {
    html! {
        section {
            h2 { "Summary" }
            table #summary {
                thead { tr {
                    th { "variant" } th { "description" } th { "pods running / total" }
                    th { "packets sent" } th { "delivered" } th { "dropped" }
                    th { "latency p50" } th { "p99" } th { "first-packet p99" }
                    th { "service mode" } th { "Services" } th { "conntrack peak" }
                    th { "cross-AZ $/month" } th { "digest" } th { "events" }
                } }
                tbody {
                    @for (i, v) in r.variants.iter().enumerate() {
                        tr {
                            td { (swatch(i)) (v.name) }
                            td { (v.description) }
                            td.n { (thousands(u64::from(v.pods.running))) " / " (thousands(u64::from(v.pods.total))) }
                            (n(v.packets.sent)) (n(v.packets.delivered)) (n(dropped_total(v)))
                            td.n { (opt_duration_ns(v.latency_ns.p50)) }
                            td.n { (opt_duration_ns(v.latency_ns.p99)) }
                            td.n { (opt_duration_ns(first_packet_p99(v))) }
                            td { (v.service_datapath.mode) }
                            (n(u64::from(v.service_datapath.services)))
                            (n(v.service_datapath.conntrack_peak))
                            td.n { (usd_micro(v.cross_az.monthly_cost_micro_usd as f64)) }
                            td { code { (v.digest.to_string()) } }
                            (n(v.events))
                        }
                    }
                }
            }
            p.meta {
                "Latency is one-way, pod to pod, over every delivered packet. First-packet p99 is \
                 shown when the variant's traffic went through Services. Cross-AZ cost is the \
                 run's inter-AZ bytes sustained for a 730-hour month."
            }
        }
    }
}

pub fn flows(r: &RunResult) -> Markup {
    html! {
        section {
            h2 { "Flows" }
            table #flows {
                thead { tr {
                    th { "variant" } th { "flow" } th { "protocol" } th { "sources running / total" }
                    th { "sent" } th { "delivered" } th { "dropped" } th { "p50" } th { "p99" }
                    th { "connections opened / completed" }
                } }
                tbody {
                    @for (i, v) in r.variants.iter().enumerate() {
                        @for f in &v.flows {
                            tr {
                                td { (swatch(i)) (v.name) }
                                td { (f.name) }
                                td { (format!("{:?}", f.protocol)) }
                                td.n { (f.sources_running) " / " (f.sources_total) }
                                (n(f.sent)) (n(f.delivered)) (n(f.dropped))
                                td.n { (opt_duration_ns(f.latency_ns.p50)) }
                                td.n { (opt_duration_ns(f.latency_ns.p99)) }
                                td.n {
                                    @if let Some(c) = &f.connections {
                                        (thousands(c.opened)) " / " (thousands(c.completed))
                                    } @else { "–" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn subnets(r: &RunResult) -> Markup {
    html! {
        section {
            h2 { "Subnets" }
            table #subnets {
                thead { tr {
                    th { "variant" } th { "subnet" } th { "AZ" } th { "CIDR" }
                    th { "addresses used" } th { "capacity" } th { "used" }
                } }
                tbody {
                    @for (i, v) in r.variants.iter().enumerate() {
                        @for s in &v.subnets {
                            tr {
                                td { (swatch(i)) (v.name) }
                                td { (s.name) } td { (s.az) } td { code { (s.cidr) } }
                                (n(s.used)) (n(s.capacity))
                                td.n { (percent(s.used as f64 * 100.0 / s.capacity.max(1) as f64)) }
                            }
                        }
                    }
                }
            }
            p.meta { "Capacity is the subnet's size less the 5 addresses AWS reserves; used counts node and pod addresses at the end of the run." }
        }
    }
}

/// Pods still pending at the end by reason, per variant (`pod_startup.pending_by_reason`);
/// nothing for a run without `pod_startup`.
pub fn pending_by_reason(r: &RunResult) -> Markup {
    let startups: Vec<_> = (r.variants.iter().enumerate())
        .filter_map(|(i, v)| Some((i, v, v.pod_startup.as_ref()?)))
        .collect();
    html! {
        @if !startups.is_empty() {
            section {
                h2 { "Pending pods by reason" }
                table #pending-by-reason {
                    thead { tr { th { "variant" } th { "reason" } th { "pods pending" } } }
                    tbody {
                        @for (i, v, s) in &startups {
                            @if s.pending_by_reason.is_empty() {
                                tr { td { (swatch(*i)) (v.name) } td.note { "none: every pod is Running" } (n(0)) }
                            }
                            @for (reason, count) in &s.pending_by_reason {
                                tr { td { (swatch(*i)) (v.name) } td { (reason) } (n(u64::from(*count))) }
                            }
                        }
                    }
                }
                p.meta {
                    "Pods still pending at the end of the run (pod_startup.pending_by_reason). Totals: "
                    (startups.iter().map(|(_, v, s)| format!("{} {}", v.name, thousands(pending_total(s)))).collect::<Vec<_>>().join(", "))
                    ". The pods started during the run: "
                    (startups.iter().map(|(_, v, s)| format!("{} {} created, {} sandbox retries", v.name, thousands(s.pods_created), thousands(s.sandbox_retries))).collect::<Vec<_>>().join("; "))
                    "."
                }
            }
        }
    }
}

pub fn pending(r: &RunResult) -> Markup {
    let any = r.variants.iter().any(|v| !v.pods.pending.is_empty());
    html! {
        section {
            h2 { "Pending pods" }
            @if !any {
                p.note { "Every pod was placed and given an address in every variant." }
            }
            @for (i, v) in r.variants.iter().enumerate() {
                @if !v.pods.pending.is_empty() {
                    h3 { (swatch(i)) (v.name) ": " (thousands(v.pods.pending.len() as u64)) " of "
                         (thousands(u64::from(v.pods.total))) " pods pending" }
                    table.pending {
                        thead { tr { th { "pod" } th { "reason" } } }
                        tbody {
                            @for p in v.pods.pending.iter().take(PENDING_LISTED) {
                                tr { td { (p.pod) } td { (p.reason) } }
                            }
                        }
                    }
                    @if v.pods.pending.len() > PENDING_LISTED {
                        p.meta { "… and " (thousands((v.pods.pending.len() - PENDING_LISTED) as u64)) " more." }
                    }
                }
            }
        }
    }
}
