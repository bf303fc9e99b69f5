//! The password of `user add` and `user set-password`: the first line of standard
//! input with `--password-stdin`, else asked twice on the terminal, not echoed.

use super::Failure;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;
use std::io::{BufRead, IsTerminal, Write};
use tessera_common::admin::Password;

/// The password for `name`: from standard input when `from_stdin`, else typed twice.
pub(super) fn password(from_stdin: bool, name: &str) -> Result<Password, Failure> {
    if from_stdin {
        return from_standard_input();
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Input(
            "standard input is not a terminal: give the password on it with --password-stdin".into(),
        ));
    }
    let first = hidden(&format!("New password for {name}: "))?;
    if first.is_empty() {
        return Err(Failure::Input("no password typed; nothing changed".into()));
    }
    if hidden("Type it again: ")? != first {
        return Err(Failure::Input("the two passwords differ; nothing changed".into()));
    }
    Ok(Password(first))
}

/// One line from standard input, without its trailing newline.
fn from_standard_input() -> Result<Password, Failure> {
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

/// Puts the terminal back in its ordinary mode when dropped, however the prompt ends.
struct Cooked;

impl Drop for Cooked {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
    }
}

/// Shows `prompt` on standard error and reads a line from the terminal without echo
/// (Backspace edits; Esc or Ctrl-C gives up).
fn hidden(prompt: &str) -> Result<String, Failure> {
    let terminal_error = |e: std::io::Error| Failure::Input(format!("cannot read the terminal: {e}"));
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}").and_then(|()| err.flush());
    terminal::enable_raw_mode().map_err(terminal_error)?;
    let _cooked = Cooked;
    let mut text = String::new();
    loop {
        let Event::Key(key) = event::read().map_err(terminal_error)? else {
            continue;
        };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        match key.code {
            KeyCode::Enter => break,
            KeyCode::Esc => return Err(cancelled()),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Err(cancelled()),
            KeyCode::Char(c) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            _ => {}
        }
    }
    let _ = write!(err, "\r\n");
    Ok(text)
}

fn cancelled() -> Failure {
    let _ = write!(std::io::stderr(), "\r\n");
    Failure::Input("cancelled; nothing changed".into())
}
