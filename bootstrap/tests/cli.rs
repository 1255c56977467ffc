//! The command line as a user meets it. Living in this crate also makes `cargo test` build
//! the `mcpproxy` binary that the whole-program tests in `tests/` run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::process::Command;

fn mcpproxy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mcpproxy"))
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

#[test]
fn help_names_the_commands_and_the_global_options() {
    let out = mcpproxy(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "serve",
        "upstream",
        "tools",
        "call",
        "status",
        "activity",
        "version",
        "--config",
        "--data-dir",
        "--log-level",
        "--listen",
        "--output",
    ] {
        assert!(text.contains(want), "--help lacks {want}:\n{text}");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = mcpproxy(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("mcpproxy {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_command_explains_itself() {
    for command in [
        &["upstream", "--help"][..],
        &["upstream", "add", "--help"],
        &["tools", "list", "--help"],
        &["call", "tool-read", "--help"],
        &["activity", "list", "--help"],
        &["status", "--help"],
    ] {
        let out = mcpproxy(command);
        assert!(out.status.success(), "{command:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage: mcpproxy"), "{command:?}:\n{text}");
    }
    let add = String::from_utf8(mcpproxy(&["upstream", "add", "--help"]).stdout).unwrap();
    for want in [
        "--header",
        "--env",
        "--no-quarantine",
        "--if-not-exists",
        "[URL]",
        "[COMMAND]",
    ] {
        assert!(
            add.contains(want),
            "upstream add --help lacks {want}:\n{add}"
        );
    }
}

#[test]
fn the_version_command_names_the_platform() {
    let out = mcpproxy(&["version", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["os"], std::env::consts::OS);
}

#[test]
fn usage_errors_exit_1_with_a_reason() {
    let out = mcpproxy(&["serve", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("--no-such-flag"), "{text}");
}
