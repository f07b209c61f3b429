//! Golden digests: every scenario under scenarios/ runs and each variant's trace digest must
//! equal the one committed in scenarios/golden-digests.txt. A digest change is deliberate and
//! explained in its commit; regenerate with `CNSIM_UPDATE_GOLDEN=1 cargo test --test golden`.

mod common;

use common::*;
use std::collections::BTreeMap;

const GOLDEN: &str = "scenarios/golden-digests.txt";
const HEADER: &str = "# scenario variant digest -- regenerate: CNSIM_UPDATE_GOLDEN=1 cargo test --test golden\n";

fn actual() -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for file in scenario_files() {
        let json = run_json(&file, &[]);
        for v in json["variants"].as_array().unwrap() {
            let name = v["name"].as_str().unwrap().to_string();
            out.insert((file.clone(), name), v["digest"].as_str().unwrap().to_string());
        }
    }
    out
}

fn committed() -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(root().join(GOLDEN)).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "{GOLDEN}: malformed line {l:?}");
            ((parts[0].to_string(), parts[1].to_string()), parts[2].to_string())
        })
        .collect()
}

#[test]
fn every_scenario_matches_its_golden_digest() {
    let now = actual();
    if std::env::var_os("CNSIM_UPDATE_GOLDEN").is_some() {
        let mut text = HEADER.to_string();
        for ((file, variant), digest) in &now {
            text.push_str(&format!("{file} {variant} {digest}\n"));
        }
        std::fs::write(root().join(GOLDEN), text).unwrap();
        return;
    }
    let golden = committed();
    let mut problems = Vec::new();
    for (key, digest) in &now {
        match golden.get(key) {
            None => problems.push(format!("{} {}: no golden digest (got {digest})", key.0, key.1)),
            Some(g) if g != digest => problems.push(format!("{} {}: digest {digest}, golden {g}", key.0, key.1)),
            Some(_) => {}
        }
    }
    for key in golden.keys().filter(|k| !now.contains_key(*k)) {
        problems.push(format!(
            "{} {}: golden digest for a scenario or variant that no longer exists",
            key.0, key.1
        ));
    }
    assert!(problems.is_empty(), "golden digests differ:\n{}\n(if the change is deliberate, regenerate with CNSIM_UPDATE_GOLDEN=1 and explain it in the commit)", problems.join("\n"));
}
