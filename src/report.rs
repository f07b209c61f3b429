//! Report directories: what goes in them (the results JSON, report.html, one PNG per chart),
//! where they go by default, and `cnsim report`, which re-renders one from saved results.

use crate::{out, Outcome};
use cnsim_cluster::results::SweepResult;
use cnsim_cluster::{RunResult, RUN_SCHEMA};
use std::path::{Path, PathBuf};

/// Where a report goes when `--out` is not given: `reports/out/<name>/` under the current
/// directory.
pub fn default_dir(name: &str) -> PathBuf {
    Path::new("reports").join("out").join(name)
}

/// Saved results of either kind.
pub enum Results {
    Run(Box<RunResult>),
    Sweep(Box<SweepResult>),
}

/// Reads results.json or sweep.json, telling which by its fields.
pub fn read_results(path: &Path) -> Result<Results, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let is_sweep = value.get("axes").is_some();
    let schema = value.get("schema").and_then(|s| s.as_u64());
    let expected = if is_sweep {
        cnsim_cluster::results::SWEEP_SCHEMA
    } else {
        RUN_SCHEMA
    };
    if schema != Some(u64::from(expected)) {
        return Err(format!(
            "{}: field `schema` is {}, this cnsim reads {} schema {expected} (results of `cnsim run` or `cnsim sweep`)",
            path.display(),
            schema.map_or("missing".to_string(), |s| s.to_string()),
            if is_sweep { "sweep" } else { "run" },
        ));
    }
    let located =
        |e: serde_json::Error| format!("{}:{}:{}: not cnsim results: {e}", path.display(), e.line(), e.column());
    // Parse the text again rather than the Value, so that errors keep their line and column.
    if is_sweep {
        Ok(Results::Sweep(Box::new(serde_json::from_str(&text).map_err(located)?)))
    } else {
        Ok(Results::Run(Box::new(serde_json::from_str(&text).map_err(located)?)))
    }
}

fn with_results(files: Vec<cnsim_reports::ReportFile>, name: &str, json: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut all = vec![(name.to_string(), json)];
    all.extend(files.into_iter().map(|f| (f.name, f.bytes)));
    all
}

/// Renders and writes a run's report directory, results.json included.
pub fn write_run(dir: &Path, result: &RunResult, json: Vec<u8>) -> Result<(), String> {
    out::check_replaceable(dir)?;
    let files = cnsim_reports::render_run(result).map_err(|e| format!("cannot render the report: {e}"))?;
    out::write_dir_atomically(dir, &with_results(files, "results.json", json))
}

/// Renders and writes a whole sweep's report directory, sweep.json included.
pub fn write_sweep(dir: &Path, result: &SweepResult, json: Vec<u8>) -> Result<(), String> {
    out::check_replaceable(dir)?;
    let files = cnsim_reports::render_sweep(result).map_err(|e| format!("cannot render the report: {e}"))?;
    out::write_dir_atomically(dir, &with_results(files, "sweep.json", json))
}

/// `cnsim report RESULTS.json -o DIR`.
pub fn report(results: &Path, dir: &Path) -> Outcome {
    let json = match std::fs::read(results) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {}: cannot read: {e}", results.display());
            return Outcome::BadInput;
        }
    };
    let written = match read_results(results) {
        Ok(Results::Run(r)) => write_run(dir, &r, json),
        Ok(Results::Sweep(s)) if s.shard.is_some() => Err(format!(
            "{}: holds one shard of a sweep; merge the shards first with `cnsim sweep --merge DIR...`",
            results.display()
        )),
        Ok(Results::Sweep(s)) => write_sweep(dir, &s, json),
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            eprintln!("report: {}", dir.join("report.html").display());
            Outcome::Ok
        }
        Err(e) => out::bad(e),
    }
}
