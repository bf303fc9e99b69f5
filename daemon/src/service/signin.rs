//! The sign-in pages' flow, step by step (see README, "Sign in with Tessera"): the
//! transport hands over what the browser sent (the request's parameters, its session
//! cookie, a form's fields) and gets back what to do next ([`SignIn`]): show the login
//! or consent page with these fields, send the browser there, or show an error page.
//! Cookies, forms and their CSRF tokens stay the transport's; every decision is here.

use super::accounts::CheckedPassword;
use super::audit::{AuditEvent, LoginAt};
use super::authorize::{AuthParams, AuthProblem, AuthRequest, BROWSER_PREFIX};
use super::{Origin, Service, ServiceError, after, redirect};
use crate::records::{SessionKind, SessionRecord, UserRecord};
use crate::secret::{self, Secret};
use crate::store::SessionStart;
use std::time::Duration;
use uuid::Uuid;

/// How recent a sign-in must be for the consent form of a `prompt=login` request: the
/// consent page follows the login at once, so a form posted with an older browser
/// session is one that skipped the login.
const FRESH_LOGIN_SECONDS: i64 = 600;

/// What the sign-in page does next.
#[derive(Debug)]
pub enum SignIn {
    /// The request cannot go on and nothing may be sent back to the client (its
    /// client or redirect URI is not established): an error page (400) saying this.
    Problem(String),
    /// Send the browser to this URI: back to the client with a code or an error.
    Redirect(String),
    /// The login form, with a notice when an attempt failed.
    Login {
        /// Who asks and where the answer goes.
        page: PageFor,
        /// Why the form is shown again.
        notice: Option<Notice>,
    },
    /// The second step: a code (TOTP or recovery) for the waiting login `token`.
    SecondFactor {
        /// Who asks and where the answer goes.
        page: PageFor,
        /// The waiting login's `tsr_mf_` token, carried by the form.
        token: Secret,
        /// Why the form is shown again.
        notice: Option<Notice>,
    },
    /// The consent page: may the client have these scopes of this person's?
    Consent {
        /// Who asks and where the answer goes.
        page: PageFor,
        /// The signed-in person's username.
        username: String,
        /// The scopes the client would get.
        scopes: Vec<String>,
    },
}

/// The client a page speaks of, and the origin its forms may lead back to.
#[derive(Debug)]
pub struct PageFor {
    /// The client's id.
    pub client_id: String,
    /// The origin of the redirect URI (the pages' `form-action` may name it).
    pub redirect_origin: Option<String>,
    /// What the login form's name field starts with (`login_hint`).
    pub login_hint: Option<String>,
}

/// Why the login form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The form came without a username or a password.
    MissingCredentials,
    /// Wrong username or password (or a disabled account: the same words).
    WrongCredentials,
    /// The address must be confirmed before signing in.
    EmailNotVerified,
    /// The login throttle refuses attempts for this long.
    TooManyAttempts(Duration),
    /// The password hashing queue is full.
    Busy,
    /// The second factor's code was wrong.
    WrongCode,
    /// The login waiting for its second factor expired or was used up: start again.
    StartAgain,
}

/// What a right password at the login page leads to.
enum PageLogin {
    /// A browser session (its cookie, its record) for this user.
    Done(Box<(Opened, SessionRecord, UserRecord)>),
    /// The second step, for the waiting login of this token.
    SecondFactor(Secret),
}

/// A browser session a login opened: the transport sets its cookie.
#[derive(Debug)]
pub struct Opened {
    /// The cookie's secret.
    pub cookie: Secret,
    /// Its lifetime in seconds.
    pub ttl: i64,
}

impl Service {
    /// `GET /oauth/authorize`: the login page, the consent page, or the code, for the
    /// browser with session cookie `cookie`.
    pub async fn sign_in(&self, p: &AuthParams, cookie: Option<&str>, origin: Origin) -> Result<SignIn, ServiceError> {
        let request = match self.authorization_request(p).await {
            Ok(request) => request,
            Err(problem) => return Ok(problem.into()),
        };
        let signed_in = self.browser_session(cookie).await?;
        if request.prompt.none {
            return self.without_pages(&request, signed_in, origin).await;
        }
        match signed_in {
            Some((session, user)) if !request.prompt.login && !self.too_old(&request, &session) => {
                self.next_step(&request, &session, &user, origin).await
            }
            _ => Ok(login(&request, None)),
        }
    }

    /// `prompt=none`: a code if the browser is signed in (as the `id_token_hint`'s
    /// user, recently enough for `max_age`) and consent is given; otherwise
    /// `login_required` or `consent_required`, and never a page.
    async fn without_pages(
        &self,
        request: &AuthRequest,
        signed_in: Option<(SessionRecord, UserRecord)>,
        origin: Origin,
    ) -> Result<SignIn, ServiceError> {
        let refuse = |error: &str, description: &str| {
            SignIn::Redirect(request.back(self.issuer(), &[("error", error), ("error_description", description)]))
        };
        let Some((session, user)) = signed_in else {
            return Ok(refuse("login_required", "nobody is signed in"));
        };
        if request
            .hinted_user
            .as_ref()
            .is_some_and(|sub| *sub != user.id.to_string())
        {
            return Ok(refuse("login_required", "another user is signed in"));
        }
        if self.too_old(request, &session) {
            return Ok(refuse("login_required", "the sign-in is older than max_age"));
        }
        if self.needs_consent(request, &user).await? {
            return Ok(refuse("consent_required", "the user has not consented to this client"));
        }
        Ok(SignIn::Redirect(
            self.issue_code(request, &user, &session, origin).await?,
        ))
    }

    /// Whether the browser session's last login is older than the request's `max_age`.
    fn too_old(&self, request: &AuthRequest, session: &SessionRecord) -> bool {
        request
            .max_age
            .is_some_and(|max_age| self.now().unix_timestamp() - session.created_at >= max_age)
    }

    /// The login form's POST: on the right password a browser session opens (the
    /// transport sets its cookie; the session of `cookie`, if any, ends) and the flow
    /// goes on as for a signed-in browser.
    pub async fn sign_in_with_password(
        &self,
        p: &AuthParams,
        cookie: Option<&str>,
        login_name: Option<String>,
        password: Option<Secret>,
        origin: Origin,
    ) -> Result<(SignIn, Option<Opened>), ServiceError> {
        let request = match self.authorization_request(p).await {
            Ok(request) => request,
            Err(problem) => return Ok((problem.into(), None)),
        };
        let (Some(login_name), Some(password)) = (login_name, password) else {
            return Ok((login(&request, Some(Notice::MissingCredentials)), None));
        };
        let notice = match self.page_login(&login_name, password, origin).await {
            Ok(PageLogin::Done(done)) => {
                let (opened, session, user) = *done;
                if let Some(old) = cookie {
                    self.page_logout(old).await?;
                }
                let next = self.next_step(&request, &session, &user, origin).await?;
                return Ok((next, Some(opened)));
            }
            Ok(PageLogin::SecondFactor(token)) => {
                let page = page_for(&request);
                return Ok((
                    SignIn::SecondFactor {
                        page,
                        token,
                        notice: None,
                    },
                    None,
                ));
            }
            Err(ServiceError::LoginFailed | ServiceError::AccountDisabled) => Notice::WrongCredentials,
            Err(ServiceError::EmailNotVerified) => Notice::EmailNotVerified,
            Err(ServiceError::TooManyAttempts { retry_after }) => Notice::TooManyAttempts(retry_after),
            Err(ServiceError::Overloaded { .. }) => Notice::Busy,
            Err(e) => return Err(e),
        };
        Ok((login(&request, Some(notice)), None))
    }

    /// The code form's POST (the second step): on a right code, as after a right
    /// password without a second factor; on a wrong one, the form again (the waiting
    /// login dies with its fifth wrong code: then the login form).
    pub async fn sign_in_with_code(
        &self,
        p: &AuthParams,
        cookie: Option<&str>,
        token: Option<String>,
        code: Option<String>,
        origin: Origin,
    ) -> Result<(SignIn, Option<Opened>), ServiceError> {
        let request = match self.authorization_request(p).await {
            Ok(request) => request,
            Err(problem) => return Ok((problem.into(), None)),
        };
        let Some(token) = token else {
            return Ok((login(&request, Some(Notice::StartAgain)), None));
        };
        let again = |notice| SignIn::SecondFactor {
            page: page_for(&request),
            token: Secret::new(token.clone()),
            notice: Some(notice),
        };
        let Some(code) = code else {
            return Ok((again(Notice::WrongCode), None));
        };
        let verified = match self.verify_second_factor(&token, &code, true, origin).await {
            Ok(verified) => verified,
            Err(ServiceError::InvalidCode { .. }) => return Ok((again(Notice::WrongCode), None)),
            Err(ServiceError::TooManyAttempts { retry_after }) => {
                return Ok((again(Notice::TooManyAttempts(retry_after)), None));
            }
            Err(ServiceError::InvalidMfaToken) => return Ok((login(&request, Some(Notice::StartAgain)), None)),
            Err(e) => return Err(e),
        };
        let user = verified.user;
        let Some((opened, session)) = self.open_browser_session(&user).await? else {
            return Ok((login(&request, Some(Notice::StartAgain)), None));
        };
        if let Some(old) = cookie {
            self.page_logout(old).await?;
        }
        self.audit(
            AuditEvent::MfaSuccess {
                user: user.id,
                at: LoginAt::Page,
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        let next = self.next_step(&request, &session, &user, origin).await?;
        Ok((next, Some(opened)))
    }

    /// The consent form's POST: the person's answer is recorded, then on Allow the
    /// code, on Deny `access_denied` back to the client.
    pub async fn sign_in_consent(
        &self,
        p: &AuthParams,
        cookie: Option<&str>,
        allow: bool,
        origin: Origin,
    ) -> Result<SignIn, ServiceError> {
        let request = match self.authorization_request(p).await {
            Ok(request) => request,
            Err(problem) => return Ok(problem.into()),
        };
        let Some((session, user)) = self.browser_session(cookie).await? else {
            return Ok(login(&request, None));
        };
        // The consent form comes right after the login that `prompt=login` and
        // `max_age` ask for: a form posted with an older sign-in must not stand in for it.
        let stale = request.prompt.login && self.now().unix_timestamp() - session.created_at > FRESH_LOGIN_SECONDS;
        if stale || self.too_old(&request, &session) {
            return Ok(login(&request, None));
        }
        self.answer_consent(&request, &user, allow, origin).await?;
        if allow {
            return Ok(SignIn::Redirect(
                self.issue_code(&request, &user, &session, origin).await?,
            ));
        }
        let denied = [
            ("error", "access_denied"),
            ("error_description", "the user denied the request"),
        ];
        Ok(SignIn::Redirect(request.back(self.issuer(), &denied)))
    }

    /// The client an RP-initiated logout (`GET /oauth/logout`) speaks for: `client_id`,
    /// or else the `aud` of `id_token_hint`, an ID token this server issued (expired or
    /// not). When both are sent they must agree; a hint that is not ours is refused.
    pub fn sign_out_client(
        &self,
        client_id: Option<&str>,
        id_token_hint: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        let Some(hint) = id_token_hint.filter(|h| !h.is_empty()) else {
            return Ok(client_id.map(str::to_owned));
        };
        let claims = self.tokens.read_id_token(hint).ok_or_else(|| {
            ServiceError::invalid("id_token_hint", "id_token_hint is not an ID token this server issued")
        })?;
        match client_id {
            Some(client_id) if client_id != claims.aud => Err(ServiceError::invalid(
                "client_id",
                "client_id is not the client the id_token_hint was issued to",
            )),
            _ => Ok(Some(claims.aud)),
        }
    }

    /// Where the sign-out page sends the browser once the session has ended: the
    /// client's `post_logout_redirect_uri`, with `state`, when it is one registered for
    /// the client; `None` (the signed-out page) otherwise.
    pub async fn after_sign_out(
        &self,
        client_id: Option<&str>,
        uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        let (Some(client_id), Some(uri)) = (client_id, uri) else {
            return Ok(None);
        };
        let Some(client) = self.store.client(client_id).await? else {
            return Ok(None);
        };
        if !client
            .post_logout_redirect_uris
            .iter()
            .any(|r| redirect::matches(r, uri))
        {
            return Ok(None);
        }
        let state: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
        Ok(Some(redirect::with_query(uri, &state)))
    }

    /// With the request valid and a person signed in: the consent page, or a code.
    async fn next_step(
        &self,
        request: &AuthRequest,
        session: &SessionRecord,
        user: &UserRecord,
        origin: Origin,
    ) -> Result<SignIn, ServiceError> {
        if self.needs_consent(request, user).await? {
            return Ok(SignIn::Consent {
                page: page_for(request),
                username: user.username.clone(),
                scopes: self.granted_scopes(request, user),
            });
        }
        Ok(SignIn::Redirect(self.issue_code(request, user, session, origin).await?))
    }

    /// Signs a person in at the login page: the password as at `/api/auth/token`
    /// (throttle, equal timing, audit), then a browser session, or the second step
    /// when the person has a second factor.
    async fn page_login(&self, login: &str, password: Secret, origin: Origin) -> Result<PageLogin, ServiceError> {
        let checked: CheckedPassword = self.check_password(login, password, origin, LoginAt::Page).await?;
        if let Some(ServiceError::MfaRequired { token, .. }) =
            self.second_factor_needed(&checked, None, origin, LoginAt::Page).await?
        {
            return Ok(PageLogin::SecondFactor(token));
        }
        let Some((opened, session)) = self.open_browser_session(&checked.user).await? else {
            return Err(self.changed_during_login(&checked, origin, LoginAt::Page).await);
        };
        let user = checked.user.clone();
        self.login_succeeded(checked, origin, LoginAt::Page).await?;
        Ok(PageLogin::Done(Box::new((opened, session, user))))
    }

    /// Opens a browser session for `user`: its cookie and record; `None` when the user
    /// changed since it was read (see [`crate::store::Store::create_session`]).
    async fn open_browser_session(&self, user: &UserRecord) -> Result<Option<(Opened, SessionRecord)>, ServiceError> {
        let now = self.now();
        let ttl = self.config.browser_session_ttl;
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            scopes: Vec::new(),
            created_at: now.unix_timestamp(),
            expires_at: after(now, ttl).unix_timestamp(),
            revoked_at: None,
            kind: SessionKind::Browser,
            client_id: None,
            browser_login: None,
        };
        let cookie = secret::generate(BROWSER_PREFIX)?;
        if !self
            .store
            .create_session(user, &session, SessionStart::Cookie(&cookie.digest()))
            .await?
        {
            return Ok(None);
        }
        let ttl = session.expires_at - session.created_at;
        Ok(Some((Opened { cookie, ttl }, session)))
    }

    /// Ends the browser session of a cookie (the sign-out page), durably.
    pub async fn page_logout(&self, cookie: &str) -> Result<(), ServiceError> {
        let digest = Secret::new(cookie.to_owned()).digest();
        let session = self.store.browser_session(&digest).await?;
        self.store.forget_browser_cookie(&digest).await?;
        match session {
            // Commits the forgotten cookie with the revocation.
            Some(session) => {
                self.revoke_session(session.id).await?;
            }
            None => self.store.commit().await?,
        }
        Ok(())
    }

    /// The browser session behind a cookie value and its user, if the session is
    /// live and the user enabled.
    pub(super) async fn browser_session(
        &self,
        cookie: Option<&str>,
    ) -> Result<Option<(SessionRecord, UserRecord)>, ServiceError> {
        let Some(cookie) = cookie.filter(|c| c.starts_with(BROWSER_PREFIX)) else {
            return Ok(None);
        };
        let digest = Secret::new(cookie.to_owned()).digest();
        let now = self.now().unix_timestamp();
        let Some(session) = self.store.browser_session(&digest).await?.filter(|s| s.is_live(now)) else {
            return Ok(None);
        };
        Ok(self
            .store
            .user(session.user_id)
            .await?
            .filter(|u| !u.disabled)
            .map(|user| (session, user)))
    }
}

impl From<AuthProblem> for SignIn {
    fn from(problem: AuthProblem) -> Self {
        match problem {
            AuthProblem::Page(message) => SignIn::Problem(message),
            AuthProblem::Redirect(location) => SignIn::Redirect(location),
        }
    }
}

fn page_for(request: &AuthRequest) -> PageFor {
    PageFor {
        client_id: request.client.client_id.clone(),
        redirect_origin: redirect::origin(&request.redirect_uri),
        login_hint: request.login_hint.clone(),
    }
}

fn login(request: &AuthRequest, notice: Option<Notice>) -> SignIn {
    SignIn::Login {
        page: page_for(request),
        notice,
    }
}
