//! The connection: the URL (read from a file, never logged whole), TLS as its
//! `sslmode` asks, and the pool.

use super::StoreError;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// How long a request waits for a connection, and a connection for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A PostgreSQL URL (`postgres://user:password@host:port/db?sslmode=…`), as read from
/// `[storage.postgres] url_file`. Its `Debug` shows the server, never the password.
#[derive(Clone)]
pub struct PostgresUrl {
    config: tokio_postgres::Config,
    /// `sslrootcert`: trust these CA certificates (PEM) instead of the system's.
    root_cert: Option<PathBuf>,
    server: String,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl PostgresUrl {
    /// Reads the URL from `path` (one line; a trailing newline is fine).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(text.trim())
    }

    /// Parses a URL. `sslmode` is `disable`, `prefer` (the default), `require`,
    /// `verify-ca` or `verify-full`; whenever TLS is used the server's certificate is
    /// verified, against `sslrootcert` if given, else the system's roots.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!("expected a postgres:// URL, found {}://", url.scheme()));
        }
        let mut sslmode = "prefer".to_owned();
        let mut root_cert = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => sslmode = value.into_owned(),
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        let mode = match sslmode.as_str() {
            "disable" | "prefer" | "require" => sslmode.clone(),
            "verify-ca" | "verify-full" => "require".to_owned(),
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("sslmode", &mode);
        let server = format!(
            "{}:{}{}",
            url.host_str().unwrap_or("localhost"),
            url.port().unwrap_or(5432),
            url.path()
        );
        let mut config = tokio_postgres::Config::from_str(url.as_str())
            .map_err(|e| format!("cannot use the PostgreSQL URL: {e}"))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("tesserad");
        }
        Ok(Self {
            config,
            root_cert,
            server,
        })
    }

    /// `host:port/database`, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }
}

/// A pool of up to `size` connections to `url`. Each new connection makes commits
/// synchronous; a request waits at most [`CONNECT_TIMEOUT`] for a connection.
pub(super) fn pool(url: &PostgresUrl, size: usize) -> Result<Pool, StoreError> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(url.root_cert.as_deref())?);
    let manager = Manager::from_config(
        url.config.clone(),
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .post_create(Hook::async_fn(|client, _| {
            Box::pin(async move {
                match client.batch_execute("SET synchronous_commit TO on").await {
                    Ok(()) => Ok(()),
                    // CockroachDB commits through consensus and has no such setting.
                    Err(e) if e.code() == Some(&SqlState::UNDEFINED_OBJECT) => Ok(()),
                    Err(e) => Err(HookError::Backend(e)),
                }
            })
        }))
        .build()
        .map_err(|e| StoreError::Engine(format!("building the connection pool: {e}")))
}

/// rustls with the system's roots, or only those in `root_cert`.
fn tls_config(root_cert: Option<&Path>) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| StoreError::Io {
                context: format!("reading sslrootcert {}", path.display()),
                source: e,
            })?;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| StoreError::Engine(format!("sslrootcert {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| StoreError::Engine(format!("sslrootcert {}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system certificate rustls cannot use is skipped, as other clients do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Engine(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_its_password_out_of_debug_and_reads_with_a_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://tessera:s3cret@db.example:6543/auth\n").unwrap();
        let url = PostgresUrl::read(&file).unwrap();
        assert_eq!(url.server(), "db.example:6543/auth");
        assert!(!format!("{url:?}").contains("s3cret"), "{url:?}");
        assert_eq!(url.config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(url.config.get_dbname(), Some("auth"));
    }

    #[test]
    fn sslmode_chooses_tls_and_verify_modes_still_verify() {
        use tokio_postgres::config::SslMode;
        let mode = |text: &str| PostgresUrl::parse(text).map(|u| u.config.get_ssl_mode());
        assert_eq!(mode("postgres://h/db").unwrap(), SslMode::Prefer);
        assert_eq!(mode("postgres://h/db?sslmode=disable").unwrap(), SslMode::Disable);
        assert_eq!(mode("postgresql://h/db?sslmode=require").unwrap(), SslMode::Require);
        assert_eq!(mode("postgres://h/db?sslmode=verify-full").unwrap(), SslMode::Require);
        assert_eq!(mode("postgres://h/db?sslmode=verify-ca").unwrap(), SslMode::Require);
        assert!(mode("postgres://h/db?sslmode=allow").unwrap_err().contains("sslmode"));
        let with_root = PostgresUrl::parse("postgres://h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem").unwrap();
        assert_eq!(with_root.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
    }

    #[test]
    fn what_is_not_a_postgres_url_is_refused_without_echoing_it() {
        let refused = PostgresUrl::parse("mysql://u:hunter2@h/db").unwrap_err();
        assert!(
            refused.contains("postgres://") && !refused.contains("hunter2"),
            "{refused}"
        );
        let garbage = PostgresUrl::parse("hunter2 not a url").unwrap_err();
        assert!(!garbage.contains("hunter2"), "{garbage}");
        assert!(PostgresUrl::read(Path::new("/nonexistent/url")).is_err());
    }

    #[test]
    fn a_missing_root_certificate_file_is_an_error_not_an_empty_trust_store() {
        assert!(tls_config(Some(Path::new("/nonexistent/ca.pem"))).is_err());
        assert!(tls_config(None).is_ok());
    }
}
