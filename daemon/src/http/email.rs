//! The email flows' routes (see README, "Email"): verification, forgotten passwords, the
//! reset form, and `exists`. The two pages (the verify link opened in a browser, the
//! reset form and its outcome) are templates of [`super::pages`], with no script.

use super::body::{self, BodyResult};
use super::error::{respond, service_error};
use super::pages;
use super::reply::{Cache, json};
use super::{bearer, method, origin, with_service};
use crate::service::email::ExistsQuery;
use crate::service::{Origin, Service, ServiceError};
use serde_json::json as object;
use std::collections::HashMap;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The email-flow routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    request_verification(Arc::clone(&service))
        .or(verify_posted(Arc::clone(&service)))
        .unify()
        .or(verify_opened(Arc::clone(&service)))
        .unify()
        .or(forgot(Arc::clone(&service)))
        .unify()
        .or(reset(Arc::clone(&service)))
        .unify()
        .or(reset_form(Arc::clone(&service)))
        .unify()
        .or(reset_form_posted(Arc::clone(&service)))
        .unify()
        .or(exists(service))
        .unify()
        .boxed()
}

fn ok() -> Response {
    json(StatusCode::ACCEPTED, &object!({"status": "ok"}), Cache::NoStore)
}

/// POST /api/auth/verify-email/request
fn request_verification(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "verify-email" / "request")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(bearer())
        .and(body::fields())
        .then(
            |service: Arc<Service>, bearer: Option<String>, body: BodyResult| async move {
                match bearer {
                    Some(token) => {
                        let caller = service.authenticate(Some(&token)).await?;
                        service.request_verification(&caller).await?;
                    }
                    None => {
                        let email = body?.string("email")?.ok_or_else(|| ServiceError::required("email"))?;
                        service.request_verification_for(&email)?;
                    }
                }
                Ok(ok())
            },
        )
        .map(respond)
}

/// POST /api/auth/verify-email
fn verify_posted(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "verify-email")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(body::fields())
        .then(|service: Arc<Service>, body: BodyResult| async move {
            let token = body?.string("token")?.ok_or_else(|| ServiceError::required("token"))?;
            let user = service.verify_email(&token).await?;
            Ok(json(
                StatusCode::OK,
                &object!({"status": "ok", "user": user}),
                Cache::NoStore,
            ))
        })
        .map(respond)
}

/// GET /api/auth/verify-email/{token} (JSON, or a page when `Accept` prefers HTML)
fn verify_opened(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "verify-email" / String)
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .and(warp::header::optional::<String>("accept"))
        .then(
            |token: String, service: Arc<Service>, accept: Option<String>| async move {
                let outcome = service.verify_email(&token).await;
                if !prefers_html(accept.as_deref()) {
                    return respond(
                        outcome
                            .map(|user| json(StatusCode::OK, &object!({"status": "ok", "user": user}), Cache::NoStore)),
                    );
                }
                let app_name = &service.config().app_name;
                match outcome {
                    Ok(user) => message(
                        app_name,
                        StatusCode::OK,
                        "Address confirmed",
                        &format!("{} is confirmed. You can close this page.", user.email),
                    ),
                    Err(ServiceError::InvalidLink) => {
                        message(app_name, StatusCode::BAD_REQUEST, "Link not valid", LINK_NOT_VALID)
                    }
                    Err(e) => service_error(&e),
                }
            },
        )
}

/// POST /api/auth/password/forgot
fn forgot(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "password" / "forgot")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(body::fields())
        .map(|service: Arc<Service>, body: BodyResult| {
            respond(body.and_then(|mut f| {
                let email = f.string("email")?.ok_or_else(|| ServiceError::required("email"))?;
                service.forgot_password(&email)?;
                Ok(ok())
            }))
        })
}

/// POST /api/auth/password/reset
fn reset(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "password" / "reset")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(body::fields())
        .then(|service: Arc<Service>, origin: Origin, body: BodyResult| async move {
            let mut f = body?;
            let token = f.string("token")?.ok_or_else(|| ServiceError::required("token"))?;
            let password = f
                .secret("newPassword")?
                .ok_or_else(|| ServiceError::required("newPassword"))?;
            service.reset_password(&token, password, origin).await?;
            Ok(json(StatusCode::OK, &object!({"status": "ok"}), Cache::NoStore))
        })
        .map(respond)
}

/// GET /reset-password (`?token=…`: the form)
fn reset_form(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("reset-password")
        .and(method(Method::GET, "GET, POST"))
        .and(with_service(service))
        .and(warp::query::<HashMap<String, String>>())
        .map(|service: Arc<Service>, query: HashMap<String, String>| {
            let token = query.get("token").map(String::as_str).unwrap_or_default();
            reset_page(&service.config().app_name, StatusCode::OK, token, None)
        })
}

/// POST /reset-password (the form's submission; answers with a page)
fn reset_form_posted(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("reset-password")
        .and(method(Method::POST, "GET, POST"))
        .and(with_service(service))
        .and(origin())
        .and(body::fields())
        .then(|service: Arc<Service>, origin: Origin, body: BodyResult| async move {
            let fields = body.and_then(|mut f| {
                Ok((
                    f.string("token")?.unwrap_or_default(),
                    f.secret("newPassword")?,
                    f.secret("confirmPassword")?,
                ))
            });
            let (token, password, confirm) = match fields {
                Ok(fields) => fields,
                Err(e) => return service_error(&e),
            };
            let app_name = service.config().app_name.clone();
            let Some(password) = password.filter(|p| !p.expose().is_empty()) else {
                return reset_page(
                    &app_name,
                    StatusCode::BAD_REQUEST,
                    &token,
                    Some("Enter a new password."),
                );
            };
            if confirm.as_ref().is_some_and(|c| c.expose() != password.expose()) {
                return reset_page(
                    &app_name,
                    StatusCode::BAD_REQUEST,
                    &token,
                    Some("The two passwords differ."),
                );
            }
            match service.reset_password(&token, password, origin).await {
                Ok(()) => message(
                    &app_name,
                    StatusCode::OK,
                    "Password changed",
                    "Your password was changed, and every session signed in with the old one was ended. \
                     Sign in with the new one.",
                ),
                Err(ServiceError::InvalidLink) => {
                    message(&app_name, StatusCode::BAD_REQUEST, "Link not valid", LINK_NOT_VALID)
                }
                Err(ServiceError::InvalidRequest { message: why, .. }) => {
                    reset_page(&app_name, StatusCode::BAD_REQUEST, &token, Some(&why))
                }
                Err(e) => service_error(&e),
            }
        })
}

/// GET /api/auth/exists (`?email=…` or `?username=…`)
fn exists(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "exists")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .and(origin())
        .and(warp::query::<HashMap<String, String>>())
        .then(
            |service: Arc<Service>, origin: Origin, mut query: HashMap<String, String>| async move {
                let asked = match (query.remove("email"), query.remove("username")) {
                    (Some(email), None) => Ok(ExistsQuery::Email(email)),
                    (None, Some(name)) => Ok(ExistsQuery::Username(name)),
                    _ => Err(ServiceError::InvalidRequest {
                        field: None,
                        message: "give exactly one of email and username".into(),
                    }),
                };
                respond(
                    async { service.exists(asked?, origin).await }
                        .await
                        .map(|exists| json(StatusCode::OK, &object!({ "exists": exists }), Cache::NoStore)),
                )
            },
        )
}

/// True when `accept` ranks `text/html` above `application/json`.
fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let quality = |wanted: &[&str]| {
        accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';').map(str::trim);
                let range = parts.next()?.to_ascii_lowercase();
                let q = parts
                    .find_map(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                    .unwrap_or(1.0);
                wanted.contains(&range.as_str()).then_some(q)
            })
            .fold(0.0f32, f32::max)
    };
    quality(&["text/html"]) > quality(&["application/json", "application/*", "*/*"])
}

/// What a used, unknown or expired link's page says.
const LINK_NOT_VALID: &str = "This link is invalid, used or expired. Ask for a new one from the app.";

fn message(app_name: &str, status: StatusCode, title: &str, message: &str) -> Response {
    pages::page(
        status,
        &pages::Message {
            app_name,
            title,
            message,
        },
        &[],
    )
}

fn reset_page(app_name: &str, status: StatusCode, token: &str, error: Option<&str>) -> Response {
    let form = pages::ResetForm {
        app_name,
        title: "Choose a new password",
        token,
        error,
    };
    pages::page(status, &form, &[])
}

#[cfg(test)]
mod tests {
    use super::prefers_html;

    #[test]
    fn browsers_get_pages_and_clients_json() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(Some(firefox)));
        assert!(!prefers_html(Some("application/json")));
        assert!(!prefers_html(Some("*/*")));
        assert!(!prefers_html(None));
        assert!(!prefers_html(Some("text/html;q=0.5, application/json")));
    }
}
