//! The admin-socket client. [`Connection::open`] connects and does the handshake,
//! then a reader thread owns the socket's read half and hands every frame (answers
//! and pushed events alike) to a sink, so nothing is lost while a request waits.
//! [`Client`] is the blocking request/answer form the subcommands use; the
//! full-screen console feeds the sink into its event channel.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tessera_common::admin::{
    AdminError, ClientFrame, Event, MAX_RESPONSE_LINE, Outcome, PROTOCOL_VERSION, Reply, Request, ServerFrame, encode,
};

/// How long the daemon has to answer the hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Client::call`] waits for an answer (a user add hashes a password).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached (exit 3).
    #[error("cannot reach the daemon at {path}: {source}")]
    Unreachable {
        /// Socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The daemon turned the connection away at the handshake (exit 3).
    #[error("the daemon at {path} refused the connection: {reason}")]
    Refused {
        /// Socket path.
        path: PathBuf,
        /// Why, as the daemon said or as seen (closed without a word: not allowed).
        reason: String,
    },
    /// The daemon refused or failed the operation (exit 1).
    #[error("{0}")]
    Daemon(AdminError),
    /// The conversation broke after the handshake (exit 1).
    #[error("admin protocol: {0}")]
    Protocol(String),
    /// The daemon did not answer in time (exit 3).
    #[error("the daemon did not answer within {0:?}")]
    Silent(Duration),
}

/// A frame from the daemon, as the reader thread hands it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// The answer to request `id`.
    Response {
        /// The request's id (0 when the daemon could not read the request).
        id: u64,
        /// Success or failure.
        outcome: Outcome,
    },
    /// A pushed audit event (after [`Request::Subscribe`]).
    Event(Event),
    /// A piece of the backup file requested by request `id` (base64).
    Chunk {
        /// The [`Request::Backup`]'s id.
        id: u64,
        /// The bytes, standard base64.
        data: String,
    },
    /// The connection ended; the reader thread has stopped.
    Closed(String),
}

/// Reads frames, one per line, with the protocol's length cap.
struct FrameReader {
    reader: BufReader<UnixStream>,
}

impl FrameReader {
    /// The next frame, or `None` when the daemon closed the connection.
    fn next(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_RESPONSE_LINE).unwrap_or(u64::MAX);
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if read == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") && read as u64 >= limit {
            return Err(ClientError::Protocol("answer longer than the protocol allows".into()));
        }
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| ClientError::Protocol(format!("bad frame: {e}")))
    }

    /// Hands every frame to `sink` until the connection ends or `sink` says stop.
    fn forward(mut self, mut sink: impl FnMut(Incoming) -> bool) {
        loop {
            let incoming = match self.next() {
                Ok(Some(ServerFrame::Response { id, outcome })) => Incoming::Response { id, outcome },
                Ok(Some(ServerFrame::Event { event })) => Incoming::Event(event),
                Ok(Some(ServerFrame::Chunk { id, data })) => Incoming::Chunk { id, data },
                Ok(Some(other)) => Incoming::Closed(format!("unexpected frame {other:?}")),
                Ok(None) => Incoming::Closed("the daemon closed the connection".into()),
                Err(e) => Incoming::Closed(e.to_string()),
            };
            let last = matches!(incoming, Incoming::Closed(_));
            if !sink(incoming) || last {
                return;
            }
        }
    }
}

/// A greeted connection: requests go out here, frames come back through the sink.
#[derive(Debug)]
pub struct Connection {
    writer: UnixStream,
    daemon: String,
}

impl Connection {
    /// Connects to `path`, does the handshake, and starts the reader thread, which
    /// hands each frame to `sink` until the connection ends (a last
    /// [`Incoming::Closed`]) or `sink` returns false.
    pub fn open(path: &Path, sink: impl FnMut(Incoming) -> bool + Send + 'static) -> Result<Self, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            path: path.to_path_buf(),
            source,
        };
        let refused = |reason: String| ClientError::Refused {
            path: path.to_path_buf(),
            reason,
        };
        let stream = UnixStream::connect(path).map_err(unreachable)?;
        let mut writer = stream.try_clone().map_err(unreachable)?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).map_err(unreachable)?;
        let mut reader = FrameReader {
            reader: BufReader::new(stream),
        };
        let hello = ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            client: format!("tessera {}", env!("CARGO_PKG_VERSION")),
        };
        write_frame(&mut writer, &hello).map_err(|e| refused(e.to_string()))?;
        let daemon = match reader.next() {
            Ok(Some(ServerFrame::Welcome { daemon, .. })) => daemon,
            Ok(Some(ServerFrame::Refused { error })) => return Err(refused(error.message)),
            Ok(None) => {
                return Err(refused(
                    "closed without a word: this user may not use the admin socket".into(),
                ));
            }
            Ok(Some(other)) => return Err(refused(format!("unexpected answer {other:?}"))),
            Err(e) => return Err(refused(e.to_string())),
        };
        reader.reader.get_ref().set_read_timeout(None).map_err(unreachable)?;
        std::thread::Builder::new()
            .name("tessera-socket-reader".into())
            .spawn(move || reader.forward(sink))
            .map_err(unreachable)?;
        Ok(Self { writer, daemon })
    }

    /// The daemon's version, from its welcome.
    pub fn daemon_version(&self) -> &str {
        &self.daemon
    }

    /// Sends request `id`; its answer arrives through the sink.
    pub fn send(&mut self, id: u64, call: Request) -> Result<(), ClientError> {
        write_frame(&mut self.writer, &ClientFrame::Request { id, call })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Ends the reader thread too.
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

fn write_frame(writer: &mut UnixStream, frame: &ClientFrame) -> Result<(), ClientError> {
    let line = encode(frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
    writer
        .write_all(&line)
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// A blocking client: one request at a time; events that arrive meanwhile are kept
/// for [`Client::next_event`].
#[derive(Debug)]
pub struct Client {
    connection: Connection,
    incoming: mpsc::Receiver<Incoming>,
    events: VecDeque<Event>,
    next_id: u64,
    timeout: Duration,
}

impl Client {
    /// Connects to `path` and does the handshake.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let (tx, incoming) = mpsc::channel();
        let connection = Connection::open(path, move |frame| tx.send(frame).is_ok())?;
        Ok(Self {
            connection,
            incoming,
            events: VecDeque::new(),
            next_id: 1,
            timeout: CALL_TIMEOUT,
        })
    }

    fn receive(&self) -> Incoming {
        self.incoming
            .recv()
            .unwrap_or_else(|_| Incoming::Closed("the connection's reader stopped".into()))
    }

    /// Sends a request and waits for its answer.
    pub fn call(&mut self, call: Request) -> Result<Reply, ClientError> {
        self.call_with_chunks(call, |_| Ok(()))
    }

    /// Sends a request and waits for its answer, handing each chunk frame that comes
    /// for it to `chunk` in order (a [`Request::Backup`]); the wait for the answer
    /// starts again at every chunk.
    pub fn call_with_chunks(
        &mut self,
        call: Request,
        mut chunk: impl FnMut(&str) -> Result<(), ClientError>,
    ) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.connection.send(id, call)?;
        let mut deadline = std::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let incoming = match self.incoming.recv_timeout(left) {
                Ok(incoming) => incoming,
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(ClientError::Silent(self.timeout)),
                Err(mpsc::RecvTimeoutError::Disconnected) => Incoming::Closed("the connection's reader stopped".into()),
            };
            match incoming {
                Incoming::Chunk { id: got, data } if got == id => {
                    chunk(&data)?;
                    deadline = std::time::Instant::now() + self.timeout;
                }
                Incoming::Chunk { .. } => {}
                Incoming::Response { id: got, outcome } if got == id || got == 0 => {
                    return match outcome {
                        Outcome::Ok(reply) => Ok(reply),
                        Outcome::Error(error) => Err(ClientError::Daemon(error)),
                    };
                }
                Incoming::Response { .. } => {}
                Incoming::Event(event) => self.events.push_back(event),
                Incoming::Closed(reason) => return Err(ClientError::Protocol(reason)),
            }
        }
    }

    /// After [`Request::Subscribe`]: the next pushed event, or `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        loop {
            match self.receive() {
                Incoming::Event(event) => return Ok(Some(event)),
                Incoming::Response { .. } | Incoming::Chunk { .. } => {}
                Incoming::Closed(_) => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer;
    use tessera_common::admin::AuditEntry;

    fn entry(seq: u64) -> Event {
        AuditEntry {
            seq,
            at: "2026-11-27T10:00:00Z".into(),
            event: "login.success".into(),
            subject: None,
            username: None,
            origin: None,
            detail: None,
            request_id: None,
        }
    }

    #[test]
    fn events_that_arrive_while_a_request_waits_are_kept() {
        let done = |id| ServerFrame::Response {
            id,
            outcome: Outcome::Ok(Reply::Done),
        };
        let event = |seq| ServerFrame::Event { event: entry(seq) };
        let (_dir, path) = peer(vec![
            vec![done(1)],
            // The event is pushed before the answer to request 2.
            vec![
                event(7),
                ServerFrame::Response {
                    id: 2,
                    outcome: Outcome::Ok(Reply::Audit(vec![])),
                },
                event(8),
            ],
        ]);
        let mut client = Client::connect(&path).unwrap();
        assert_eq!(client.call(Request::Subscribe).unwrap(), Reply::Done);
        assert_eq!(
            client
                .call(Request::Audit {
                    limit: None,
                    page: None
                })
                .unwrap(),
            Reply::Audit(vec![])
        );
        assert_eq!(client.next_event().unwrap().map(|e| e.seq), Some(7));
        assert_eq!(client.next_event().unwrap().map(|e| e.seq), Some(8));
        assert_eq!(client.next_event().unwrap(), None, "the peer hung up");
    }

    #[test]
    fn a_silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let welcome = ServerFrame::Welcome {
                version: PROTOCOL_VERSION,
                daemon: "test".into(),
            };
            stream.write_all(&encode(&welcome).unwrap()).unwrap();
            // Holds the connection open and never answers.
            std::thread::sleep(Duration::from_secs(5));
        });
        let mut client = Client::connect(&path).unwrap();
        client.timeout = Duration::from_millis(200);
        assert!(matches!(client.call(Request::Status), Err(ClientError::Silent(_))));
    }

    #[test]
    fn a_daemon_that_hangs_up_fails_the_call() {
        let (_dir, path) = peer(vec![vec![]]);
        let mut client = Client::connect(&path).unwrap();
        assert!(matches!(client.call(Request::Status), Err(ClientError::Protocol(_))));
    }
}
