//! The authorization code flow with PKCE (see README, "Sign in with Tessera"): validating an authorization
//! request, consent, codes, and the `authorization_code` grant. The sign-in pages'
//! steps are [`super::signin`]'s; the pages themselves are the HTTP layer's.
//!
//! A request is checked in two stages. Until the client and the redirect URI are
//! established, a problem is shown on an error page ([`AuthProblem::Page`]); after
//! that it goes back to the client as a redirect with `error`, `state` and `iss`
//! ([`AuthProblem::Redirect`]).

use super::audit::AuditEvent;
use super::clients::AuthenticatedClient;
use super::{Issued, Origin, Service, ServiceError, after, redirect};
use crate::records::BrowserLogin;
use crate::secret::{self, Secret};
use crate::store::{ClientRecord, CodeRecord, CodeUse, GrantRecord, SessionRecord, UserRecord};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tessera_common::scopes;
use uuid::Uuid;

/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "tsr_ac_";
/// Prefix of browser-session cookie secrets.
pub const BROWSER_PREFIX: &str = "tsr_bs_";

/// The parameters of an authorization request, as sent (query or form).
#[derive(Debug, Clone, Default)]
pub struct AuthParams {
    /// `response_type`.
    pub response_type: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// `state`, echoed.
    pub state: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `nonce` (OpenID Connect), echoed in the ID token.
    pub nonce: Option<String>,
    /// `prompt`: `none`, `login`, `consent`, `select_account`.
    pub prompt: Option<String>,
    /// `max_age`: seconds since the last login beyond which the person logs in again.
    pub max_age: Option<String>,
    /// `login_hint`: pre-fills the name field.
    pub login_hint: Option<String>,
    /// `id_token_hint`: an ID token this server issued.
    pub id_token_hint: Option<String>,
    /// `request` (not supported).
    pub request: Option<String>,
    /// `request_uri` (not supported).
    pub request_uri: Option<String>,
}

impl AuthParams {
    /// Reads each parameter with `get` (given its name; `None` when not sent).
    pub fn read<E>(mut get: impl FnMut(&'static str) -> Result<Option<String>, E>) -> Result<Self, E> {
        Ok(Self {
            response_type: get("response_type")?,
            client_id: get("client_id")?,
            redirect_uri: get("redirect_uri")?,
            scope: get("scope")?,
            state: get("state")?,
            code_challenge: get("code_challenge")?,
            code_challenge_method: get("code_challenge_method")?,
            nonce: get("nonce")?,
            prompt: get("prompt")?,
            max_age: get("max_age")?,
            login_hint: get("login_hint")?,
            id_token_hint: get("id_token_hint")?,
            request: get("request")?,
            request_uri: get("request_uri")?,
        })
    }

    /// The parameters sent, by name: what the login and consent forms carry on.
    pub fn sent(&self) -> Vec<(&'static str, String)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("login_hint", &self.login_hint),
            ("id_token_hint", &self.id_token_hint),
            ("request", &self.request),
            ("request_uri", &self.request_uri),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
    }
}

/// Longest `nonce` accepted.
const MAX_NONCE_LEN: usize = 512;

/// What `prompt` asks for (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: show no page; answer `login_required` or `consent_required` instead.
    pub none: bool,
    /// `login` (or `select_account`): ask for the password even with a browser session.
    pub login: bool,
    /// `consent`: show the consent page even when consent was given.
    pub consent: bool,
}

impl Prompt {
    /// Parses `prompt`; `None` for an unknown value or a combination other than
    /// `login consent`.
    fn parse(text: &str) -> Option<Self> {
        let mut prompt = Prompt::default();
        let mut values = 0;
        for value in text.split_ascii_whitespace() {
            values += 1;
            match value {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => return None,
            }
        }
        let alone = values <= 1;
        (alone || (values == 2 && prompt.login && prompt.consent)).then_some(prompt)
    }
}

/// A valid authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The client.
    pub client: ClientRecord,
    /// Where to send the person back.
    pub redirect_uri: String,
    /// The redirect URI as sent, if it was (the token request must repeat it).
    pub redirect_sent: Option<String>,
    /// The scopes asked for (all of the client's when none were).
    pub scopes: Vec<String>,
    /// `state`, echoed.
    pub state: Option<String>,
    /// The PKCE S256 challenge.
    pub challenge: String,
    /// `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// The `sub` of the `id_token_hint`, when one was sent.
    pub hinted_user: Option<String>,
}

/// Why an authorization request cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthProblem {
    /// The client or redirect URI is not established: an error page (400).
    Page(String),
    /// Back to the client: a redirect to this URI (`error`, `state` and `iss` in it).
    Redirect(String),
}

impl AuthRequest {
    /// The URI that sends the person back with `params` plus `state` and `iss`.
    pub fn back(&self, issuer: &str, params: &[(&str, &str)]) -> String {
        let mut all = params.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", issuer));
        redirect::with_query(&self.redirect_uri, &all)
    }
}

/// `BASE64URL(SHA256(verifier))`, for PKCE S256.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43-128 of `A-Z a-z 0-9 - . _ ~`.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl Service {
    /// Checks an authorization request (see README, "Sign in with Tessera").
    pub(super) async fn authorization_request(&self, p: &AuthParams) -> Result<AuthRequest, AuthProblem> {
        let page = |why: &str| AuthProblem::Page(why.to_owned());
        let client_id = p
            .client_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| page("The request names no client (client_id)."))?;
        let client = match self.store.client(client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Err(page("The request names a client this server does not know.")),
            Err(e) => {
                tracing::error!(error = %e, "reading a client for an authorization request");
                return Err(page("The server could not read the client; try again later."));
            }
        };
        if client.redirect_uris.is_empty() {
            return Err(page(
                "This client has no redirect URI registered: it cannot sign people in here.",
            ));
        }
        let redirect_uri = match p.redirect_uri.as_deref().filter(|r| !r.is_empty()) {
            Some(sent) if client.redirect_uris.iter().any(|r| redirect::matches(r, sent)) => sent.to_owned(),
            Some(_) => return Err(page("The redirect URI is not one registered for this client.")),
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Err(page(
                    "This client has several redirect URIs: the request must name one.",
                ));
            }
        };
        let mut request = AuthRequest {
            redirect_sent: p.redirect_uri.clone().filter(|r| !r.is_empty()),
            redirect_uri,
            scopes: Vec::new(),
            state: p.state.clone().filter(|s| !s.is_empty()),
            challenge: String::new(),
            nonce: None,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: p.login_hint.clone().filter(|h| !h.is_empty()),
            hinted_user: None,
            client,
        };
        let issuer = self.issuer().to_owned();
        let back = |request: &AuthRequest, error: &str, description: &str| {
            AuthProblem::Redirect(request.back(&issuer, &[("error", error), ("error_description", description)]))
        };
        if p.request.is_some() {
            return Err(back(
                &request,
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if p.request_uri.is_some() {
            return Err(back(
                &request,
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        match p.response_type.as_deref() {
            Some("code") => {}
            None | Some("") => return Err(back(&request, "invalid_request", "response_type is required")),
            Some(_) => {
                return Err(back(
                    &request,
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
        }
        let challenge = p.code_challenge.as_deref().unwrap_or_default();
        if challenge.is_empty() {
            return Err(back(&request, "invalid_request", "code_challenge is required (PKCE)"));
        }
        if p.code_challenge_method.as_deref() != Some("S256") {
            return Err(back(&request, "invalid_request", "code_challenge_method must be S256"));
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(back(
                &request,
                "invalid_request",
                "code_challenge is not a base64url SHA-256",
            ));
        }
        let requested = scopes::parse(p.scope.as_deref().unwrap_or_default());
        let scopes = if requested.is_empty() {
            request.client.scopes.clone()
        } else if scopes::is_subset(&requested, &request.client.scopes) {
            requested
        } else {
            return Err(back(
                &request,
                "invalid_scope",
                "the requested scope exceeds the client's",
            ));
        };
        request.scopes = scopes;
        request.challenge = challenge.to_owned();
        if let Some(nonce) = p.nonce.as_deref().filter(|n| !n.is_empty()) {
            if nonce.len() > MAX_NONCE_LEN {
                return Err(back(&request, "invalid_request", "nonce is longer than 512 characters"));
            }
            request.nonce = Some(nonce.to_owned());
        }
        if let Some(prompt) = p.prompt.as_deref().filter(|p| !p.is_empty()) {
            request.prompt = Prompt::parse(prompt).ok_or_else(|| {
                back(
                    &request,
                    "invalid_request",
                    "prompt is none, login, consent, select_account, or login consent",
                )
            })?;
        }
        if let Some(max_age) = p.max_age.as_deref().filter(|m| !m.is_empty()) {
            let seconds = max_age
                .parse::<u32>()
                .map_err(|_| back(&request, "invalid_request", "max_age is a number of seconds"))?;
            request.max_age = Some(i64::from(seconds));
        }
        if let Some(hint) = p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            let claims = self.tokens.read_id_token(hint).ok_or_else(|| {
                back(
                    &request,
                    "invalid_request",
                    "id_token_hint is not an ID token this server issued",
                )
            })?;
            request.hinted_user = Some(claims.sub);
        }
        Ok(request)
    }

    /// The scopes a code for `user` would carry: the request's, narrowed silently to
    /// the user's role (the identity scopes need none).
    pub(super) fn granted_scopes(&self, request: &AuthRequest, user: &UserRecord) -> Vec<String> {
        self.allowed_scopes(user, &request.scopes)
    }

    /// Whether the consent page must be shown: not for a first-party client, nor when
    /// the user already granted these scopes to the client (unless `prompt=consent`).
    pub(super) async fn needs_consent(&self, request: &AuthRequest, user: &UserRecord) -> Result<bool, ServiceError> {
        if request.client.first_party {
            return Ok(false);
        }
        if request.prompt.consent {
            return Ok(true);
        }
        let granted = self.granted_scopes(request, user);
        Ok(!self
            .current_grant(request, user)
            .await?
            .is_some_and(|g| scopes::is_subset(&granted, &g.scopes)))
    }

    /// The user's consent to the client as it exists now: one given to an earlier
    /// client under the same id (removed, then added again, maybe by someone else and
    /// with other redirect URIs) does not count.
    async fn current_grant(
        &self,
        request: &AuthRequest,
        user: &UserRecord,
    ) -> Result<Option<GrantRecord>, ServiceError> {
        Ok(self
            .store
            .grant(user.id, &request.client.client_id)
            .await?
            .filter(|g| g.granted_at >= request.client.created_at))
    }

    /// Records the user's answer at the consent page; on Allow, the grant.
    pub(super) async fn answer_consent(
        &self,
        request: &AuthRequest,
        user: &UserRecord,
        allow: bool,
        origin: Origin,
    ) -> Result<(), ServiceError> {
        let client = request.client.client_id.clone();
        if allow {
            let mut scopes = self.granted_scopes(request, user);
            if let Some(earlier) = self.current_grant(request, user).await? {
                scopes = tessera_common::scopes::dedup([earlier.scopes, scopes].concat());
            }
            let grant = GrantRecord {
                scopes: scopes.clone(),
                granted_at: self.now().unix_timestamp(),
            };
            self.store.put_grant(user.id, &client, &grant).await?;
            self.audit(
                AuditEvent::ConsentGranted {
                    user: user.id,
                    client,
                    scopes,
                },
                Some(origin.to_string()),
            )
            .await;
        } else {
            self.audit(
                AuditEvent::ConsentDenied { user: user.id, client },
                Some(origin.to_string()),
            )
            .await;
        }
        self.store.commit().await?;
        Ok(())
    }

    /// Issues a code for `user`, signed in through `browser`; returns the URI that
    /// sends the person back with it.
    pub(super) async fn issue_code(
        &self,
        request: &AuthRequest,
        user: &UserRecord,
        browser: &SessionRecord,
        origin: Origin,
    ) -> Result<String, ServiceError> {
        let code = secret::generate(CODE_PREFIX)?;
        let now = self.now();
        let record = CodeRecord {
            client_id: request.client.client_id.clone(),
            redirect_uri: request.redirect_sent.clone(),
            scopes: self.granted_scopes(request, user),
            user_id: user.id,
            browser_session: browser.id,
            challenge: request.challenge.clone(),
            expires_at: after(now, self.config.code_ttl).unix_timestamp(),
            used_at: None,
            session_id: None,
            nonce: request.nonce.clone(),
            auth_time: browser.created_at,
        };
        self.store.create_code(&code.digest(), &record).await?;
        self.audit(
            AuditEvent::CodeIssued {
                user: user.id,
                client: record.client_id.clone(),
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        Ok(request.back(self.issuer(), &[("code", code.expose())]))
    }

    /// `grant_type=authorization_code`: exchanges a code for tokens, checking the
    /// client, the redirect URI and the PKCE verifier. A code presented again revokes
    /// the session its first exchange opened.
    pub(super) async fn code_grant(
        &self,
        client: Option<AuthenticatedClient>,
        code: Option<Secret>,
        redirect_uri: Option<String>,
        verifier: Option<String>,
        origin: Origin,
    ) -> Result<Issued, ServiceError> {
        let client = client.ok_or(ServiceError::InvalidClient)?;
        let registered = self
            .store
            .client(client.id())
            .await?
            .ok_or(ServiceError::InvalidClient)?;
        if registered.redirect_uris.is_empty() {
            return Err(ServiceError::UnauthorizedClient(
                "this client has no redirect URI: it cannot use the authorization code grant".into(),
            ));
        }
        let code = code.ok_or_else(|| ServiceError::required("code"))?;
        let verifier = verifier.ok_or_else(|| ServiceError::required("code_verifier"))?;
        let invalid = |why: &str| ServiceError::InvalidGrant(why.to_owned());
        if !code.expose().starts_with(CODE_PREFIX) {
            return Err(invalid("the code is invalid, used or expired"));
        }
        let now = self.now();
        let session_id = Uuid::now_v7();
        let record = match self
            .store
            .use_code(&code.digest(), now.unix_timestamp(), session_id)
            .await?
        {
            CodeUse::Fresh(record) => record,
            CodeUse::Reused(record) => {
                tracing::warn!(client = %record.client_id, addr = %origin.addr, "authorization code reuse; revoking its tokens");
                self.audit(
                    AuditEvent::CodeReuse {
                        user: record.user_id,
                        client: record.client_id.clone(),
                    },
                    Some(origin.to_string()),
                )
                .await;
                // Commits the audit entry with the revocation.
                match record.session_id {
                    Some(issued) => {
                        self.revoke_session(issued).await?;
                    }
                    None => self.store.commit().await?,
                }
                return Err(invalid("the code is invalid, used or expired"));
            }
            CodeUse::Unknown => return Err(invalid("the code is invalid, used or expired")),
        };
        if record.client_id != client.id() {
            return Err(invalid("the code was issued to another client"));
        }
        if record.expires_at <= now.unix_timestamp() {
            return Err(invalid("the code is invalid, used or expired"));
        }
        if record.redirect_uri.is_some() && record.redirect_uri != redirect_uri {
            return Err(invalid("redirect_uri differs from the authorization request's"));
        }
        let verified =
            is_verifier(&verifier) && bool::from(s256(&verifier).as_bytes().ct_eq(record.challenge.as_bytes()));
        if !verified {
            return Err(invalid("code_verifier does not match the code_challenge"));
        }
        let browser_live = self
            .store
            .session(record.browser_session)
            .await?
            .is_some_and(|s| s.is_live(now.unix_timestamp()));
        let user = self.store.user(record.user_id).await?.filter(|u| !u.disabled);
        let (Some(user), true) = (user, browser_live) else {
            return Err(invalid("the sign-in behind this code has ended"));
        };
        let login = BrowserLogin {
            session: record.browser_session,
            auth_time: record.auth_time,
        };
        let (mut issued, session) = self
            .open_session_as(
                session_id,
                &user,
                record.scopes.clone(),
                Some(record.client_id.clone()),
                Some(login),
            )
            .await?
            .ok_or_else(|| invalid("the account changed"))?;
        issued.id_token = self.id_token(&user, &session, &registered, &issued.scopes, record.nonce)?;
        self.store.commit().await?;
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_and_verifier_form() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!is_verifier("short"));
        assert!(!is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&format!("{}!", "a".repeat(43))));
    }
}
