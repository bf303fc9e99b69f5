//! The scriptable subcommands (contract §5). Exit codes: 0 done, 1 refused or failed,
//! 2 usage, 3 daemon unreachable or connection refused at the handshake.

use crate::client::{Client, ClientError};
use crate::output;
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use tessera_common::admin::{Password, Reply, Request};

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
    /// The audit trail.
    Audit {
        /// Keep printing new entries as they happen.
        #[arg(long)]
        follow: bool,
        /// How many past entries to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// List users.
    List {
        /// Only users whose username, email or display name contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Create a user (works while registration is closed).
    Add {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Show a user (by username or email).
    Show { name: String },
    /// Change a user's role (revokes their sessions).
    SetRole { name: String, role: String },
    /// Disable a user and revoke their sessions for good.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Delete a user and their sessions.
    Delete { name: String },
    /// Set a user's password (revokes their sessions).
    SetPassword {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// List live sessions, of one user or all.
    List { name: Option<String> },
    /// Revoke one session.
    Revoke { session_id: String },
    /// Revoke every session of a user.
    RevokeAll { name: String },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// List API tokens, of one user or all.
    List { name: Option<String> },
    /// Delete an API token.
    Revoke { token_id: String },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its secret once.
    Add {
        client_id: String,
        /// Scopes the client may be granted, space-separated.
        #[arg(long, default_value = "")]
        scopes: String,
    },
    /// List clients.
    List,
    /// Remove a client.
    Remove { client_id: String },
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
        Err(Failure::Client(
            e @ (ClientError::Unreachable { .. } | ClientError::Refused { .. } | ClientError::Silent(_)),
        )) => {
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
    /// Standard output was closed.
    Closed,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

/// One line from standard input, without its trailing newline.
fn password_from_stdin() -> Result<Password, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Input(format!("cannot read the password from standard input: {e}")))?;
    if let Some(stripped) = line.strip_suffix('\n') {
        line.truncate(stripped.len());
    }
    if line.is_empty() {
        return Err(Failure::Input("no password on standard input".into()));
    }
    Ok(Password(line))
}

fn request_of(command: Command) -> Result<Request, Failure> {
    Ok(match command {
        Command::Status => Request::Status,
        Command::User(user) => match user {
            UserCommand::List { search } => Request::UserList { search },
            UserCommand::Add {
                name,
                email,
                role,
                display_name,
                ..
            } => Request::UserAdd {
                name,
                email,
                role,
                display_name,
                password: password_from_stdin()?,
            },
            UserCommand::Show { name } => Request::UserShow { name },
            UserCommand::SetRole { name, role } => Request::UserSetRole { name, role },
            UserCommand::Disable { name } => Request::UserDisable { name },
            UserCommand::Enable { name } => Request::UserEnable { name },
            UserCommand::Delete { name } => Request::UserDelete { name },
            UserCommand::SetPassword { name, .. } => Request::UserSetPassword {
                name,
                password: password_from_stdin()?,
            },
        },
        Command::Session(session) => match session {
            SessionCommand::List { name } => Request::SessionList { name },
            SessionCommand::Revoke { session_id } => Request::SessionRevoke { id: session_id },
            SessionCommand::RevokeAll { name } => Request::SessionRevokeAll { name },
        },
        Command::Token(token) => match token {
            TokenCommand::List { name } => Request::TokenList { name },
            TokenCommand::Revoke { token_id } => Request::TokenRevoke { id: token_id },
        },
        Command::Client(client) => match client {
            ClientCommand::Add { client_id, scopes } => Request::ClientAdd {
                client_id,
                scopes: tessera_common::scopes::parse(&scopes),
            },
            ClientCommand::List => Request::ClientList,
            ClientCommand::Remove { client_id } => Request::ClientRemove { client_id },
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
        Command::Audit { limit, .. } => Request::Audit { limit: Some(limit) },
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
    let follow = matches!(command, Command::Audit { follow: true, .. });
    let request = request_of(command)?;
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
