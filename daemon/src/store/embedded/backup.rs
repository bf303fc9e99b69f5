//! Backup files: every tree of the store (but those an upgrade retired), key by key,
//! in one checksummed stream.
//!
//! Layout (integers big-endian):
//! - the magic `TSRBAK` and the format version (u16, [`BACKUP_FORMAT`]);
//! - the header: a u32 length, then JSON `{"schema": N, "createdAt": "…"}`;
//! - entries, each `1`, the tree name (u16 length + bytes), the key and the value
//!   (u32 length + bytes each);
//! - `0`, then the SHA-256 of everything before it.
//!
//! A restore reads the file twice: once to check the checksum and versions, and only
//! then to write, so a damaged or foreign file changes nothing.

use super::migrate::RETIRED_TREES;
use super::watch::Watch;
use super::{SCHEMA_VERSION, SledStore, StoreError, create_private_dir, io, open_sled, sync_dir};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// Version of the backup format this build writes; it also reads format 1 (the
/// same, without removals).
pub const BACKUP_FORMAT: u16 = 2;
const MAGIC: &[u8; 6] = b"TSRBAK";
const ENTRY: u8 = 1;
const REMOVAL: u8 = 2;
const END: u8 = 0;
/// The longest name, key or value a backup may hold: far above any record the store
/// writes, far below what a crafted length could ask a restore to allocate.
const MAX_FIELD: usize = 64 * 1024 * 1024;

/// Writes the magic, the format version and the header.
fn write_header(w: &mut impl Write) -> std::io::Result<()> {
    let header = serde_json::json!({
        "schema": SCHEMA_VERSION,
        "createdAt": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
    .to_string();
    w.write_all(MAGIC)?;
    w.write_all(&BACKUP_FORMAT.to_be_bytes())?;
    w.write_all(&u32::try_from(header.len()).unwrap_or(u32::MAX).to_be_bytes())?;
    w.write_all(header.as_bytes())
}

/// Writes one entry: `key` of tree `name` holds `value`, or was removed (`None`).
fn write_entry(w: &mut impl Write, name: &[u8], key: &[u8], value: Option<&[u8]>) -> std::io::Result<()> {
    w.write_all(&[if value.is_some() { ENTRY } else { REMOVAL }])?;
    w.write_all(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes())?;
    w.write_all(name)?;
    w.write_all(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes())?;
    w.write_all(key)?;
    if let Some(value) = value {
        w.write_all(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes())?;
        w.write_all(value)?;
    }
    Ok(())
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackupSummary {
    /// Entries (values and removals), every tree together.
    pub entries: u64,
    /// Of those, the changes made while the copy ran, written after it (known to the
    /// writer only: 0 when read from a file).
    pub changed: u64,
    /// How long writes waited at the end of the copy (the writer only).
    pub paused: std::time::Duration,
    /// The store's schema version.
    pub schema: u32,
    /// The backup file's format ([`BACKUP_FORMAT`] for a backup written now).
    pub format: u16,
}

/// Why a backup file cannot be restored.
fn bad(detail: impl Into<String>) -> StoreError {
    StoreError::Backup(detail.into())
}

/// A writer that hashes what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hash.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through.
struct Hashed<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Hashed<R> {
    fn exact<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut buf = [0u8; N];
        self.bytes_into(&mut buf)?;
        Ok(buf)
    }

    /// `len` bytes, as a declared length says. Memory grows with the bytes actually
    /// read, never with the declaration, and no field may exceed [`MAX_FIELD`]: a
    /// crafted length cannot make a restore allocate what the file does not hold.
    fn bytes(&mut self, len: usize) -> Result<Vec<u8>, StoreError> {
        if len > MAX_FIELD {
            return Err(bad("damaged: a length beyond what the format allows"));
        }
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|_| bad("the file cannot be read"))?;
        if buf.len() != len {
            return Err(bad("the file ends too early (truncated?)"));
        }
        self.hash.update(&buf);
        Ok(buf)
    }

    fn bytes_into(&mut self, buf: &mut [u8]) -> Result<(), StoreError> {
        self.inner
            .read_exact(buf)
            .map_err(|_| bad("the file ends too early (truncated?)"))?;
        self.hash.update(&*buf);
        Ok(())
    }
}

impl SledStore {
    /// Writes every tree but the retired ones to `out` as one backup stream: the store
    /// as it was at one moment, while writes go on. The trees are copied as they stand, with every
    /// change made meanwhile captured ([`super::watch`]); at the end writes pause
    /// briefly, the capture stops, and each key changed during the copy is written
    /// again with its value at that moment (or as a removal). A restore applies the
    /// entries in order, so it ends at that moment's store, every transaction whole.
    pub fn write_backup(&self, out: impl Write) -> Result<BackupSummary, StoreError> {
        let trees = self
            .db
            .tree_names()
            .into_iter()
            .filter(|name| !RETIRED_TREES.iter().any(|retired| retired.as_bytes() == name.as_ref()))
            .map(|name| Ok((name.clone(), self.db.open_tree(&name)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Subscribed with writes paused: a write already under way when the capture
        // starts could otherwise land, uncaptured, after its key was copied.
        let watch = {
            let _paused = self.pause_writes();
            Watch::start(&trees).map_err(io("starting the backup's change capture"))?
        };
        let mut w = Hashing {
            inner: out,
            hash: Sha256::new(),
        };
        let mut summary = BackupSummary {
            schema: SCHEMA_VERSION,
            format: BACKUP_FORMAT,
            ..BackupSummary::default()
        };
        let copied = write_header(&mut w).and_then(|()| {
            for (name, tree) in &trees {
                for entry in tree.iter() {
                    let (key, value) = entry.map_err(std::io::Error::other)?;
                    write_entry(&mut w, name, &key, Some(&value))?;
                    summary.entries += 1;
                }
            }
            Ok(())
        });
        let changes = {
            let pausing = std::time::Instant::now();
            let _paused = self.pause_writes();
            let changes = watch.finish();
            summary.paused = pausing.elapsed();
            changes
        };
        copied.map_err(io("writing the backup"))?;
        let mut finish = |w: &mut Hashing<_>| -> std::io::Result<()> {
            for ((name, key), value) in &changes {
                write_entry(w, name, key, value.as_deref())?;
                summary.entries += 1;
                summary.changed += 1;
            }
            w.write_all(&[END])
        };
        finish(&mut w).map_err(io("writing the backup"))?;
        let digest = w.hash.finalize();
        w.inner
            .write_all(&digest)
            .and_then(|()| w.inner.flush())
            .map_err(io("writing the backup"))?;
        Ok(summary)
    }

    /// Checks a backup stream: format, schema version and checksum. Reads it whole.
    pub fn check_backup(input: impl Read) -> Result<BackupSummary, StoreError> {
        read_backup(input, |_, _, _| Ok(()))
    }

    /// Writes the backup in `input` (checked first with [`SledStore::check_backup`]) as
    /// the store of `dir`, which must hold none; creates `dir` (0700) if missing, and
    /// syncs everything to disk before returning.
    pub fn restore_backup(dir: &Path, input: impl Read) -> Result<BackupSummary, StoreError> {
        create_private_dir(dir)?;
        let db_dir = dir.join("store");
        if db_dir.exists() {
            return Err(bad(format!("{} already holds a store", db_dir.display())));
        }
        let db = open_sled(&db_dir, super::CACHE_BYTES)?;
        let summary = read_backup(input, |tree, key, value| {
            let tree = db.open_tree(tree)?;
            match value {
                Some(value) => tree.insert(key, value)?,
                None => tree.remove(key)?,
            };
            Ok(())
        })?;
        db.flush()?;
        std::fs::File::open(db_dir.join("db"))
            .and_then(|f| f.sync_all())
            .map_err(io("syncing the restored store"))?;
        drop(db);
        sync_dir(&db_dir)?;
        sync_dir(dir)?;
        Ok(summary)
    }
}

/// Reads a backup stream, handing each entry to `each`, and checks it; `each` sees
/// entries before the checksum is known, so callers check first.
fn read_backup(
    input: impl Read,
    mut each: impl FnMut(&[u8], &[u8], Option<&[u8]>) -> Result<(), StoreError>,
) -> Result<BackupSummary, StoreError> {
    let mut r = Hashed {
        inner: std::io::BufReader::new(input),
        hash: Sha256::new(),
    };
    if &r.exact::<6>()? != MAGIC {
        return Err(bad("not a Tessera backup"));
    }
    let format = u16::from_be_bytes(r.exact()?);
    if !(1..=BACKUP_FORMAT).contains(&format) {
        return Err(bad(format!(
            "backup format {format}; this build reads format {BACKUP_FORMAT}"
        )));
    }
    let header_len = u32::from_be_bytes(r.exact()?) as usize;
    if header_len > 64 * 1024 {
        return Err(bad("the header is too long"));
    }
    let header: serde_json::Value =
        serde_json::from_slice(&r.bytes(header_len)?).map_err(|_| bad("the header is not readable"))?;
    let schema = header["schema"]
        .as_u64()
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| bad("the header names no schema version"))?;
    if schema > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: schema,
            known: SCHEMA_VERSION,
        });
    }
    let mut summary = BackupSummary {
        schema,
        format,
        ..BackupSummary::default()
    };
    loop {
        let tag = r.exact::<1>()?[0];
        if tag == END {
            break;
        }
        if tag != ENTRY && (tag != REMOVAL || format < 2) {
            return Err(bad("damaged: an unknown entry tag"));
        }
        let name_len = u16::from_be_bytes(r.exact()?) as usize;
        let name = r.bytes(name_len)?;
        let key_len = u32::from_be_bytes(r.exact()?) as usize;
        let key = r.bytes(key_len)?;
        if tag == ENTRY {
            let value_len = u32::from_be_bytes(r.exact()?) as usize;
            each(&name, &key, Some(&r.bytes(value_len)?))?;
        } else {
            each(&name, &key, None)?;
        }
        summary.entries += 1;
    }
    let expected = r.hash.finalize();
    let mut stored = [0u8; 32];
    r.inner
        .read_exact(&mut stored)
        .map_err(|_| bad("the file ends before its checksum (truncated?)"))?;
    if expected.as_slice() != stored {
        return Err(bad("the checksum does not match: the file is damaged"));
    }
    Ok(summary)
}
