//! TLS on the listener (`server.tls_cert_file`, `server.tls_key_file`): rustls with the
//! ring provider, HTTP/1.1 only. The files are read at start and again on SIGHUP; a
//! reload that fails keeps the certificate in use. Connections already open keep the
//! certificate they were made with; new ones get the new one.

use crate::config::TlsFiles;
use crate::locks::{read, write};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

/// Why the certificate or key could not be used; the message starts with the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct TlsError {
    /// The configuration key of the file at fault.
    key: &'static str,
    /// What is wrong.
    problem: String,
}

/// The listener's TLS state: the files, and the acceptor made from them.
pub struct Tls {
    files: TlsFiles,
    acceptor: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the certificate chain and key.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            acceptor: RwLock::new(acceptor(files)?),
            files: files.clone(),
        })
    }

    /// Reads the files again (SIGHUP). On failure the previous certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = acceptor(&self.files)?;
        *write(&self.acceptor) = fresh;
        Ok(())
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        read(&self.acceptor).clone()
    }
}

fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let cert_problem = |problem: String| TlsError {
        key: "server.tls_cert_file",
        problem,
    };
    let key_problem = |problem: String| TlsError {
        key: "server.tls_key_file",
        problem,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cert_problem(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(cert_problem(format!(
            "{}: no PEM certificate in it",
            files.cert.display()
        )));
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_problem(format!("{}: {e}", files.key.display())))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_problem(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| key_problem(format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
