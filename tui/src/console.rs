//! The full-screen console's runtime: the terminal, and the threads that feed one
//! event channel (keys and resizes, a one-second ticker, signals, and the link to the
//! daemon). The loop reads an event, lets [`App::update`] decide, carries out the
//! effects and redraws; it never waits on the socket.

use crate::app::{App, Effect, Event};
use crate::client::{Connection, Incoming};
use crate::ui::{self, Theme};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tessera_common::admin::{AdminError, ErrorCode, Outcome, Request};

/// Time between ticks (activity polls, message expiry).
const TICK: Duration = Duration::from_secs(1);
/// Time between reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);
/// Shortest time between two redraws caused by the daemon (not by keys).
const FRAME: Duration = Duration::from_millis(50);
/// How long the loop sleeps when nothing needs drawing (the ticker wakes it anyway).
const IDLE: Duration = Duration::from_secs(60);

/// Runs the console on `socket` until the operator quits.
pub fn run(socket: PathBuf) -> ExitCode {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        eprintln!("tessera: the full-screen console needs a terminal; scripts use the subcommands (tessera --help)");
        return ExitCode::from(2);
    }
    let (tx, rx) = mpsc::channel::<Event>();
    let link = Link::start(socket.clone(), tx.clone());
    if let Err(e) = spawn_feeders(&tx) {
        eprintln!("tessera: cannot start the console: {e}");
        return ExitCode::from(1);
    }
    // Installs a panic hook that restores the terminal before the panic is reported.
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            eprintln!("tessera: cannot open the terminal: {e}");
            return ExitCode::from(1);
        }
    };
    let _restore = RestoreOnDrop;
    let theme = Theme::from_env();
    let mut app = App::new(socket.display().to_string());
    // Keys redraw at once; daemon traffic at most once per frame.
    let (mut dirty, mut urgent) = (true, true);
    let mut drawn = Instant::now();
    loop {
        if dirty && (urgent || drawn.elapsed() >= FRAME) {
            if let Err(e) = terminal.draw(|frame| ui::draw(frame, &app, theme)) {
                drop(_restore);
                eprintln!("tessera: cannot draw: {e}");
                return ExitCode::from(1);
            }
            (dirty, urgent, drawn) = (false, false, Instant::now());
        }
        let wait = if dirty {
            FRAME.saturating_sub(drawn.elapsed())
        } else {
            IDLE
        };
        let event = match rx.recv_timeout(wait) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return ExitCode::SUCCESS,
        };
        urgent |= matches!(event, Event::Key(_) | Event::Resize);
        dirty = true;
        for effect in app.update(event) {
            match effect {
                Effect::Send { id, call } => link.send(id, call),
                Effect::Quit => return ExitCode::SUCCESS,
            }
        }
    }
}

/// Leaves the alternate screen and raw mode when the loop ends, however it ends.
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Starts the terminal reader, the ticker and the signal watcher.
fn spawn_feeders(tx: &Sender<Event>) -> std::io::Result<()> {
    let keys = tx.clone();
    std::thread::Builder::new().name("tessera-keys".into()).spawn(move || {
        while let Ok(read) = event::read() {
            let forwarded = match read {
                TermEvent::Key(key) if key.kind != KeyEventKind::Release => Event::Key(key),
                TermEvent::Resize(..) => Event::Resize,
                _ => continue,
            };
            if keys.send(forwarded).is_err() {
                return;
            }
        }
    })?;
    let ticks = tx.clone();
    std::thread::Builder::new()
        .name("tessera-ticker".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                if ticks.send(Event::Tick).is_err() {
                    return;
                }
            }
        })?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ])?;
    let quit = tx.clone();
    std::thread::Builder::new()
        .name("tessera-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let _ = quit.send(Event::Quit);
            }
        })?;
    Ok(())
}

/// Messages to the link thread.
enum LinkMessage {
    /// Send this request.
    Send(u64, Request),
    /// Connection number `n` ended, for this reason.
    Lost(u64, String),
}

/// The link to the daemon: a thread that connects, reconnects every second while
/// the daemon is away, and writes requests. Answers and events come back through the
/// connection's reader thread straight into the event channel.
struct Link {
    tx: Sender<LinkMessage>,
}

impl Link {
    fn start(socket: PathBuf, events: Sender<Event>) -> Self {
        let (tx, rx) = mpsc::channel();
        let me = tx.clone();
        // If the thread cannot start, every request is answered "not connected" by
        // the closed channel below and the console shows the daemon as away.
        let _ = std::thread::Builder::new()
            .name("tessera-link".into())
            .spawn(move || link_loop(&socket, &events, &rx, &me));
        Self { tx }
    }

    fn send(&self, id: u64, call: Request) {
        let _ = self.tx.send(LinkMessage::Send(id, call));
    }
}

fn not_connected(id: u64) -> Event {
    Event::Response {
        id,
        outcome: Outcome::Error(AdminError::new(ErrorCode::Internal, "not connected to the daemon")),
    }
}

fn link_loop(socket: &Path, events: &Sender<Event>, rx: &mpsc::Receiver<LinkMessage>, me: &Sender<LinkMessage>) {
    let mut connection: Option<(u64, Connection)> = None;
    let mut generation = 0u64;
    loop {
        if connection.is_none() {
            generation += 1;
            let (sink, lost, n) = (events.clone(), me.clone(), generation);
            let opened = Connection::open(socket, move |incoming| {
                let event = match incoming {
                    Incoming::Response { id, outcome } => Event::Response { id, outcome },
                    Incoming::Event(entry) => Event::Pushed(entry),
                    // The console asks for no backups.
                    Incoming::Chunk { .. } => return true,
                    // The link decides: an old connection's end is no news.
                    Incoming::Closed(reason) => return lost.send(LinkMessage::Lost(n, reason)).is_ok(),
                };
                sink.send(event).is_ok()
            });
            let event = match opened {
                Ok(c) => {
                    let daemon = c.daemon_version().to_owned();
                    connection = Some((generation, c));
                    Event::Connected { daemon }
                }
                Err(e) => Event::ConnectFailed(e.to_string()),
            };
            if events.send(event).is_err() {
                return;
            }
        }
        let message = if connection.is_some() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(RETRY)
        };
        match message {
            Ok(LinkMessage::Send(id, call)) => match connection.as_mut() {
                Some((_, c)) => {
                    if let Err(e) = c.send(id, call) {
                        connection = None;
                        let _ = events.send(not_connected(id));
                        let _ = events.send(Event::Disconnected(e.to_string()));
                    }
                }
                None => {
                    let _ = events.send(not_connected(id));
                }
            },
            Ok(LinkMessage::Lost(n, reason)) => {
                if connection.as_ref().is_some_and(|(current, _)| *current == n) {
                    connection = None;
                    if events.send(Event::Disconnected(reason)).is_err() {
                        return;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
