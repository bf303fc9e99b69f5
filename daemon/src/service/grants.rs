//! The token endpoint's grants (RFC 6749 §4): the grant types Tessera knows, the
//! typed request the transport parses once, and the policy on who may use which.
//! Adding a grant is a [`GrantType`] variant, a [`TokenRequest`] variant and the
//! service function it dispatches to; the metadata lists [`GrantType::ALL`].

use super::clients::AuthenticatedClient;
use super::{Issued, Origin, Service, ServiceError};
use crate::secret::Secret;

/// A grant type of `POST /oauth/token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1, with PKCE).
    AuthorizationCode,
    /// `password` (RFC 6749 §4.3), when `[oauth] password_grant = true`.
    Password,
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken,
    /// `client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
}

impl GrantType {
    /// Every grant type, in the order the metadata lists them.
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// The `grant_type` value.
    pub fn name(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// The grant type named `name`: `unsupported_grant_type` for any other.
    pub fn parse(name: &str) -> Result<Self, ServiceError> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| ServiceError::UnsupportedGrantType(format!("grant_type {name:?} is not supported")))
    }

    /// Whether a public client (no secret) may use it: only the grants that prove
    /// something besides the client (a code with its PKCE verifier, a refresh token).
    fn open_to_public_clients(self) -> bool {
        matches!(self, GrantType::AuthorizationCode | GrantType::RefreshToken)
    }
}

/// A token request, its parameters read from the form by the transport. A missing
/// parameter is `None` here and refused by the grant with the parameter's name.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=authorization_code`.
    AuthorizationCode {
        /// `code`.
        code: Option<Secret>,
        /// `redirect_uri`.
        redirect_uri: Option<String>,
        /// `code_verifier` (PKCE).
        verifier: Option<String>,
    },
    /// `grant_type=password`.
    Password {
        /// `username` (a username or an email address).
        login: Option<String>,
        /// `password`.
        password: Option<Secret>,
        /// `scope`.
        scope: Option<Vec<String>>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken {
        /// `refresh_token`.
        token: Option<Secret>,
        /// `scope`.
        scope: Option<Vec<String>>,
    },
    /// `grant_type=client_credentials`.
    ClientCredentials {
        /// `scope`.
        scope: Option<Vec<String>>,
    },
}

impl TokenRequest {
    /// The request's grant type.
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::Password { .. } => GrantType::Password,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }
}

impl Service {
    /// Whether this daemon offers `grant` (the metadata lists those that it does).
    pub(super) fn offers(&self, grant: GrantType) -> bool {
        grant != GrantType::Password || self.config.password_grant
    }

    /// `POST /oauth/token`: `request` for `client` (the client the request
    /// authenticated as, if any), after the policy on which client may use which grant.
    pub async fn token(
        &self,
        client: Option<AuthenticatedClient>,
        request: TokenRequest,
        origin: Origin,
    ) -> Result<Issued, ServiceError> {
        let grant = request.grant_type();
        if client.as_ref().is_some_and(AuthenticatedClient::is_public) && !grant.open_to_public_clients() {
            return Err(ServiceError::UnauthorizedClient(
                "a public client may use only the authorization_code and refresh_token grants".into(),
            ));
        }
        if !self.offers(grant) {
            return Err(ServiceError::UnsupportedGrantType(format!(
                "the {} grant is disabled",
                grant.name()
            )));
        }
        match request {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
            } => self.code_grant(client, code, redirect_uri, verifier, origin).await,
            TokenRequest::Password { login, password, scope } => {
                self.password_grant(client, login, password, scope, origin).await
            }
            TokenRequest::RefreshToken { token, scope } => self.refresh_grant(client, token, scope, origin).await,
            TokenRequest::ClientCredentials { scope } => {
                let client = client.ok_or(ServiceError::InvalidClient)?;
                self.client_credentials_grant(&client, scope)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GrantType;

    #[test]
    fn grant_types_parse_by_name_and_nothing_else() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.name()).unwrap(), grant);
        }
        for other in [
            "",
            "Password",
            "implicit",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            assert!(
                GrantType::parse(other).is_err(),
                "{other:?} is not a grant Tessera offers"
            );
        }
    }
}
