//! A blocking client of the daemon's admin socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use tessera_common::admin::{
    AdminError, ClientFrame, Event, MAX_RESPONSE_LINE, Outcome, PROTOCOL_VERSION, Reply, Request, ServerFrame, encode,
};

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
}

/// A connected, greeted client.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    path: PathBuf,
}

impl Client {
    /// Connects to `path` and does the handshake.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            path: path.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(unreachable)?;
        let writer = stream.try_clone().map_err(unreachable)?;
        let mut client = Self {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            path: path.to_path_buf(),
        };
        let refused = |reason: String| ClientError::Refused {
            path: path.to_path_buf(),
            reason,
        };
        let hello = ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            client: format!("tessera {}", env!("CARGO_PKG_VERSION")),
        };
        client.send(&hello).map_err(|e| refused(e.to_string()))?;
        match client.receive() {
            Ok(Some(ServerFrame::Welcome { .. })) => Ok(client),
            Ok(Some(ServerFrame::Refused { error })) => Err(refused(error.message)),
            Ok(None) => Err(refused(
                "closed without a word: this user may not use the admin socket".into(),
            )),
            Ok(Some(other)) => Err(refused(format!("unexpected answer {other:?}"))),
            Err(e) => Err(refused(e.to_string())),
        }
    }

    /// The socket this client talks to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let line = encode(frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.writer
            .write_all(&line)
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// The next frame, or `None` when the daemon closed the connection.
    fn receive(&mut self) -> Result<Option<ServerFrame>, ClientError> {
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

    /// Sends a request and waits for its answer (events arriving meanwhile are dropped).
    pub fn call(&mut self, call: Request) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&ClientFrame::Request { id, call })?;
        loop {
            match self.receive()? {
                Some(ServerFrame::Response { id: got, outcome }) if got == id => {
                    return match outcome {
                        Outcome::Ok(reply) => Ok(reply),
                        Outcome::Error(error) => Err(ClientError::Daemon(error)),
                    };
                }
                Some(ServerFrame::Response {
                    outcome: Outcome::Error(error),
                    ..
                }) => {
                    return Err(ClientError::Daemon(error));
                }
                Some(ServerFrame::Event { .. }) | Some(ServerFrame::Response { .. }) => {}
                Some(other) => return Err(ClientError::Protocol(format!("unexpected frame {other:?}"))),
                None => return Err(ClientError::Protocol("the daemon closed the connection".into())),
            }
        }
    }

    /// After [`Request::Subscribe`]: the next pushed event, or `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            match self.receive()? {
                Some(ServerFrame::Event { event }) => return Ok(Some(event)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }
}
