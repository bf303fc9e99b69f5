//! The verified-token cache changes no answer: a token served from it stops working at
//! once when its session, user or jti is revoked.

use super::{OPERATOR, fixture, origin};

#[tokio::test]
async fn cached_tokens_die_with_logout_revocation_disable_and_delete() {
    let f = fixture().await;
    let s = &f.service;
    let check =
        async |token: &str| s.authenticate(Some(token)).await.is_ok() && s.introspect(token).await.unwrap().active;
    let cases = ["logout", "rfc7009", "disable", "delete", "revoke-all"];
    for (i, case) in cases.iter().enumerate() {
        let name = format!("user{i}");
        let issued = f.register(&name).await;
        let token = issued.access_token.as_str();
        assert!(
            check(token).await && check(token).await,
            "{case}: live, then served from the cache"
        );
        assert!(s.tokens.cached() > 0);
        match *case {
            "logout" => {
                let caller = s.authenticate(Some(token)).await.unwrap();
                s.logout(caller, origin()).await.unwrap();
            }
            "rfc7009" => s.revoke_token(token, origin()).await.unwrap(),
            "disable" => drop(s.set_disabled(OPERATOR, &name, true).await.unwrap()),
            "delete" => s.delete_user(OPERATOR, &name).await.unwrap(),
            _ => drop(s.revoke_all_sessions(OPERATOR, &name).await.unwrap()),
        }
        assert!(!check(token).await, "{case}: the cached token still worked");
    }
}
