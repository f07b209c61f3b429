//! cnsim reports: a run's or a sweep's results in, the files of a report out (`report.html` and
//! one PNG per chart), as bytes. A pure library: no file I/O, no printing, no clock; the same
//! results give the same bytes. The CLI writes the files.
//!
//! - `render_run`: one scenario's variants compared (README.md lists each chart, the question
//!   it answers and the fields it reads).
//! - `render_sweep`: every point of a sweep in one table, and each key metric as a curve over
//!   the swept value.
//!
//! Modules: `chart` (charts as data, drawn with plotters), `run` and `sweep` (which charts and
//! tables a report holds), `html` (the page), `metrics` (figures derived from the results),
//! `units` (how numbers read), `palette`, `text` (DejaVu Sans, shipped in the crate, and label
//! layout),
//! `encode` (PNG and data: URIs).

mod chart;
mod encode;
mod figure;
mod html;
mod metrics;
mod palette;
mod run;
mod sweep;
mod text;
mod units;

use cnsim_cluster::results::SweepResult;
use cnsim_cluster::RunResult;
use std::fmt;

/// An integer with thousands separators ("1,234,567"), as the report's tables write counts.
/// The CLI's table uses it too, so a count reads the same on the terminal and in the report.
pub use units::thousands;

/// One file of a report: its name within the report directory and its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Why a report could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// The shipped fonts could not be loaded.
    Font,
    /// plotters failed while drawing a chart.
    Draw { chart: String, detail: String },
    /// A chart's pixels could not be encoded as PNG.
    Encode { chart: String, detail: String },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Font => write!(f, "the report fonts shipped with cnsim could not be loaded"),
            ReportError::Draw { chart, detail } => write!(f, "cannot draw chart {chart}: {detail}"),
            ReportError::Encode { chart, detail } => write!(f, "cannot encode chart {chart} as PNG: {detail}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// The report of one `cnsim run`: `report.html` first, then the charts' PNGs in page order.
pub fn render_run(r: &RunResult) -> Result<Vec<ReportFile>, ReportError> {
    run::render(r)
}

/// The report of one `cnsim sweep`: `report.html` first, then one PNG per curve chart.
pub fn render_sweep(s: &SweepResult) -> Result<Vec<ReportFile>, ReportError> {
    sweep::render(s)
}
