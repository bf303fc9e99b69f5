//! Files that hold secrets (backups with signing keys, messages with link tokens),
//! written whole or not at all: under a temporary name beside the target, mode 0600,
//! fsynced, renamed into place, and the directory fsynced. A failure removes the
//! temporary file, so nothing is ever left under the final name half-written.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a private file was not written.
#[derive(Debug)]
pub enum WriteError<E> {
    /// Nothing was attempted: the file exists (and replacing it was not allowed), or
    /// its directory does not exist.
    Refused(String),
    /// A file-system step failed.
    Io(String),
    /// The caller's writing failed.
    Inner(E),
}

/// Writes `out` with `write`, which gets the open temporary file; replaces an
/// existing `out` only when `replace`.
pub fn write_private<T, E>(
    out: &Path,
    replace: bool,
    write: impl FnOnce(&File) -> Result<T, E>,
) -> Result<T, WriteError<E>> {
    if out.exists() && !replace {
        return Err(WriteError::Refused(format!(
            "{} exists; pass --force to replace it",
            out.display()
        )));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(WriteError::Refused(format!("{} is not a directory", parent.display())));
    }
    let partial = parent.join(format!(
        ".{}.partial-{}",
        out.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    let failed = |path: &Path, e: std::io::Error| WriteError::Io(format!("{}: {e}", path.display()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| failed(&partial, e))?;
    let written = write(&file).map_err(WriteError::Inner).and_then(|value| {
        file.sync_all().map_err(|e| failed(&partial, e))?;
        std::fs::rename(&partial, out).map_err(|e| failed(out, e))?;
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed(&parent, e))?;
        Ok(value)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn whole_private_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("secret");
        write_private(&out, false, |mut f| f.write_all(b"one")).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(
            write_private::<(), ()>(&out, false, |_| Ok(())),
            Err(WriteError::Refused(_))
        ));
        let failed = write_private::<(), &str>(&out, true, |mut f| {
            f.write_all(b"half").unwrap();
            Err("stopped")
        });
        assert!(matches!(failed, Err(WriteError::Inner("stopped"))));
        assert_eq!(std::fs::read(&out).unwrap(), b"one", "kept whole");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let missing = dir.path().join("nowhere/x");
        assert!(
            matches!(write_private::<(), ()>(&missing, false, |_| Ok(())), Err(WriteError::Refused(m)) if m.contains("nowhere"))
        );
    }
}
