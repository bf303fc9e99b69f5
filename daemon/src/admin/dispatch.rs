//! Requests to service calls: the admin socket has no logic of its own.

use super::error::admin_error;
use crate::records::LinkKind;
use crate::secret::Secret;
use crate::service::clients::NewClient;
use crate::service::operator::NewUser;
use crate::service::{Operator, Service, ServiceError};
use tessera_common::admin::{Outcome, Reply, Request};

/// Runs one request for `operator`. [`Request::Subscribe`] and [`Request::Backup`]
/// are handled by the connection, which owns the event stream and the chunks.
pub async fn dispatch(service: &Service, operator: Operator, request: Request) -> Outcome {
    match run(service, operator, request).await {
        Ok(reply) => Outcome::Ok(reply),
        Err(e) => Outcome::Error(admin_error(e)),
    }
}

async fn run(service: &Service, operator: Operator, request: Request) -> Result<Reply, ServiceError> {
    use Request as R;
    Ok(match request {
        R::Status => Reply::Status(Box::new(service.status().await?)),
        R::Activity => Reply::Activity(service.activity().await),
        R::UserList { search, page: None } => Reply::Users(service.list_users(search.as_deref()).await?),
        R::UserList {
            search,
            page: Some(page),
        } => {
            let (users, next) = service.user_page(search.as_deref(), &page).await?;
            Reply::UserPage { users, next }
        }
        R::UserShow { name } => Reply::User(service.show_user(&name).await?),
        R::UserAdd {
            name,
            email,
            role,
            display_name,
            password,
        } => {
            let input = NewUser {
                name,
                email,
                role,
                display_name,
                password: Secret::new(password.0),
            };
            Reply::User(service.add_user(operator, input).await?)
        }
        R::UserGrants { name } => Reply::Grants(service.list_grants(&name).await?),
        R::UserRevokeGrant { name, client_id } => {
            Reply::Count(service.revoke_grant(operator, &name, &client_id).await?)
        }
        R::UserSendVerification { name } => {
            service.send_link_to(operator, &name, LinkKind::Verify).await?;
            Reply::Done
        }
        R::UserSendReset { name } => {
            service.send_link_to(operator, &name, LinkKind::Reset).await?;
            Reply::Done
        }
        R::UserSetRole { name, role } => Reply::User(service.set_role(operator, &name, &role).await?),
        R::UserDisable { name } => Reply::User(service.set_disabled(operator, &name, true).await?),
        R::UserResetMfa { name } => Reply::Count(service.reset_mfa(operator, &name).await?),
        R::UserEnable { name } => Reply::User(service.set_disabled(operator, &name, false).await?),
        R::UserDelete { name } => {
            service.delete_user(operator, &name).await?;
            Reply::Done
        }
        R::UserSetPassword { name, password } => {
            Reply::Count(service.set_password(operator, &name, Secret::new(password.0)).await?)
        }
        R::SessionList { name, page: None, .. } => Reply::Sessions(service.list_sessions(name.as_deref()).await?),
        R::SessionList {
            name,
            search,
            page: Some(page),
        } => {
            let (sessions, next) = service.session_page(name.as_deref(), search.as_deref(), &page).await?;
            Reply::SessionPage { sessions, next }
        }
        R::SessionRevoke { id } => {
            service.revoke_session_by_id(operator, &id).await?;
            Reply::Done
        }
        R::SessionRevokeAll { name } => Reply::Count(service.revoke_all_sessions(operator, &name).await?),
        R::GuestSet { enabled } => Reply::Guest {
            enabled: service.set_guest(operator, enabled).await?,
        },
        R::GuestStatus => Reply::Guest {
            enabled: service.guest_status(),
        },
        R::RegistrationSet { open } => Reply::Registration {
            open: service.set_registration(operator, open).await?,
        },
        R::RegistrationStatus => Reply::Registration {
            open: service.registration_status(),
        },
        R::TokenList { name, page: None, .. } => {
            Reply::ApiTokens(service.admin_list_api_tokens(name.as_deref()).await?)
        }
        R::TokenList {
            name,
            search,
            page: Some(page),
        } => {
            let (tokens, next) = service
                .admin_token_page(name.as_deref(), search.as_deref(), &page)
                .await?;
            Reply::TokenPage { tokens, next }
        }
        R::TokenRevoke { id } => {
            service.admin_revoke_api_token(operator, &id).await?;
            Reply::Done
        }
        R::ClientAdd {
            client_id,
            scopes,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            id_token_signed_response_alg,
        } => {
            let new = NewClient {
                client_id,
                scopes,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                id_token_alg: id_token_signed_response_alg,
            };
            Reply::ClientCreated(service.add_client(operator, new).await?)
        }
        R::ClientList => Reply::Clients(service.list_clients().await?),
        R::ClientRemove { client_id } => {
            service.remove_client(operator, &client_id).await?;
            Reply::Done
        }
        R::ClientRotateSecret {
            client_id,
            grace_seconds,
        } => {
            let grace = std::time::Duration::from_secs(grace_seconds);
            Reply::ClientCreated(service.rotate_client_secret(operator, &client_id, grace).await?)
        }
        R::KeyList => Reply::Keys(service.keys()),
        R::KeyRotate => Reply::Keys(service.rotate_key(operator).await?),
        R::Audit { limit, page: None } => Reply::Audit(service.audit_tail(limit).await?),
        R::Audit { page: Some(page), .. } => {
            let (entries, next) = service.audit_page(&page).await?;
            Reply::AuditPage { entries, next }
        }
        R::Subscribe => Reply::Done,
        R::Backup => return Err(ServiceError::Internal("a backup is streamed by its connection".into())),
    })
}
