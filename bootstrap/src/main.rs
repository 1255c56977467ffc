//! The `mcpproxy` binary: everything lives in the library, so tests can run it in-process.

fn main() {
    let code = mcpproxy::run(std::env::args_os());
    #[allow(clippy::disallowed_methods)] // The one place an exit code leaves the program.
    std::process::exit(code);
}
