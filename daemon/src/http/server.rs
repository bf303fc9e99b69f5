//! The HTTP server: accepts TCP connections under a cap and serves HTTP/1.1 on each
//! (over TLS when configured, see [`super::tls`]) with a header-read timeout, an idle
//! keep-alive timeout and a per-connection request limit (`[server]` in the
//! configuration), adding the CORS headers of [`super::cors`]. Each request runs in a
//! span with its [`RequestId`], which the answer carries in `X-Request-Id`. Accept errors back off
//! instead of spinning; a client that hangs up is not a server error.

use super::cors::Cors;
use super::tls::Tls;
use crate::backoff::AcceptBackoff;
use crate::config::ConnectionLimits;
use crate::request_id::RequestId;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower_service::Service as _;
use tracing::Instrument;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

/// The header that carries a request's id, in and out.
const REQUEST_ID: &str = "x-request-id";

/// The peer's address, put in each request's extensions for the routes.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// How often a connection checks its idle time and request count.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// What every connection is served with.
#[derive(Clone)]
pub struct Serving {
    /// The routes.
    pub routes: BoxedFilter<(Response,)>,
    /// Connection limits.
    pub limits: ConnectionLimits,
    /// CORS, when origins are configured.
    pub cors: Option<Arc<Cors>>,
    /// TLS, when a certificate is configured.
    pub tls: Option<Arc<Tls>>,
}

/// Open files kept out of the HTTP connections' share: the store's files, the
/// listeners, the admin socket and its 64 connections, logs, mail, the runtime's own.
pub const RESERVED_FILES: u64 = 128;

/// The process's open-file limit, after raising the soft limit to the hard one (the
/// soft limit is often far below what the process may have); `None` when unlimited or
/// unknown.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    (limit != nix::sys::resource::RLIM_INFINITY).then_some(limit)
}

/// The connections each of `listeners` HTTP listeners may hold at once: the configured
/// cap, lowered so that together they leave `reserved` of `open_files` for the rest.
/// Past the open-file limit a connection would be refused at `accept`, and so would
/// the admin socket's and the store's next file.
pub fn fit_connections(configured: usize, open_files: Option<u64>, reserved: u64, listeners: usize) -> usize {
    let Some(open_files) = open_files else {
        return configured;
    };
    let share = open_files.saturating_sub(reserved) / listeners.max(1) as u64;
    configured.min(usize::try_from(share).unwrap_or(usize::MAX)).max(1)
}

/// Serves on `listener` until `stopping` turns true; then stops accepting and asks
/// every connection to finish its request in flight and close.
pub async fn run(listener: TcpListener, serving: Serving, mut stopping: watch::Receiver<bool>) {
    let limits = serving.limits;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    loop {
        // Over the cap, new connections wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                let (serving, closed) = (serving.clone(), closed.clone());
                connections.spawn(async move {
                    match serving.tls.as_ref().map(|tls| tls.acceptor()) {
                        None => serve_connection(stream, peer, serving, closed).await,
                        // The handshake gets the time a client has for its headers.
                        Some(acceptor) => {
                            match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_connection(stream, peer, serving, closed).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                    }
                    drop(slot);
                });
            }
            Err(e) => backoff.failed("HTTP", &e).await,
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection<S>(stream: S, peer: SocketAddr, serving: Serving, mut closed: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Serving {
        routes, limits, cors, ..
    } = serving;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // Milliseconds since `started` at the last request's end.
    let last_done = Arc::new(AtomicU64::new(0));
    let service = {
        let (in_flight, last_done) = (Arc::clone(&in_flight), Arc::clone(&last_done));
        let max_requests = limits.max_requests;
        let served = AtomicU64::new(0);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            // The last request a connection may carry is answered with `Connection:
            // close`: hyper then closes after the answer, and the client knows not to
            // send another on it (closing between requests races the client's next one).
            let last = served.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests;
            in_flight.fetch_add(1, Ordering::Relaxed);
            let asked = cors.as_ref().map(|cors| (Arc::clone(cors), cors.ask(&request)));
            let id = RequestId::accept(request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()));
            let span = tracing::info_span!("request", id = %id);
            let answer = id
                .clone()
                .scope(warp::service(routes.clone()).call(request))
                .instrument(span);
            let (in_flight, last_done) = (Arc::clone(&in_flight), Arc::clone(&last_done));
            async move {
                let mut response = answer.await;
                if let Ok(response) = response.as_mut()
                    && let Ok(value) = HeaderValue::from_str(id.as_str())
                {
                    response.headers_mut().insert(REQUEST_ID, value);
                }
                if let (Some((cors, asked)), Ok(response)) = (asked, response.as_mut()) {
                    cors.answer(asked, response);
                }
                if last && let Ok(response) = response.as_mut() {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                last_done.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                in_flight.fetch_sub(1, Ordering::Relaxed);
                response
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    let mut check = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            done = connection.as_mut() => {
                if let Err(e) = done {
                    // Hang-ups, timeouts and bad requests: the peer's doing.
                    tracing::debug!(%peer, error = %e, "HTTP connection ended");
                }
                return;
            }
            _ = closed.wait_for(|c| *c), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = check.tick(), if !closing => {
                let idle_ms = (started.elapsed().as_millis() as u64).saturating_sub(last_done.load(Ordering::Relaxed));
                let idle = in_flight.load(Ordering::Relaxed) == 0
                    && Duration::from_millis(idle_ms) >= limits.idle_timeout;
                if idle {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_for_the_rest_of_the_daemon() {
        assert_eq!(
            fit_connections(512, None, RESERVED_FILES, 1),
            512,
            "no limit: as configured"
        );
        assert_eq!(fit_connections(512, Some(8192), RESERVED_FILES, 1), 512);
        assert_eq!(fit_connections(512, Some(256), RESERVED_FILES, 1), 128);
        assert_eq!(
            fit_connections(512, Some(256), RESERVED_FILES, 2),
            64,
            "two listeners share it"
        );
        assert_eq!(
            fit_connections(512, Some(256), RESERVED_FILES + 16, 1),
            112,
            "a pool's connections too"
        );
        assert_eq!(fit_connections(512, Some(64), RESERVED_FILES, 1), 1, "never none");
    }
}
