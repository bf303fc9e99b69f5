//! The OAuth 2.0 routes (see docs/openapi.yaml): token, introspection, revocation, metadata.
//! Errors here take the RFC 6749 §5.2 shape.

use super::body::{self, BodyResult, Fields};
use super::error::oauth_error;
use super::reply::{Cache, json};
use super::{method, origin, with_service};
use crate::secret::Secret;
use crate::service::clients::{AuthenticatedClient, ClientCredentials};
use crate::service::grants::{GrantType, TokenRequest};
use crate::service::{Issued, Origin, Service, ServiceError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;
use tessera_common::oauth::TokenResponse;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The OAuth routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    token(Arc::clone(&service))
        .or(introspect(Arc::clone(&service)))
        .unify()
        .or(revoke(Arc::clone(&service)))
        .unify()
        .or(metadata(service))
        .unify()
        .boxed()
}

/// HTTP Basic credentials, if that scheme was used: `Some(Err)` when malformed.
type Basic = Option<Result<ClientCredentials, ()>>;

/// The [`Basic`] credentials of a request.
fn basic() -> impl Filter<Extract = (Basic,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization")
        .or(warp::any().map(|| None))
        .unify()
        .map(|value: Option<String>| {
            let value = value?;
            let (scheme, encoded) = value.trim().split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            Some(parse_basic(encoded.trim()))
        })
}

/// RFC 6749 §2.3.1: base64 of `urlencode(id):urlencode(secret)`.
fn parse_basic(encoded: &str) -> Result<ClientCredentials, ()> {
    let decoded = STANDARD.decode(encoded).map_err(|_| ())?;
    let text = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = text.split_once(':').ok_or(())?;
    Ok(ClientCredentials {
        id: form_unescape(id)?,
        secret: Secret::new(form_unescape(secret)?),
    })
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
fn form_unescape(component: &str) -> Result<String, ()> {
    let spaced = component.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| ())?;
    Ok(decoded.into_owned())
}

/// The client the request authenticates as, if it sent credentials; they must be
/// valid, and only one method may be used.
async fn client(service: &Service, basic: Basic, f: &mut Fields) -> Result<Option<AuthenticatedClient>, ServiceError> {
    let body_id = f.string("client_id")?;
    let body_secret = f.secret("client_secret")?;
    let credentials = match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => {
            return Err(ServiceError::invalid(
                "client_secret",
                "use one client authentication method, not two",
            ));
        }
        (Some(Err(())), _, None) => return Err(ServiceError::InvalidClient),
        (Some(Ok(credentials)), _, None) => Some(credentials),
        (None, Some(id), Some(secret)) => Some(ClientCredentials { id, secret }),
        // A public client names itself alone.
        (None, Some(id), None) => return service.identify_public_client(&id).await.map(Some),
        (None, None, Some(_)) => {
            return Err(ServiceError::invalid("client_id", "client_secret without client_id"));
        }
        (None, None, None) => None,
    };
    match credentials {
        Some(c) => service.authenticate_client(&c).await.map(Some),
        None => Ok(None),
    }
}

fn respond(result: Result<Response, ServiceError>) -> Response {
    result.unwrap_or_else(|e| oauth_error(&e))
}

fn token_response(issued: Issued) -> Response {
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token.map(|s| s.expose().to_owned()),
        scope: tessera_common::scopes::join(&issued.scopes),
        id_token: issued.id_token,
    };
    json(StatusCode::OK, &body, Cache::NoStore)
}

fn required_token(f: &mut Fields) -> Result<String, ServiceError> {
    f.string("token")?.ok_or_else(|| ServiceError::required("token"))
}

/// POST /oauth/token
fn token(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "token")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(basic())
        .and(body::fields())
        .then(grant)
        .map(respond)
}

async fn grant(
    service: Arc<Service>,
    origin: Origin,
    basic: Basic,
    body: BodyResult,
) -> Result<Response, ServiceError> {
    let mut f = body?;
    let grant_type = f
        .string("grant_type")?
        .ok_or_else(|| ServiceError::required("grant_type"))?;
    let client = client(&service, basic, &mut f).await?;
    let grant_type = GrantType::parse(&grant_type)?;
    let request = token_request(grant_type, &mut f)?;
    Ok(token_response(service.token(client, request, origin).await?))
}

/// The parameters of a `grant_type` request (RFC 6749 §4).
fn token_request(grant_type: GrantType, f: &mut Fields) -> Result<TokenRequest, ServiceError> {
    Ok(match grant_type {
        GrantType::AuthorizationCode => TokenRequest::AuthorizationCode {
            code: f.secret("code")?,
            redirect_uri: f.string("redirect_uri")?,
            verifier: f.string("code_verifier")?,
        },
        GrantType::Password => TokenRequest::Password {
            login: f.string("username")?,
            password: f.secret("password")?,
            scope: f.scopes()?,
        },
        GrantType::RefreshToken => TokenRequest::RefreshToken {
            token: f.secret("refresh_token")?,
            scope: f.scopes()?,
        },
        GrantType::ClientCredentials => TokenRequest::ClientCredentials { scope: f.scopes()? },
    })
}

/// POST /oauth/introspect
fn introspect(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "introspect")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(basic())
        .and(body::fields())
        .then(introspect_token)
        .map(respond)
}

async fn introspect_token(service: Arc<Service>, basic: Basic, body: BodyResult) -> Result<Response, ServiceError> {
    let mut f = body?;
    // A public client proves nothing by naming itself.
    client(&service, basic, &mut f)
        .await?
        .filter(|c| !c.is_public())
        .ok_or(ServiceError::InvalidClient)?;
    let token = required_token(&mut f)?;
    Ok(json(StatusCode::OK, &service.introspect(&token).await?, Cache::NoStore))
}

/// POST /oauth/revoke
fn revoke(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "revoke")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(basic())
        .and(body::fields())
        .then(revoke_token)
        .map(respond)
}

async fn revoke_token(
    service: Arc<Service>,
    origin: Origin,
    basic: Basic,
    body: BodyResult,
) -> Result<Response, ServiceError> {
    let mut f = body?;
    client(&service, basic, &mut f).await?;
    let token = required_token(&mut f)?;
    service.revoke_token(&token, origin).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({}), Cache::NoStore))
}

/// GET /.well-known/oauth-authorization-server
fn metadata(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!(".well-known" / "oauth-authorization-server")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .map(|service: Arc<Service>| json(StatusCode::OK, &service.metadata(), Cache::Default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let encoded = STANDARD.encode("my%20app:s%3Acret+%26+%3D");
        let creds = parse_basic(&encoded).unwrap();
        assert_eq!((creds.id.as_str(), creds.secret.expose()), ("my app", "s:cret & ="));
        // A raw `&` or `=` is part of the value, not a separator.
        let raw = parse_basic(&STANDARD.encode("app:a&b=c")).unwrap();
        assert_eq!(raw.secret.expose(), "a&b=c");
        assert!(
            parse_basic(&STANDARD.encode("app:%FF")).is_err(),
            "not UTF-8 once decoded"
        );
        assert!(parse_basic("!!!").is_err());
        assert!(parse_basic(&STANDARD.encode("no-colon")).is_err());
    }
}
