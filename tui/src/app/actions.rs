//! Actions on the daemon: the forms and confirmations that keys open, and the
//! requests they make.

use super::{App, Detail, Effect, Mode, Purpose, Setting};
use crate::form::{Confirm, Form, FormKind};
use crate::keymap::{Action, Screen};
use tessera_common::admin::Request;

impl App {
    pub(super) fn open(&mut self) -> Vec<Effect> {
        match self.screen {
            Screen::Users => {
                if self.detail.is_some() {
                    self.detail = None;
                    return Vec::new();
                }
                if let Some(user) = self.selected_user() {
                    self.detail = Some(Detail {
                        user_id: user.user.id.clone(),
                        ..Detail::default()
                    });
                    return self.load_detail();
                }
                Vec::new()
            }
            Screen::Settings => match self.settings_view.at(Setting::ALL.len()).map(|i| Setting::ALL[i]) {
                Some(Setting::Guest) => self.act(Action::ToggleGuest),
                Some(Setting::Registration) => self.act(Action::ToggleRegistration),
                Some(Setting::Keys) => self.act(Action::RotateKey),
                None => Vec::new(),
            },
            Screen::Audit => {
                let visible = self.visible_audit();
                if let Some(entry) = self.audit_selected_in(visible.len()).map(|i| visible[i].clone()) {
                    self.mode = Mode::Entry(Box::new(entry));
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The actions that change something on the daemon.
    pub(super) fn act(&mut self, action: Action) -> Vec<Effect> {
        let user = self
            .selected_user()
            .map(|u| (u.user.username.clone(), u.user.email.clone(), u.user.role.clone()));
        let needs_user = matches!(
            action,
            Action::SetRole
                | Action::Disable
                | Action::Enable
                | Action::SetPassword
                | Action::RevokeAll
                | Action::DeleteUser
                | Action::SendVerification
                | Action::SendReset
        );
        if needs_user && user.is_none() {
            self.say("no user selected", true);
            return Vec::new();
        }
        let (name, email, role) = user.unwrap_or_default();
        match action {
            Action::AddUser => self.mode = Mode::Form(Form::new(FormKind::AddUser)),
            Action::SetRole => self.mode = Mode::Form(Form::new(FormKind::SetRole { user: name, role })),
            Action::SetPassword => self.mode = Mode::Form(Form::new(FormKind::SetPassword { user: name })),
            Action::AddClient => self.mode = Mode::Form(Form::new(FormKind::AddClient)),
            Action::RotateSecret => {
                let clients = self.visible_clients();
                match self.clients_view.at(clients.len()).map(|i| clients[i]) {
                    Some(c) if c.public => self.say(format!("{} is public: it has no secret", c.client_id), true),
                    Some(c) => {
                        let client = c.client_id.clone();
                        self.mode = Mode::Form(Form::new(FormKind::RotateSecret { client }));
                    }
                    None => self.say("no client selected", true),
                }
            }
            Action::Enable => {
                return vec![self.send(
                    Request::UserEnable { name: name.clone() },
                    Purpose::Change(format!("{name} enabled")),
                )];
            }
            Action::Disable => {
                self.mode = Mode::Confirm(Confirm::new(
                    "Disable user",
                    format!(
                        "Disable {name} ({email})? Their sessions are revoked for good and they cannot log in until enabled again."
                    ),
                    Request::UserDisable { name: name.clone() },
                    format!("{name} disabled"),
                ))
            }
            Action::DeleteUser => {
                self.mode = Mode::Confirm(Confirm::new(
                    "Delete user",
                    format!(
                        "Delete {name} ({email})? The account, its sessions and its API tokens are removed for good."
                    ),
                    Request::UserDelete { name: name.clone() },
                    format!("{name} deleted"),
                ))
            }
            Action::RevokeAll => {
                self.mode = Mode::Confirm(Confirm::new(
                    "Revoke all sessions",
                    format!(
                        "Revoke every session of {name}? Their refresh tokens stop working at once and they must log in again."
                    ),
                    Request::SessionRevokeAll { name: name.clone() },
                    format!("sessions of {name} revoked"),
                ))
            }
            Action::SendVerification => {
                self.mode = Mode::Confirm(Confirm::new(
                    "Mail a verification link",
                    format!("Mail {email} a link that confirms the address of {name}?"),
                    Request::UserSendVerification { name: name.clone() },
                    format!("verification link mailed to {email}"),
                ))
            }
            Action::SendReset => {
                self.mode = Mode::Confirm(Confirm::new(
                    "Mail a password-reset link",
                    format!(
                        "Mail {email} a link to choose a new password for {name}? Their password stays until they use it."
                    ),
                    Request::UserSendReset { name: name.clone() },
                    format!("reset link mailed to {email}"),
                ))
            }
            Action::Revoke => return self.revoke_selected(),
            Action::RemoveClient => {
                let clients = self.visible_clients();
                let Some(client) = self
                    .clients_view
                    .at(clients.len())
                    .map(|i| clients[i].client_id.clone())
                else {
                    self.say("no client selected", true);
                    return Vec::new();
                };
                self.mode = Mode::Confirm(Confirm::new(
                    "Remove client",
                    format!(
                        "Remove OAuth client {client}? It can no longer get tokens, and the tokens it holds stop working."
                    ),
                    Request::ClientRemove {
                        client_id: client.clone(),
                    },
                    format!("client {client} removed"),
                ));
            }
            Action::ToggleGuest => {
                let Some(on) = self.status.as_ref().map(|s| !s.guest_enabled) else {
                    self.say("the daemon's settings are not loaded yet", true);
                    return Vec::new();
                };
                let done = format!("guest mode {}", crate::output::on_off(on));
                return vec![self.send(Request::GuestSet { enabled: on }, Purpose::Change(done))];
            }
            Action::ToggleRegistration => {
                let Some(open) = self.status.as_ref().map(|s| !s.registration_open) else {
                    self.say("the daemon's settings are not loaded yet", true);
                    return Vec::new();
                };
                let done = format!("registration {}", crate::output::open_closed(open));
                return vec![self.send(Request::RegistrationSet { open }, Purpose::Change(done))];
            }
            Action::RotateKey => {
                self.mode = Mode::Confirm(Confirm::new(
                    "Rotate signing key",
                    "Rotate the signing key? A new key signs from now on; the current one stays published as retiring until every token it signed has expired.",
                    Request::KeyRotate,
                    "signing key rotated",
                ))
            }
            _ => {}
        }
        Vec::new()
    }

    fn revoke_selected(&mut self) -> Vec<Effect> {
        let (sessions, tokens) = self.visible_sessions();
        let Some(i) = self.sessions_view.at(sessions.len() + tokens.len()) else {
            self.say("nothing selected", true);
            return Vec::new();
        };
        let confirm = match sessions.get(i) {
            Some(s) => Confirm::new(
                "Revoke session",
                format!(
                    "Revoke session {} of {}? Its refresh token stops working at once, and introspection and /me refuse its access tokens.",
                    s.id, s.username
                ),
                Request::SessionRevoke { id: s.id.clone() },
                format!("session of {} revoked", s.username),
            ),
            None => {
                let t = tokens[i - sessions.len()];
                Confirm::new(
                    "Revoke API token",
                    format!(
                        "Revoke API token \"{}\" ({}) of {}? Anything using it is refused at once.",
                        t.token.name, t.token.id, t.username
                    ),
                    Request::TokenRevoke { id: t.token.id.clone() },
                    format!("API token \"{}\" revoked", t.token.name),
                )
            }
        };
        self.mode = Mode::Confirm(confirm);
        Vec::new()
    }
}
