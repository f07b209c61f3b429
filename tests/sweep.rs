//! End-to-end tests of `cnsim sweep` (grids, shards, merge) and `cnsim report`.

mod common;
use common::{bad_input, cnsim, scratch, stderr};
use std::path::Path;

const QUICKSTART: &str = "scenarios/quickstart.ron";
/// Two axes: 2 × 2 points, each running quickstart's 2 variants.
const SETS: [&str; 4] = ["--set", "duration=1s,2s", "--set", "fabric.eni_tx_queue=64,1000"];

fn sweep(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sweep", QUICKSTART];
    args.extend_from_slice(&SETS);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    cnsim(&args)
}

/// Every file of a report directory, sorted by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn sharded_sweep_merged_equals_the_unsharded_sweep_byte_for_byte() {
    let dir = scratch("sweep-shards");
    let whole = dir.join("whole");
    let o = sweep(&whole, &["--threads", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut shard_dirs = Vec::new();
    // Shards run out of order and on another thread count: neither may matter.
    for i in [2, 0, 1] {
        let d = dir.join(format!("shard-{i}"));
        let o = sweep(&d, &["--shard", &format!("{i}/3"), "--threads", "2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!d.join("report.html").exists(), "a shard writes results only");
        shard_dirs.push(d);
    }
    let merged = dir.join("merged");
    let mut args = vec!["sweep", "--merge"];
    args.extend(shard_dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = cnsim(&args);
    assert!(o.status.success(), "{}", stderr(&o));

    let (a, b) = (files(&whole), files(&merged));
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"sweep.json") && names.contains(&"report.html"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with(".png")), "{names:?}");
    assert_eq!(
        a.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        b.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between the merged and the unsharded sweep");
    }

    let s: serde_json::Value = serde_json::from_slice(&a.iter().find(|(n, _)| n == "sweep.json").unwrap().1).unwrap();
    assert_eq!(s["points_total"], 4);
    let points = s["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert_eq!(points[1]["values"], serde_json::json!(["1s", "1000"]));
    assert_eq!(points[2]["result"]["duration_ns"], 2_000_000_000u64);
    // The swept value really reached the run: twice the duration, about twice the packets.
    let sent = |p: usize| points[p]["result"]["variants"][0]["packets"]["sent"].as_u64().unwrap();
    assert!(sent(2) > sent(0) * 3 / 2, "{} vs {}", sent(2), sent(0));
}

#[test]
fn merge_refuses_incomplete_or_foreign_shards() {
    let dir = scratch("sweep-merge-errors");
    let d0 = dir.join("s0");
    let d1 = dir.join("s1");
    assert!(sweep(&d0, &["--shard", "0/2"]).status.success());
    assert!(sweep(&d1, &["--shard", "1/2", "--seed", "99"]).status.success());
    let merge_fails = |dirs: &[&Path], needle: &str| {
        let mut args = vec!["sweep", "--merge"];
        args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
        bad_input(&args, &[needle]);
    };
    merge_fails(&[&d0], "missing shards: 1/2");
    merge_fails(&[&d0, &d0], "shard 0 is given twice");
    merge_fails(&[&d0, &d1], "`seed`");
    merge_fails(&[&dir.join("nowhere")], "sweep.json");
}

#[test]
fn bad_sweep_arguments_are_exit_2_and_name_the_problem() {
    let dir = scratch("sweep-bad");
    let out = dir.join("out");
    let bad_sweep = |args: &[&str], needles: &[&str]| {
        let mut a = vec!["sweep", QUICKSTART];
        a.extend_from_slice(args);
        a.extend(["--out", out.to_str().unwrap()]);
        bad_input(&a, needles);
        assert!(!out.exists(), "nothing written for a bad sweep: {args:?}");
    };
    // Each diagnosis is checked past the "sweep point ... (PATH=VALUE)" line, which echoes the
    // --set and so holds its path whatever the diagnosis says.
    bad_sweep(
        &["--set", "fabric.eni_tx_queue=64,0"],
        &[
            "sweep point 1 (fabric.eni_tx_queue=0)",
            "fabric.eni_tx_queue: 0 packets",
        ],
    );
    bad_sweep(&["--set", "no.such.path=1"], &["no field \"no\""]);
    bad_sweep(&["--set", "duration"], &[]);
    bad_sweep(&["--set", "duration=1s", "--shard", "2/2"], &[]);
    // No --set.
    bad_sweep(&[], &[]);
}

#[test]
fn report_rerenders_the_same_report_from_results_json() {
    let dir = scratch("report-rerender");
    let first = dir.join("first");
    let o = cnsim(&["run", QUICKSTART, "--out", first.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = dir.join("again");
    let results = first.join("results.json");
    let o = cnsim(&["report", results.to_str().unwrap(), "-o", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files(&first), files(&again), "re-rendered report differs");

    // Truncated results: exit 2, naming the file and where it broke.
    let broken = dir.join("broken.json");
    let text = std::fs::read_to_string(&results).unwrap();
    std::fs::write(&broken, &text[..text.len() / 2]).unwrap();
    bad_input(
        &[
            "report",
            broken.to_str().unwrap(),
            "-o",
            dir.join("x").to_str().unwrap(),
        ],
        &["broken.json"],
    );
    assert!(!dir.join("x").exists());
}

#[test]
fn out_refuses_a_directory_holding_other_files_before_running() {
    let dir = scratch("out-foreign");
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let o = bad_input(&["run", QUICKSTART, "--out", dir.to_str().unwrap()], &["notes.txt"]);
    assert!(o.stdout.is_empty(), "refused before running");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
}

#[test]
fn sweep_refuses_a_directory_holding_other_files_before_running_any_point() {
    let dir = scratch("sweep-out-foreign");
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let o = bad_input(
        &["sweep", QUICKSTART, "--set", "seed=1,2", "--out", dir.to_str().unwrap()],
        &["notes.txt"],
    );
    assert!(o.stdout.is_empty(), "refused before running");
    assert!(!stderr(&o).contains(" done: "), "no point ran: {}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
}
