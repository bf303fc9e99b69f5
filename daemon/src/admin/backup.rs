//! `tessera backup` on the socket: the service writes the backup on a blocking thread
//! into a [`ChunkWriter`], whose pieces go out as chunk frames in order; the response
//! follows the last one. A client that stops reading loses its connection (the
//! write timeout), which ends the backup.

use super::error::admin_error;
use crate::service::{Operator, Service};
use base64::Engine;
use std::sync::Arc;
use tessera_common::admin::{BackupView, Outcome, Reply, ServerFrame};
use tokio::sync::mpsc;

/// Bytes per chunk frame (about 87 KiB of base64).
const CHUNK: usize = 64 * 1024;
/// Chunks the writer may run ahead of the connection.
const AHEAD: usize = 4;

/// Collects the backup's bytes into chunks and hands each full one to the connection,
/// waiting while it is [`AHEAD`] chunks behind.
struct ChunkWriter {
    pending: Vec<u8>,
    chunks: mpsc::Sender<Vec<u8>>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        self.chunks
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the admin client went away"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let taken = bytes.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&bytes[..taken]);
        if self.pending.len() == CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() { Ok(()) } else { self.send() }
    }
}

/// Runs request `id`, a backup: sends its chunks through `send` (false: the client is
/// gone) and returns the response frame.
pub async fn stream<F, Fut>(service: &Arc<Service>, operator: Operator, id: u64, mut send: F) -> ServerFrame
where
    F: FnMut(ServerFrame) -> Fut,
    Fut: Future<Output = bool>,
{
    let (chunks, mut ready) = mpsc::channel(AHEAD);
    let writer = ChunkWriter {
        pending: Vec::with_capacity(CHUNK),
        chunks,
    };
    let forward = async move {
        let mut bytes = 0u64;
        while let Some(chunk) = ready.recv().await {
            bytes += chunk.len() as u64;
            let data = base64::engine::general_purpose::STANDARD.encode(&chunk);
            if !send(ServerFrame::Chunk { id, data }).await {
                // Dropping the receiver fails the writer's next send: the backup stops.
                return bytes;
            }
        }
        bytes
    };
    let (written, bytes) = tokio::join!(service.backup(operator, writer), forward);
    let outcome = match written {
        Ok(summary) => Outcome::Ok(Reply::Backup(BackupView {
            bytes,
            entries: summary.entries,
            changed: summary.changed,
            schema: summary.schema,
            format: summary.format,
        })),
        Err(e) => Outcome::Error(admin_error(e)),
    };
    ServerFrame::Response { id, outcome }
}
