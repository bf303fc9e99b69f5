//! Form tokens for the sign-in pages (CSRF). A page's forms carry the HMAC-SHA256,
//! under a key the store keeps (the same on every daemon sharing it), of the browser's
//! CSRF cookie and, once it is signed in, of its session cookie too. Only the daemon
//! can compute a token, so a cookie planted by a neighbouring site is of no use without
//! a page the daemon drew for it, and a token drawn before sign-in is not good after.

use super::{Service, ServiceError};
use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// The setting that holds the key.
const KEY_SETTING: &str = "form_token_key";

/// The key of the form tokens.
pub(super) struct FormKey(hmac::Key);

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey(<redacted>)")
    }
}

impl FormKey {
    /// The store's key; on first start a new random one, stored (the first daemon to
    /// store one wins; the caller commits before serving).
    pub(super) async fn load(store: &Store) -> Result<Self, ServiceError> {
        let fresh = crate::secret::generate("")?;
        let key = store.setting_or_init(KEY_SETTING, fresh.expose()).await?;
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes())))
    }
}

/// What a token covers: the CSRF cookie, and the session cookie if any.
fn message(csrf_cookie: &str, session_cookie: Option<&str>) -> Vec<u8> {
    [
        b"tessera form\0",
        csrf_cookie.as_bytes(),
        b"\0",
        session_cookie.unwrap_or_default().as_bytes(),
    ]
    .concat()
}

impl Service {
    /// The token the forms of a browser with these cookies carry.
    pub fn form_token(&self, csrf_cookie: &str, session_cookie: Option<&str>) -> String {
        let tag = hmac::sign(&self.form_key.0, &message(csrf_cookie, session_cookie));
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// True when `presented` is the token of a browser with these cookies (compared in
    /// constant time).
    pub fn form_token_ok(&self, csrf_cookie: &str, session_cookie: Option<&str>, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented)
            .is_ok_and(|tag| hmac::verify(&self.form_key.0, &message(csrf_cookie, session_cookie), &tag).is_ok())
    }
}
