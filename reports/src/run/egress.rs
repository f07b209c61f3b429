//! The report's "Traffic beyond the VPC" table: per variant and NAT gateway, what it
//! translated, refused and cost, and the nodes' SNAT and the internet gateway's bytes.

use crate::html::{n, swatch};
use crate::units::{bytes, thousands, usd_micro};
use cnsim_cluster::RunResult;
use maud::{html, Markup};

/// Nothing when no variant sent traffic out of the VPC.
pub fn egress(r: &RunResult) -> Markup {
    let runs: Vec<_> = (r.variants.iter().enumerate())
        .filter_map(|(i, v)| Some((i, v, v.egress.as_ref()?)))
        .collect();
    let igw_drops =
        |v: &cnsim_cluster::VariantResult| v.packets.dropped.get("igw-no-public-address").copied().unwrap_or(0);
    html! {
        @if !runs.is_empty() || r.variants.iter().any(|v| igw_drops(v) > 0) {
            section {
                h2 { "Traffic beyond the VPC" }
                table #egress {
                    thead { tr {
                        th { "variant" } th { "SNAT on nodes" } th { "internet out / in" }
                        th { "NAT gateway" } th { "bytes" } th { "connections" } th { "port errors" }
                        th { "processing cost" } th { "no public address" }
                    } }
                    tbody {
                        @for (i, v) in r.variants.iter().enumerate() {
                            @let e = runs.iter().find(|(j, _, _)| *j == i).map(|r| r.2);
                            @let used: Vec<_> = e.map(|e| e.nat_gateways.iter().filter(|g| g.stats.used()).collect()).unwrap_or_default();
                            tr {
                                td { (swatch(i)) (v.name) }
                                (n(e.map_or(0, |e| e.snat_connections)))
                                td.n { (bytes(e.map_or(0, |e| e.internet_bytes_out) as f64)) " / " (bytes(e.map_or(0, |e| e.internet_bytes_in) as f64)) }
                                td { @for g in &used { (g.name) " (" (g.az) ") " } }
                                td.n { (bytes(used.iter().map(|g| g.stats.bytes).sum::<u64>() as f64)) }
                                (n(used.iter().map(|g| g.stats.connections).sum()))
                                (n(used.iter().map(|g| g.stats.port_allocation_errors).sum()))
                                td.n { (usd_micro(used.iter().map(|g| g.processing_cost_micro_usd).sum::<u64>() as f64)) }
                                td.n { (thousands(igw_drops(v))) }
                            }
                        }
                    }
                }
                p.meta {
                    "Pod traffic to addresses outside the VPC: connections the nodes masqueraded (the VPC CNI's SNAT, off with external SNAT), what the NAT gateways on the routes processed and cost (data processing per GB, both directions; cross-AZ transfer to a gateway in another AZ is in the summary's cross-AZ cost), connections refused for want of a port (55,000 per destination), and packets the internet gateway dropped because their source had no public address."
                }
            }
        }
    }
}
