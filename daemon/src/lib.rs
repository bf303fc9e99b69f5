//! `tesserad`, the Tessera token daemon, as a library: the binary and tests call
//! [`start`] with a [`Config`] and a shutdown future.
//!
//! Layout:
//! - [`config`]: the TOML file and overrides, validated into [`Config`].
//! - [`clock`]: the one reader of the system time.
//! - [`store`]: everything persistent, behind one interface: sled in the data
//!   directory (durable group commits), or a PostgreSQL database shared by N daemons.
//! - [`tokens`]: PASETO v4.public signing and verification, and the signing keys.
//! - [`secret`]: secrets kept out of logs; the opaque ones the daemon generates.
//! - [`auth`]: Argon2id password hashing and login throttling.
//! - [`mail`]: the messages of the email flows, their transports and retries.
//! - [`service`]: the business operations and the revocation view.
//! - [`http`]: warp routes that translate requests to service calls, and the
//!   HTTP/1.1 server with its connection limits, TLS and CORS.
//! - [`admin`]: the Unix admin socket for the `tessera` console.
//! - [`backup`]: `tesserad backup` and `restore` for a stopped daemon's store.
//! - [`migrate`]: `tesserad migrate`, from the embedded store to PostgreSQL.
//! - `backoff`: the pause after accept errors, shared by both listeners.

pub mod admin;
pub mod auth;
mod backoff;
pub mod backup;
pub mod clock;
pub mod config;
pub mod http;
mod locks;
pub mod mail;
pub mod migrate;
pub mod records;
pub mod request_id;
pub mod secret;
pub mod service;
pub mod store;
pub mod tokens;

pub use config::Config;

use service::{Service, ServiceError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long in-flight requests may run after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often expired throttle counters and sessions are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Expired records are deleted from the store at start and every this many sweeps.
const PURGE_EVERY_SWEEPS: u64 = 60;

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store could not be opened (damaged, newer, locked, unreadable).
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// Loading keys or the live view failed.
    #[error("{0}")]
    Service(#[from] ServiceError),
    /// The admin socket could not be set up.
    #[error("{0}")]
    Admin(String),
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The listener's certificate or key cannot be used.
    #[error("{0}")]
    Tls(#[from] http::tls::TlsError),
    /// The server task failed.
    #[error("server task: {0}")]
    Task(String),
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    local_addr: SocketAddr,
    service: Arc<Service>,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

impl Daemon {
    /// The bound HTTP address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A check of whether the store still accepts writes (for the systemd watchdog).
    pub fn health_probe(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let service = Arc::clone(&self.service);
        move || service.is_healthy()
    }

    /// Waits until the daemon has shut down and flushed its store.
    pub async fn wait(self) -> Result<(), DaemonError> {
        self.task.await.map_err(|e| DaemonError::Task(e.to_string()))?
    }
}

/// The HTTP connection limits, with `server.max_connections` lowered where the
/// open-file limit could not hold it beside everything else the daemon keeps open
/// (said once at start, with the way out).
fn connection_limits(config: &Config) -> config::ConnectionLimits {
    let open_files = http::server::raise_open_file_limit();
    let pool = match &config.storage {
        config::Storage::Postgres(postgres) => postgres.pool_size as u64,
        config::Storage::Embedded { .. } => 0,
    };
    let listeners = 1 + usize::from(config.metrics.listen.is_some());
    let configured = config.connections.max_connections;
    let fitted = http::server::fit_connections(configured, open_files, http::server::RESERVED_FILES + pool, listeners);
    if fitted < configured {
        tracing::warn!(
            configured,
            lowered_to = fitted,
            open_file_limit = open_files,
            "server.max_connections lowered to what the open-file limit can hold beside the store and the admin socket; raise the limit (LimitNOFILE= under systemd, ulimit -n) to serve more"
        );
    }
    config::ConnectionLimits {
        max_connections: fitted,
        ..config.connections
    }
}

/// Opens the store, binds the HTTP listener and serves until `shutdown` completes;
/// then stops accepting, lets in-flight requests finish (bounded), and flushes.
/// Everything is ready to answer when this returns.
pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<Daemon, DaemonError> {
    let config = Arc::new(config);
    let tls = config.tls.as_ref().map(http::tls::Tls::load).transpose()?.map(Arc::new);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| DaemonError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| DaemonError::Bind {
        addr: config.listen,
        source,
    })?;
    let issuer = config.issuer(local_addr);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let store = open_store(&config).await?;
    let service = Arc::new(Service::open(Arc::clone(&config), store, Arc::new(clock::SystemClock), issuer).await?);

    let admin =
        admin::AdminSocket::bind(&config.admin_socket, config.admin_group.as_deref()).map_err(DaemonError::Admin)?;
    let connections = connection_limits(&config);
    let admin_path = admin.path().display().to_string();

    let (stopping_tx, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    });
    // Nothing is counted for metrics nobody can read.
    let served = config.metrics.listen.is_some() || config.metrics.on_main_listener;
    let http_metrics = served.then(|| Arc::new(http::metrics::HttpMetrics::default()));
    let scrape = |exposure| {
        http_metrics
            .as_ref()
            .map(|m| http::metrics::routes(Arc::new(http::metrics::registry(m, Arc::clone(&service), exposure))))
    };
    if let (Some(addr), Some(scrape)) = (config.metrics.listen, scrape(http::metrics::Exposure::Operator)) {
        let metrics_listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Bind { addr, source })?;
        let bound = metrics_listener
            .local_addr()
            .map_err(|source| DaemonError::Bind { addr, source })?;
        let serving = http::server::Serving {
            routes: scrape,
            limits: connections,
            cors: None,
            tls: None,
        };
        tokio::spawn(http::server::run(metrics_listener, serving, stopping.clone()));
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let serving = http::server::Serving {
        routes: http::routes(
            Arc::clone(&service),
            http_metrics.clone(),
            config
                .metrics
                .on_main_listener
                .then(|| scrape(http::metrics::Exposure::Public))
                .flatten(),
        ),
        limits: connections,
        cors: http::cors::Cors::new(&config.cors_allowed_origins).map(Arc::new),
        tls: tls.clone(),
    };
    let server = http::server::run(listener, serving, stopping.clone());
    tokio::spawn(sweep(Arc::clone(&service), stopping.clone()));
    let following = Arc::clone(&service);
    let follow_stop = stopping.clone();
    tokio::spawn(async move { following.follow_changes(follow_stop).await });
    tokio::spawn(Arc::clone(&service).run_mail());
    // Installed before the daemon says it listens: a SIGHUP from then on never kills it.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangups) => drop(tokio::spawn(reload_on_hangup(hangups, tls, stopping.clone()))),
        Err(e) => tracing::warn!(error = %e, "cannot watch SIGHUP; the TLS certificate will not be reloaded"),
    }
    tokio::spawn(admin.serve(Arc::clone(&service), stopping.clone()));
    let task = tokio::spawn(serve(server, Arc::clone(&service), stopping));
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    tracing::info!(data_dir = %config.data_dir.display(), "tesserad listening on {scheme}://{local_addr}, admin socket {admin_path}");
    Ok(Daemon {
        local_addr,
        service,
        task,
    })
}

/// How long start-up waits for an unreachable database before giving up.
const DATABASE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the configured store: sled in the data directory, or PostgreSQL.
async fn open_store(config: &Config) -> Result<store::Store, DaemonError> {
    match &config.storage {
        config::Storage::Embedded { cache_mib } => Ok(store::Store::open_embedded(
            &config.data_dir,
            u64::from(*cache_mib) << 20,
        )?),
        config::Storage::Postgres(postgres) => {
            let url = store::PostgresUrl::read(&postgres.url_file)
                .map_err(|e| DaemonError::Store(store::StoreError::Unavailable(e)))?;
            let store = store::Store::open_postgres(&url, postgres.pool_size, DATABASE_PATIENCE).await?;
            tracing::info!(server = %url.server(), "storing in PostgreSQL");
            Ok(store)
        }
    }
}

async fn serve(
    server: impl Future<Output = ()>,
    service: Arc<Service>,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let deadline = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = server => {}
        () = deadline => tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    service.flush().await?;
    tracing::info!("store flushed; stopped");
    Ok(())
}

/// Reads the TLS certificate and key again on every SIGHUP (`systemctl reload`);
/// without TLS a SIGHUP changes nothing (and does not stop the daemon).
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    tls: Option<Arc<http::tls::Tls>>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => match tls.as_ref().map(|tls| tls.reload()) {
                None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                Some(Ok(())) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Some(Err(e)) => tracing::warn!(error = %e, "SIGHUP: kept the TLS certificate in use"),
            },
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}

async fn sweep(service: Arc<Service>, mut stopping: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    for tick in 0u64.. {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        service.sweep().await;
        if tick % PURGE_EVERY_SWEEPS == 0 {
            service.purge_expired().await;
        }
    }
}
