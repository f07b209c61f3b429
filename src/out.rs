//! Writing outputs so that a failed run never leaves a half-written or lost earlier result:
//! each file is written beside its final name and renamed into place, and nothing else in the
//! output directory is touched.

use std::io::{self, Write};
use std::path::Path;

/// Writes `files` (name → bytes) into `dir`, creating it if needed. Each file replaces its
/// earlier version only once it is complete.
pub fn write_files_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, dir.join(name)));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_files() {
        let dir = std::env::temp_dir().join(format!("cnsim-out-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("notes.txt"), b"keep me").unwrap();
        write_files_atomically(&dir, &[("results.json", b"1".to_vec())]).unwrap();
        write_files_atomically(&dir, &[("results.json", b"2".to_vec())]).unwrap();
        assert_eq!(std::fs::read(dir.join("results.json")).unwrap(), b"2");
        assert_eq!(
            std::fs::read(dir.join("notes.txt")).unwrap(),
            b"keep me",
            "other files survive"
        );
        assert!(dir.join("sub").is_dir());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.contains(".tmp-")),
            "no temporary files left: {names:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
