//! `tessera`, the Tessera operator console, as a library.
//!
//! Layout:
//! - [`cli`]: the clap subcommands (see README, "The console") and their exit codes; no
//!   subcommand opens the full-screen [`console`].
//! - [`backup`]: `tessera backup`, the running daemon's backup written to a file.
//! - [`client`]: the admin-socket client: handshake, then a reader thread that hands
//!   on every answer and pushed event.
//! - [`output`]: the rows of every list (shared by subcommands and console), JSON for
//!   scripts.
//! - [`console`]: the full-screen runtime: terminal, event channel, link to the daemon.
//! - [`app`]: the console's state and pure update step; [`form`]: its forms;
//!   [`history`]: the Overview's samples.
//! - [`keymap`]: the key table behind key handling, the footer and the help overlay.
//! - [`ui`]: drawing, one module per screen.

pub mod app;
pub mod backup;
pub mod cli;
pub mod client;
pub mod console;
pub mod form;
pub mod history;
pub mod keymap;
pub mod output;
#[cfg(test)]
pub mod testing;
pub mod ui;
