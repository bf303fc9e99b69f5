//! Scope lists: parsing the space-separated wire form and subset checks.

/// Splits a space-separated scope string (RFC 6749 §3.3) into scopes, dropping empties.
pub fn parse(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_owned).collect()
}

/// Joins scopes into the space-separated wire form.
pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// True when every scope in `requested` is also in `allowed`.
pub fn is_subset(requested: &[String], allowed: &[String]) -> bool {
    requested.iter().all(|s| allowed.contains(s))
}

/// The OpenID Connect scopes: a client must be registered with them to get them,
/// but no role is needed for them.
pub const IDENTITY: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Whether `scope` is one of the [`IDENTITY`] scopes.
pub fn is_identity(scope: &str) -> bool {
    IDENTITY.contains(&scope)
}

/// Most scopes one request may name.
pub const MAX_SCOPES: usize = 64;
/// Longest scope name, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;

/// Why a requested scope list is refused before anything looks at it, if it is.
pub fn out_of_bounds(scopes: &[String]) -> Option<String> {
    if scopes.len() > MAX_SCOPES {
        return Some(format!("at most {MAX_SCOPES} scopes may be requested"));
    }
    scopes
        .iter()
        .any(|s| s.len() > MAX_SCOPE_LEN)
        .then(|| format!("scope names are at most {MAX_SCOPE_LEN} bytes"))
}

/// Removes duplicates while keeping the first occurrence's order (linear time).
pub fn dedup(scopes: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(scopes.len());
    scopes.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_join_round_trip() {
        let scopes = parse("  read write\tadmin ");
        assert_eq!(scopes, ["read", "write", "admin"]);
        assert_eq!(join(&scopes), "read write admin");
        assert!(parse("").is_empty());
    }

    #[test]
    fn subset_and_dedup() {
        let allowed = parse("read write");
        assert!(is_subset(&parse("read"), &allowed));
        assert!(is_subset(&[], &allowed));
        assert!(!is_subset(&parse("read admin"), &allowed));
        assert_eq!(dedup(parse("read write read")), ["read", "write"]);
    }

    #[test]
    fn bounds() {
        let many: Vec<String> = (0..20_000).map(|i| format!("s{i}")).collect();
        assert!(out_of_bounds(&many).is_some());
        assert_eq!(dedup(many).len(), 20_000, "linear, not quadratic: this runs at once");
        assert!(out_of_bounds(&["x".repeat(MAX_SCOPE_LEN + 1)]).is_some());
        assert!(out_of_bounds(&parse("read write")).is_none());
    }
}
