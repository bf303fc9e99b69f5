//! The authorization endpoint and the sign-out pages (see README, "Sign in with Tessera"): the login and
//! consent pages, their form POSTs, and the redirects back to the client. Two cookies:
//! the browser session and a CSRF cookie, both `__Host-` under an https issuer (so no
//! other site in the domain can set them) and only by those names. Every form carries
//! the service's keyed token of the two cookies (`service/forms.rs`), so a form from
//! another browser, or none, is refused.

use super::body::{self, BodyResult, Fields};
use super::pages::{self, Code, Consent, ErrorPage, Login, Logout, RequestFields, SignedOut};
use super::{method, origin, with_service};
use crate::secret;
use crate::service::authorize::AuthParams;
use crate::service::signin::{Notice, Opened, PageFor, SignIn};
use crate::service::{Origin, Service, ServiceError, redirect};
use std::collections::HashMap;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Prefix of CSRF cookie values.
const CSRF_PREFIX: &str = "tsr_cf_";

/// The routes of the authorization code flow's pages.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    authorize_get(Arc::clone(&service))
        .or(authorize_post(Arc::clone(&service)))
        .unify()
        .or(logout_get(Arc::clone(&service)))
        .unify()
        .or(logout_post(service))
        .unify()
        .boxed()
}

/// What a page request brings: its cookies.
#[derive(Debug, Clone)]
struct Browser {
    session: Option<String>,
    csrf: Option<String>,
}

/// The cookies' names: with the `__Host-` prefix under https, which only this host,
/// over https, can set; without it under plain http, where browsers refuse it.
struct CookieNames {
    session: &'static str,
    csrf: &'static str,
}

fn cookie_names(secure: bool) -> CookieNames {
    if secure {
        CookieNames {
            session: "__Host-tessera_browser",
            csrf: "__Host-tessera_csrf",
        }
    } else {
        CookieNames {
            session: "tessera_browser",
            csrf: "tessera_csrf",
        }
    }
}

impl Browser {
    /// The cookies of a `Cookie` header, by the names for this scheme only; of two
    /// cookies with one name, the first (a browser sends the most specific first).
    fn parse(header: Option<&str>, secure: bool) -> Self {
        let names = cookie_names(secure);
        let mut browser = Browser {
            session: None,
            csrf: None,
        };
        for pair in header.unwrap_or_default().split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let slot = if name == names.session {
                &mut browser.session
            } else if name == names.csrf {
                &mut browser.csrf
            } else {
                continue;
            };
            slot.get_or_insert_with(|| value.to_owned());
        }
        browser
    }
}

/// The request's `Cookie` header, if any.
fn browser() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("cookie")
        .or(warp::any().map(|| None))
        .unify()
}

/// Context of one page answer: the service, the browser, and the cookies to set.
struct Answer<'a> {
    service: &'a Service,
    browser: Browser,
    set_cookies: Vec<String>,
}

impl<'a> Answer<'a> {
    fn new(service: &'a Service, cookie_header: Option<String>) -> Self {
        let secure = service.issuer().starts_with("https://");
        Self {
            service,
            browser: Browser::parse(cookie_header.as_deref(), secure),
            set_cookies: Vec::new(),
        }
    }

    fn secure(&self) -> bool {
        self.service.issuer().starts_with("https://")
    }

    fn names(&self) -> CookieNames {
        cookie_names(self.secure())
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure() {
            cookie.push_str("; Secure");
        }
        cookie
    }

    /// The form token for this browser's cookies, making its CSRF cookie if it has none.
    fn csrf(&mut self) -> Result<String, ServiceError> {
        let cookie = match self.browser.csrf.clone().filter(|c| c.starts_with(CSRF_PREFIX)) {
            Some(cookie) => cookie,
            None => self.new_csrf_cookie()?,
        };
        Ok(self.service.form_token(&cookie, self.browser.session.as_deref()))
    }

    /// Gives the browser a new CSRF cookie (at first sight, and at sign-in).
    fn new_csrf_cookie(&mut self) -> Result<String, ServiceError> {
        let value = secret::generate(CSRF_PREFIX)?.expose().to_owned();
        self.set_cookies.push(self.cookie(self.names().csrf, &value, None));
        self.browser.csrf = Some(value.clone());
        Ok(value)
    }

    /// True when `presented` is the form token for this browser's cookies.
    fn csrf_ok(&self, presented: Option<&str>) -> bool {
        match (self.browser.csrf.as_deref(), presented) {
            (Some(cookie), Some(presented)) => {
                self.service
                    .form_token_ok(cookie, self.browser.session.as_deref(), presented)
            }
            _ => false,
        }
    }

    fn finish(&self, mut response: Response) -> Response {
        for cookie in &self.set_cookies {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }

    fn app_name(&self) -> &str {
        &self.service.config().app_name
    }

    fn error_page(&self, status: StatusCode, message: &str) -> Response {
        let page = ErrorPage {
            app_name: self.app_name(),
            title: "Sign-in problem",
            message,
        };
        self.finish(pages::page(status, &page, &[]))
    }

    fn redirect(&self, location: &str) -> Response {
        let mut response = warp::reply::with_status(warp::reply(), StatusCode::SEE_OTHER).into_response();
        if let Ok(value) = HeaderValue::from_str(location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.finish(response)
    }

    fn fields(&mut self, p: &AuthParams) -> Result<RequestFields, ServiceError> {
        Ok(RequestFields {
            csrf: self.csrf()?,
            params: p.sent(),
        })
    }

    /// Answers with what the service said the sign-in page does next.
    fn show(&mut self, p: &AuthParams, step: SignIn) -> Response {
        match step {
            SignIn::Problem(message) => self.error_page(StatusCode::BAD_REQUEST, &message),
            SignIn::Redirect(location) => self.redirect(&location),
            SignIn::Login { page, notice } => self.login_page(p, &page, notice),
            SignIn::SecondFactor { page, token, notice } => {
                let fields = match self.fields(p) {
                    Ok(fields) => fields,
                    Err(e) => return self.internal(&e),
                };
                let (status, message) = notice_text(notice);
                let code = Code {
                    app_name: self.app_name(),
                    title: "Two-step sign-in",
                    client_id: &page.client_id,
                    message,
                    mfa_token: token.expose(),
                    fields: &fields,
                };
                with_retry_after(self.finish(pages::page(status, &code, &origins(&page))), notice)
            }
            SignIn::Consent { page, username, scopes } => {
                let fields = match self.fields(p) {
                    Ok(fields) => fields,
                    Err(e) => return self.internal(&e),
                };
                let consent = Consent {
                    app_name: self.app_name(),
                    title: "Allow access?",
                    client_id: &page.client_id,
                    username: &username,
                    scopes: &scopes,
                    fields: &fields,
                };
                self.finish(pages::page(StatusCode::OK, &consent, &origins(&page)))
            }
        }
    }

    fn login_page(&mut self, p: &AuthParams, page: &PageFor, notice: Option<Notice>) -> Response {
        let (status, message) = notice_text(notice);
        let fields = match self.fields(p) {
            Ok(fields) => fields,
            Err(e) => return self.internal(&e),
        };
        let login = Login {
            app_name: self.app_name(),
            title: "Sign in",
            client_id: &page.client_id,
            message,
            login_hint: page.login_hint.as_deref().unwrap_or_default(),
            fields: &fields,
        };
        with_retry_after(self.finish(pages::page(status, &login, &origins(page))), notice)
    }

    /// Sets the cookie of a browser session a login just `opened` (and a new CSRF
    /// token for it), then answers with `step`.
    fn opened(&mut self, p: &AuthParams, step: SignIn, opened: Option<Opened>) -> Response {
        if let Some(opened) = opened {
            let cookie = opened.cookie.expose();
            let set = self.cookie(self.names().session, cookie, Some(opened.ttl));
            self.set_cookies.push(set);
            self.browser.session = Some(cookie.to_owned());
            if let Err(e) = self.new_csrf_cookie() {
                return self.internal(&e);
            }
        }
        self.show(p, step)
    }

    fn internal(&self, e: &ServiceError) -> Response {
        tracing::error!(error = %e, "a sign-in page failed");
        self.error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; try again later.",
        )
    }
}

/// The status and message of a form shown again because of `notice`.
fn notice_text(notice: Option<Notice>) -> (StatusCode, Option<&'static str>) {
    match notice {
        None => (StatusCode::OK, None),
        Some(Notice::MissingCredentials) => (StatusCode::OK, Some("Enter your username and password.")),
        Some(Notice::WrongCredentials) => (StatusCode::OK, Some("Wrong username or password.")),
        Some(Notice::EmailNotVerified) => (
            StatusCode::OK,
            Some("Confirm your email address first: follow the link we sent you."),
        ),
        Some(Notice::TooManyAttempts(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many attempts. Wait a while, then try again."),
        ),
        Some(Notice::Busy) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("The server is busy. Try again in a moment."),
        ),
        Some(Notice::WrongCode) => (StatusCode::OK, Some("That code is not right. Try again.")),
        Some(Notice::StartAgain) => (StatusCode::OK, Some("That sign-in expired. Sign in again.")),
    }
}

/// `response` with `Retry-After` when `notice` is the throttle's.
fn with_retry_after(mut response: Response, notice: Option<Notice>) -> Response {
    if let Some(Notice::TooManyAttempts(retry_after)) = notice
        && let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The origins a page's forms may be sent to, beside this server.
fn origins(page: &PageFor) -> Vec<String> {
    page.redirect_origin.iter().cloned().collect()
}

fn params_of(mut map: HashMap<String, String>) -> AuthParams {
    let read = AuthParams::read(|name| Ok::<_, std::convert::Infallible>(map.remove(name)));
    read.unwrap_or_else(|never| match never {})
}

fn params_of_form(f: &mut Fields) -> Result<AuthParams, ServiceError> {
    AuthParams::read(|name| f.string(name))
}

/// GET /oauth/authorize
fn authorize_get(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "authorize")
        .and(method(Method::GET, "GET, POST"))
        .and(with_service(service))
        .and(origin())
        .and(browser())
        .and(warp::query::<HashMap<String, String>>())
        .then(
            |service: Arc<Service>, origin: Origin, browser: Option<String>, query: HashMap<String, String>| async move {
                let mut answer = Answer::new(&service, browser);
                let p = params_of(query);
                match service.sign_in(&p, answer.browser.session.as_deref(), origin).await {
                    Ok(step) => answer.show(&p, step),
                    Err(e) => answer.internal(&e),
                }
            },
        )
}

/// POST /oauth/authorize (the login and consent forms)
fn authorize_post(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "authorize")
        .and(method(Method::POST, "GET, POST"))
        .and(with_service(service))
        .and(origin())
        .and(browser())
        .and(body::fields())
        .then(
            |service: Arc<Service>, origin: Origin, browser: Option<String>, body: BodyResult| async move {
                let mut answer = Answer::new(&service, browser);
                let form = body.and_then(|mut f| {
                    let p = params_of_form(&mut f)?;
                    let csrf = f.string("csrf")?;
                    let action = f.string("action")?;
                    let login = f.string("username")?;
                    let password = f.secret("password")?;
                    let decision = f.string("decision")?;
                    let mfa = (f.string("mfa_token")?, f.string("code")?);
                    Ok((p, csrf, action, login, password, decision, mfa))
                });
                let (p, csrf, action, login, password, decision, (mfa_token, code)) = match form {
                    Ok(form) => form,
                    Err(e) => return answer.error_page(StatusCode::BAD_REQUEST, &e.to_string()),
                };
                if !answer.csrf_ok(csrf.as_deref()) {
                    return answer.error_page(
                    StatusCode::FORBIDDEN,
                    "This form did not come from this browser's sign-in page, or it expired. Start again from the app.",
                );
                }
                match action.as_deref() {
                    Some("login") => match service
                        .sign_in_with_password(&p, answer.browser.session.as_deref(), login, password, origin)
                        .await
                    {
                        Ok((step, opened)) => answer.opened(&p, step, opened),
                        Err(e) => answer.internal(&e),
                    },
                    Some("mfa") => match service
                        .sign_in_with_code(&p, answer.browser.session.as_deref(), mfa_token, code, origin)
                        .await
                    {
                        Ok((step, opened)) => answer.opened(&p, step, opened),
                        Err(e) => answer.internal(&e),
                    },
                    Some("consent") => {
                        let allow = decision.as_deref() == Some("allow");
                        let cookie = answer.browser.session.clone();
                        match service.sign_in_consent(&p, cookie.as_deref(), allow, origin).await {
                            Ok(step) => answer.show(&p, step),
                            Err(e) => answer.internal(&e),
                        }
                    }
                    _ => answer.error_page(
                        StatusCode::BAD_REQUEST,
                        "The form was not understood. Start again from the app.",
                    ),
                }
            },
        )
}

/// GET /oauth/logout (the sign-out confirmation)
fn logout_get(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "logout")
        .and(method(Method::GET, "GET, POST"))
        .and(with_service(service))
        .and(browser())
        .and(warp::query::<HashMap<String, String>>())
        .then(
            |service: Arc<Service>, browser: Option<String>, query: HashMap<String, String>| async move {
                let mut answer = Answer::new(&service, browser);
                let csrf = match answer.csrf() {
                    Ok(csrf) => csrf,
                    Err(e) => return answer.internal(&e),
                };
                let hint = query.get("id_token_hint").map(String::as_str);
                let client_id = match service.sign_out_client(query.get("client_id").map(String::as_str), hint) {
                    Ok(client_id) => client_id,
                    Err(e) => {
                        let message = format!("This sign-out request is invalid: {e}.");
                        return answer.error_page(StatusCode::BAD_REQUEST, &message);
                    }
                };
                let client_id = client_id.as_deref();
                let after = query.get("post_logout_redirect_uri").map(String::as_str);
                let origins: Vec<String> = match service.after_sign_out(client_id, after, None).await {
                    Ok(location) => location.and_then(|uri| redirect::origin(&uri)).into_iter().collect(),
                    Err(e) => return answer.internal(&e),
                };
                let page = Logout {
                    app_name: answer.app_name(),
                    title: "Sign out",
                    csrf: &csrf,
                    client_id,
                    post_logout_redirect_uri: after,
                    state: query.get("state").map(String::as_str),
                };
                answer.finish(pages::page(StatusCode::OK, &page, &origins))
            },
        )
}

/// POST /oauth/logout (ends the browser session)
fn logout_post(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "logout")
        .and(method(Method::POST, "GET, POST"))
        .and(with_service(service))
        .and(browser())
        .and(body::fields())
        .then(
            |service: Arc<Service>, browser: Option<String>, body: BodyResult| async move {
                let mut answer = Answer::new(&service, browser);
                let form = body.and_then(|mut f| {
                    Ok((
                        f.string("csrf")?,
                        f.string("client_id")?,
                        f.string("post_logout_redirect_uri")?,
                        f.string("state")?,
                    ))
                });
                let (csrf, client_id, after, state) = match form {
                    Ok(form) => form,
                    Err(e) => return answer.error_page(StatusCode::BAD_REQUEST, &e.to_string()),
                };
                if !answer.csrf_ok(csrf.as_deref()) {
                    return answer.error_page(
                        StatusCode::FORBIDDEN,
                        "This form did not come from this browser's sign-out page, or it expired.",
                    );
                }
                if let Some(cookie) = answer.browser.session.clone()
                    && let Err(e) = service.page_logout(&cookie).await
                {
                    return answer.internal(&e);
                }
                let clear = answer.cookie(answer.names().session, "", Some(0));
                answer.set_cookies.push(clear);
                let location = service
                    .after_sign_out(client_id.as_deref(), after.as_deref(), state.as_deref())
                    .await;
                match location {
                    Err(e) => answer.internal(&e),
                    Ok(Some(location)) => answer.redirect(&location),
                    Ok(None) => {
                        let page = SignedOut {
                            app_name: answer.app_name(),
                            title: "Signed out",
                        };
                        answer.finish(pages::page(StatusCode::OK, &page, &[]))
                    }
                }
            },
        )
}
