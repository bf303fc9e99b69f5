//! The OAuth 2.0 face (see docs/openapi.yaml): the password,
//! refresh_token and client_credentials grants (dispatched from [`super::grants`]), introspection (RFC 7662), revocation
//! (RFC 7009) and metadata (RFC 8414). Grants reuse the app-facing implementations.

use super::accounts::Login;
use super::audit::AuditEvent;
use super::clients::AuthenticatedClient;
use super::grants::GrantType;
use super::sessions::{LiveRefresh, Refresh, RefreshBy};
use super::{Caller, Issued, Origin, Service, ServiceError, after};
use crate::clock::parse_rfc3339;
use crate::secret::{self, API_TOKEN_PREFIX, REFRESH_PREFIX, Secret};
use crate::tokens::Grant;
use std::sync::Arc;
use tessera_common::claims::AccessClaims;
use tessera_common::oauth::{IdTokenAlg, Introspection, Metadata};
use tessera_common::scopes;

fn unix(text: &str) -> Option<i64> {
    parse_rfc3339(text).map(|t| t.unix_timestamp())
}

impl Service {
    /// The issuer (`iss` of every token).
    pub fn issuer(&self) -> &str {
        self.tokens.issuer()
    }

    /// `grant_type=password` (offered only when `[oauth] password_grant = true`). With
    /// a client, the refresh token is bound to it.
    pub(super) async fn password_grant(
        &self,
        client: Option<AuthenticatedClient>,
        login: Option<String>,
        password: Option<Secret>,
        scope: Option<Vec<String>>,
        origin: Origin,
    ) -> Result<Issued, ServiceError> {
        let input = Login {
            login,
            password,
            scopes: scope,
            client,
        };
        self.login(input, origin).await
    }

    /// `grant_type=refresh_token`: rotation shared with `/api/auth/token/refresh`.
    pub(super) async fn refresh_grant(
        &self,
        client: Option<AuthenticatedClient>,
        token: Option<Secret>,
        scope: Option<Vec<String>>,
        origin: Origin,
    ) -> Result<Issued, ServiceError> {
        let token = token.ok_or_else(|| ServiceError::required("refresh_token"))?;
        let by = RefreshBy::Client { client, scope };
        self.rotate_refresh(Some(token), origin, by).await
    }

    /// `grant_type=client_credentials`: a token for the client itself, with its scopes
    /// narrowed by `scope`.
    pub(super) fn client_credentials_grant(
        &self,
        client: &AuthenticatedClient,
        scope: Option<Vec<String>>,
    ) -> Result<Issued, ServiceError> {
        let granted = match scope.map(scopes::dedup) {
            Some(requested) if !requested.is_empty() => {
                if !scopes::is_subset(&requested, client.scopes()) {
                    return Err(ServiceError::InvalidScope(
                        "the requested scope exceeds the client's".into(),
                    ));
                }
                requested
            }
            _ => client.scopes().to_vec(),
        };
        let now = self.now();
        let exp = after(now, self.config.tokens.access);
        let grant = Grant {
            sub: client.id().to_owned(),
            scopes: granted.clone(),
            client_id: Some(client.id().to_owned()),
            ..Grant::default()
        };
        self.issue(grant, now, exp, None)
    }

    /// What a token is, if it is live (RFC 7662); anything else is `{"active": false}`.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, ServiceError> {
        let found = if token.starts_with(REFRESH_PREFIX) {
            self.introspect_refresh(token).await?
        } else if token.starts_with(API_TOKEN_PREFIX) {
            self.introspect_api_token(token).await?
        } else {
            self.introspect_access(token).await?
        };
        Ok(found.unwrap_or_default())
    }

    async fn introspect_access(&self, token: &str) -> Result<Option<Introspection>, ServiceError> {
        let claims = match self.authenticate(Some(token)).await {
            Ok(Caller::Session { claims, .. } | Caller::Guest { claims } | Caller::Client { claims, .. }) => claims,
            Ok(Caller::ApiToken { .. }) | Err(ServiceError::InvalidToken { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let AccessClaims {
            iss,
            sub,
            iat,
            nbf,
            exp,
            jti,
            scope,
            role,
            sid,
            username,
            client_id,
        } = Arc::unwrap_or_clone(claims);
        Ok(Some(Introspection {
            active: true,
            sub: Some(sub),
            scope: Some(scope),
            username,
            role,
            client_id,
            token_type: Some("Bearer".into()),
            token_use: Some("access_token".into()),
            exp: unix(&exp),
            iat: unix(&iat),
            nbf: unix(&nbf),
            jti: Some(jti),
            sid,
            iss: Some(iss),
        }))
    }

    async fn introspect_api_token(&self, token: &str) -> Result<Option<Introspection>, ServiceError> {
        let Some((record, user)) = self.live_api_token(token).await? else {
            return Ok(None);
        };
        Ok(Some(Introspection {
            active: true,
            sub: Some(record.user_id.to_string()),
            scope: Some(scopes::join(&self.allowed_scopes(&user, &record.scopes))),
            username: Some(user.username),
            role: Some(user.role),
            token_type: Some("Bearer".into()),
            token_use: Some("api_token".into()),
            exp: record.expires_at,
            iat: Some(record.created_at),
            jti: Some(record.id),
            iss: Some(self.issuer().to_owned()),
            ..Introspection::default()
        }))
    }

    async fn introspect_refresh(&self, token: &str) -> Result<Option<Introspection>, ServiceError> {
        let digest = Secret::new(token.to_owned()).digest();
        let now = self.now().unix_timestamp();
        let Refresh::Live(live) = self.live_refresh(&digest, now).await? else {
            return Ok(None);
        };
        let LiveRefresh { record, session, user } = *live;
        Ok(Some(Introspection {
            active: true,
            sub: Some(user.id.to_string()),
            scope: Some(scopes::join(&self.allowed_scopes(&user, &session.scopes))),
            username: Some(user.username),
            role: Some(user.role),
            client_id: record.client_id,
            token_type: Some("Bearer".into()),
            token_use: Some("refresh_token".into()),
            exp: Some(record.expires_at),
            iat: Some(record.issued_at),
            jti: Some(secret::hex(&digest)),
            sid: Some(session.id.to_string()),
            iss: Some(self.issuer().to_owned()),
            ..Introspection::default()
        }))
    }

    /// Revokes any token (RFC 7009): a refresh token ends its whole session, an API
    /// token is deleted, an access token's jti is denied until it expires. Unknown or
    /// malformed tokens are ignored.
    pub async fn revoke_token(&self, token: &str, origin: Origin) -> Result<(), ServiceError> {
        let now = self.now();
        if token.starts_with(REFRESH_PREFIX) {
            if let Some(record) = self
                .store
                .refresh_token(&Secret::new(token.to_owned()).digest())
                .await?
            {
                self.audit(
                    AuditEvent::RevokeSession {
                        session: record.session_id,
                    },
                    Some(origin.to_string()),
                )
                .await;
                self.revoke_session(record.session_id).await?;
            }
        } else if token.starts_with(API_TOKEN_PREFIX) {
            if let Some(record) = self.store.api_token(&Secret::new(token.to_owned()).digest()).await? {
                self.store.delete_api_token(&record.id).await?;
                self.audit(
                    AuditEvent::RevokeApiToken {
                        user: record.user_id,
                        token: record.id.clone(),
                    },
                    Some(origin.to_string()),
                )
                .await;
                self.store.commit().await?;
            }
        } else if let Ok(claims) = self.tokens.verify(token, now)
            && let Some(exp) = unix(&claims.exp)
        {
            self.store.deny(&claims.jti, exp).await?;
            self.audit(
                AuditEvent::RevokeAccessToken {
                    subject: claims.sub.clone(),
                    jti: claims.jti.clone(),
                },
                Some(origin.to_string()),
            )
            .await;
            self.store.commit().await?;
            self.revocations.deny(&claims.jti, exp);
        }
        Ok(())
    }

    /// Authorization-server metadata (RFC 8414), which is also the OpenID Connect
    /// discovery document.
    pub fn metadata(&self) -> Metadata {
        let issuer = self.issuer().to_owned();
        let grants = GrantType::ALL
            .into_iter()
            .filter(|g| self.offers(*g))
            .map(|g| g.name().to_owned())
            .collect();
        let mut all_scopes: Vec<String> = self.config.roles.values().flatten().cloned().collect();
        all_scopes.extend(scopes::IDENTITY.map(String::from));
        all_scopes.sort();
        all_scopes.dedup();
        let strings = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<String>>();
        let methods = vec!["client_secret_basic".to_owned(), "client_secret_post".to_owned()];
        let mut token_methods = methods.clone();
        token_methods.push("none".into());
        Metadata {
            authorization_endpoint: format!("{issuer}/oauth/authorize"),
            token_endpoint: format!("{issuer}/oauth/token"),
            introspection_endpoint: format!("{issuer}/oauth/introspect"),
            revocation_endpoint: format!("{issuer}/oauth/revoke"),
            response_types_supported: vec!["code".into()],
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
            grant_types_supported: grants,
            scopes_supported: all_scopes,
            token_endpoint_auth_methods_supported: token_methods,
            introspection_endpoint_auth_methods_supported: methods.clone(),
            revocation_endpoint_auth_methods_supported: methods,
            paseto_keys_uri: format!("{issuer}/api/auth/keys"),
            userinfo_endpoint: format!("{issuer}/oauth/userinfo"),
            jwks_uri: format!("{issuer}/oauth/jwks"),
            end_session_endpoint: format!("{issuer}/oauth/logout"),
            subject_types_supported: strings(&["public"]),
            id_token_signing_alg_values_supported: IdTokenAlg::ALL.map(|a| a.name().to_owned()).to_vec(),
            response_modes_supported: strings(&["query"]),
            claims_supported: strings(&[
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "sid",
                "preferred_username",
                "name",
                "email",
                "email_verified",
            ]),
            prompt_values_supported: strings(&["none", "login", "consent"]),
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            issuer,
        }
    }
}
