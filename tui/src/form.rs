//! The console's dialogs that lead to a request: forms (add user, change role, set
//! password, add client) with the checks made before anything is sent, and the
//! confirmation that destructive actions ask for.

use tessera_common::admin::{Password, Request};

/// A confirmation dialog: what will happen, and the request that does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// Dialog title.
    pub title: String,
    /// Names the target and says what will happen.
    pub body: String,
    pub(crate) call: Request,
    pub(crate) done: String,
}

impl Confirm {
    /// A dialog that sends `call` when confirmed and then says `done`.
    pub fn new(title: impl Into<String>, body: impl Into<String>, call: Request, done: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: body.into(),
            call,
            done: done.into(),
        }
    }
}

/// Which form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    /// A new user.
    AddUser,
    /// A user's role.
    SetRole {
        /// Username.
        user: String,
        /// Current role (the field's first value).
        role: String,
    },
    /// A user's password.
    SetPassword {
        /// Username.
        user: String,
    },
    /// A new OAuth client.
    AddClient,
    /// A new secret for a client.
    RotateSecret {
        /// Client id.
        client: String,
    },
}

/// One input line.
#[derive(Clone, PartialEq, Eq)]
pub struct Field {
    /// Its label.
    pub label: &'static str,
    /// What was typed.
    pub value: String,
    /// Shown masked (passwords).
    pub secret: bool,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret { "<redacted>" } else { self.value.as_str() };
        f.debug_struct("Field")
            .field("label", &self.label)
            .field("value", &value)
            .finish()
    }
}

/// The label of a role field (the form shows the roles beside it).
pub const ROLE_LABEL: &str = "Role";

fn field(label: &'static str, value: impl Into<String>) -> Field {
    Field {
        label,
        value: value.into(),
        secret: false,
    }
}

fn secret(label: &'static str) -> Field {
    Field {
        label,
        value: String::new(),
        secret: true,
    }
}

/// A form being filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Which form.
    pub kind: FormKind,
    /// Its fields, in order.
    pub fields: Vec<Field>,
    /// The field being typed in.
    pub focus: usize,
    /// Why the last submit was refused (by the checks here or by the daemon).
    pub error: Option<String>,
    /// Sent; waiting for the daemon's answer.
    pub waiting: bool,
}

/// What submitting a valid form does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submit {
    /// Send at once; say `done` on success.
    Send {
        /// The request.
        call: Request,
        /// Said on success.
        done: String,
    },
    /// Ask first (destructive).
    Confirm(Confirm),
}

impl Form {
    /// An empty form of `kind`.
    pub fn new(kind: FormKind) -> Self {
        let fields = match &kind {
            FormKind::AddUser => vec![
                field("Username", ""),
                field("Email", ""),
                field(ROLE_LABEL, "user"),
                field("Display name (optional)", ""),
                secret("Password"),
                secret("Password again"),
            ],
            FormKind::SetRole { role, .. } => vec![field(ROLE_LABEL, role.clone())],
            FormKind::SetPassword { .. } => vec![secret("New password"), secret("Password again")],
            FormKind::AddClient => vec![
                field("Client id", ""),
                field("Scopes (space-separated)", ""),
                field("Redirect URIs (space-separated, optional)", ""),
                field("Public, no secret (y/n)", "n"),
                field("First-party, no consent (y/n)", "n"),
                field("ID-token algorithm (RS256 or EdDSA)", "RS256"),
            ],
            FormKind::RotateSecret { .. } => vec![field("Old secret works for (90s, 1h, 7d; empty: stops now)", "")],
        };
        Self {
            kind,
            fields,
            focus: 0,
            error: None,
            waiting: false,
        }
    }

    /// The dialog's title.
    pub fn title(&self) -> String {
        match &self.kind {
            FormKind::AddUser => "Add user".into(),
            FormKind::SetRole { user, .. } => format!("Change role of {user}"),
            FormKind::SetPassword { user } => format!("Set password of {user}"),
            FormKind::AddClient => "Add OAuth client".into(),
            FormKind::RotateSecret { client } => format!("New secret for {client}"),
        }
    }

    fn value(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", |f| f.value.as_str())
    }

    /// Checks the fields; the request to make, or what is wrong. `roles` are the
    /// daemon's (unchecked when empty).
    pub fn submit(&self, roles: &[String]) -> Result<Submit, String> {
        let check_role = |role: &str| {
            if role.is_empty() {
                return Err("a role is required".to_owned());
            }
            if !roles.is_empty() && !roles.iter().any(|r| r == role) {
                return Err(format!("unknown role \"{role}\"; roles: {}", roles.join(", ")));
            }
            Ok(())
        };
        let check_passwords = |a: &str, b: &str| {
            if a.is_empty() {
                return Err("a password is required".to_owned());
            }
            if a != b {
                return Err("the two passwords differ".to_owned());
            }
            Ok(())
        };
        match &self.kind {
            FormKind::AddUser => {
                let (name, email, role, display) = (
                    self.value(0).trim(),
                    self.value(1).trim(),
                    self.value(2).trim(),
                    self.value(3).trim(),
                );
                if name.is_empty() {
                    return Err("a username is required".into());
                }
                if !email.contains('@') {
                    return Err("the email address needs an @".into());
                }
                check_role(role)?;
                check_passwords(self.value(4), self.value(5))?;
                Ok(Submit::Send {
                    call: Request::UserAdd {
                        name: name.to_owned(),
                        email: email.to_owned(),
                        role: Some(role.to_owned()),
                        display_name: (!display.is_empty()).then(|| display.to_owned()),
                        password: Password(self.value(4).to_owned()),
                    },
                    done: format!("user {name} added"),
                })
            }
            FormKind::SetRole { user, .. } => {
                let role = self.value(0).trim();
                check_role(role)?;
                Ok(Submit::Send {
                    call: Request::UserSetRole {
                        name: user.clone(),
                        role: role.to_owned(),
                    },
                    done: format!("{user} is now {role}; their sessions were revoked"),
                })
            }
            FormKind::SetPassword { user } => {
                check_passwords(self.value(0), self.value(1))?;
                Ok(Submit::Confirm(Confirm::new(
                    "Set password",
                    format!("Set a new password for {user}? Every session of {user} is revoked."),
                    Request::UserSetPassword {
                        name: user.clone(),
                        password: Password(self.value(0).to_owned()),
                    },
                    format!("password of {user} set"),
                )))
            }
            FormKind::AddClient => {
                let id = self.value(0).trim();
                if id.is_empty() {
                    return Err("a client id is required".into());
                }
                let yes = |i: usize, what: &str| match self.value(i).trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => Ok(true),
                    "n" | "no" | "" => Ok(false),
                    _ => Err(format!("{what}: answer y or n")),
                };
                Ok(Submit::Send {
                    call: Request::ClientAdd {
                        client_id: id.to_owned(),
                        scopes: tessera_common::scopes::parse(self.value(1)),
                        redirect_uris: self.value(2).split_whitespace().map(str::to_owned).collect(),
                        post_logout_redirect_uris: Vec::new(),
                        public: yes(3, "public")?,
                        first_party: yes(4, "first-party")?,
                        id_token_signed_response_alg: self.value(5).trim().parse()?,
                    },
                    done: format!("client {id} added"),
                })
            }
            FormKind::RotateSecret { client } => {
                let grace = match self.value(0).trim() {
                    "" => 0,
                    text => tessera_common::duration::parse_duration(text)?.as_secs(),
                };
                let when = if grace == 0 {
                    "stops working now".to_owned()
                } else {
                    format!("works for {} more", self.value(0).trim())
                };
                Ok(Submit::Confirm(Confirm::new(
                    "New client secret",
                    format!("Give {client} a new secret? The old one {when}."),
                    Request::ClientRotateSecret {
                        client_id: client.clone(),
                        grace_seconds: grace,
                    },
                    format!("new secret for {client}"),
                )))
            }
        }
    }
}
