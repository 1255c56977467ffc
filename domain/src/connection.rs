//! The life of a connection to an upstream server, as a state machine.
//!
//! The supervisor of each upstream feeds it events; a transition the machine does not know is
//! an error rather than a silent jump, so a bug in the supervisor shows up in tests instead of
//! as a server stuck in a state nobody can leave.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConnectionState {
    Disconnected,
    Connecting,
    /// The server needs an OAuth login that has not started.
    PendingAuth,
    Authenticating,
    /// Connected and initialised; listing tools.
    Discovering,
    Ready,
    Error,
    /// The server runs in Docker and Docker does not answer: it waits, without retries
    /// counted against it, and connects when Docker is back.
    DockerUnavailable,
}

/// What happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionEvent {
    /// Start (or retry) connecting.
    Connect,
    /// The server asked for authorization (HTTP 401 or an `oauth` block without a token).
    AuthRequired,
    /// A login flow started.
    AuthStarted,
    /// The login flow produced a token; connect again with it.
    AuthCompleted,
    /// `initialize` succeeded.
    Initialized,
    /// The tool list was read.
    ToolsDiscovered,
    /// The tool list should be read again (`notifications/tools/list_changed`, periodic sweep).
    Rediscover,
    /// Anything failed: transport, handshake, health check, login.
    Failed,
    /// The server needs Docker and Docker does not answer.
    DockerUnavailable,
    /// The connection was closed on purpose (disable, remove, shutdown, logout).
    Disconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a connection in state {from} cannot take the event {event:?}")]
pub struct InvalidTransition {
    pub from: ConnectionState,
    pub event: ConnectionEvent,
}

impl ConnectionState {
    pub const ALL: [ConnectionState; 8] = [
        Self::Disconnected,
        Self::Connecting,
        Self::PendingAuth,
        Self::Authenticating,
        Self::Discovering,
        Self::Ready,
        Self::Error,
        Self::DockerUnavailable,
    ];

    /// The transition function. Every pair not listed is refused.
    pub fn next(self, event: ConnectionEvent) -> Result<ConnectionState, InvalidTransition> {
        use ConnectionEvent as E;
        use ConnectionState as S;
        let to = match (self, event) {
            (_, E::Disconnect) => S::Disconnected,
            (S::Disconnected | S::Error | S::PendingAuth | S::DockerUnavailable, E::Connect) => {
                S::Connecting
            }
            (S::Connecting, E::DockerUnavailable) => S::DockerUnavailable,
            (S::Connecting | S::Discovering | S::Ready, E::AuthRequired) => S::PendingAuth,
            (S::PendingAuth | S::Error, E::AuthStarted) => S::Authenticating,
            (S::Authenticating, E::AuthCompleted) => S::Connecting,
            (S::Connecting, E::Initialized) => S::Discovering,
            (S::Discovering, E::ToolsDiscovered) => S::Ready,
            (S::Ready, E::Rediscover) => S::Discovering,
            (
                S::Connecting | S::PendingAuth | S::Authenticating | S::Discovering | S::Ready,
                E::Failed,
            ) => S::Error,
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        Ok(to)
    }

    /// Calls can be sent to the server in this state.
    pub fn is_ready(self) -> bool {
        self == Self::Ready
    }

    /// A session with the server is open (initialised), even if tools are being re-read.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Discovering | Self::Ready)
    }

    /// The name shown to people and in the API (`Pending Auth` keeps the Go proxy's spelling).
    pub fn label(self) -> &'static str {
        match self {
            Self::Disconnected => "Disconnected",
            Self::Connecting => "Connecting",
            Self::PendingAuth => "Pending Auth",
            Self::Authenticating => "Authenticating",
            Self::Discovering => "Discovering",
            Self::Ready => "Ready",
            Self::Error => "Error",
            Self::DockerUnavailable => "Docker unavailable",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.label() == label)
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectionEvent as E;
    use super::ConnectionState as S;
    use super::*;
    use proptest::prelude::*;

    const EVENTS: [E; 10] = [
        E::Connect,
        E::AuthRequired,
        E::AuthStarted,
        E::AuthCompleted,
        E::Initialized,
        E::ToolsDiscovered,
        E::Rediscover,
        E::Failed,
        E::Disconnect,
        E::DockerUnavailable,
    ];

    fn run(events: &[E]) -> Result<S, InvalidTransition> {
        events.iter().try_fold(S::Disconnected, |s, e| s.next(*e))
    }

    #[test]
    fn happy_path_reaches_ready() {
        assert_eq!(
            run(&[E::Connect, E::Initialized, E::ToolsDiscovered]),
            Ok(S::Ready)
        );
    }

    #[test]
    fn oauth_path_reaches_ready() {
        assert_eq!(
            run(&[
                E::Connect,
                E::AuthRequired,
                E::AuthStarted,
                E::AuthCompleted,
                E::Initialized,
                E::ToolsDiscovered
            ]),
            Ok(S::Ready)
        );
    }

    #[test]
    fn crash_and_retry_reaches_ready_again() {
        assert_eq!(
            run(&[
                E::Connect,
                E::Initialized,
                E::ToolsDiscovered,
                E::Failed,
                E::Connect,
                E::Initialized,
                E::ToolsDiscovered
            ]),
            Ok(S::Ready)
        );
    }

    #[test]
    fn a_server_waiting_for_docker_connects_when_it_is_back() {
        assert_eq!(
            run(&[
                E::Connect,
                E::DockerUnavailable,
                E::Connect,
                E::Initialized,
                E::ToolsDiscovered
            ]),
            Ok(S::Ready)
        );
        assert!(S::Ready.next(E::DockerUnavailable).is_err());
    }

    #[test]
    fn skipping_the_handshake_is_refused() {
        assert_eq!(
            S::Connecting.next(E::ToolsDiscovered),
            Err(InvalidTransition {
                from: S::Connecting,
                event: E::ToolsDiscovered
            })
        );
        assert!(S::Disconnected.next(E::Initialized).is_err());
        assert!(S::Disconnected.next(E::Failed).is_err());
        assert!(S::Ready.next(E::Connect).is_err());
    }

    #[test]
    fn labels_round_trip() {
        for s in S::ALL {
            assert_eq!(S::from_label(s.label()), Some(s));
        }
    }

    proptest! {
        /// Whatever happens, Disconnect always works and the machine never reaches Ready
        /// without passing through Discovering right before.
        #[test]
        fn machine_invariants(seq in prop::collection::vec(prop::sample::select(EVENTS.to_vec()), 0..40)) {
            let mut state = S::Disconnected;
            for event in seq {
                prop_assert_eq!(state.next(E::Disconnect), Ok(S::Disconnected));
                match state.next(event) {
                    Ok(next) => {
                        if next == S::Ready && state != S::Ready {
                            prop_assert_eq!(state, S::Discovering);
                        }
                        if next == S::Discovering {
                            prop_assert!(matches!(state, S::Connecting | S::Ready));
                        }
                        state = next;
                    }
                    Err(e) => {
                        prop_assert_eq!(e.from, state);
                        prop_assert_eq!(e.event, event);
                    }
                }
            }
        }

        /// From every state, some sequence of events leads back to Ready: no state is a trap.
        #[test]
        fn ready_is_always_reachable(seq in prop::collection::vec(prop::sample::select(EVENTS.to_vec()), 0..20)) {
            let mut state = S::Disconnected;
            for event in seq {
                if let Ok(next) = state.next(event) {
                    state = next;
                }
            }
            let back = [E::Disconnect, E::Connect, E::Initialized, E::ToolsDiscovered]
                .iter()
                .try_fold(state, |s, e| s.next(*e));
            prop_assert_eq!(back, Ok(S::Ready));
        }
    }
}
