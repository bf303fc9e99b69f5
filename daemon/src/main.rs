//! `tesserad`: arguments, telemetry, runtime, signals and sd_notify around
//! [`tesserad::start`].

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tesserad::config::{Config, ConfigError, Overrides};

/// Tessera token daemon.
#[derive(Debug, Parser)]
#[command(name = "tesserad", version, about)]
struct Args {
    /// TOML configuration file (default: the embedded configuration).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// HTTP listen address, overriding the file.
    #[arg(long, global = true, env = "TESSERA_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory, overriding the file.
    #[arg(long, global = true, env = "TESSERA_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration: exit 0 when valid, else list every problem and exit 2.
    CheckConfig,
    /// Write a backup of a stopped daemon's store (the configured data directory, or
    /// --data-dir) to FILE, mode 0600: it holds the signing keys.
    Backup {
        /// The backup file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Copy a stopped daemon's embedded store (DIR) into an empty PostgreSQL database
    /// (its URL in URL_FILE), checking the counts. Exit 2 when refused, 1 when failed
    /// (nothing is kept).
    Migrate {
        /// The data directory of the embedded store to copy.
        #[arg(long, value_name = "DIR")]
        from_data_dir: PathBuf,
        /// A file holding the PostgreSQL URL (as for storage.postgres.url_file).
        #[arg(long, value_name = "URL_FILE")]
        to_postgres: PathBuf,
    },
    /// Check a stopped daemon's store: indexes and counts against records. Exit 0
    /// when consistent, 1 listing each disagreement.
    Check,
    /// Rewrite a stopped daemon's embedded store into a fresh one holding only its
    /// live entries, and swap it in (the old one is kept until the new one is
    /// complete). Prints the size before and after.
    Compact,
    /// Restore a backup as the store of the data directory (configured, or
    /// --data-dir), which must be missing or empty unless --force.
    Restore {
        /// The backup file to read.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace the directory's store (never merged).
        #[arg(long)]
        force: bool,
    },
}

fn load(args: &Args) -> Result<Config, ConfigError> {
    let overrides = Overrides {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
    };
    match &args.config {
        Some(path) => Config::from_file(path, &overrides),
        None => Config::embedded(&overrides),
    }
}

fn print_problems(err: &ConfigError) {
    for problem in &err.problems {
        eprintln!("{problem}");
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load(&args) {
        Ok(config) => config,
        Err(err) => {
            print_problems(&err);
            return ExitCode::from(2);
        }
    };
    match &args.command {
        Some(Command::Backup { out, force }) => {
            return report(
                tesserad::backup::backup(&config.data_dir, out, *force),
                "backed up to",
                out,
            );
        }
        Some(Command::Restore { from, force }) => {
            return report(
                tesserad::backup::restore(from, &config.data_dir, *force),
                "restored into",
                &config.data_dir,
            );
        }
        Some(Command::Migrate {
            from_data_dir,
            to_postgres,
        }) => return migrate(from_data_dir, to_postgres),
        Some(Command::Compact) => {
            return match tesserad::backup::compact(&config.data_dir) {
                Ok(done) => {
                    println!(
                        "compacted {}: {} entries, {} MiB before, {} MiB after",
                        config.data_dir.display(),
                        done.entries,
                        mib(done.before),
                        mib(done.after)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => report_error(&e),
            };
        }
        Some(Command::Check) => {
            return match tesserad::backup::check(&config.data_dir) {
                Ok(problems) if problems.is_empty() => {
                    println!("{}: consistent", config.data_dir.display());
                    ExitCode::SUCCESS
                }
                Ok(problems) => {
                    for problem in problems {
                        println!("{problem}");
                    }
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("tesserad: {e}");
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    if let Some(Command::CheckConfig) = args.command {
        if let Some(Err(e)) = config.tls.as_ref().map(tesserad::http::tls::Tls::load) {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        for warning in config.warnings() {
            eprintln!("warning: {warning}");
        }
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    // Dropped last, after the runtime: writes out the lines still queued.
    let _log = init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tesserad: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let starting = StartTimeout::extend();
    let started = tesserad::start(config, signal()).await;
    drop(starting);
    let daemon = match started {
        Ok(daemon) => daemon,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            // A store this build must not touch, or one another daemon holds: exit 2,
            // like a configuration problem, so that a restart loop does not hide it.
            let refused = matches!(
                e,
                tesserad::DaemonError::Store(
                    tesserad::store::StoreError::Damaged { .. }
                        | tesserad::store::StoreError::SchemaTooNew { .. }
                        | tesserad::store::StoreError::Locked { .. }
                )
            ) || matches!(e, tesserad::DaemonError::Tls(_));
            return if refused { ExitCode::from(2) } else { ExitCode::FAILURE };
        }
    };
    notify(&[sd_notify::NotifyState::Ready]);
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) {
        let period = std::time::Duration::from_micros(usec / 2);
        let health = daemon.health_probe();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                if health() {
                    notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        });
    }
    match daemon.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("unclean stop: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps systemd's start timeout from running out while the daemon starts: opening
/// the store can take minutes (an upgrade of a large store, or sled replaying its log
/// after a crash). Asks for [`START_EXTENSION`] more at once and every third of it
/// until dropped.
struct StartTimeout(std::sync::Arc<std::sync::atomic::AtomicBool>);

/// How much longer each extension asks for.
const START_EXTENSION: std::time::Duration = std::time::Duration::from_secs(30);

impl StartTimeout {
    fn extend() -> Self {
        let ask = || {
            notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(
                START_EXTENSION.as_micros() as u32
            )])
        };
        ask();
        let starting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = starting.clone();
        let spawned = std::thread::Builder::new().name("start-timeout".into()).spawn(move || {
            loop {
                std::thread::sleep(START_EXTENSION / 3);
                if !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                ask();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot extend systemd's start timeout: {e}");
        }
        Self(starting)
    }
}

impl Drop for StartTimeout {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `tesserad migrate` and prints what it copied; exit 2 when refused, 1 when failed.
fn migrate(from: &std::path::Path, url_file: &std::path::Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tesserad: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tesserad::migrate::to_postgres(from, url_file)) {
        Ok(copied) => {
            for (table, (rows, left)) in &copied.tables {
                match left {
                    0 => println!("{table:<18} {rows}"),
                    _ => println!("{table:<18} {rows} ({left} left behind: what they belonged to was deleted)"),
                }
            }
            println!("migrated {} into PostgreSQL; counts verified", from.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tesserad: {e}");
            match e {
                tesserad::migrate::MigrateError::Refused(_) => ExitCode::from(2),
                tesserad::migrate::MigrateError::Failed(_) => ExitCode::FAILURE,
            }
        }
    }
}

/// Prints the outcome of a backup or restore; exit 2 when refused, 1 when failed.
fn report(
    outcome: Result<tesserad::store::BackupSummary, tesserad::backup::BackupError>,
    done: &str,
    path: &std::path::Path,
) -> ExitCode {
    match outcome {
        Ok(summary) => {
            println!(
                "{done} {}: {} entries, schema version {}",
                path.display(),
                summary.entries,
                summary.schema
            );
            ExitCode::SUCCESS
        }
        Err(e) => report_error(&e),
    }
}

/// Prints why an offline command did not happen: exit 2 when refused, 1 when failed.
fn report_error(e: &tesserad::backup::BackupError) -> ExitCode {
    eprintln!("tesserad: {e}");
    match e {
        tesserad::backup::BackupError::Refused(_) => ExitCode::from(2),
        tesserad::backup::BackupError::Failed(_) => ExitCode::FAILURE,
    }
}

/// Bytes in MiB, one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

/// Completes on SIGTERM or SIGINT, telling systemd we are stopping.
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    notify(&[sd_notify::NotifyState::Stopping]);
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!("sd_notify: {e}");
    }
}

/// Log lines waiting for the logging thread; the queue's slots are allocated up front.
const LOG_QUEUE_LINES: usize = 16_384;

/// Logs to stderr; filter from `TESSERA_LOG` (default `info`), format from
/// `TESSERA_LOG_FORMAT` (`text` or `json`).
///
/// Lines are written by a logging thread, in batches: a request thread never waits
/// for stderr (a slow journal, a paused pipe). If the queue ([`LOG_QUEUE_LINES`]) fills, new
/// lines are dropped rather than stalling the daemon; the audit trail is in the store.
fn init_tracing() -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    if std::env::var("TESSERA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}
