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

/// Removes duplicates while keeping the first occurrence's order.
pub fn dedup(scopes: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for s in scopes {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
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
}
