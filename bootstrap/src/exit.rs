//! Exit codes, as the Go MCPProxy uses them, and the failures that carry them.

/// The process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Exit {
    Ok = 0,
    General = 1,
    PortInUse = 2,
    Locked = 3,
    Config = 4,
    Permission = 5,
}

/// Why the program stops, and with which code. The message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::new(Exit::General, format!("{e:#}"))
    }
}
