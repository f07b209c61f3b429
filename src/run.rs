//! `cnsim run`: every variant on rayon, results in scenario order, printed as a table or JSON.

use crate::{load, out, report, table, Outcome, OutputFormat};
use cnsim_cluster::scenario::LoadedScenario;
use cnsim_cluster::{run_variant, RunResult, VariantResult, RUN_SCHEMA};
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs all variants; `threads` None uses rayon's global pool. Wall time is measured here, in
/// the CLI, and never enters the results.
pub fn run_all(
    loaded: &LoadedScenario,
    threads: Option<usize>,
) -> Result<(RunResult, Vec<Duration>), sim_core::SweepError> {
    let timed = sim_core::run_ordered(&loaded.variants, threads, |_, v| {
        let start = Instant::now();
        let r = run_variant(v);
        (r, start.elapsed())
    })?;
    let (variants, walls): (Vec<VariantResult>, Vec<Duration>) = timed.into_iter().unzip();
    let result = RunResult {
        schema: RUN_SCHEMA,
        cnsim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: loaded.name.clone(),
        seed: loaded.base.seed,
        duration_ns: loaded.base.duration.as_nanos(),
        variants,
        scenario_file: Some(loaded.file.clone()),
        scenario_text: Some(loaded.text.clone()),
    };
    Ok((result, walls))
}

pub fn run(path: &Path, seed: Option<u64>, out_dir: Option<&Path>, format: OutputFormat) -> Outcome {
    let Some(loaded) = load::load(path, seed) else {
        return Outcome::BadInput;
    };
    let dir = out_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| report::default_dir(&loaded.name));
    // A report that could not be written is known before the run, not after it.
    if let Err(e) = out::check_replaceable(&dir) {
        return out::bad(e);
    }
    let (result, walls) = match run_all(&loaded, None) {
        Ok(r) => r,
        Err(e) => return out::bad(e),
    };
    let json = serde_json::to_string_pretty(&result).expect("results serialize") + "\n";
    if let Err(e) = report::write_run(&dir, &result, json.clone().into_bytes()) {
        return out::bad(e);
    }
    eprintln!("report: {}", dir.join("report.html").display());
    let text = match format {
        OutputFormat::Json => json,
        OutputFormat::Table => table::render(&result, &loaded.file, &walls),
    };
    out::print(&text)
}
