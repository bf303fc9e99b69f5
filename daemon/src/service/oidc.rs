//! OpenID Connect on top of the authorization code flow (see README, "Sign in with
//! Tessera (OpenID Connect)"): the ID tokens of the code and refresh grants, and
//! UserInfo. Signing is the token module's; which claims a person's scopes release
//! is decided here, once, for both.

use super::{Caller, Service, ServiceError, after};
use crate::records::{ClientRecord, SessionRecord, UserRecord};
use tessera_common::oauth::{IdClaims, Jwks};
use tessera_common::scopes;

/// How a browser sign-in proved who it was (RFC 8176): a password.
const AMR_PASSWORD: &str = "pwd";

/// The claims `user`'s `granted` scopes release: `sub` always, the name claims with
/// `profile`, the address with `email`.
fn released(user: &UserRecord, granted: &[String]) -> IdClaims {
    let has = |scope: &str| granted.iter().any(|s| s == scope);
    let mut claims = IdClaims {
        sub: user.id.to_string(),
        ..IdClaims::default()
    };
    if has("profile") {
        claims.preferred_username = Some(user.username.clone());
        claims.name = Some(user.display_name.clone());
    }
    if has("email") {
        claims.email = Some(user.email.clone());
        claims.email_verified = Some(user.email_verified);
    }
    claims
}

impl Service {
    /// The ID token for `session` (opened by a browser sign-in for `client`) when
    /// `granted` includes `openid`: valid as long as an access token, never past the
    /// session's end, signed with the client's algorithm.
    pub(super) fn id_token(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        client: &ClientRecord,
        granted: &[String],
        nonce: Option<String>,
    ) -> Result<Option<String>, ServiceError> {
        let Some(login) = session.browser_login else {
            return Ok(None);
        };
        if !granted.iter().any(|s| s == "openid") {
            return Ok(None);
        }
        let now = self.now();
        let exp = after(now, self.config.tokens.access)
            .unix_timestamp()
            .min(session.expires_at);
        let claims = IdClaims {
            aud: client.client_id.clone(),
            exp: Some(exp),
            iat: Some(now.unix_timestamp()),
            auth_time: Some(login.auth_time),
            nonce,
            amr: vec![AMR_PASSWORD.to_owned()],
            sid: Some(login.session.to_string()),
            ..released(user, granted)
        };
        let alg = client.id_token_alg;
        Ok(Some(self.tokens.sign_id_token(alg, claims)?))
    }

    /// The ID token of a refresh: a fresh one, with the same `sub`, `aud`,
    /// `auth_time` and `sid` and no `nonce`, when the session came from a browser
    /// sign-in with `openid` and its client still exists.
    pub(super) async fn refreshed_id_token(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        granted: &[String],
    ) -> Result<Option<String>, ServiceError> {
        let (Some(_), Some(client_id)) = (session.browser_login, session.client_id.as_deref()) else {
            return Ok(None);
        };
        if !granted.iter().any(|s| s == "openid") {
            return Ok(None);
        }
        let Some(client) = self.store.client(client_id).await? else {
            return Ok(None);
        };
        self.id_token(user, session, &client, granted, None)
    }

    /// The ID-token keys, active and retiring (`GET /oauth/jwks`).
    pub fn jwks(&self) -> Jwks {
        self.tokens.jwks()
    }

    /// `GET|POST /oauth/userinfo`: the claims the caller's access token releases.
    /// The token must be a user's session token carrying `openid`.
    pub async fn userinfo(&self, caller: Caller) -> Result<IdClaims, ServiceError> {
        let Caller::Session { user_id, claims, .. } = caller else {
            return Err(ServiceError::InsufficientScope(
                "an access token with the openid scope is required",
            ));
        };
        let granted = scopes::parse(&claims.scope);
        if !granted.iter().any(|s| s == "openid") {
            return Err(ServiceError::InsufficientScope(
                "an access token with the openid scope is required",
            ));
        }
        let user = self
            .store
            .user(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ServiceError::InvalidToken { presented: true })?;
        Ok(released(&user, &granted))
    }
}
