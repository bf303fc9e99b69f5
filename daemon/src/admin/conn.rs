//! One admin connection: peer check, handshake, then requests answered in order,
//! with events pushed after a subscribe and a backup's chunks before its answer. Lines are read with a length cap; a bad or
//! oversized line gets an error answer and the connection goes on. Writes time out,
//! so a client that stops reading only loses its own connection.

use super::dispatch::dispatch;
use super::peer::Access;
use crate::request_id::RequestId;
use crate::service::{Operator, Service};
use std::sync::Arc;
use std::time::Duration;
use tessera_common::admin::{
    AdminError, ClientFrame, ErrorCode, MAX_REQUEST_LINE, Outcome, PROTOCOL_VERSION, Reply, Request, ServerFrame,
    encode,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument;

/// How long a client has to say hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may take before the client is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames queued for a client before its reader waits.
const OUTBOX: usize = 64;

/// What reading one line gave.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line (without its newline) is in the buffer.
    Complete,
    /// The line was longer than the cap; it was skipped.
    TooLong,
    /// The peer closed its side.
    Eof,
}

/// Reads one line of at most `max` bytes into `buf`, skipping the rest of a longer one.
/// A last line without a newline counts as a line.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize, buf: &mut Vec<u8>) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (too_long, buf.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::Eof,
                (false, false) => Line::Complete,
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if !too_long && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.clear();
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(if too_long { Line::TooLong } else { Line::Complete });
        }
    }
}

/// Serves one connection to its end.
pub async fn handle(stream: UnixStream, service: Arc<Service>, access: &Access) {
    let cred = match stream.peer_cred() {
        Ok(cred) => cred,
        Err(e) => {
            tracing::warn!(error = %e, "admin connection without peer credentials; closed");
            return;
        }
    };
    if !access.allows(cred.uid(), cred.gid()).await {
        tracing::warn!(uid = cred.uid(), pid = ?cred.pid(), "admin connection refused: uid not allowed");
        return;
    }
    let operator = Operator { uid: cred.uid() };
    let (read, write) = stream.into_split();
    let (outbox, queued) = mpsc::channel::<Vec<u8>>(OUTBOX);
    let writer = tokio::spawn(write_loop(write, queued));
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();

    if handshake(&mut reader, &mut buf, &outbox).await {
        tracing::debug!(uid = operator.uid, "admin client connected");
        serve_requests(&mut reader, &mut buf, &outbox, &service, operator).await;
    }
    drop(outbox);
    let _ = writer.await;
}

async fn send(outbox: &mpsc::Sender<Vec<u8>>, frame: &ServerFrame) -> bool {
    match encode(frame) {
        Ok(line) => outbox.send(line).await.is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an admin frame");
            false
        }
    }
}

fn refused(code: ErrorCode, message: String) -> ServerFrame {
    ServerFrame::Refused {
        error: AdminError::new(code, message),
    }
}

/// Reads the hello; answers welcome (true) or refused (false).
async fn handshake(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    buf: &mut Vec<u8>,
    outbox: &mpsc::Sender<Vec<u8>>,
) -> bool {
    let line = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_line(reader, MAX_REQUEST_LINE, buf)).await {
        Ok(Ok(line)) => line,
        Ok(Err(_)) | Err(_) => return false,
    };
    let frame = match line {
        Line::Eof => return false,
        Line::TooLong => refused(
            ErrorCode::LineTooLong,
            format!("lines are limited to {MAX_REQUEST_LINE} bytes"),
        ),
        Line::Complete => match serde_json::from_slice::<ClientFrame>(buf) {
            Ok(ClientFrame::Hello { version, .. }) if version == PROTOCOL_VERSION => ServerFrame::Welcome {
                version: PROTOCOL_VERSION,
                daemon: env!("CARGO_PKG_VERSION").to_owned(),
            },
            Ok(ClientFrame::Hello { version, .. }) => refused(
                ErrorCode::VersionMismatch,
                format!(
                    "the daemon speaks admin protocol {PROTOCOL_VERSION}, the client {version}; use matching versions"
                ),
            ),
            Ok(ClientFrame::Request { .. }) | Err(_) => refused(
                ErrorCode::HandshakeRequired,
                "the first frame must be a hello".to_owned(),
            ),
        },
    };
    let welcomed = matches!(frame, ServerFrame::Welcome { .. });
    send(outbox, &frame).await && welcomed
}

async fn serve_requests(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    buf: &mut Vec<u8>,
    outbox: &mpsc::Sender<Vec<u8>>,
    service: &Arc<Service>,
    operator: Operator,
) {
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let response = match read_line(reader, MAX_REQUEST_LINE, buf).await {
            Err(_) | Ok(Line::Eof) => break,
            Ok(Line::TooLong) => error_response(
                0,
                ErrorCode::LineTooLong,
                format!("line longer than {MAX_REQUEST_LINE} bytes; skipped"),
            ),
            Ok(Line::Complete) => match serde_json::from_slice::<ClientFrame>(buf) {
                Ok(ClientFrame::Request {
                    id,
                    call: Request::Subscribe,
                }) => {
                    if forwarder.is_none() {
                        forwarder = Some(tokio::spawn(forward_events(service.subscribe(), outbox.clone())));
                    }
                    ServerFrame::Response {
                        id,
                        outcome: Outcome::Ok(Reply::Done),
                    }
                }
                Ok(ClientFrame::Request {
                    id,
                    call: Request::Backup,
                }) => {
                    in_call(super::backup::stream(service, operator, id, |frame| async move {
                        send(outbox, &frame).await
                    }))
                    .await
                }
                Ok(ClientFrame::Request { id, call }) => ServerFrame::Response {
                    id,
                    outcome: in_call(dispatch(service, operator, call)).await,
                },
                Ok(ClientFrame::Hello { .. }) => {
                    error_response(0, ErrorCode::InvalidRequest, "already greeted".to_owned())
                }
                Err(e) => error_response(
                    request_id(buf),
                    ErrorCode::InvalidRequest,
                    format!("not a valid frame: {e}"),
                ),
            },
        };
        if !send(outbox, &response).await {
            break;
        }
    }
    if let Some(task) = forwarder {
        task.abort();
    }
}

/// Runs one admin call with a new [`RequestId`], in its span.
async fn in_call<F: std::future::Future>(call: F) -> F::Output {
    let id = RequestId::generate();
    let span = tracing::info_span!("admin", id = %id);
    id.scope(call).instrument(span).await
}

fn error_response(id: u64, code: ErrorCode, message: String) -> ServerFrame {
    ServerFrame::Response {
        id,
        outcome: Outcome::Error(AdminError::new(code, message)),
    }
}

/// The id of a request frame that failed to parse as a whole, if it has one.
fn request_id(line: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("request")?.get("id")?.as_u64())
        .unwrap_or(0)
}

async fn forward_events(
    mut events: broadcast::Receiver<tessera_common::admin::AuditEntry>,
    outbox: mpsc::Sender<Vec<u8>>,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if !send(&outbox, &ServerFrame::Event { event }).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "an admin subscriber fell behind");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn write_loop(mut write: tokio::net::unix::OwnedWriteHalf, mut queued: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = queued.recv().await {
        match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&line)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut reader, max, &mut buf).await.unwrap();
            if line == Line::Eof {
                return out;
            }
            out.push((line, buf.clone()));
        }
    }

    #[tokio::test]
    async fn lines_are_capped_and_the_rest_goes_on() {
        let got = lines(b"short\nthis one is far too long\nok\nlast", 8).await;
        assert_eq!(
            got,
            vec![
                (Line::Complete, b"short".to_vec()),
                (Line::TooLong, Vec::new()),
                (Line::Complete, b"ok".to_vec()),
                (Line::Complete, b"last".to_vec()),
            ]
        );
        assert_eq!(
            lines(b"exactly8\n", 8).await,
            vec![(Line::Complete, b"exactly8".to_vec())]
        );
        assert_eq!(lines(b"", 8).await, vec![]);
    }
}
