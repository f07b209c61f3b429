//! Loading a scenario for a command: print warnings and errors the same way everywhere.

use cnsim_cluster::scenario::{load_file, LoadedScenario};
use std::path::Path;

/// Loads and validates; prints every problem to stderr. None means bad input (exit 2).
pub fn load(path: &Path, seed: Option<u64>) -> Option<LoadedScenario> {
    match load_file(path) {
        Ok(mut loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            if let Some(seed) = seed {
                set_seed(&mut loaded, seed);
            }
            Some(loaded)
        }
        Err(diags) => {
            eprint!("{diags}");
            None
        }
    }
}

/// `--seed`: replaces the seed of the scenario and of each of its variants.
pub fn set_seed(loaded: &mut LoadedScenario, seed: u64) {
    loaded.base.seed = seed;
    for v in &mut loaded.variants {
        v.scenario.seed = seed;
    }
}
