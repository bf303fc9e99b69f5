//! Request bodies: JSON or form-encoded, read with a 64 KiB cap (also for chunked
//! bodies without a length), into a field map with typed getters.

use crate::secret::Secret;
use crate::service::ServiceError;
use bytes::{Buf, BufMut};
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value};
use warp::Filter;

/// Largest accepted body: exactly 65,536 bytes is fine, one more is 413.
pub const MAX_BODY: usize = 64 * 1024;

/// The fields of a request body.
#[derive(Debug, Default)]
pub struct Fields {
    map: Map<String, Value>,
    /// Form bodies carry only strings, so a scope list arrives space-separated.
    form: bool,
}

/// The fields, or why the body could not be read.
pub type BodyResult = Result<Fields, ServiceError>;

/// Extracts the request body as [`Fields`], or the error response for it.
pub fn fields() -> impl Filter<Extract = (BodyResult,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::header::optional::<String>("content-length"))
        .and(warp::body::stream())
        .then(|content_type: Option<String>, length: Option<String>, stream| read(content_type, length, stream))
}

enum Kind {
    Json,
    Form,
}

fn kind(content_type: Option<&str>) -> Option<Kind> {
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Some(Kind::Json),
        "application/x-www-form-urlencoded" => Some(Kind::Form),
        _ => None,
    }
}

async fn read<S, B>(content_type: Option<String>, length: Option<String>, stream: S) -> BodyResult
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if length
        .as_deref()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l > MAX_BODY as u64)
    {
        return Err(ServiceError::PayloadTooLarge { limit: MAX_BODY });
    }
    let mut buf = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ServiceError::malformed("could not read the request body"))?;
        if buf.len() + chunk.remaining() > MAX_BODY {
            return Err(ServiceError::PayloadTooLarge { limit: MAX_BODY });
        }
        buf.put(chunk);
    }
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields::default());
    }
    match kind(content_type.as_deref()) {
        Some(Kind::Json) => match serde_json::from_slice(&buf) {
            Ok(Value::Object(map)) => Ok(Fields { map, form: false }),
            Ok(_) => Err(ServiceError::malformed("the JSON body must be an object")),
            Err(_) => Err(ServiceError::malformed("the body is not valid JSON")),
        },
        // Form decoding cannot fail: bytes that are not UTF-8 once decoded become U+FFFD.
        Some(Kind::Form) => Ok(Fields {
            map: form_urlencoded::parse(&buf)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
            form: true,
        }),
        None => Err(ServiceError::UnsupportedMediaType),
    }
}

fn wrong_type(field: &'static str, what: &str) -> ServiceError {
    ServiceError::invalid(field, format!("{field} must be {what}"))
}

impl Fields {
    /// A string field; absent, `null` and `""` are `None`.
    pub fn string(&mut self, field: &'static str) -> Result<Option<String>, ServiceError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(field, "a string")),
        }
    }

    /// A secret string field (passwords, tokens).
    pub fn secret(&mut self, field: &'static str) -> Result<Option<Secret>, ServiceError> {
        Ok(self.string(field)?.map(Secret::new))
    }

    /// An integer field (a JSON number, or digits in a form).
    pub fn integer(&mut self, field: &'static str) -> Result<Option<i64>, ServiceError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(field, "an integer")),
            Some(Value::String(s)) if self.form => {
                s.trim().parse().map(Some).map_err(|_| wrong_type(field, "an integer"))
            }
            Some(_) => Err(wrong_type(field, "an integer")),
        }
    }

    /// Requested scopes: `scopes` as a JSON array, or a space-separated string in
    /// `scopes` or `scope`; `INVALID_SCOPE` past [`tessera_common::scopes::MAX_SCOPES`]
    /// or [`tessera_common::scopes::MAX_SCOPE_LEN`].
    pub fn scopes(&mut self) -> Result<Option<Vec<String>>, ServiceError> {
        let scopes = self.scopes_unchecked()?;
        match scopes.as_deref().and_then(tessera_common::scopes::out_of_bounds) {
            Some(problem) => Err(ServiceError::InvalidScope(problem)),
            None => Ok(scopes),
        }
    }

    fn scopes_unchecked(&mut self) -> Result<Option<Vec<String>>, ServiceError> {
        for field in ["scopes", "scope"] {
            match self.map.remove(field) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => return Ok(Some(tessera_common::scopes::parse(&s))),
                Some(Value::Array(items)) if !self.form => {
                    return items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) if !s.is_empty() && !s.contains(' ') => Ok(s),
                            _ => Err(wrong_type(field, "an array of scope names")),
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some);
                }
                Some(_) => return Err(wrong_type(field, "an array of scope names or a space-separated string")),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    async fn parse(content_type: Option<&str>, body: &[u8]) -> BodyResult {
        let chunks: Vec<Result<Bytes, warp::Error>> =
            body.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        read(
            content_type.map(str::to_owned),
            None,
            futures_util::stream::iter(chunks),
        )
        .await
    }

    #[tokio::test]
    async fn json_and_form_give_the_same_fields() {
        let mut json = parse(
            Some("application/json; charset=utf-8"),
            br#"{"username":"al","scopes":["read","write"],"x":1}"#,
        )
        .await
        .unwrap();
        let mut form = parse(
            Some("application/x-www-form-urlencoded"),
            b"username=al&scope=read+write",
        )
        .await
        .unwrap();
        for f in [&mut json, &mut form] {
            assert_eq!(f.string("username").unwrap().as_deref(), Some("al"));
            assert_eq!(f.scopes().unwrap().unwrap(), ["read", "write"]);
        }
    }

    #[tokio::test]
    async fn size_limit_is_exact_even_without_a_length() {
        let at_limit = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY - 8));
        assert_eq!(at_limit.len(), MAX_BODY);
        assert!(parse(Some("application/json"), at_limit.as_bytes()).await.is_ok());
        let over = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY - 7));
        let err = parse(Some("application/json"), over.as_bytes()).await.unwrap_err();
        assert!(matches!(err, ServiceError::PayloadTooLarge { .. }));
    }

    #[tokio::test]
    async fn other_types_and_bad_bodies() {
        assert!(matches!(
            parse(Some("text/plain"), b"hi").await,
            Err(ServiceError::UnsupportedMediaType)
        ));
        assert!(matches!(
            parse(None, b"hi").await,
            Err(ServiceError::UnsupportedMediaType)
        ));
        assert!(matches!(
            parse(Some("application/json"), b"{nope").await,
            Err(ServiceError::InvalidRequest { .. })
        ));
        assert!(matches!(
            parse(Some("application/json"), b"[1]").await,
            Err(ServiceError::InvalidRequest { .. })
        ));
        assert!(parse(None, b"").await.is_ok());
        let mut f = parse(Some("application/json"), br#"{"username":5,"scopes":"read"}"#)
            .await
            .unwrap();
        assert!(f.string("username").is_err());
        assert_eq!(f.scopes().unwrap().unwrap(), ["read"]);
    }
}
