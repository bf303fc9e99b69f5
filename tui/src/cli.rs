//! The scriptable subcommands (see README, "The console"). Exit codes: 0 done, 1 refused or failed,
//! 2 usage, 3 daemon unreachable or connection refused at the handshake.

use crate::backup::BackupFailure;
use crate::client::{Client, ClientError};
use crate::output;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tessera_common::admin::{Page, Reply, Request};

mod paging;
mod password;

/// Tessera operator console.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Args {
    /// Admin socket (default: $TESSERA_SOCKET, then ./tessera-data/admin.sock if it
    /// exists, then /run/tessera/admin.sock).
    #[arg(long, global = true, env = "TESSERA_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print the daemon's answer as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Daemon status.
    Status,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Guest mode.
    Guest {
        #[arg(value_enum)]
        action: GuestAction,
    },
    /// Self-service registration.
    Registration {
        #[arg(value_enum)]
        action: RegistrationAction,
    },
    /// Signing keys.
    Key {
        #[arg(value_enum)]
        action: KeyAction,
    },
    /// Back up the running daemon's store to a file (0600: it holds the signing
    /// keys). Restore it with `tesserad restore --from FILE`.
    Backup {
        /// The file to write; written under a temporary name, renamed when whole.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// The audit trail, newest first, a page at a time (with --follow: the latest
    /// entries oldest first, then new ones as they happen).
    Audit {
        /// Keep printing new entries as they happen.
        #[arg(long, conflicts_with_all = ["after", "all"])]
        follow: bool,
        #[command(flatten)]
        paging: paging::Paging,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// List users, in the order of their lower-cased usernames, a page at a time.
    List {
        /// Only users whose username or email starts with this (any case).
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        paging: paging::Paging,
    },
    /// Create a user (works while registration is closed).
    Add {
        /// Username: 3-32 of letters, digits, `.`, `_` and `-`, starting with a
        /// letter or digit; unique in any case.
        name: String,
        /// Email address; unique in any case.
        #[arg(long)]
        email: String,
        /// Role: `admin`, `user` (the default), `guest`, or one added under
        /// `[roles.*]` in the daemon's configuration (`tessera status` lists them).
        #[arg(long)]
        role: Option<String>,
        /// Display name (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input (without it, on a
        /// terminal, the password is asked twice and not shown).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show a user.
    Show {
        /// Username or email.
        name: String,
    },
    /// The clients the user consented to at the sign-in pages.
    Grants {
        /// Username or email.
        name: String,
    },
    /// Remove the user's consent to a client and revoke that client's sessions and
    /// tokens for the user.
    RevokeGrant {
        /// Username or email.
        name: String,
        /// The client.
        client_id: String,
    },
    /// Mail the user a link that confirms their address.
    SendVerification {
        /// Username or email.
        name: String,
    },
    /// Mail the user a link to choose a new password.
    SendReset {
        /// Username or email.
        name: String,
    },
    /// Change a user's role (revokes their sessions).
    SetRole {
        /// Username or email.
        name: String,
        /// `admin`, `user`, `guest`, or a role from `[roles.*]` (`tessera status`
        /// lists them).
        role: String,
    },
    /// Disable a user and revoke their sessions for good.
    Disable {
        /// Username or email.
        name: String,
    },
    /// Remove every second factor and recovery code of a user and end their sessions
    /// (a lost phone).
    ResetMfa {
        /// Username or email.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username or email.
        name: String,
    },
    /// Delete a user and their sessions.
    Delete {
        /// Username or email.
        name: String,
    },
    /// Set a user's password (revokes their sessions).
    SetPassword {
        /// Username or email.
        name: String,
        /// Read the password from the first line of standard input (without it, on a
        /// terminal, the password is asked twice and not shown).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// List live sessions, of one user or all, in id order (oldest first), a page at a
    /// time.
    List {
        /// Username or email (default: every user).
        name: Option<String>,
        /// Only the sessions of users whose username starts with this (any case).
        #[arg(long, conflicts_with = "name")]
        search: Option<String>,
        #[command(flatten)]
        paging: paging::Paging,
    },
    /// Revoke one session.
    Revoke {
        /// Session id, as `session list` shows it.
        session_id: String,
    },
    /// Revoke every session of a user.
    RevokeAll {
        /// Username or email.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// List API tokens, of one user or all, in id order, a page at a time.
    List {
        /// Username or email (default: every user).
        name: Option<String>,
        /// Only the tokens of users whose username starts with this (any case).
        #[arg(long, conflicts_with = "name")]
        search: Option<String>,
        #[command(flatten)]
        paging: paging::Paging,
    },
    /// Delete an API token.
    Revoke {
        /// Token id, as `token list` shows it.
        token_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its secret once.
    Add {
        /// Client id: 1-64 of letters, digits, `.`, `_` and `-`.
        client_id: String,
        /// Scopes the client may be granted, space-separated (required; `--scopes ""`
        /// makes a client that can only get tokens without scopes).
        #[arg(long)]
        scopes: Option<String>,
        /// Where the authorization code flow may send people back (repeatable):
        /// https, http on a loopback host (any port matches), or a private-use scheme
        /// like com.example.app:/cb.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where `/oauth/logout` may send people back (repeatable, same rules).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// No secret: a single-page or native app (authorization code flow only).
        #[arg(long)]
        public: bool,
        /// Trusted: people are not asked to consent.
        #[arg(long)]
        first_party: bool,
        /// How its OpenID Connect ID tokens are signed: RS256 or EdDSA.
        #[arg(long = "id-token-alg", value_name = "ALG", default_value = "RS256")]
        id_token_alg: tessera_common::oauth::IdTokenAlg,
    },
    /// List clients.
    List,
    /// Remove a client (its tokens stop working).
    Remove {
        /// Client id.
        client_id: String,
    },
    /// Give a client a new secret; prints it once.
    RotateSecret {
        /// Client id.
        client_id: String,
        /// How long the old secret keeps working (`90s`, `15m`, `1h`, `7d`; at most
        /// 30d) while the client's deployments switch; without it, it stops at once.
        #[arg(long, value_parser = tessera_common::duration::parse_duration)]
        grace: Option<std::time::Duration>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GuestAction {
    On,
    Off,
    Status,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RegistrationAction {
    Open,
    Closed,
    Status,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KeyAction {
    List,
    Rotate,
}

/// Runs `tessera` with the process's arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let socket = args.socket.unwrap_or_else(default_socket);
    let Some(command) = args.command else {
        return crate::console::run(socket);
    };
    match run(command, &socket, args.json) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`tessera user list | head`): nothing more to say.
        Err(Failure::Closed) => ExitCode::SUCCESS,
        Err(Failure::Client(e @ ClientError::Unreachable { .. })) => {
            eprintln!("tessera: {e}");
            eprintln!(
                "tessera: is tesserad running? Name its admin socket with --socket PATH or \
                 TESSERA_SOCKET (without either: ./tessera-data/admin.sock if it exists, \
                 else /run/tessera/admin.sock)"
            );
            ExitCode::from(3)
        }
        Err(Failure::Client(e @ (ClientError::Refused { .. } | ClientError::Silent(_)))) => {
            eprintln!("tessera: {e}");
            ExitCode::from(3)
        }
        Err(Failure::Client(e)) => {
            eprintln!("tessera: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Input(message)) => {
            eprintln!("tessera: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("tessera: {message}");
            ExitCode::from(1)
        }
    }
}

/// The socket to use when none is given: `./tessera-data/admin.sock` if it exists and
/// belongs to this user or root (anyone may leave a socket in a directory we happen
/// to stand in, and requests carry passwords), else `/run/tessera/admin.sock`.
fn default_socket() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let local = PathBuf::from("./tessera-data/admin.sock");
    // /proc/self belongs to the process's effective uid.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    match std::fs::symlink_metadata(&local) {
        Ok(meta) if meta.uid() == 0 || Some(meta.uid()) == me => local,
        Ok(meta) => {
            eprintln!(
                "tessera: ignoring {} (it belongs to uid {}); pass --socket to use it",
                local.display(),
                meta.uid()
            );
            PathBuf::from("/run/tessera/admin.sock")
        }
        Err(_) => PathBuf::from("/run/tessera/admin.sock"),
    }
}

enum Failure {
    Client(ClientError),
    Input(String),
    /// Refused or failed here, not by the daemon (exit 1).
    Refused(String),
    /// Standard output was closed.
    Closed,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

/// What a command asks the daemon.
enum Call {
    /// One request, one answer.
    One(Request),
    /// A page of a list, or every page.
    Paged(paging::Listing, paging::Paging),
}

fn call_of(command: Command) -> Result<Call, Failure> {
    use paging::Listing;
    /// A paged call: its command line for `next:` and the request for a page.
    fn paged(
        command: String,
        header: bool,
        paging: paging::Paging,
        request: impl Fn(Page) -> Request + 'static,
    ) -> Call {
        let request = Box::new(request);
        Call::Paged(
            Listing {
                request,
                command,
                header,
            },
            paging,
        )
    }
    Ok(match command {
        Command::User(UserCommand::List { search, paging }) => {
            let command = Listing::searched("tessera user list", None, search.as_deref());
            paged(command, true, paging, move |page| Request::UserList {
                search: search.clone(),
                page: Some(page),
            })
        }
        Command::Session(SessionCommand::List { name, search, paging }) => {
            let command = Listing::searched("tessera session list", name.as_deref(), search.as_deref());
            paged(command, true, paging, move |page| Request::SessionList {
                name: name.clone(),
                search: search.clone(),
                page: Some(page),
            })
        }
        Command::Token(TokenCommand::List { name, search, paging }) => {
            let command = Listing::searched("tessera token list", name.as_deref(), search.as_deref());
            paged(command, true, paging, move |page| Request::TokenList {
                name: name.clone(),
                search: search.clone(),
                page: Some(page),
            })
        }
        Command::Audit { follow: false, paging } => {
            // Audit lines have no header to leave out of later pages.
            paged("tessera audit".into(), false, paging, |page| Request::Audit {
                limit: None,
                page: Some(page),
            })
        }
        other => Call::One(request_of(other)?),
    })
}

fn request_of(command: Command) -> Result<Request, Failure> {
    Ok(match command {
        Command::Status => Request::Status,
        Command::User(user) => match user {
            UserCommand::List { search, .. } => Request::UserList { search, page: None },
            UserCommand::Add {
                name,
                email,
                role,
                display_name,
                password_stdin,
            } => Request::UserAdd {
                password: password::password(password_stdin, &name)?,
                name,
                email,
                role,
                display_name,
            },
            UserCommand::Show { name } => Request::UserShow { name },
            UserCommand::Grants { name } => Request::UserGrants { name },
            UserCommand::RevokeGrant { name, client_id } => Request::UserRevokeGrant { name, client_id },
            UserCommand::SendVerification { name } => Request::UserSendVerification { name },
            UserCommand::SendReset { name } => Request::UserSendReset { name },
            UserCommand::SetRole { name, role } => Request::UserSetRole { name, role },
            UserCommand::Disable { name } => Request::UserDisable { name },
            UserCommand::Enable { name } => Request::UserEnable { name },
            UserCommand::ResetMfa { name } => Request::UserResetMfa { name },
            UserCommand::Delete { name } => Request::UserDelete { name },
            UserCommand::SetPassword { name, password_stdin } => Request::UserSetPassword {
                password: password::password(password_stdin, &name)?,
                name,
            },
        },
        Command::Session(session) => match session {
            SessionCommand::List { name, .. } => Request::SessionList {
                name,
                search: None,
                page: None,
            },
            SessionCommand::Revoke { session_id } => Request::SessionRevoke { id: session_id },
            SessionCommand::RevokeAll { name } => Request::SessionRevokeAll { name },
        },
        Command::Token(token) => match token {
            TokenCommand::List { name, .. } => Request::TokenList {
                name,
                search: None,
                page: None,
            },
            TokenCommand::Revoke { token_id } => Request::TokenRevoke { id: token_id },
        },
        Command::Client(client) => match client {
            ClientCommand::Add {
                client_id,
                scopes,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                id_token_alg,
            } => Request::ClientAdd {
                client_id,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                id_token_signed_response_alg: id_token_alg,
                scopes: tessera_common::scopes::parse(&scopes.ok_or_else(|| {
                    Failure::Input(
                        "name the scopes the client may be granted with --scopes \"a b\" \
                         (--scopes \"\" for a client whose tokens carry no scope)"
                            .into(),
                    )
                })?),
            },
            ClientCommand::List => Request::ClientList,
            ClientCommand::Remove { client_id } => Request::ClientRemove { client_id },
            ClientCommand::RotateSecret { client_id, grace } => Request::ClientRotateSecret {
                client_id,
                grace_seconds: grace.map_or(0, |g| g.as_secs()),
            },
        },
        Command::Guest { action } => match action {
            GuestAction::On => Request::GuestSet { enabled: true },
            GuestAction::Off => Request::GuestSet { enabled: false },
            GuestAction::Status => Request::GuestStatus,
        },
        Command::Registration { action } => match action {
            RegistrationAction::Open => Request::RegistrationSet { open: true },
            RegistrationAction::Closed => Request::RegistrationSet { open: false },
            RegistrationAction::Status => Request::RegistrationStatus,
        },
        Command::Key { action } => match action {
            KeyAction::List => Request::KeyList,
            KeyAction::Rotate => Request::KeyRotate,
        },
        Command::Audit { paging, .. } => Request::Audit {
            limit: Some(paging.limit()),
            page: None,
        },
        Command::Backup { .. } => Request::Backup,
    })
}

/// Writes one answer or event to standard output; a closed output ends the run
/// quietly instead of panicking as `println!` would.
fn emit(text: impl std::fmt::Display) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::Closed
        } else {
            Failure::Input(format!("cannot write to standard output: {e}"))
        }
    })
}

fn print(reply: &Reply, json: bool) -> Result<(), Failure> {
    if json {
        emit(output::json_of(reply))
    } else {
        emit(output::human(reply))
    }
}

fn run(command: Command, socket: &std::path::Path, json: bool) -> Result<(), Failure> {
    if let Command::Backup { out, force } = &command {
        let mut client = Client::connect(socket)?;
        let view = crate::backup::backup(&mut client, out, *force).map_err(|e| match e {
            BackupFailure::Refused(message) => Failure::Refused(message),
            BackupFailure::Client(e) => Failure::Client(e),
        })?;
        if !json {
            emit(format_args!("backup written to {}", out.display()))?;
        }
        return print(&Reply::Backup(view), json);
    }
    let follow = matches!(command, Command::Audit { follow: true, .. });
    let request = match call_of(command)? {
        Call::One(request) => request,
        Call::Paged(listing, paging) => {
            let mut client = Client::connect(socket)?;
            return paging::run(&mut client, &listing, &paging, json);
        }
    };
    let mut client = Client::connect(socket)?;
    if follow {
        client.call(Request::Subscribe)?;
    }
    let reply = client.call(request)?;
    print(&reply, json)?;
    if follow {
        // Events pushed while the tail was read may be in the tail too.
        let seen = match &reply {
            Reply::Audit(tail) => tail.last().map_or(0, |e| e.seq),
            _ => 0,
        };
        while let Some(event) = client.next_event()? {
            if event.seq != 0 && event.seq <= seen {
                continue;
            }
            if json {
                emit(serde_json::to_string(&event).unwrap_or_default())?;
            } else {
                emit(output::audit_line(&event))?;
            }
        }
    }
    Ok(())
}
