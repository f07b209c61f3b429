//! Progress of long commands on stderr: an indicatif bar on a terminal, plain lines otherwise
//! (CI logs, batch jobs). Progress is wall-clock presentation only and never reaches results.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Progress {
    what: &'static str,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs, ETA {eta}  {wide_msg}")
                .expect("valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(what);
            bar
        });
        Progress {
            what,
            total,
            done: AtomicU64::new(0),
            bar,
        }
    }

    /// One unit finished; `label` says which. Called from rayon workers, in any order.
    pub fn done(&self, label: &str) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(label.to_string());
                bar.inc(1);
            }
            None => eprintln!("{}: {n}/{} done: {label}", self.what, self.total),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
