//! `tessera`, the Tessera operator console, as a library.
//!
//! Layout:
//! - [`client`]: the admin-socket client (handshake, calls, events); the scriptable
//!   subcommands use it now and the full-screen console will too.
//! - [`cli`]: the clap subcommands of contract §5 and their exit codes.
//! - [`output`]: tables for people, JSON for scripts.

pub mod cli;
pub mod client;
pub mod output;
