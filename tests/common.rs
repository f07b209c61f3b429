//! Helpers shared by the end-to-end tests: run the real `cnsim` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs cnsim in the repository root. A `run` or `sweep` without `--out` gets a scratch
/// directory of its own: tests never write into the repository's reports/out, and tests that
/// run at the same time never share an output directory.
pub fn cnsim(args: &[&str]) -> Output {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let writes_report = matches!(args.first().map(String::as_str), Some("run" | "sweep"));
    if writes_report && !args.iter().any(|a| a == "--out") {
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cnsim-e2e-{}-out-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        args.push("--out".into());
        args.push(dir.to_string_lossy().into_owned());
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_cnsim"))
        .args(&args)
        .current_dir(root())
        .output()
        .expect("cnsim runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs cnsim, which must succeed, and parses what it printed as JSON.
pub fn cnsim_json(args: &[&str]) -> serde_json::Value {
    let o = cnsim(args);
    assert!(o.status.success(), "cnsim {} failed: {}", args.join(" "), stderr(&o));
    serde_json::from_slice(&o.stdout).expect("valid JSON")
}

pub fn run_json(scenario: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", scenario, "--format", "json"];
    args.extend_from_slice(extra);
    cnsim_json(&args)
}

/// Runs cnsim, which must refuse the input with exit 2 and a message holding every needle.
pub fn bad_input(args: &[&str], needles: &[&str]) -> Output {
    let o = cnsim(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "cnsim {}: {err}", args.join(" "));
    for needle in needles {
        assert!(
            err.contains(needle),
            "cnsim {}: no {needle:?} in: {err}",
            args.join(" ")
        );
    }
    o
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnsim-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every `.ron` file under `scenarios/`, sorted, as paths relative to the repo root.
pub fn scenario_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "ron") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("scenarios"), &mut files);
    let mut rel: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/"))
        .collect();
    rel.sort();
    rel
}
