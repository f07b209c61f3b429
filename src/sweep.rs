//! `cnsim sweep`: a scenario at every point of a grid of `--set` values, each point's variants
//! run on rayon, one combined result and report. `--shard I/N` runs one deterministic slice of
//! the grid; `--merge` combines the slices into the bytes a single machine would have written.

use crate::progress::Progress;
use crate::{load, out, report, Outcome};
use cnsim_cluster::results::sweep::{grid, merge, Shard, SweepAxis, SweepPoint, SweepResult, SWEEP_SCHEMA};
use cnsim_cluster::scenario::{load_str, LoadedScenario, VariantSpec};
use cnsim_cluster::{run_variant, RunResult, VariantResult, RUN_SCHEMA};
use std::path::{Path, PathBuf};

pub struct SweepArgs<'a> {
    pub scenario: &'a Path,
    pub sets: &'a [String],
    pub shard: Option<&'a str>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub out: Option<&'a Path>,
}

/// A grid point loaded and validated: its position, its values and its variants.
struct LoadedPoint {
    index: usize,
    values: Vec<String>,
    loaded: LoadedScenario,
}

pub fn sweep(a: SweepArgs<'_>) -> Outcome {
    let axes: Vec<SweepAxis> = match a.sets.iter().map(|s| SweepAxis::parse(s)).collect() {
        Ok(axes) => axes,
        Err(e) => return out::bad(e),
    };
    if axes.is_empty() {
        return out::bad("a sweep needs at least one --set PATH=V1,V2,... (or --merge DIR...)");
    }
    let shard = match a.shard.map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => return out::bad(e),
    };
    let Some(base) = load::load(a.scenario, a.seed) else {
        return Outcome::BadInput;
    };
    let points = match grid(&axes) {
        Ok(p) => p,
        Err(e) => return out::bad(e),
    };
    // Refuse a directory of foreign files before the grid runs, as `cnsim run` does, not after.
    let dir = out_dir(a.out, &base.name, shard);
    if let Err(e) = out::check_replaceable(&dir) {
        return out::bad(e);
    }
    let total = points.len();
    let Some(loaded) = load_points(&base, &axes, points, shard, a.seed, a.threads) else {
        return Outcome::BadInput;
    };
    let result = match run_points(&base, &axes, total, shard, loaded, a.threads) {
        Ok(r) => r,
        Err(e) => return out::bad(e),
    };
    finish(&result, &dir)
}

/// `--out`, or reports/out/<scenario>-sweep/ (a shard: <scenario>-sweep-shard-I-of-N/).
fn out_dir(out: Option<&Path>, scenario: &str, shard: Option<Shard>) -> PathBuf {
    out.map(Path::to_path_buf).unwrap_or_else(|| {
        report::default_dir(&match shard {
            Some(s) => format!("{scenario}-sweep-shard-{}-of-{}", s.index, s.count),
            None => format!("{scenario}-sweep"),
        })
    })
}

/// Loads every point this shard owns with its `--set` values applied; prints every problem.
fn load_points(
    base: &LoadedScenario,
    axes: &[SweepAxis],
    points: Vec<Vec<String>>,
    shard: Option<Shard>,
    seed: Option<u64>,
    threads: Option<usize>,
) -> Option<Vec<LoadedPoint>> {
    let stem = Path::new(&base.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let owned: Vec<(usize, Vec<String>)> = points
        .into_iter()
        .enumerate()
        .filter(|(index, _)| shard.is_none_or(|s| s.owns(*index)))
        .collect();
    // Loading expands generators and validates: as parallel as the runs, results in order.
    let results = sim_core::run_ordered(&owned, threads, |_, (_, values)| {
        let sets: Vec<(String, String)> = axes
            .iter()
            .map(|a| a.path.clone())
            .zip(values.iter().cloned())
            .collect();
        load_str(&base.file, &stem, &base.text, &sets)
    })
    .map_err(|e| eprintln!("error: {e}"))
    .ok()?;
    let mut loaded = Vec::new();
    let mut ok = true;
    for ((index, values), result) in owned.into_iter().zip(results) {
        match result {
            Ok(mut l) => {
                if let Some(seed) = seed {
                    load::set_seed(&mut l, seed);
                }
                loaded.push(LoadedPoint {
                    index,
                    values,
                    loaded: l,
                })
            }
            Err(diags) => {
                eprintln!(
                    "error: sweep point {} ({}) is not a valid scenario:",
                    index,
                    settings(axes, &values).join(", ")
                );
                eprint!("{diags}");
                ok = false;
            }
        }
    }
    ok.then_some(loaded)
}

/// A grid point's `PATH=VALUE` settings, one per axis.
fn settings(axes: &[SweepAxis], values: &[String]) -> Vec<String> {
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{}={v}", a.path))
        .collect()
}

/// Runs every (point, variant) pair as one rayon job, results gathered in grid order.
fn run_points(
    base: &LoadedScenario,
    axes: &[SweepAxis],
    total: usize,
    shard: Option<Shard>,
    points: Vec<LoadedPoint>,
    threads: Option<usize>,
) -> Result<SweepResult, String> {
    let jobs: Vec<(usize, usize)> = points
        .iter()
        .enumerate()
        .flat_map(|(p, lp)| (0..lp.loaded.variants.len()).map(move |v| (p, v)))
        .collect();
    let progress = Progress::new("sweep", jobs.len() as u64);
    let cost = |&(p, v): &(usize, usize)| cost_hint(&points[p].loaded.variants[v]);
    let results: Vec<VariantResult> = sim_core::run_ordered_by_cost(&jobs, threads, cost, |_, &(p, v)| {
        let spec = &points[p].loaded.variants[v];
        let r = run_variant(spec);
        progress.done(&format!(
            "{} [{}]",
            settings(axes, &points[p].values).join(" "),
            spec.name
        ));
        r
    })
    .map_err(|e| e.to_string())?;
    progress.finish();
    let mut results = results.into_iter();
    let sweep_points = points
        .into_iter()
        .map(|lp| {
            let variants: Vec<VariantResult> = results.by_ref().take(lp.loaded.variants.len()).collect();
            SweepPoint {
                index: lp.index as u32,
                values: lp.values,
                result: RunResult {
                    schema: RUN_SCHEMA,
                    cnsim_version: env!("CARGO_PKG_VERSION").to_string(),
                    scenario: lp.loaded.name.clone(),
                    seed: lp.loaded.base.seed,
                    duration_ns: lp.loaded.base.duration.as_nanos(),
                    variants,
                    scenario_file: None,
                    scenario_text: None,
                },
            }
        })
        .collect();
    Ok(SweepResult {
        schema: SWEEP_SCHEMA,
        cnsim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: base.name.clone(),
        seed: base.base.seed,
        scenario_file: base.file.clone(),
        scenario_text: base.text.clone(),
        axes: axes.to_vec(),
        points_total: total as u32,
        shard,
        points: sweep_points,
    })
}

/// A rough size of one run, so that the biggest start first: Services weigh on programming
/// time, pods and flows on the packet count. Only the order of execution depends on it.
fn cost_hint(spec: &VariantSpec) -> u64 {
    let s = &spec.scenario;
    let pods: u64 = s.workloads.iter().map(|w| u64::from(w.replicas)).sum();
    let flow_ms = (s.duration.as_nanos() / 1_000_000).saturating_mul(s.traffic.len() as u64);
    (s.services.len() as u64 * 100)
        .saturating_add(pods)
        .saturating_add(flow_ms)
}

/// `cnsim sweep --merge DIR...`: reads each DIR/sweep.json, merges, writes the whole sweep.
pub fn merge_dirs(dirs: &[PathBuf], out: Option<&Path>) -> Outcome {
    let mut shards = Vec::new();
    for dir in dirs {
        let path = dir.join("sweep.json");
        match report::read_results(&path) {
            Ok(report::Results::Sweep(s)) => shards.push(*s),
            Ok(report::Results::Run(_)) => {
                return out::bad(format!("{}: holds a run's results, not a sweep shard", path.display()))
            }
            Err(e) => return out::bad(e),
        }
    }
    let merged = match merge(shards) {
        Ok(m) => m,
        Err(e) => return out::bad(format!("cannot merge: {e}")),
    };
    // Where the unsharded sweep would have gone.
    finish(&merged, &out_dir(out, &merged.scenario, None))
}

/// Writes sweep.json (and, for a whole sweep, the report) and prints the summary.
fn finish(result: &SweepResult, dir: &Path) -> Outcome {
    let json = serde_json::to_string_pretty(result).expect("sweep results serialize") + "\n";
    let written = match result.shard {
        // A shard's report would show a fraction of the curves: only the merge draws it.
        Some(_) => out::write_dir_atomically(dir, &[("sweep.json".to_string(), json.into_bytes())]),
        None => report::write_sweep(dir, result, json.into_bytes()),
    };
    if let Err(e) = written {
        return out::bad(e);
    }
    let Outcome::Ok = out::print(&crate::table::sweep_summary(result)) else {
        return Outcome::BadInput;
    };
    match result.shard {
        Some(s) => eprintln!(
            "sweep: shard {}/{} written to {}; merge all {} with `cnsim sweep --merge DIR...`",
            s.index,
            s.count,
            dir.display(),
            s.count
        ),
        None => eprintln!("report: {}", dir.join("report.html").display()),
    }
    Outcome::Ok
}
