//! Writing outputs so that a failed run never leaves a half-written or lost earlier result.
//!
//! An output directory (a report: HTML, PNGs, results JSON) is written whole into a temporary
//! sibling and then swapped into place, so the directory at the final path is always either
//! the earlier complete report or the new complete one. cnsim only ever replaces a directory
//! that holds nothing but files it writes itself; anything else there is refused, never
//! deleted.

use crate::Outcome;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Names cnsim writes into an output directory.
fn is_cnsim_output(name: &str) -> bool {
    matches!(name, "report.html" | "results.json" | "sweep.json") || name.ends_with(".png")
}

/// What is wrong with replacing `dir`, if anything: a path that is a file, or a directory
/// holding files cnsim did not write.
pub fn check_replaceable(dir: &Path) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) if dir.exists() => return Err(format!("{}: exists and is not a directory", dir.display())),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || !is_cnsim_output(&name) {
            return Err(format!(
                "{}: holds {name:?}, which cnsim did not write; give --out a new or empty directory, \
                 or one that holds only an earlier cnsim report",
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Replaces directory `dir` with one holding exactly `files` (name → bytes).
pub fn write_dir_atomically(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    check_replaceable(dir)?;
    let fail = |what: &str, p: &Path, e: io::Error| format!("{}: cannot {what}: {e}", p.display());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| fail("create the directory", &parent, e))?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{base}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{base}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = std::fs::create_dir(&tmp).and_then(|()| {
        files
            .iter()
            .try_for_each(|(name, bytes)| std::fs::write(tmp.join(name), bytes))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(fail("write the report", &tmp, e));
    }
    let had_old = dir.exists();
    if had_old {
        if let Err(e) = std::fs::rename(dir, &old) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(fail("move the earlier report aside", dir, e));
        }
    }
    if let Err(e) = std::fs::rename(&tmp, dir) {
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(fail("move the report into place", dir, e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Prints to stdout; a closed pipe (`cnsim ... | head`) ends the output quietly.
pub fn print_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints a command's answer to stdout: Ok, or (saying why on stderr) bad output, exit 2.
pub fn print(text: &str) -> Outcome {
    match print_stdout(text) {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            Outcome::BadInput
        }
    }
}

/// Says what is wrong on stderr (`error: ...`) and ends the command as bad input, exit 2.
pub fn bad(message: impl std::fmt::Display) -> Outcome {
    eprintln!("error: {message}");
    Outcome::BadInput
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cnsim-out-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn files(content: &[u8]) -> Vec<(String, Vec<u8>)> {
        vec![
            ("results.json".into(), content.to_vec()),
            ("chart.png".into(), b"png".to_vec()),
        ]
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_an_earlier_report_whole() {
        let root = scratch("replace");
        let dir = root.join("report");
        write_dir_atomically(&dir, &files(b"1")).unwrap();
        std::fs::write(dir.join("stale.png"), b"old chart").unwrap();
        write_dir_atomically(&dir, &files(b"2")).unwrap();
        assert_eq!(std::fs::read(dir.join("results.json")).unwrap(), b"2");
        assert_eq!(
            names(&dir),
            ["chart.png", "results.json"],
            "stale files of the old report go"
        );
        assert_eq!(names(&root), ["report"], "no temporary directories left");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn refuses_a_directory_with_foreign_files_and_keeps_them() {
        let dir = scratch("foreign");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("notes.txt"), b"keep me").unwrap();
        let e = write_dir_atomically(&dir, &files(b"1")).unwrap_err();
        assert!(e.contains("notes.txt") || e.contains("sub"), "{e}");
        assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"keep me");
        assert!(dir.join("sub").is_dir());
        assert!(!dir.join("results.json").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_earlier_report() {
        let root = scratch("failed");
        let dir = root.join("report");
        write_dir_atomically(&dir, &files(b"1")).unwrap();
        // A file name the file system refuses makes the write fail midway.
        let bad = vec![
            ("results.json".to_string(), b"2".to_vec()),
            ("no/such/dir.png".to_string(), b"x".to_vec()),
        ];
        assert!(write_dir_atomically(&dir, &bad).is_err());
        assert_eq!(std::fs::read(dir.join("results.json")).unwrap(), b"1");
        assert_eq!(names(&root), ["report"]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
