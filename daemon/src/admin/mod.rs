//! The admin socket: a Unix listener for the `tessera` console. Only the daemon's own
//! uid, root and members of `admin.group` get in ([`peer`]); each connection speaks
//! the NDJSON protocol of `tessera_common::admin` ([`conn`]) and every request is a
//! service call ([`dispatch`]), a backup one streamed in chunks ([`backup`]).

mod backup;
mod conn;
mod dispatch;
mod error;
mod peer;

use crate::service::Service;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::sync::{Semaphore, watch};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;

/// A bound admin socket, ready to serve.
#[derive(Debug)]
pub struct AdminSocket {
    listener: UnixListener,
    path: PathBuf,
    access: peer::Access,
}

/// Members of `admin.group` also need to pass through the socket's directory: warn
/// when they cannot (the socket in the 0700 data directory, say), naming the fix.
fn warn_if_unreachable_by_group(path: &Path, gid: u32) {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return;
    };
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let searchable = (meta.gid() == gid && meta.mode() & 0o010 != 0) || meta.mode() & 0o001 != 0;
    if !searchable {
        tracing::warn!(
            socket = %path.display(),
            dir = %dir.display(),
            "admin.group is set, but the group cannot enter the socket's directory; put admin.socket in a directory of that group with mode 0750 (e.g. /run/tessera with RuntimeDirectory and Group=)"
        );
    }
}

/// Gives `path` mode `private`, or, with a group, mode `shared` and that group (set
/// with `lchown`, which does not follow a symbolic link).
fn restrict(path: &Path, private: u32, shared: u32, gid: Option<u32>) -> Result<(), String> {
    let shown = path.display();
    let mode = if gid.is_some() { shared } else { private };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {shown}: {e}"))?;
    if let Some(gid) = gid {
        std::os::unix::fs::lchown(path, None, Some(gid))
            .map_err(|e| format!("cannot give {shown} to group {gid}: {e}"))?;
    }
    Ok(())
}

impl AdminSocket {
    /// Binds `path`: a stale socket file left by a crash is replaced; one a live
    /// process answers on is an error, as is any other kind of file. The socket gets
    /// mode 0600, or 0660 and the group when `group` is set.
    pub fn bind(path: &Path, group: Option<&str>) -> Result<Self, String> {
        let access = peer::Access::new(group)?;
        let shown = path.display();
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(format!(
                        "admin socket {shown} is in use by another process (another tesserad?)"
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)
                        .map_err(|e| format!("cannot replace stale admin socket {shown}: {e}"))?;
                    tracing::info!(path = %shown, "replaced a stale admin socket");
                }
                Err(e) => return Err(format!("cannot check admin socket {shown}: {e}")),
            },
            Ok(_) => return Err(format!("{shown} exists and is not a socket; refusing to replace it")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot inspect {shown}: {e}")),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
            // A directory made here is ours to shape: private, or 0750 and the group's so
            // that its members can reach the socket (they still cannot write in it).
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            restrict(parent, 0o700, 0o750, access.gid())?;
        }
        let listener = UnixListener::bind(path).map_err(|e| format!("cannot bind admin socket {shown}: {e}"))?;
        // chmod follows symbolic links: make sure the path is still our socket (its
        // directory is private, so only this user could have swapped it), and change
        // the group with lchown, which does not follow them.
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {}
            _ => return Err(format!("{shown} changed while it was being set up; refusing it")),
        }
        restrict(path, 0o600, 0o660, access.gid())?;
        if let Some(gid) = access.gid() {
            warn_if_unreachable_by_group(path, gid);
        }
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            access,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves connections until `stopping` turns true, then removes the socket file.
    pub async fn serve(self, service: Arc<Service>, mut stopping: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let access = Arc::new(self.access);
        let mut backoff = crate::backoff::AcceptBackoff::default();
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff.reset();
                    stream
                }
                Err(e) => {
                    backoff.failed("admin socket", &e).await;
                    continue;
                }
            };
            let (service, access) = (Arc::clone(&service), Arc::clone(&access));
            tokio::spawn(async move {
                conn::handle(stream, service, &access).await;
                drop(permit);
            });
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(error = %e, "could not remove the admin socket");
        }
    }
}
