//! `tessera backup --out FILE`: the running daemon's backup, received over the admin
//! socket, checked against its own SHA-256 and its announced size, and written the
//! way `tesserad backup` writes one: whole or not at all, mode 0600 (it holds the
//! signing keys; `tessera_common::files`).

use crate::client::{Client, ClientError};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use tessera_common::admin::{BackupView, Reply, Request};
use tessera_common::files::{WriteError, write_private};

/// Length of the SHA-256 that ends a backup file.
const DIGEST: usize = 32;

/// Why no backup file was written.
#[derive(Debug, thiserror::Error)]
pub enum BackupFailure {
    /// The target cannot be used, or what came is not a whole backup (exit 1).
    #[error("{0}")]
    Refused(String),
    /// The daemon refused or the conversation broke.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Checks the stream as it passes: everything but the last 32 bytes is hashed, and
/// those must be that hash.
#[derive(Default)]
struct Checked {
    hash: Sha256,
    tail: Vec<u8>,
    bytes: u64,
}

impl Checked {
    fn update(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.tail.extend_from_slice(chunk);
        let hashed = self.tail.len().saturating_sub(DIGEST);
        self.hash.update(&self.tail[..hashed]);
        self.tail.drain(..hashed);
    }

    fn into_whole(self) -> bool {
        self.tail.len() == DIGEST && self.hash.finalize().as_slice() == self.tail
    }
}

/// Asks the daemon behind `client` for a backup and writes it to `out` (replacing an
/// existing file only with `force`).
pub fn backup(client: &mut Client, out: &Path, force: bool) -> Result<BackupView, BackupFailure> {
    write_private(out, force, |file| receive(client, file, out)).map_err(|e| match e {
        WriteError::Refused(message) | WriteError::Io(message) => BackupFailure::Refused(message),
        WriteError::Inner(e) => e,
    })
}

/// Receives the backup into `file` (for `path`, named in messages) and checks it.
fn receive(client: &mut Client, mut file: &File, path: &Path) -> Result<BackupView, BackupFailure> {
    let mut checked = Checked::default();
    let reply = client.call_with_chunks(Request::Backup, |data| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| ClientError::Protocol(format!("a backup chunk is not base64: {e}")))?;
        checked.update(&bytes);
        file.write_all(&bytes)
            .map_err(|e| ClientError::Protocol(format!("writing {}: {e}", path.display())))
    })?;
    let Reply::Backup(view) = reply else {
        return Err(BackupFailure::Refused(format!("unexpected answer {reply:?}")));
    };
    let received = checked.bytes;
    if received != view.bytes || !checked.into_whole() {
        return Err(BackupFailure::Refused(format!(
            "the backup arrived damaged ({received} of {} bytes, or a checksum mismatch); nothing was written",
            view.bytes
        )));
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer;
    use std::os::unix::fs::PermissionsExt;
    use tessera_common::admin::{Outcome, ServerFrame};

    /// A backup stream: `body` and its SHA-256.
    fn stream(body: &[u8]) -> Vec<u8> {
        let mut stream = body.to_vec();
        stream.extend_from_slice(&Sha256::digest(body));
        stream
    }

    fn chunk(bytes: &[u8]) -> ServerFrame {
        ServerFrame::Chunk {
            id: 1,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    fn done(bytes: usize) -> ServerFrame {
        ServerFrame::Response {
            id: 1,
            outcome: Outcome::Ok(Reply::Backup(BackupView {
                bytes: bytes as u64,
                entries: 3,
                changed: 0,
                schema: 2,
                format: 2,
            })),
        }
    }

    /// Runs a backup against a peer sending `frames` into a fresh directory; returns
    /// the outcome, the target and the directory's file names afterwards.
    fn run(frames: Vec<ServerFrame>) -> (Result<BackupView, BackupFailure>, Vec<u8>, Vec<String>) {
        let (_socket_dir, socket) = peer(vec![frames]);
        let target = tempfile::tempdir().unwrap();
        let out = target.path().join("b.tsrbak");
        let mut client = Client::connect(&socket).unwrap();
        let outcome = backup(&mut client, &out, false);
        let names = std::fs::read_dir(target.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        (outcome, std::fs::read(&out).unwrap_or_default(), names)
    }

    #[test]
    fn a_whole_backup_is_written_private_and_renamed_into_place() {
        let bytes = stream(b"TSRBAK the entries of a store");
        let (half, rest) = bytes.split_at(10);
        let (_socket_dir, socket) = peer(vec![vec![chunk(half), chunk(rest), done(bytes.len())]]);
        let target = tempfile::tempdir().unwrap();
        let out = target.path().join("b.tsrbak");
        let view = backup(&mut Client::connect(&socket).unwrap(), &out, false).unwrap();
        assert_eq!(view.bytes, bytes.len() as u64);
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(target.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn an_interrupted_or_damaged_backup_leaves_no_file() {
        let bytes = stream(b"TSRBAK the entries of a store");
        // The daemon goes away half-way.
        let (outcome, _, names) = run(vec![chunk(&bytes[..10])]);
        assert!(matches!(outcome, Err(BackupFailure::Client(_))), "{outcome:?}");
        assert_eq!(names, Vec::<String>::new());
        // A byte changed on the way.
        let mut flipped = bytes.clone();
        flipped[4] ^= 1;
        let (outcome, _, names) = run(vec![chunk(&flipped), done(flipped.len())]);
        assert!(
            matches!(&outcome, Err(BackupFailure::Refused(m)) if m.contains("damaged")),
            "{outcome:?}"
        );
        assert_eq!(names, Vec::<String>::new());
        // Fewer bytes than announced.
        let (outcome, _, names) = run(vec![chunk(&bytes), done(bytes.len() + 1)]);
        assert!(matches!(outcome, Err(BackupFailure::Refused(_))), "{outcome:?}");
        assert_eq!(names, Vec::<String>::new());
    }

    #[test]
    fn an_unusable_target_is_refused_before_asking() {
        let (_socket_dir, socket) = peer(vec![]);
        let mut client = Client::connect(&socket).unwrap();
        let target = tempfile::tempdir().unwrap();
        let existing = target.path().join("kept");
        std::fs::write(&existing, "precious").unwrap();
        let refused = backup(&mut client, &existing, false).unwrap_err();
        assert!(refused.to_string().contains("--force"), "{refused}");
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious");
        let missing = backup(&mut client, &target.path().join("nowhere/b"), false).unwrap_err();
        assert!(missing.to_string().contains("nowhere"), "{missing}");
        // Directories this user cannot write in: a 0500 one (root writes there
        // anyway) and sysfs (nobody creates files there).
        let locked = target.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        let mut tried = 0;
        for dir in [locked, std::path::PathBuf::from("/sys")] {
            if std::fs::write(dir.join("probe"), "").is_ok() {
                continue;
            }
            let read_only = backup(&mut client, &dir.join("b.tsrbak"), false).unwrap_err();
            assert!(read_only.to_string().contains(dir.to_str().unwrap()), "{read_only}");
            assert!(!dir.join("b.tsrbak").exists());
            tried += 1;
        }
        assert!(tried > 0, "no unwritable directory to try");
    }

    #[test]
    fn the_check_needs_the_whole_stream_in_any_chunking() {
        let body = b"TSRBAK some entries".to_vec();
        let mut stream = body.clone();
        stream.extend_from_slice(&Sha256::digest(&body));
        for size in [1, 5, 32, 33, stream.len()] {
            let mut checked = Checked::default();
            stream.chunks(size).for_each(|c| checked.update(c));
            assert!(checked.into_whole(), "chunks of {size}");
        }
        let mut truncated = Checked::default();
        truncated.update(&stream[..stream.len() - 1]);
        assert!(!truncated.into_whole());
        let mut flipped = stream.clone();
        flipped[3] ^= 1;
        let mut damaged = Checked::default();
        damaged.update(&flipped);
        assert!(!damaged.into_whole());
    }
}
