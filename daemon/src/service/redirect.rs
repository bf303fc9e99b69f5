//! Redirect URIs of the authorization code flow (RFC 6749 §3.1.2, RFC 8252): which may be
//! registered, and whether a presented one matches a registered one.
//!
//! Registrable: absolute `https` URIs; `http` only on a loopback host (`127.0.0.1`,
//! `[::1]`, `localhost`); private-use schemes of native apps, named like a reversed
//! domain (`com.example.app:/cb`). Never a fragment. Matching is exact string
//! equality, except that a loopback `http` URI matches on any port (RFC 8252 §7.3).

use url::{Host, Url};

/// Why `uri` cannot be registered, if it cannot.
pub fn check(uri: &str) -> Result<(), String> {
    let parsed = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{uri:?} has a fragment; redirect URIs may not"));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "https" => Err(format!("{uri:?} has no host")),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "{uri:?}: plain http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https"
        )),
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "{uri:?}: a private-use scheme must be a reversed domain name like com.example.app, not {scheme:?}"
        )),
    }
}

/// True when `presented` may stand for `registered`.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback(&a)
        && a.host() == b.host()
        && a.username() == b.username()
        && a.password() == b.password()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment().is_none()
        && b.fragment().is_none()
        // The string form too, so that only the port may differ.
        && without_port(registered) == without_port(presented)
}

/// The origin a page's `form-action` must allow for `uri`: `scheme://host[:port]`, or
/// `scheme:` for a private-use scheme.
pub fn origin(uri: &str) -> Option<String> {
    let parsed = Url::parse(uri).ok()?;
    match parsed.scheme() {
        "http" | "https" => Some(parsed.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

/// `uri` with `params` added to its query (after `?`, or `&` when it has one already);
/// `uri` as it is when there are none.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return uri.to_owned();
    }
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        pairs.append_pair(k, v);
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{}", pairs.finish())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn without_port(uri: &str) -> Option<String> {
    let mut url = Url::parse(uri).ok()?;
    url.set_port(None).ok()?;
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_join_the_query_encoded() {
        assert_eq!(with_query("https://app.example/cb", &[]), "https://app.example/cb");
        assert_eq!(
            with_query("https://app.example/cb", &[("state", "a b&c"), ("iss", "x")]),
            "https://app.example/cb?state=a+b%26c&iss=x"
        );
        assert_eq!(
            with_query("https://app.example/cb?v=1", &[("code", "k")]),
            "https://app.example/cb?v=1&code=k"
        );
    }

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/relative",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "http://10.0.0.1/cb",
            "myapp:/cb",
            "not a uri",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_matches_on_any_port_and_everything_else_exactly() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb"));
        assert!(matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        assert!(matches("http://localhost/cb", "http://localhost:4000/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/other"));
        assert!(!matches("http://127.0.0.1/cb", "http://localhost:51234/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:1/cb?x=1"));
        assert!(matches("https://app.example.com/cb", "https://app.example.com/cb"));
        assert!(!matches("https://app.example.com/cb", "https://app.example.com:443/cb"));
        assert!(!matches("https://app.example.com/cb", "https://app.example.com/cb/"));
        assert!(!matches("https://app.example.com/cb", "https://APP.example.com/cb"));
        assert!(matches("com.example.app:/cb", "com.example.app:/cb"));
    }

    #[test]
    fn origins_for_form_action() {
        assert_eq!(
            origin("https://app.example.com/cb?x").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/cb").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("com.example.app:/cb").as_deref(), Some("com.example.app:"));
    }
}
