//! Every HTML page the daemon serves: the sign-in pages of the authorization code
//! flow (see README, "Sign in with Tessera") and the pages of the email links, as askama templates
//! (`daemon/templates/`, compiled in, HTML-escaped by default), and the headers every
//! one of them carries.

use askama::Template;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// The authorization request, carried through the login and consent forms.
#[derive(Debug, Clone, Default)]
pub struct RequestFields {
    /// The CSRF token of this browser.
    pub csrf: String,
    /// The authorization request's parameters, as sent.
    pub params: Vec<(&'static str, String)>,
}

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The client the person is signing in to.
    pub client_id: &'a str,
    /// One generic message after a failure.
    pub message: Option<&'a str>,
    /// What the name field starts with (`login_hint`).
    pub login_hint: &'a str,
    /// The request.
    pub fields: &'a RequestFields,
}

/// The second step of a login: a TOTP or recovery code.
#[derive(Template)]
#[template(path = "code.html")]
pub struct Code<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The client the person is signing in to.
    pub client_id: &'a str,
    /// One generic message after a failure.
    pub message: Option<&'a str>,
    /// The waiting login's token.
    pub mfa_token: &'a str,
    /// The request.
    pub fields: &'a RequestFields,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct Consent<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The client asking.
    pub client_id: &'a str,
    /// Who is signed in.
    pub username: &'a str,
    /// The scopes asked for.
    pub scopes: &'a [String],
    /// The request.
    pub fields: &'a RequestFields,
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// What went wrong.
    pub message: &'a str,
}

/// The sign-out confirmation.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct Logout<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The CSRF token of this browser.
    pub csrf: &'a str,
    /// `client_id`, if sent.
    pub client_id: Option<&'a str>,
    /// `post_logout_redirect_uri`, if sent.
    pub post_logout_redirect_uri: Option<&'a str>,
    /// `state`, if sent.
    pub state: Option<&'a str>,
}

/// The signed-out page.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOut<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
}

/// A page with a title and one message (the email links' outcomes).
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The message.
    pub message: &'a str,
}

/// The password-reset form of a reset link.
#[derive(Template)]
#[template(path = "reset_form.html")]
pub struct ResetForm<'a> {
    /// `oauth.app_name`.
    pub app_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The link's token.
    pub token: &'a str,
    /// What was wrong with the last attempt.
    pub error: Option<&'a str>,
}

/// A rendered page with `status` and the headers of the sign-in pages: no caching, no framing, no
/// script, forms posting only here and to `form_origins` (the origin of the redirect
/// in play: browsers apply `form-action` to the redirect after a form's POST).
pub fn page(status: StatusCode, template: &impl Template, form_origins: &[String]) -> Response {
    let body = match template.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            return warp::reply::with_status("internal error", StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
    };
    let mut response = warp::reply::with_status(warp::reply::html(body), status).into_response();
    let mut form_action = String::from("'self'");
    for origin in form_origins {
        // Only what an origin or scheme can hold: nothing that could end the directive.
        if origin.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',') {
            form_action.push(' ');
            form_action.push_str(origin);
        }
    }
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_escaped_and_headers_are_set() {
        let fields = RequestFields {
            params: vec![("state", "\"><script>alert(1)</script>".into())],
            ..RequestFields::default()
        };
        let login = Login {
            app_name: "Acme <Corp>",
            title: "Sign in",
            client_id: "web",
            message: None,
            login_hint: "<b>alice</b>",
            fields: &fields,
        };
        let html = login.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>alice"), "the login hint is escaped too: {html}");
        assert!(
            html.contains("Acme &#60;Corp&#62;") || html.contains("Acme &lt;Corp&gt;"),
            "{html}"
        );
        assert_eq!(html.matches("<h1>").count(), 1);
        let response = page(
            StatusCode::OK,
            &login,
            &["https://app.example.com".into(), "x; script-src *".into()],
        );
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("form-action 'self' https://app.example.com;"), "{csp}");
        assert!(!csp.contains("script-src *"), "{csp}");
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
    }
}
