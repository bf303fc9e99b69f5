//! Persistent API tokens (`tsr_at_`): made by a user with a session token, usable as a
//! Bearer, inactive while the owner is disabled, deleted with the owner. Last use is
//! kept in memory and written back by the periodic sweep, so using a token costs no
//! disk write (see docs/decisions.md: `lastUsedAt` may lag by up to 60 s).

use super::audit::AuditEvent;
use super::counters::{Counter, TokenKind};
use super::own_account::own_session;
use super::{Caller, Operator, Service, ServiceError, pages};
use crate::clock::rfc3339_unix;
use crate::secret::{self, API_TOKEN_PREFIX, Secret};
use crate::store::{ApiTokenRecord, UserRecord};
use std::collections::HashMap;
use std::sync::Mutex;
use tessera_common::admin::{AdminApiToken, Page};
use tessera_common::api::{ApiTokenCreated, ApiTokenView};
use tessera_common::scopes;
use uuid::Uuid;

/// API tokens one user may hold.
pub const MAX_API_TOKENS_PER_USER: usize = 50;

/// Shortest and longest `expiresIn`, in seconds.
const EXPIRES_IN: std::ops::RangeInclusive<i64> = 60..=3650 * 86_400;

/// `POST /api/auth/api-tokens` input.
#[derive(Debug)]
pub struct NewApiToken {
    /// Label, 1-64 characters.
    pub name: Option<String>,
    /// Scopes; default all of the creating token's.
    pub scopes: Option<Vec<String>>,
    /// Lifetime in seconds; absent means no expiry.
    pub expires_in: Option<i64>,
}

/// Last-use times not yet written back: token id → Unix seconds.
#[derive(Debug, Default)]
pub struct LastUsed(Mutex<HashMap<String, i64>>);

impl LastUsed {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        crate::locks::lock(&self.0)
    }
}

impl Service {
    fn view(&self, token: &ApiTokenRecord) -> ApiTokenView {
        let pending = self.last_used.lock().get(&token.id).copied();
        ApiTokenView {
            id: token.id.clone(),
            name: token.name.clone(),
            scopes: token.scopes.clone(),
            created_at: rfc3339_unix(token.created_at),
            expires_at: token.expires_at.map(rfc3339_unix),
            last_used_at: token.last_used_at.max(pending).map(rfc3339_unix),
        }
    }

    /// Creates an API token for the caller's user.
    pub async fn create_api_token(&self, caller: &Caller, input: NewApiToken) -> Result<ApiTokenCreated, ServiceError> {
        let (user_id, _, claims) = own_session(caller)?;
        let name = input.name.ok_or_else(|| ServiceError::required("name"))?;
        let length = name.chars().count();
        if !(1..=64).contains(&length) || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "name",
                "name must be 1-64 characters without control characters",
            ));
        }
        let own = scopes::parse(&claims.scope);
        let granted = match input.scopes.map(scopes::dedup) {
            None => own,
            Some(requested) if requested.is_empty() => own,
            Some(requested) if scopes::is_subset(&requested, &own) => requested,
            Some(_) => {
                return Err(ServiceError::InvalidScope(
                    "requested scopes exceed the session token's".into(),
                ));
            }
        };
        let now = self.now().unix_timestamp();
        // Two creations at the same moment may both pass; the cap bounds growth, it is
        // not an exact quota.
        if self.store.api_tokens_of(user_id).await?.len() >= MAX_API_TOKENS_PER_USER {
            return Err(ServiceError::invalid(
                "name",
                format!("a user may hold at most {MAX_API_TOKENS_PER_USER} API tokens; delete one first"),
            ));
        }
        let expires_at = match input.expires_in {
            None => None,
            Some(secs) if EXPIRES_IN.contains(&secs) => Some(now + secs),
            Some(_) => {
                return Err(ServiceError::invalid(
                    "expiresIn",
                    "expiresIn must be between 60 seconds and 3650 days",
                ));
            }
        };
        let secret = secret::generate(API_TOKEN_PREFIX)?;
        let record = ApiTokenRecord {
            id: Uuid::new_v4().to_string(),
            user_id,
            name,
            scopes: granted,
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        self.store.create_api_token(&record, &secret.digest()).await?;
        self.audit(
            AuditEvent::ApiTokenCreate {
                user: user_id,
                token: record.id.clone(),
            },
            None,
        )
        .await;
        self.store.commit().await?;
        self.counters.bump(Counter::Issued(TokenKind::Api));
        Ok(ApiTokenCreated {
            id: record.id,
            name: record.name,
            token: secret.expose().to_owned(),
            scopes: record.scopes,
            created_at: rfc3339_unix(record.created_at),
            expires_at: record.expires_at.map(rfc3339_unix),
        })
    }

    /// The caller's API tokens.
    pub async fn list_api_tokens(&self, caller: &Caller) -> Result<Vec<ApiTokenView>, ServiceError> {
        let (user_id, _, _) = own_session(caller)?;
        let mut tokens = self.store.api_tokens_of(user_id).await?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens.iter().map(|t| self.view(t)).collect())
    }

    /// Deletes one of the caller's API tokens (`NOT_FOUND` if it is not theirs).
    pub async fn delete_api_token(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let (user_id, _, _) = own_session(caller)?;
        let not_found = || ServiceError::NotFound(format!("no API token {id:?}"));
        let token = self
            .store
            .api_token_by_id(id)
            .await?
            .filter(|t| t.user_id == user_id)
            .ok_or_else(not_found)?;
        self.store.delete_api_token(&token.id).await?;
        self.audit(
            AuditEvent::ApiTokenDelete {
                user: user_id,
                token: id.to_owned(),
            },
            None,
        )
        .await;
        self.store.commit().await?;
        Ok(())
    }

    /// Checks an API token: known, unexpired, owner neither disabled nor deleted.
    pub(super) async fn authenticate_api_token(&self, token: &str) -> Result<Caller, ServiceError> {
        let (record, owner) = self
            .live_api_token(token)
            .await?
            .ok_or(ServiceError::InvalidToken { presented: true })?;
        Ok(Caller::ApiToken {
            scopes: self.allowed_scopes(&owner, &record.scopes),
            token_id: record.id,
            user_id: record.user_id,
        })
    }

    /// The API token `token` and its owner, when the token is unexpired and its owner
    /// neither disabled nor deleted; notes its use.
    pub(super) async fn live_api_token(
        &self,
        token: &str,
    ) -> Result<Option<(ApiTokenRecord, UserRecord)>, ServiceError> {
        let Some(record) = self.store.api_token(&Secret::new(token.to_owned()).digest()).await? else {
            return Ok(None);
        };
        let now = self.now().unix_timestamp();
        if record.expires_at.is_some_and(|exp| now >= exp) || self.revocations.is_barred(record.user_id) {
            return Ok(None);
        }
        // The store too: a disable is stored before the revocation view bars the user.
        let Some(owner) = self.store.user(record.user_id).await?.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        self.last_used.lock().insert(record.id.clone(), now);
        Ok(Some((record, owner)))
    }

    /// Writes pending last-use times back to the store.
    pub(super) async fn write_back_last_used(&self) {
        let pending: Vec<(String, i64)> = self.last_used.lock().drain().collect();
        if !pending.is_empty()
            && let Err(e) = self.store.touch_api_tokens(&pending).await
        {
            tracing::warn!(error = %e, "could not record API token use");
        }
    }

    /// Every API token, or one user's, for the console.
    pub async fn admin_list_api_tokens(&self, name: Option<&str>) -> Result<Vec<AdminApiToken>, ServiceError> {
        let tokens = match name {
            Some(name) => self.store.api_tokens_of(self.find_user(name).await?.id).await?,
            None => {
                pages::fits_one_answer(self.store.api_token_count().await?, "API tokens")?;
                self.store.api_tokens().await?
            }
        };
        let mut out = self.admin_tokens(&tokens).await?;
        out.sort_by(|a, b| (&a.username, &a.token.created_at).cmp(&(&b.username, &b.token.created_at)));
        Ok(out)
    }

    /// One page of API tokens in id order (see
    /// [`tessera_common::admin::Request::TokenList`]): of the user `name`, of the users
    /// whose username starts with `search`, or of everyone; and the cursor of the next
    /// page when a token follows.
    pub async fn admin_token_page(
        &self,
        name: Option<&str>,
        search: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<AdminApiToken>, Option<String>), ServiceError> {
        let limit = pages::limit(page)?;
        let users = self.owners(name, search).await?;
        let read = self
            .store
            .api_tokens_page(page.after.as_deref(), users.as_deref(), limit + 1)
            .await?;
        let (tokens, next) = pages::split(read, limit, |t| t.id.clone());
        Ok((self.admin_tokens(&tokens).await?, next))
    }

    /// The console's view of `tokens`, with their owners' usernames.
    async fn admin_tokens(&self, tokens: &[ApiTokenRecord]) -> Result<Vec<AdminApiToken>, ServiceError> {
        let names = self.usernames(tokens.iter().map(|t| t.user_id).collect()).await?;
        Ok(tokens
            .iter()
            .map(|token| AdminApiToken {
                token: self.view(token),
                user_id: token.user_id.to_string(),
                username: names.get(&token.user_id).cloned().unwrap_or_default(),
            })
            .collect())
    }

    /// Deletes any API token, for the console.
    pub async fn admin_revoke_api_token(&self, operator: Operator, id: &str) -> Result<(), ServiceError> {
        let token = self
            .store
            .delete_api_token(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no API token {id:?}")))?;
        self.admin_audit(
            operator,
            AuditEvent::AdminApiTokenRevoke {
                user: token.user_id,
                token: id.to_owned(),
            },
        )
        .await;
        self.store.commit().await?;
        Ok(())
    }
}
