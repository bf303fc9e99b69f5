//! `tessera`: the operator console. See [`tessera_tui::cli`].

fn main() -> std::process::ExitCode {
    tessera_tui::cli::main()
}
