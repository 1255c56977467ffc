//! The `mcpproxy-tray` binary: everything lives in the library (`mcpproxy::run_tray`).

fn main() {
    let code = mcpproxy::run_tray(std::env::args_os());
    #[allow(clippy::disallowed_methods)] // The one place the tray's exit code leaves it.
    std::process::exit(code);
}
