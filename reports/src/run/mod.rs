//! The report of one run: which figures and tables it holds, in page order. Each figure module
//! turns `RunResult` fields into chart data; `figure` draws them; `html` lays out the page.

mod datapath;
mod egress;
mod latency;
mod startup;
mod state;
mod tables;

use crate::chart::{LegendEntry, Style};
use crate::figure::{self, Block};
use crate::html::{self, Header};
use crate::{ReportError, ReportFile};
use cnsim_cluster::RunResult;
use maud::html;

/// Every figure of a run report, in page order.
pub fn blocks(r: &RunResult) -> Vec<Block> {
    let mut out = vec![latency::packets_cdf(r)];
    out.extend(latency::first_vs_established_cdf(r));
    out.push(latency::percentile_bars(r));
    out.extend(datapath::figures(r));
    out.push(datapath::drops(r));
    out.push(state::conntrack(r));
    out.push(state::address_use(r));
    out.extend(startup::time_to_ready(r));
    out.push(state::cross_az(r));
    out
}

pub fn render(r: &RunResult) -> Result<Vec<ReportFile>, ReportError> {
    let shown = figure::draw(blocks(r))?;
    let body = html! {
        (tables::summary(r))
        (html::blocks(&shown))
        (tables::flows(r))
        (tables::subnets(r))
        (tables::pending_by_reason(r))
        (tables::vpc_cni(r))
        (tables::service_endpoints(r))
        (egress::egress(r))
        (tables::pending(r))
        (html::scenario_text(r.scenario_text.as_deref()))
    };
    let header = Header {
        kind: "run",
        scenario: &r.scenario,
        cnsim_version: &r.cnsim_version,
        seed: r.seed,
        duration_ns: r.duration_ns,
        scenario_file: r.scenario_file.as_deref(),
        extra: vec![("variants", r.variants.len().to_string())],
    };
    Ok(figure::files(html::page(&header, body), shown))
}

/// One legend entry per variant, in its colour.
pub fn variant_legend(r: &RunResult) -> Vec<LegendEntry> {
    (r.variants.iter().enumerate())
        .map(|(i, v)| LegendEntry {
            label: v.name.clone(),
            style: Style::variant(i),
        })
        .collect()
}
