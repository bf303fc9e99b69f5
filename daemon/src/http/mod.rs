//! The HTTP face: routes per resource, shared filters, and error mapping. Handlers
//! only parse, call [`crate::service`], and translate the outcome.

mod api_tokens;
mod auth;
mod authorize;
mod body;
pub mod cors;
mod email;
mod error;
mod health;
mod keys;
pub mod metrics;
mod mfa;
mod oauth;
mod oidc;
mod own_account;
mod pages;
mod reply;
pub mod server;
pub mod tls;

use crate::service::{Origin, Service};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::Method;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// Every route, with rejections turned into contract errors, each request counted in
/// `metrics` when they are served, and one log line per request at `debug` (target
/// `tessera::http`): at `info` a busy daemon would flood the journal, whose rate limit
/// would then also drop the lines that matter. `scrape`, when given, is served at
/// `GET /metrics`.
pub fn routes(
    service: Arc<Service>,
    metrics: Option<Arc<metrics::HttpMetrics>>,
    scrape: Option<BoxedFilter<(Response,)>>,
) -> BoxedFilter<(Response,)> {
    let api = auth::routes(Arc::clone(&service))
        .or(api_tokens::routes(Arc::clone(&service)))
        .unify()
        .or(mfa::routes(Arc::clone(&service)))
        .unify()
        .or(own_account::routes(Arc::clone(&service)))
        .unify()
        .or(email::routes(Arc::clone(&service)))
        .unify()
        .or(keys::routes(Arc::clone(&service)))
        .unify()
        .or(oauth::routes(Arc::clone(&service)))
        .unify()
        .or(oidc::routes(Arc::clone(&service)))
        .unify()
        .or(authorize::routes(Arc::clone(&service)))
        .unify()
        .or(health::routes(service))
        .unify()
        .boxed();
    let api = match scrape {
        Some(scrape) => scrape.or(api).unify().boxed(),
        None => api,
    };
    api.recover(error::recover)
        .unify()
        .with(warp::log::custom(move |info| {
            if let Some(metrics) = &metrics {
                metrics.observe(info.path(), info.status().as_u16(), info.elapsed());
            }
            tracing::debug!(
                target: "tessera::http",
                method = %info.method(),
                path = logged_path(info.path()),
                status = info.status().as_u16(),
                micros = info.elapsed().as_micros() as u64,
                "request"
            );
        }))
        .map(warp::Reply::into_response)
        .boxed()
}

/// The request path as logged: the token in a verification link's path is a secret.
fn logged_path(path: &str) -> &str {
    match path.strip_prefix("/api/auth/verify-email/") {
        Some(rest) if rest != "request" => metrics::VERIFY_LINK,
        _ => path,
    }
}

/// Hands the service to a handler.
fn with_service(service: Arc<Service>) -> impl Filter<Extract = (Arc<Service>,), Error = Infallible> + Clone {
    warp::any().map(move || Arc::clone(&service))
}

/// Matches `method`, else rejects with 405 and `Allow: allow`.
fn method(method: Method, allow: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and_then(move |actual: Method| {
            let ok = actual == method;
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::custom(error::WrongMethod(allow)))
                }
            }
        })
        .untuple_one()
}

/// The client's address. Proxies' forwarding headers are not trusted.
fn origin() -> impl Filter<Extract = (Origin,), Error = Infallible> + Clone {
    warp::ext::optional::<server::PeerAddr>().map(|peer: Option<server::PeerAddr>| Origin {
        addr: peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip()),
    })
}

/// The token of an `Authorization: Bearer …` header, if any.
fn bearer() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("authorization")
        .or(warp::any().map(|| None))
        .unify()
        .map(|value: Option<String>| {
            let value = value?;
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
                .filter(|t| !t.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn a_verification_token_never_reaches_the_log() {
        assert_eq!(
            logged_path("/api/auth/verify-email/tsr_ve_secret"),
            "/api/auth/verify-email/{token}"
        );
        assert_eq!(
            logged_path("/api/auth/verify-email/request"),
            "/api/auth/verify-email/request"
        );
        assert_eq!(logged_path("/api/auth/me"), "/api/auth/me");
    }
}
