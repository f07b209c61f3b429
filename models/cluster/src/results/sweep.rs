//! Sweeps: a scenario run at every point of a grid of `--set PATH=V1,V2,...` values, the
//! deterministic split of that grid into shards, and the merge of shard results back into the
//! exact result a single machine would have written.

use super::RunResult;
use serde::{Deserialize, Serialize};
use std::fmt;

/// JSON schema version of `sweep.json`.
pub const SWEEP_SCHEMA: u32 = 1;

/// Upper bound on grid points: a sweep is a batch of runs, not an unbounded search.
pub const MAX_SWEEP_POINTS: usize = 100_000;

/// One swept parameter: a scenario path (as in `variants`) and the values it takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepAxis {
    pub path: String,
    pub values: Vec<String>,
}

impl SweepAxis {
    /// Parses `PATH=V1,V2,...`. Values are taken as written (JSON, or a bare string).
    pub fn parse(spec: &str) -> Result<SweepAxis, String> {
        let (path, values) = spec
            .split_once('=')
            .ok_or_else(|| format!("--set {spec:?}: expected PATH=V1,V2,... (e.g. services.0.count=10,100)"))?;
        let path = path.trim();
        if path.is_empty() {
            return Err(format!("--set {spec:?}: the path before '=' is empty"));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(format!("--set {spec:?}: empty value in the list"));
        }
        Ok(SweepAxis {
            path: path.to_string(),
            values,
        })
    }
}

/// Which slice of the grid a shard runs: points k with k mod count == index. Round-robin
/// rather than contiguous blocks, so that shards of a sweep whose cost grows along an axis
/// take similar time. `index` counts from 0, as a Kubernetes Indexed Job's
/// JOB_COMPLETION_INDEX does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` with 0 <= I < N.
    pub fn parse(spec: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {spec:?}: expected I/N with 0 <= I < N, e.g. 0/4 (I counts from 0)");
        let (i, n) = spec.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    pub fn owns(&self, point: usize) -> bool {
        point % self.count as usize == self.index as usize
    }
}

/// Every point of the grid, the first axis varying slowest. Each point lists one value per
/// axis, in axis order.
pub fn grid(axes: &[SweepAxis]) -> Result<Vec<Vec<String>>, String> {
    let total = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_SWEEP_POINTS)
        .ok_or_else(|| format!("the sweep has more than {MAX_SWEEP_POINTS} points"))?;
    let mut points = Vec::with_capacity(total);
    for k in 0..total {
        let mut rest = k;
        let mut values = vec![String::new(); axes.len()];
        for (a, axis) in axes.iter().enumerate().rev() {
            values[a] = axis.values[rest % axis.values.len()].clone();
            rest /= axis.values.len();
        }
        points.push(values);
    }
    Ok(points)
}

/// One grid point and the run it produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Position in the full grid.
    pub index: u32,
    /// One value per axis.
    pub values: Vec<String>,
    pub result: RunResult,
}

/// The whole of `sweep.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepResult {
    pub schema: u32,
    pub cnsim_version: String,
    pub scenario: String,
    pub seed: u64,
    pub scenario_file: String,
    pub scenario_text: String,
    pub axes: Vec<SweepAxis>,
    pub points_total: u32,
    /// Set when this holds only one shard's points.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<Shard>,
    /// In grid order.
    pub points: Vec<SweepPoint>,
}

/// Why shard results cannot be merged.
#[derive(Debug, PartialEq, Eq)]
pub enum MergeError {
    NoShards,
    NotAShard {
        input: usize,
    },
    /// Input `input` differs from the first in `field`: they are not shards of one sweep.
    Mismatch {
        input: usize,
        field: &'static str,
    },
    DuplicateShard {
        index: u32,
    },
    MissingShards {
        missing: Vec<u32>,
        count: u32,
    },
    /// A shard holds points it does not own, or lacks some it does.
    WrongPoints {
        index: u32,
    },
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::NoShards => write!(f, "no shard results to merge"),
            MergeError::NotAShard { input } => {
                write!(
                    f,
                    "input {} is a whole sweep, not a shard (it has no \"shard\")",
                    input + 1
                )
            }
            MergeError::Mismatch { input, field } => write!(
                f,
                "input {} differs from input 1 in `{field}`: they are not shards of the same sweep",
                input + 1
            ),
            MergeError::DuplicateShard { index } => write!(f, "shard {index} is given twice"),
            MergeError::MissingShards { missing, count } => {
                let list: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
                write!(f, "missing shards: {}", list.join(", "))
            }
            MergeError::WrongPoints { index } => {
                write!(f, "shard {index} does not hold exactly the points its index owns")
            }
        }
    }
}

impl std::error::Error for MergeError {}

/// Combines every shard of one sweep into the result an unsharded run writes.
pub fn merge(shards: Vec<SweepResult>) -> Result<SweepResult, MergeError> {
    let first = shards.first().ok_or(MergeError::NoShards)?;
    let count = first.shard.ok_or(MergeError::NotAShard { input: 0 })?.count;
    let mut seen = vec![false; count as usize];
    for (input, s) in shards.iter().enumerate() {
        let shard = s.shard.ok_or(MergeError::NotAShard { input })?;
        let same: [(&'static str, bool); 9] = [
            ("schema", s.schema == first.schema),
            ("cnsim_version", s.cnsim_version == first.cnsim_version),
            ("scenario", s.scenario == first.scenario),
            ("seed", s.seed == first.seed),
            ("scenario_file", s.scenario_file == first.scenario_file),
            ("scenario_text", s.scenario_text == first.scenario_text),
            ("axes", s.axes == first.axes),
            ("points_total", s.points_total == first.points_total),
            ("shard.count", shard.count == count),
        ];
        if let Some((field, _)) = same.iter().find(|(_, ok)| !ok) {
            return Err(MergeError::Mismatch { input, field });
        }
        if std::mem::replace(&mut seen[shard.index as usize], true) {
            return Err(MergeError::DuplicateShard { index: shard.index });
        }
        let owned = (0..s.points_total as usize).filter(|&k| shard.owns(k));
        if !s.points.iter().map(|p| p.index as usize).eq(owned) {
            return Err(MergeError::WrongPoints { index: shard.index });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|&i| !seen[i as usize]).collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards { missing, count });
    }
    let mut shards = shards;
    let mut merged = SweepResult {
        shard: None,
        points: Vec::new(),
        ..shards[0].clone()
    };
    let mut points: Vec<SweepPoint> = shards.iter_mut().flat_map(|s| std::mem::take(&mut s.points)).collect();
    points.sort_by_key(|p| p.index);
    merged.points = points;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(path: &str, values: &[&str]) -> SweepAxis {
        SweepAxis {
            path: path.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn grid_varies_the_last_axis_fastest() {
        let g = grid(&[axis("a", &["1", "2"]), axis("b", &["x", "y", "z"])]).unwrap();
        let flat: Vec<String> = g.iter().map(|p| p.join("")).collect();
        assert_eq!(flat, ["1x", "1y", "1z", "2x", "2y", "2z"]);
    }

    #[test]
    fn oversized_grids_are_refused() {
        let big: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        assert!(grid(&[axis("a", &big), axis("b", &big)]).is_err());
    }

    #[test]
    fn shards_partition_the_grid() {
        for count in 1..7u32 {
            let mut owners = vec![0; 23];
            for index in 0..count {
                let s = Shard::parse(&format!("{index}/{count}")).unwrap();
                for (k, o) in owners.iter_mut().enumerate() {
                    *o += u32::from(s.owns(k));
                }
            }
            assert!(owners.iter().all(|&o| o == 1), "{count}: {owners:?}");
        }
    }

    #[test]
    fn bad_specs_say_what_is_valid() {
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("0 <= I < N"), "{bad}: {e}");
        }
        assert!(SweepAxis::parse("noequals").unwrap_err().contains("PATH=V1,V2"));
        assert!(SweepAxis::parse("a=1,,2").is_err());
        assert_eq!(SweepAxis::parse(" a.b = 1, 2 ").unwrap(), axis("a.b", &["1", "2"]));
    }
}
