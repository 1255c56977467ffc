//! The desktop around the tray: starting at login (an XDG autostart `.desktop` file on Linux, a
//! LaunchAgent plist on macOS) and opening URLs and folders with the system's opener.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// "Start at login": a file whose presence is the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autostart {
    pub path: PathBuf,
    pub content: String,
}

/// The LaunchAgent's label: the Go tray's, so switching replaces its agent instead of
/// starting two trays at login.
pub const LAUNCH_AGENT_LABEL: &str = "com.smartmcpproxy.mcpproxy";

impl Autostart {
    /// `<config home>/autostart/mcpproxy-tray.desktop` (config home: `$XDG_CONFIG_HOME`, else
    /// `~/.config`).
    pub fn xdg(config_home: &Path, exe: &Path, args: &[String]) -> Self {
        Self {
            path: config_home.join("autostart/mcpproxy-tray.desktop"),
            content: desktop_entry(exe, args),
        }
    }

    /// `~/Library/LaunchAgents/<label>.plist`.
    pub fn launch_agent(home: &Path, exe: &Path, args: &[String]) -> Self {
        Self {
            path: home.join(format!("Library/LaunchAgents/{LAUNCH_AGENT_LABEL}.plist")),
            content: launch_agent_plist(exe, args),
        }
    }

    pub fn enabled(&self) -> bool {
        self.path.exists()
    }

    /// Writes the file (on) or removes it (off).
    pub fn set(&self, on: bool) -> io::Result<()> {
        if on {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, &self.content)?;
            std::fs::rename(&tmp, &self.path)
        } else {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    }
}

/// A word of a desktop entry's `Exec` line, quoted as the Desktop Entry spec asks.
fn exec_word(word: &str) -> String {
    let word = word.replace('%', "%%");
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        return word;
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub fn desktop_entry(exe: &Path, args: &[String]) -> String {
    let exec: Vec<String> = std::iter::once(exe.display().to_string())
        .chain(args.iter().cloned())
        .map(|w| exec_word(&w))
        .collect();
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=MCPProxy\n\
         Comment=One safe MCP endpoint in front of every MCP server an AI agent uses\n\
         Exec={}\n\
         Terminal=false\n\
         Categories=Development;Network;\n\
         X-GNOME-Autostart-enabled=true\n",
        exec.join(" ")
    )
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn launch_agent_plist(exe: &Path, args: &[String]) -> String {
    let program: String = std::iter::once(exe.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("        <string>{}</string>\n", xml(&a)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \x20   <key>Label</key>\n\
         \x20   <string>{LAUNCH_AGENT_LABEL}</string>\n\
         \x20   <key>ProgramArguments</key>\n\
         \x20   <array>\n\
         {program}\
         \x20   </array>\n\
         \x20   <key>RunAtLoad</key>\n\
         \x20   <true/>\n\
         \x20   <key>KeepAlive</key>\n\
         \x20   <false/>\n\
         </dict>\n\
         </plist>\n"
    )
}

/// Opens URLs and folders: `MCPPROXY_TRAY_OPENER` when set (a command that takes the target
/// as its last argument), else the platform's own.
#[derive(Debug, Clone)]
pub struct Opener {
    program: OsString,
    args: Vec<OsString>,
}

impl Opener {
    pub fn new(program: impl Into<OsString>, args: Vec<OsString>) -> Self {
        Self {
            program: program.into(),
            args,
        }
    }

    pub fn system() -> Self {
        if let Some(custom) = std::env::var_os("MCPPROXY_TRAY_OPENER").filter(|v| !v.is_empty()) {
            return Self::new(custom, Vec::new());
        }
        if cfg!(target_os = "macos") {
            Self::new("open", Vec::new())
        } else if cfg!(windows) {
            Self::new("rundll32", vec!["url.dll,FileProtocolHandler".into()])
        } else {
            Self::new("xdg-open", Vec::new())
        }
    }

    /// Starts the opener on `target`; it is reaped in the background.
    pub fn open(&self, target: &str) -> io::Result<()> {
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .arg(target)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desktop_entry_quotes_its_exec_line() {
        let entry = desktop_entry(
            Path::new("/opt/My Apps/mcpproxy-tray"),
            &["--data-dir".into(), "/home/u/data $1".into()],
        );
        assert!(
            entry
                .contains("Exec=\"/opt/My Apps/mcpproxy-tray\" --data-dir \"/home/u/data \\$1\"\n"),
            "{entry}"
        );
        assert!(entry.starts_with("[Desktop Entry]\nType=Application\n"));
        assert_eq!(exec_word("50%"), "50%%");
    }

    #[test]
    fn the_launch_agent_runs_the_tray_at_load() {
        let plist = launch_agent_plist(
            Path::new("/Applications/mcpproxy-tray"),
            &["-d".into(), "/Users/u/a&b".into()],
        );
        assert!(plist.contains("<string>com.smartmcpproxy.mcpproxy</string>"));
        assert!(plist.contains(
            "        <string>/Applications/mcpproxy-tray</string>\n        <string>-d</string>\n        <string>/Users/u/a&amp;b</string>\n"
        ), "{plist}");
        assert!(
            plist.contains("<key>RunAtLoad</key>\n    <true/>"),
            "{plist}"
        );
    }

    #[test]
    fn toggling_writes_and_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = Autostart::xdg(dir.path(), Path::new("/usr/bin/mcpproxy-tray"), &[]);
        assert!(!a.enabled());
        a.set(true).unwrap();
        assert!(a.enabled());
        assert_eq!(std::fs::read_to_string(&a.path).unwrap(), a.content);
        a.set(false).unwrap();
        assert!(!a.enabled());
        a.set(false).unwrap();
    }
}
