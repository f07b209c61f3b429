//! The tables of a run report: the summary (one row per variant), flows, subnets, pending pods
//! by reason (runs where pods start during the run), the VPC CNI's pools, Services following
//! pods, and the pending pods themselves.

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

/// The AWS VPC CNI's pools at the end of the run (`vpc_cni`), per variant; nothing without it.
pub fn vpc_cni(r: &RunResult) -> Markup {
    let runs: Vec<_> = (r.variants.iter().enumerate())
        .filter_map(|(i, v)| Some((i, v, v.vpc_cni.as_ref()?)))
        .collect();
    let sum = |c: &cnsim_cluster::results::ipam::VpcCniResult,
               f: fn(&cnsim_cluster::results::ipam::VpcCniNode) -> u32| {
        c.nodes.iter().map(|n| u64::from(f(n))).sum::<u64>()
    };
    html! {
        @if !runs.is_empty() {
            section {
                h2 { "AWS VPC CNI at the end of the run" }
                table #vpc-cni {
                    thead { tr {
                        th { "variant" } th { "ENIs attached" } th { "addresses held" } th { "assigned" }
                        th { "/28 prefixes" } th { "pods on branch ENIs" } th { "EC2 calls" }
                    } }
                    tbody {
                        @for (i, v, c) in &runs {
                            tr {
                                td { (swatch(*i)) (v.name) }
                                (n(sum(c, |x| x.enis))) (n(sum(c, |x| x.addresses_held))) (n(sum(c, |x| x.addresses_assigned)))
                                (n(sum(c, |x| x.prefixes_held))) (n(sum(c, |x| x.branch_pods))) (n(c.ec2_calls_total))
                            }
                        }
                    }
                }
                p.meta {
                    "Over all nodes (vpc_cni.nodes): ENIs include the primary and, with security groups                      for pods, the trunk; addresses held are ipamd's pools, assigned those pods use;                      pods on branch ENIs have an ENI of their own and are not in the pools."
                }
            }
        }
    }
}

/// Services following pods that start and stop (`endpoints`), per variant; nothing when no
/// Service's endpoints changed.
pub fn service_endpoints(r: &RunResult) -> Markup {
    let runs: Vec<_> = (r.variants.iter().enumerate())
        .filter_map(|(i, v)| Some((i, v, v.endpoints.as_ref()?)))
        .collect();
    html! {
        @if !runs.is_empty() {
            section {
                h2 { "Services following pods" }
                table #service-endpoints {
                    thead { tr {
                        th { "variant" } th { "endpoints added / removed" } th { "node syncs" }
                        th { "sync time" } th { "ready → programmed p50" } th { "p99" }
                        th { "deleted → removed p50" } th { "stale-endpoint drops" } th { "new endpoints receiving" }
                    } }
                    tbody {
                        @for (i, v, e) in &runs {
                            tr {
                                td { (swatch(*i)) (v.name) }
                                td.n { (thousands(e.endpoints_added)) " / " (thousands(e.endpoints_removed)) }
                                (n(e.node_syncs))
                                td.n { (opt_duration_ns(Some(e.sync_ns))) }
                                td.n { (opt_duration_ns(e.ready_to_programmed_ns.p50)) }
                                td.n { (opt_duration_ns(e.ready_to_programmed_ns.p99)) }
                                td.n { (opt_duration_ns(e.deleted_to_removed_ns.p50)) }
                                (n(v.packets.dropped.get("service-stale-endpoint").copied().unwrap_or(0)))
                                td.n { (thousands(e.new_endpoints_receiving)) " of " (thousands(e.new_endpoints)) }
                            }
                        }
                    }
                }
                p.meta {
                    "How long a pod that starts or stops takes to reach every node's service datapath                      (endpoints): EndpointSlice propagation, then each node's kube-proxy sync, batched by                      its minSyncPeriod. Until then nodes send to what they know; packets to a deleted                      pod are dropped as service-stale-endpoint."
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
