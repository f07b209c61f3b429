//! Writing outputs so that a failed run never leaves a half-written or lost earlier result:
//! everything goes to a sibling temporary directory that is renamed into place.

use std::io;
use std::path::{Path, PathBuf};

/// Writes `files` (name → bytes) as the directory `dir`, replacing any earlier one only once
/// every file is complete.
pub fn write_dir_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> io::Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = dir.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "output directory has no name")
    })?;
    let tmp = sibling(parent, name, "tmp");
    let old = sibling(parent, name, "old");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    for (file, bytes) in files {
        std::fs::write(tmp.join(file), bytes)?;
    }
    // A directory cannot be renamed over a non-empty one: move the old aside first.
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    match std::fs::rename(&tmp, dir) {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&old);
            Ok(())
        }
        Err(e) => {
            if old.exists() {
                let _ = std::fs::rename(&old, dir);
            }
            Err(e)
        }
    }
}

fn sibling(parent: &Path, name: &std::ffi::OsStr, tag: &str) -> PathBuf {
    let mut n = std::ffi::OsString::from(".");
    n.push(name);
    n.push(format!(".{tag}-{}", std::process::id()));
    parent.join(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_directory_whole() {
        let base = std::env::temp_dir().join(format!("cnsim-out-test-{}", std::process::id()));
        let dir = base.join("report");
        write_dir_atomically(
            &dir,
            &[("a.json", b"1".to_vec()), ("b.json", b"2".to_vec())],
        )
        .unwrap();
        write_dir_atomically(&dir, &[("a.json", b"3".to_vec())]).unwrap();
        assert_eq!(std::fs::read(dir.join("a.json")).unwrap(), b"3");
        assert!(
            !dir.join("b.json").exists(),
            "the old directory's files are gone"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary directories left: {leftovers:?}"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
