//! sled's snapshot files. Opening a store whose log has moved on since its last
//! snapshot makes sled write a new one, as `snap.<LSN>.generating`, renamed to
//! `snap.<LSN>` once it is whole. A process killed while that file is still short
//! (daemon start, `check`, `backup`, `compact`) leaves it behind, and sled 0.34 then
//! refuses the store at every later open ("Read corrupted data at file offset None"):
//! it reads the newest snapshot file, and that is the one. A snapshot only shortens
//! recovery (sled replays the log from the previous one), so an unfinished one is
//! removed before each open, under sled's own file lock, so that no live process can
//! be writing it.

use super::{StoreError, io, sync_dir};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// Removes the unfinished snapshots of the store in `db_dir`, unless another handle
/// (another process, or one of this process's just closing) has it open: `false` then,
/// and nothing is touched.
pub(super) fn remove_unfinished(db_dir: &Path) -> Result<bool, StoreError> {
    let db = db_dir.join("db");
    let file = match File::open(&db) {
        Ok(file) => file,
        // A new store: nothing to remove.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io(format!("opening {}", db.display()))(e)),
    };
    let _lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => return Ok(false),
        Err((_, e)) => return Err(io(format!("locking {}", db.display()))(e.into())),
    };
    let mut removed = false;
    let listing = std::fs::read_dir(db_dir).map_err(io(format!("listing {}", db_dir.display())))?;
    for entry in listing {
        let entry = entry.map_err(io(format!("listing {}", db_dir.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %name, "removing a snapshot file that a stopped process left unfinished");
            std::fs::remove_file(entry.path()).map_err(io(format!("removing {}", entry.path().display())))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(db_dir)?;
    }
    Ok(true)
}
