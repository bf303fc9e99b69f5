//! OAuth clients: registration by the operator, and authentication. The secret
//! (`tsr_cs_` + 256 random bits) is shown once and stored only as its SHA-256 digest;
//! authentication compares digests in constant time and yields an
//! [`AuthenticatedClient`], the only thing a grant accepts as a client. A client that
//! authenticated is remembered with its secret's digest, so the next request with the
//! same credentials skips the store; removing the client forgets it.

use super::audit::AuditEvent;
use super::{Operator, Service, ServiceError, redirect};
use crate::clock::rfc3339_unix;
use crate::locks::{read, write};
use crate::secret::{self, CLIENT_SECRET_PREFIX, Secret};
use crate::store::{ClientRecord, StoreError};
use std::collections::HashMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;
use tessera_common::admin::{ClientCreated, ClientView};
use tessera_common::oauth::IdTokenAlg;

/// A client id and secret as presented (HTTP Basic or body).
#[derive(Debug)]
pub struct ClientCredentials {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: Secret,
}

/// A client whose secret has been checked. Only [`Service::authenticate_client`]
/// makes one, so no grant can be made for a client that did not prove itself.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    id: String,
    scopes: Vec<String>,
    created_at: i64,
    public: bool,
}

impl AuthenticatedClient {
    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scopes the client may be granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// When this client was registered (a client re-added under the same id is a new
    /// one, younger than anything bound to the old).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// A public client: identified by its id alone, limited to the authorization
    /// code and refresh grants.
    pub fn is_public(&self) -> bool {
        self.public
    }
}

/// Clients whose credentials were checked: client id → the SHA-256 of its secret and
/// the client. Only correct secrets enter, so it holds at most one entry per client.
#[derive(Debug, Default)]
pub(super) struct CheckedClients(RwLock<HashMap<String, ([u8; 32], AuthenticatedClient)>>);

impl CheckedClients {
    fn get(&self, id: &str, digest: &[u8; 32]) -> Option<AuthenticatedClient> {
        let checked = read(&self.0);
        let (known, client) = checked.get(id)?;
        bool::from(known.ct_eq(digest)).then(|| client.clone())
    }

    fn insert(&self, digest: [u8; 32], client: &AuthenticatedClient) {
        write(&self.0).insert(client.id.clone(), (digest, client.clone()));
    }

    pub(super) fn forget(&self, id: &str) {
        write(&self.0).remove(id);
    }
}

/// The longest a replaced client secret stays accepted.
pub const MAX_SECRET_GRACE: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// Stands in for a missing client's digest, so unknown ids cost the same comparison.
const NO_DIGEST: [u8; 64] = [b'0'; 64];

fn view(client: &ClientRecord) -> ClientView {
    ClientView {
        client_id: client.client_id.clone(),
        scopes: client.scopes.clone(),
        created_at: rfc3339_unix(client.created_at),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        public: client.public,
        first_party: client.first_party,
        id_token_signed_response_alg: client.id_token_alg,
    }
}

/// Input of `client add`.
#[derive(Debug, Default)]
pub struct NewClient {
    /// Client id: 1-64 of `[A-Za-z0-9._-]`.
    pub client_id: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// Where the authorization code flow may send people back.
    pub redirect_uris: Vec<String>,
    /// Where `/oauth/logout` may send people back.
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret (single-page and native apps).
    pub public: bool,
    /// Skips the consent page.
    pub first_party: bool,
    /// How its ID tokens are signed.
    pub id_token_alg: IdTokenAlg,
}

/// Each URI registrable (see [`redirect::check`]), duplicates dropped in order.
fn redirect_uris(field: &'static str, uris: Vec<String>) -> Result<Vec<String>, ServiceError> {
    let mut kept: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        redirect::check(&uri).map_err(|e| ServiceError::invalid(field, e))?;
        if !kept.contains(&uri) {
            kept.push(uri);
        }
    }
    Ok(kept)
}

impl Service {
    /// Checks a client's credentials: the secret's SHA-256 against the stored digest
    /// (and a retiring secret's, until its end), in constant time. Credentials that
    /// passed against the current secret before are found in memory.
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<AuthenticatedClient, ServiceError> {
        let digest = credentials.secret.digest();
        if let Some(client) = self.checked_clients.get(&credentials.id, &digest) {
            return Ok(client);
        }
        let record = self.store.client(&credentials.id).await?;
        let presented = secret::hex(&digest);
        let expected = record.as_ref().map_or(&NO_DIGEST[..], |r| r.secret_digest.as_bytes());
        let now = self.now().unix_timestamp();
        let retiring = record
            .as_ref()
            .and_then(|r| r.retiring_secret.as_ref())
            .filter(|r| now < r.until)
            .map_or(&NO_DIGEST[..], |r| r.digest.as_bytes());
        let current: bool = presented.as_bytes().ct_eq(expected).into();
        let retired: bool = presented.as_bytes().ct_eq(retiring).into();
        let client = match record {
            // A retiring secret is checked against the store every time, so it stops
            // working at its end whatever this daemon remembers.
            Some(record) if retired && !current && !record.public => {
                return Ok(AuthenticatedClient {
                    id: record.client_id,
                    scopes: record.scopes,
                    created_at: record.created_at,
                    public: false,
                });
            }
            Some(record) if current && !record.public => AuthenticatedClient {
                id: record.client_id,
                scopes: record.scopes,
                created_at: record.created_at,
                public: false,
            },
            _ => return Err(ServiceError::InvalidClient),
        };
        self.checked_clients.insert(digest, &client);
        // A removal that landed after the read above forgot the client before this
        // insert: look again, so a removed client is never remembered.
        if self
            .store
            .client(&credentials.id)
            .await?
            .is_none_or(|r| r.secret_digest != presented)
        {
            self.checked_clients.forget(&credentials.id);
            return Err(ServiceError::InvalidClient);
        }
        Ok(client)
    }

    /// A public client named by its id alone (`token_endpoint_auth_method` `none`);
    /// `invalid_client` for an unknown id or a client that has a secret.
    pub async fn identify_public_client(&self, id: &str) -> Result<AuthenticatedClient, ServiceError> {
        match self.store.client(id).await? {
            Some(record) if record.public => Ok(AuthenticatedClient {
                id: record.client_id,
                scopes: record.scopes,
                created_at: record.created_at,
                public: true,
            }),
            _ => Err(ServiceError::InvalidClient),
        }
    }

    /// Registers a client with `scopes`, each of which some configured role has, and
    /// its redirect URIs and flags. A public client gets no secret and needs a
    /// redirect URI (the authorization code flow is all it can use).
    pub async fn add_client(&self, operator: Operator, new: NewClient) -> Result<ClientCreated, ServiceError> {
        let client_id = new.client_id.as_str();
        let valid_id = (1..=64).contains(&client_id.len())
            && client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_id {
            return Err(ServiceError::invalid(
                "clientId",
                "client ids are 1-64 of A-Z a-z 0-9 . _ -",
            ));
        }
        let scopes = tessera_common::scopes::dedup(new.scopes);
        let redirects = redirect_uris("redirectUris", new.redirect_uris)?;
        let after_logout = redirect_uris("postLogoutRedirectUris", new.post_logout_redirect_uris)?;
        if new.public && redirects.is_empty() {
            return Err(ServiceError::invalid(
                "redirectUris",
                "a public client can only use the authorization code flow: give it a redirect URI",
            ));
        }
        if let Some(unknown) = scopes
            .iter()
            .find(|s| !tessera_common::scopes::is_identity(s) && !self.config.roles.values().any(|r| r.contains(s)))
        {
            return Err(ServiceError::invalid(
                "scopes",
                format!("{unknown:?} is not a scope of any configured role, nor an OpenID Connect scope"),
            ));
        }
        let secret = if new.public {
            None
        } else {
            Some(secret::generate(CLIENT_SECRET_PREFIX)?)
        };
        let record = ClientRecord {
            client_id: client_id.to_owned(),
            secret_digest: secret.as_ref().map(|s| secret::hex(&s.digest())).unwrap_or_default(),
            scopes,
            created_at: self.client_birth(client_id).await?,
            redirect_uris: redirects,
            post_logout_redirect_uris: after_logout,
            public: new.public,
            first_party: new.first_party,
            retiring_secret: None,
            id_token_alg: new.id_token_alg,
        };
        self.store.create_client(&record).await.map_err(|e| match e {
            StoreError::Taken(_) => ServiceError::Conflict(format!("client {client_id:?} already exists")),
            other => other.into(),
        })?;
        self.admin_audit(
            operator,
            AuditEvent::ClientAdd {
                client: client_id.to_owned(),
                scopes: record.scopes.clone(),
            },
        )
        .await;
        self.store.commit().await?;
        Ok(ClientCreated {
            client_id: record.client_id,
            client_secret: secret.map(|s| s.expose().to_owned()),
            scopes: record.scopes,
        })
    }

    /// The creation time of a new client: now, but strictly after the removal of any
    /// earlier client with the same id. Tokens are told apart from a removed client's
    /// by `iat` (one-second resolution), so an id removed in this very second waits
    /// for the next one (at most a second; only when re-adding a removed id).
    async fn client_birth(&self, client_id: &str) -> Result<i64, ServiceError> {
        let Some(removed) = self.store.client_removed_at(client_id).await? else {
            return Ok(self.now().unix_timestamp());
        };
        for _ in 0..60 {
            if self.now().unix_timestamp() > removed {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        // Should the clock not move (stepped back), the client starts in the future:
        // its first tokens are refused until then, never an old client's.
        Ok(self.now().unix_timestamp().max(removed + 1))
    }

    /// Every registered client.
    pub async fn list_clients(&self) -> Result<Vec<ClientView>, ServiceError> {
        Ok(self.store.clients().await?.iter().map(view).collect())
    }

    /// Gives a confidential client a new secret, shown this once. The old one stops
    /// working at once, or after `grace` (at most [`MAX_SECRET_GRACE`]) so that the
    /// client's deployments can switch.
    pub async fn rotate_client_secret(
        &self,
        operator: Operator,
        client_id: &str,
        grace: std::time::Duration,
    ) -> Result<ClientCreated, ServiceError> {
        if grace > MAX_SECRET_GRACE {
            return Err(ServiceError::invalid("grace", "at most 30 days"));
        }
        let record = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no client {client_id:?}")))?;
        if record.public {
            return Err(ServiceError::invalid("clientId", "a public client has no secret"));
        }
        let secret = secret::generate(CLIENT_SECRET_PREFIX)?;
        let until = (!grace.is_zero()).then(|| self.now().unix_timestamp() + super::seconds(grace));
        if !self
            .store
            .replace_client_secret(client_id, &secret::hex(&secret.digest()), until)
            .await?
        {
            return Err(ServiceError::NotFound(format!("no client {client_id:?}")));
        }
        self.checked_clients.forget(client_id);
        self.admin_audit(
            operator,
            AuditEvent::ClientRotateSecret {
                client: client_id.to_owned(),
                grace_seconds: grace.as_secs(),
            },
        )
        .await;
        self.store.commit().await?;
        Ok(ClientCreated {
            client_id: record.client_id,
            client_secret: Some(secret.expose().to_owned()),
            scopes: record.scopes,
        })
    }

    /// Removes a client, ends the sessions its tokens belong to and withdraws every
    /// consent to it.
    pub async fn remove_client(&self, operator: Operator, client_id: &str) -> Result<(), ServiceError> {
        let now = self.now().unix_timestamp();
        if !self.store.remove_client(client_id, now).await? {
            return Err(ServiceError::NotFound(format!("no client {client_id:?}")));
        }
        self.checked_clients.forget(client_id);
        // Its tokens are refused from here on whatever follows (they name a client that
        // no longer exists); what follows clears its sessions and consents from the
        // listings, and a crash before the end leaves only that undone.
        let mut revoked = Vec::new();
        for id in self.store.open_sessions_of_client(client_id, now).await? {
            revoked.extend(self.store.revoke_session(id, now).await?);
        }
        self.store.remove_grants_to(client_id).await?;
        self.admin_audit(
            operator,
            AuditEvent::ClientRemove {
                client: client_id.to_owned(),
            },
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        Ok(())
    }
}
