//! `tesserad backup`, `tesserad restore`, `tesserad compact` and `tesserad check`, for
//! a stopped daemon's store. The file
//! format is the store's ([`crate::store::BackupSummary`], `store/backup.rs`); this
//! module handles the files around it: a backup is written whole or not at all, mode
//! 0600 (it holds the signing keys; `tessera_common::files`); a restore checks the
//! whole file before it writes anything.

use crate::store::{BackupSummary, SledStore as Store, StoreError};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use tessera_common::files::{WriteError, write_private};

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Refused before anything was written (exit 2): the store is locked or damaged,
    /// the file is damaged or newer, or the target exists.
    #[error("{0}")]
    Refused(String),
    /// Failed part-way (exit 1); nothing is left under the final name.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Engine(_) | StoreError::Io { .. } => BackupError::Failed(e.to_string()),
            other => BackupError::Refused(other.to_string()),
        }
    }
}

/// Writes a backup of the store in `data_dir` to `out` (replacing it only with
/// `force`).
pub fn backup(data_dir: &Path, out: &Path, force: bool) -> Result<BackupSummary, BackupError> {
    let written = write_private(out, force, |file| {
        if !data_dir.join("store").join("db").exists() {
            return Err(BackupError::Refused(format!("no store in {}", data_dir.display())));
        }
        Ok(Store::open(data_dir)?.write_backup(BufWriter::new(file))?)
    });
    written.map_err(|e| match e {
        WriteError::Refused(message) => BackupError::Refused(message),
        WriteError::Io(message) => BackupError::Failed(message),
        WriteError::Inner(e) => e,
    })
}

/// Restores the backup in `from` as the store of `data_dir`: refused unless the
/// directory is missing or empty, or `force` (which replaces its store, never
/// merges).
pub fn restore(from: &Path, data_dir: &Path, force: bool) -> Result<BackupSummary, BackupError> {
    let open = || File::open(from).map_err(|e| BackupError::Refused(format!("{}: {e}", from.display())));
    Store::check_backup(open()?)?;
    let occupied = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied && !force {
        return Err(BackupError::Refused(format!(
            "{} is not empty; pass --force to replace its store",
            data_dir.display()
        )));
    }
    let store_dir = data_dir.join("store");
    if !store_dir.exists() {
        return Ok(Store::restore_backup(data_dir, open()?)?);
    }
    // The store's own lock, held until the swap is done: a running daemon holds it, and
    // replacing its files under it would lose every write it acknowledges afterwards.
    let _in_use = lock_store(&store_dir)?;
    // Replace the store: restore beside it, then swap, so a failed restore leaves the
    // old store in place.
    let staging = data_dir.join(format!(".restore-{}", std::process::id()));
    let summary = Store::restore_backup(&staging, open()?).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    let replaced = data_dir.join(format!(".replaced-{}", std::process::id()));
    std::fs::rename(&store_dir, &replaced).map_err(|e| failed(&store_dir, e))?;
    std::fs::rename(staging.join("store"), &store_dir).map_err(|e| failed(&store_dir, e))?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed(data_dir, e))?;
    let _ = std::fs::remove_dir_all(&replaced);
    let _ = std::fs::remove_dir_all(&staging);
    Ok(summary)
}

/// What `tesserad compact` did: the store's size on disk before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Bytes before.
    pub before: u64,
    /// Bytes after.
    pub after: u64,
    /// Entries copied.
    pub entries: u64,
}

/// Prefix of the directory a compaction writes the new store in, beside the old one.
const COMPACTING: &str = ".compact-";

/// Rewrites the store in `data_dir` into a fresh one holding only its live entries (a
/// backup streamed into a restore beside it), then swaps the two directories in one
/// atomic exchange. The old store is opened first, so its lock is held throughout: a
/// running daemon's store is refused, and no daemon can start on it meanwhile. An
/// interrupted compaction leaves the old store as it was; its leftovers are removed
/// by the next one.
pub fn compact(data_dir: &Path) -> Result<Compacted, BackupError> {
    let store_dir = data_dir.join("store");
    if !store_dir.join("db").exists() {
        return Err(BackupError::Refused(format!("no store in {}", data_dir.display())));
    }
    // Measured at rest: opening a store makes sled add to its files.
    let before = size_of(&store_dir)?;
    let old = Store::open(data_dir)?;
    remove_leftovers(data_dir)?;
    let staging = data_dir.join(format!("{COMPACTING}{}", std::process::id()));
    let copied = copy_into(&old, &staging).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    let new_dir = staging.join("store");
    let after = size_of(&new_dir)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Store::open(&staging)?.note_compaction(now, before, after)?;
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        &new_dir,
        nix::fcntl::AT_FDCWD,
        &store_dir,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )
    .map_err(|e| failed(&store_dir, e.into()))?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed(data_dir, e))?;
    drop(old);
    // The old store now sits in the staging directory.
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Compacted {
        before,
        after,
        entries: copied.entries,
    })
}

/// A backup of `store` restored into `dir` as it is written, through a pipe.
fn copy_into(store: &Store, dir: &Path) -> Result<BackupSummary, BackupError> {
    let (reader, writer) = std::io::pipe().map_err(|e| failed(dir, e))?;
    std::thread::scope(|scope| {
        let written = scope.spawn(move || store.write_backup(BufWriter::new(writer)));
        // The reader is dropped when the restore returns, so a failed restore ends
        // the writer too (a broken pipe).
        let restored = Store::restore_backup(dir, std::io::BufReader::new(reader));
        let written = written
            .join()
            .map_err(|_| BackupError::Failed("the backup's writer stopped".into()))?;
        let (written, restored) = (written?, restored?);
        if written.entries != restored.entries {
            return Err(BackupError::Failed(format!(
                "wrote {} entries but restored {}",
                written.entries, restored.entries
            )));
        }
        Ok(restored)
    })
}

/// Removes what an interrupted compaction left in `data_dir`.
fn remove_leftovers(data_dir: &Path) -> Result<(), BackupError> {
    let entries = std::fs::read_dir(data_dir).map_err(|e| failed(data_dir, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(COMPACTING) {
            std::fs::remove_dir_all(entry.path()).map_err(|e| failed(&entry.path(), e))?;
        }
    }
    Ok(())
}

/// The bytes of the files in `dir` and below.
fn size_of(dir: &Path) -> Result<u64, BackupError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| failed(dir, e))? {
        let entry = entry.map_err(|e| failed(dir, e))?;
        let meta = entry.metadata().map_err(|e| failed(&entry.path(), e))?;
        total += if meta.is_dir() {
            size_of(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Takes the embedded store's lock (sled's `flock` on its `db` file), or refuses when
/// another process, a running daemon, holds it.
fn lock_store(store_dir: &Path) -> Result<Option<Flock<File>>, BackupError> {
    let db = store_dir.join("db");
    let file = match File::open(&db) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(&db, e)),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Err(BackupError::Refused(format!(
            "{} is in use by a running daemon; stop it before restoring over its store",
            store_dir.display()
        ))),
        Err((_, e)) => Err(failed(&db, e.into())),
    }
}

/// Checks the store in `data_dir`: its indexes and counts against its records.
/// Returns the disagreements found, one line each.
pub fn check(data_dir: &Path) -> Result<Vec<String>, BackupError> {
    if !data_dir.join("store").join("db").exists() {
        return Err(BackupError::Refused(format!("no store in {}", data_dir.display())));
    }
    Ok(Store::open(data_dir)?.check_integrity()?)
}

fn failed(path: &Path, e: std::io::Error) -> BackupError {
    BackupError::Failed(format!("{}: {e}", path.display()))
}
