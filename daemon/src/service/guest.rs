//! Guest tokens: short-lived, role `guest`, no session, no refresh.

use super::{Issued, Service, ServiceError, after};
use crate::tokens::Grant;
use tessera_common::api::{GuestView, Principal};

/// Role carried by guest tokens.
pub const ROLE: &str = "guest";
/// Prefix of a guest token's subject.
pub const SUBJECT_PREFIX: &str = "guest:";

impl Service {
    /// `POST /api/auth/guest`.
    pub fn guest(&self) -> Result<Issued, ServiceError> {
        if !self.guest_enabled() {
            return Err(ServiceError::GuestDisabled);
        }
        let now = self.now();
        let exp = after(now, self.config.tokens.guest);
        let scopes = self.config.role_scopes(ROLE).unwrap_or_default().to_vec();
        let id = format!("{SUBJECT_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let grant = Grant {
            sub: id.clone(),
            scopes: scopes.clone(),
            role: Some(ROLE.into()),
            ..Grant::default()
        };
        self.issue(
            grant,
            now,
            exp,
            Some(Principal::Guest(GuestView { id, role: ROLE.into() })),
        )
    }
}
