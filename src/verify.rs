//! `cnsim verify`: the determinism check. Run k of N uses k rayon threads; every variant's
//! digest and results must equal those of the first run.

use crate::{load, out, run, Outcome};
use std::path::Path;

pub fn verify(path: &Path, runs: u32) -> Outcome {
    let Some(loaded) = load::load(path, None) else {
        return Outcome::BadInput;
    };
    let mut first = None;
    for k in 1..=runs as usize {
        let (result, _) = match run::run_all(&loaded, Some(k)) {
            Ok(r) => r,
            Err(e) => return out::bad(e),
        };
        for v in &result.variants {
            println!(
                "run {k}/{runs} ({k} thread{}): {:<24} {}",
                if k == 1 { "" } else { "s" },
                v.name,
                v.digest
            );
        }
        match &first {
            None => first = Some(result),
            Some(reference) => {
                for (a, b) in reference.variants.iter().zip(&result.variants) {
                    if a.digest != b.digest {
                        eprintln!(
                            "verify: variant {:?} differs: digest {} on run 1, {} on run {k} ({k} threads)",
                            a.name, a.digest, b.digest
                        );
                        return Outcome::No;
                    }
                    if a != b {
                        eprintln!(
                            "verify: variant {:?} has the same digest but different results on run {k}",
                            a.name
                        );
                        return Outcome::No;
                    }
                }
            }
        }
    }
    println!("verify: {runs} runs, every digest identical");
    Outcome::Ok
}
