//! The launch state machine: what happens to the core (found, launched, ready, connected,
//! lost, exited with a code) becomes the state the person sees and the next thing the tray
//! does. Pure: it keeps no clock and does no I/O. The runner executes the [`Effect`]s it
//! returns, feeds back what came of them as [`Event`]s, and keeps the one [`Timer`] the
//! machine asks for.
//!
//! Every state × event pair has a defined outcome: a transition (possibly to the same state)
//! with its effects, or a [`Refusal`] that says why the event means nothing now. Nothing is
//! ignored by accident.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Where the tray is with the core. The names are the Go tray's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Initializing,
    LaunchingCore,
    WaitingForCore,
    ConnectingApi,
    Connected,
    Reconnecting,
    CoreErrorPortConflict,
    CoreErrorDbLocked,
    CoreErrorConfig,
    CoreErrorPermission,
    CoreErrorGeneral,
    ShuttingDown,
    Failed,
}

/// How long a state may last, and how often and how soon it is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `Timeout` fires after this long in the state.
    pub time_limit: Option<Duration>,
    /// How many automatic retries the state gets before it waits for the person.
    pub retries: u32,
    pub delay: Delay,
}

/// The wait before an automatic retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    None,
    Fixed(Duration),
    /// `first`, doubling with each attempt, at most `max`.
    Doubling {
        first: Duration,
        max: Duration,
    },
}

impl Delay {
    /// The wait before retry number `attempt` (1-based).
    pub fn before(self, attempt: u32) -> Duration {
        match self {
            Self::None => Duration::ZERO,
            Self::Fixed(d) => d,
            Self::Doubling { first, max } => {
                let factor = 1u32
                    .checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX);
                first.saturating_mul(factor).min(max)
            }
        }
    }
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// After this long connected, the core counts as healthy again: every retry budget is full.
pub const SETTLE: Duration = secs(60);
/// How long a core gets to stop after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = secs(10);
/// How long to wait for a killed core to be reaped before the tray leaves anyway.
pub const KILL_GRACE: Duration = secs(5);
/// How soon to look again after killing a core that ran but did not answer.
pub const KILL_RETRY: Duration = secs(1);

impl State {
    pub const ALL: [State; 13] = [
        State::Initializing,
        State::LaunchingCore,
        State::WaitingForCore,
        State::ConnectingApi,
        State::Connected,
        State::Reconnecting,
        State::CoreErrorPortConflict,
        State::CoreErrorDbLocked,
        State::CoreErrorConfig,
        State::CoreErrorPermission,
        State::CoreErrorGeneral,
        State::ShuttingDown,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::LaunchingCore => "launching_core",
            Self::WaitingForCore => "waiting_for_core",
            Self::ConnectingApi => "connecting_api",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::CoreErrorPortConflict => "core_error_port_conflict",
            Self::CoreErrorDbLocked => "core_error_db_locked",
            Self::CoreErrorConfig => "core_error_config",
            Self::CoreErrorPermission => "core_error_permission",
            Self::CoreErrorGeneral => "core_error_general",
            Self::ShuttingDown => "shutting_down",
            Self::Failed => "failed",
        }
    }

    /// The core is not running and will not be until a retry: the error icon.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::CoreErrorPortConflict
                | Self::CoreErrorDbLocked
                | Self::CoreErrorConfig
                | Self::CoreErrorPermission
                | Self::CoreErrorGeneral
                | Self::Failed
        )
    }

    /// The error state for a core that exited with `code` before it served.
    fn for_exit(code: Option<i32>) -> Self {
        match code {
            Some(2) => Self::CoreErrorPortConflict,
            Some(3) => Self::CoreErrorDbLocked,
            Some(4) => Self::CoreErrorConfig,
            Some(5) => Self::CoreErrorPermission,
            _ => Self::CoreErrorGeneral,
        }
    }

    /// Time limit, retry budget and delay of each state (the README's table comes from here).
    pub fn policy(self) -> Policy {
        let p = |time_limit, retries, delay| Policy {
            time_limit,
            retries,
            delay,
        };
        match self {
            Self::Initializing | Self::LaunchingCore => p(None, 0, Delay::None),
            Self::WaitingForCore => p(Some(secs(60)), 0, Delay::None),
            Self::ConnectingApi => p(Some(secs(10)), 5, Delay::Fixed(secs(1))),
            Self::Connected => p(Some(SETTLE), 0, Delay::None),
            Self::Reconnecting => p(
                None,
                10,
                Delay::Doubling {
                    first: secs(1),
                    max: secs(30),
                },
            ),
            Self::CoreErrorPortConflict => p(None, 2, Delay::Fixed(secs(10))),
            Self::CoreErrorDbLocked => p(None, 3, Delay::Fixed(secs(5))),
            Self::CoreErrorConfig | Self::CoreErrorPermission | Self::Failed => {
                p(None, 0, Delay::None)
            }
            Self::CoreErrorGeneral => p(None, 2, Delay::Fixed(secs(3))),
            Self::ShuttingDown => p(Some(STOP_GRACE), 0, Delay::None),
        }
    }

    /// What the state means, in a few words (for the README's table).
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Initializing => {
                "looking for a running core: its socket, then the address in its lock file"
            }
            Self::LaunchingCore => {
                "starting `mcpproxy serve` with the tray's data directory and config"
            }
            Self::WaitingForCore => "the core runs; waiting until it answers on its socket",
            Self::ConnectingApi => "reading the servers and tools and opening `/events`",
            Self::Connected => {
                "following `/events`; the menu is live; after 60 s here every retry budget is full again"
            }
            Self::Reconnecting => {
                "the core died or the connection broke; looking again, relaunching if it is gone"
            }
            Self::CoreErrorPortConflict => {
                "the core exited with 2: its listen address is taken (menu: use the next free port)"
            }
            Self::CoreErrorDbLocked => {
                "the core exited with 3: another mcpproxy holds the data directory"
            }
            Self::CoreErrorConfig => {
                "the core exited with 4: the config is invalid (the status names the key); retried when the file changes"
            }
            Self::CoreErrorPermission => {
                "the core exited with 5: a file or directory has the wrong permissions"
            }
            Self::CoreErrorGeneral => {
                "the core could not be started, exited otherwise, or never answered"
            }
            Self::ShuttingDown => {
                "Quit: stopping the core this tray launched (SIGTERM, then SIGKILL)"
            }
            Self::Failed => "reconnecting used up its budget; waits for Retry",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened: reported by the runner (results of effects, timers) or asked by the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A core already answers for this data directory: attach to it.
    Attach,
    /// No core answers: launch one.
    NoCoreFound,
    /// The launched core's process runs.
    CoreStarted { pid: u32 },
    /// The core's binary could not be started.
    CoreStartFailed { reason: String },
    /// The core answers on its socket.
    CoreReady,
    /// The API answered and `/events` is open.
    ApiConnected,
    /// Reading the API or opening `/events` failed.
    ConnectFailed { reason: String },
    /// `/events` ended or broke.
    ConnectionLost { reason: String },
    /// The core this tray launched exited: its code (none when a signal ended it) and the
    /// failure it printed, if any.
    CoreExited {
        code: Option<i32>,
        message: Option<String>,
    },
    /// The delay before an automatic retry passed.
    Retry,
    /// The state's time limit passed.
    Timeout,
    /// The person asked to try again.
    RetryNow,
    /// The person chose to run the core on another address after a port conflict.
    UseNextPort { listen: String },
    /// Quit, or a stop signal.
    Shutdown,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Attach => "attach",
            Self::NoCoreFound => "no_core_found",
            Self::CoreStarted { .. } => "core_started",
            Self::CoreStartFailed { .. } => "core_start_failed",
            Self::CoreReady => "core_ready",
            Self::ApiConnected => "api_connected",
            Self::ConnectFailed { .. } => "connect_failed",
            Self::ConnectionLost { .. } => "connection_lost",
            Self::CoreExited { .. } => "core_exited",
            Self::Retry => "retry",
            Self::Timeout => "timeout",
            Self::RetryNow => "retry_now",
            Self::UseNextPort { .. } => "use_next_port",
            Self::Shutdown => "shutdown",
        }
    }
}

/// What the runner must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Look for a running core (socket first); answer `Attach` or `NoCoreFound`.
    Probe,
    /// Start `mcpproxy serve` (on `listen` when given); answer `CoreStarted` or
    /// `CoreStartFailed` at once, `CoreExited` whenever it ends.
    Launch { listen: Option<String> },
    /// Poll the core until it answers; answer `CoreReady`.
    AwaitReady,
    /// Read the state and open `/events`; answer `ApiConnected` or `ConnectFailed`, later
    /// `ConnectionLost`.
    Connect,
    /// Drop the API session.
    Disconnect,
    /// SIGTERM to the core this tray launched.
    StopCore,
    /// SIGKILL to it.
    KillCore,
    /// The tray ends.
    Exit,
}

/// Which core the tray is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    None,
    /// Launched by this tray and running: stopped on Quit.
    Launched {
        pid: u32,
    },
    /// Found running: left running on Quit.
    Attached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    Retry,
    Timeout,
}

/// The one pending timer: after `after`, the runner feeds `Retry` or `Timeout`. A new `id`
/// replaces the previous timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub id: u64,
    pub after: Duration,
    pub kind: TimerKind,
}

impl Timer {
    pub fn event(self) -> Event {
        match self.kind {
            TimerKind::Retry => Event::Retry,
            TimerKind::Timeout => Event::Timeout,
        }
    }
}

/// An event that means nothing in the current state, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub state: State,
    pub event: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} refused in {}: {}",
            self.event, self.state, self.reason
        )
    }
}

pub type Outcome = Result<Vec<Effect>, Refusal>;

#[derive(Debug, Clone)]
pub struct Machine {
    state: State,
    core: Core,
    /// Why the tray is in this state: the core's failure, the lost connection.
    detail: Option<String>,
    /// The address the person chose after a port conflict, for every later launch.
    listen: Option<String>,
    /// Retries spent per state since the core last settled.
    spent: BTreeMap<State, u32>,
    timer: Option<Timer>,
    timers: u64,
    /// In `ShuttingDown`: SIGKILL was sent.
    killed: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// In `Initializing`; the runner starts with [`Effect::Probe`].
    pub fn new() -> Self {
        Self {
            state: State::Initializing,
            core: Core::None,
            detail: None,
            listen: None,
            spent: BTreeMap::new(),
            timer: None,
            timers: 0,
            killed: false,
        }
    }

    /// The effects that start the machine.
    pub fn start(&self) -> Vec<Effect> {
        vec![Effect::Probe]
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn core(&self) -> Core {
        self.core
    }

    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    pub fn timer(&self) -> Option<Timer> {
        self.timer
    }

    /// The listen address chosen after a port conflict, if any.
    pub fn listen_override(&self) -> Option<&str> {
        self.listen.as_deref()
    }

    /// Retries spent in `state` since the core last settled.
    pub fn spent(&self, state: State) -> u32 {
        self.spent.get(&state).copied().unwrap_or(0)
    }

    fn owns_core(&self) -> bool {
        matches!(self.core, Core::Launched { .. })
    }

    fn arm(&mut self, kind: TimerKind, after: Duration) {
        self.timers += 1;
        self.timer = Some(Timer {
            id: self.timers,
            after,
            kind,
        });
    }

    /// Enters `state`: the previous timer is dropped; a time limit arms `Timeout`, an
    /// error state with budget left arms `Retry`.
    fn enter(&mut self, state: State, effects: Vec<Effect>) -> Outcome {
        self.state = state;
        self.timer = None;
        let policy = state.policy();
        if let Some(limit) = policy.time_limit {
            self.arm(TimerKind::Timeout, limit);
        } else if state.is_error() && self.spent(state) < policy.retries {
            let attempt = self.spent(state) + 1;
            self.spent.insert(state, attempt);
            self.arm(TimerKind::Retry, policy.delay.before(attempt));
        }
        Ok(effects)
    }

    fn launch(&mut self) -> Outcome {
        self.detail = None;
        let listen = self.listen.clone();
        self.enter(State::LaunchingCore, vec![Effect::Launch { listen }])
    }

    fn fail(&mut self, state: State, detail: String, mut effects: Vec<Effect>) -> Outcome {
        self.detail = Some(detail);
        if self.state == State::ConnectingApi || self.state == State::Connected {
            effects.insert(0, Effect::Disconnect);
        }
        self.enter(state, effects)
    }

    /// The core died or the connection broke: wait, then look again — or give up when the
    /// budget is spent.
    fn reconnect(&mut self, detail: String) -> Outcome {
        let mut effects = Vec::new();
        if self.state == State::ConnectingApi || self.state == State::Connected {
            effects.push(Effect::Disconnect);
        }
        let policy = State::Reconnecting.policy();
        let attempt = self.spent(State::Reconnecting) + 1;
        self.detail = Some(detail);
        if attempt > policy.retries {
            return self.enter(State::Failed, effects);
        }
        self.spent.insert(State::Reconnecting, attempt);
        let effects = self.enter(State::Reconnecting, effects)?;
        self.arm(TimerKind::Retry, policy.delay.before(attempt));
        Ok(effects)
    }

    fn shut_down(&mut self) -> Outcome {
        let mut effects = Vec::new();
        if matches!(self.state, State::ConnectingApi | State::Connected) {
            effects.push(Effect::Disconnect);
        }
        self.detail = None;
        if self.owns_core() {
            effects.push(Effect::StopCore);
            self.enter(State::ShuttingDown, effects)
        } else {
            effects.push(Effect::Exit);
            let effects = self.enter(State::ShuttingDown, effects)?;
            self.timer = None;
            Ok(effects)
        }
    }

    /// Feeds `event`; returns the effects to run, or why the event means nothing now.
    pub fn handle(&mut self, event: Event) -> Outcome {
        use Event as E;
        use State as S;
        let refuse = |state: S, event: &E, reason: &'static str| {
            Err(Refusal {
                state,
                event: event.name(),
                reason,
            })
        };
        let state = self.state;
        match event {
            // Quitting, and the core's end, first: they matter in every state.
            E::Shutdown if state == S::ShuttingDown => {
                if self.owns_core() && !self.killed {
                    self.killed = true;
                    self.arm(TimerKind::Timeout, KILL_GRACE);
                    Ok(vec![Effect::KillCore])
                } else {
                    refuse(state, &event, "already shutting down")
                }
            }
            E::Shutdown => self.shut_down(),
            E::CoreExited { .. } if !self.owns_core() => {
                refuse(state, &event, "no core launched by this tray is running")
            }
            E::CoreExited { code, message } => {
                self.core = Core::None;
                let detail = message.unwrap_or_else(|| match code {
                    Some(c) => format!("the core exited with code {c}"),
                    None => "the core was killed by a signal".to_owned(),
                });
                match state {
                    S::ShuttingDown => {
                        self.timer = None;
                        Ok(vec![Effect::Exit])
                    }
                    S::WaitingForCore => self.fail(S::for_exit(code), detail, Vec::new()),
                    // A start-up refusal (2–5) while connecting is still a start-up refusal;
                    // anything else after the core served is a crash.
                    S::ConnectingApi if matches!(code, Some(2..=5)) => {
                        self.fail(S::for_exit(code), detail, Vec::new())
                    }
                    S::ConnectingApi | S::Connected => self.reconnect(detail),
                    // Already handling its loss (reconnecting), or it was stopped on purpose
                    // (an error state after a time-out): the record is all that changes.
                    _ => Ok(Vec::new()),
                }
            }
            E::Attach | E::NoCoreFound if !matches!(state, S::Initializing | S::Reconnecting) => {
                refuse(state, &event, "no look-up for a running core is under way")
            }
            E::Attach => {
                self.detail = None;
                if !self.owns_core() {
                    self.core = Core::Attached;
                }
                self.enter(S::ConnectingApi, vec![Effect::Connect])
            }
            E::NoCoreFound if self.owns_core() => {
                // Our core runs but does not answer: a hang. Kill it; the next look launches.
                self.arm(TimerKind::Retry, KILL_RETRY);
                Ok(vec![Effect::KillCore])
            }
            E::NoCoreFound => self.launch(),
            E::CoreStarted { .. } | E::CoreStartFailed { .. } if state != S::LaunchingCore => {
                refuse(state, &event, "no core is being launched")
            }
            E::CoreStarted { pid } => {
                self.core = Core::Launched { pid };
                self.enter(S::WaitingForCore, vec![Effect::AwaitReady])
            }
            E::CoreStartFailed { reason } => self.fail(S::CoreErrorGeneral, reason, Vec::new()),
            E::CoreReady if state != S::WaitingForCore => {
                refuse(state, &event, "not waiting for a core to answer")
            }
            E::CoreReady => self.enter(S::ConnectingApi, vec![Effect::Connect]),
            E::ApiConnected | E::ConnectFailed { .. } if state != S::ConnectingApi => {
                refuse(state, &event, "not connecting to the API")
            }
            E::ApiConnected => {
                self.detail = None;
                self.enter(S::Connected, Vec::new())
            }
            E::ConnectFailed { reason } => {
                let policy = S::ConnectingApi.policy();
                let spent = self.spent(S::ConnectingApi);
                if spent < policy.retries {
                    self.spent.insert(S::ConnectingApi, spent + 1);
                    self.detail = Some(reason);
                    self.arm(TimerKind::Retry, policy.delay.before(spent + 1));
                    Ok(Vec::new())
                } else {
                    self.reconnect(reason)
                }
            }
            E::ConnectionLost { .. } if !matches!(state, S::ConnectingApi | S::Connected) => {
                refuse(state, &event, "not connected")
            }
            E::ConnectionLost { reason } => self.reconnect(reason),
            E::Retry | E::Timeout if self.timer.map(Timer::event).as_ref() != Some(&event) => {
                let reason = if event == E::Retry {
                    "no retry is due"
                } else {
                    "no time limit is running"
                };
                refuse(state, &event, reason)
            }
            E::Retry => {
                self.timer = None;
                match state {
                    S::Initializing | S::Reconnecting => Ok(vec![Effect::Probe]),
                    S::ConnectingApi => {
                        self.arm(
                            TimerKind::Timeout,
                            S::ConnectingApi.policy().time_limit.unwrap_or(SETTLE),
                        );
                        Ok(vec![Effect::Connect])
                    }
                    // Only error states arm a retry besides those above.
                    _ => self.enter(S::Initializing, vec![Effect::Probe]),
                }
            }
            E::Timeout => {
                self.timer = None;
                match state {
                    S::WaitingForCore => self.fail(
                        S::CoreErrorGeneral,
                        "the core did not answer within 60 s; it was stopped".to_owned(),
                        vec![Effect::StopCore],
                    ),
                    S::ConnectingApi => {
                        self.reconnect("the API did not answer within 10 s".to_owned())
                    }
                    S::ShuttingDown if !self.killed && self.owns_core() => {
                        self.killed = true;
                        self.arm(TimerKind::Timeout, KILL_GRACE);
                        Ok(vec![Effect::KillCore])
                    }
                    S::ShuttingDown => Ok(vec![Effect::Exit]),
                    // Connected long enough (the only other time limit): every budget is
                    // full again.
                    _ => {
                        self.spent.clear();
                        Ok(Vec::new())
                    }
                }
            }
            E::RetryNow => match state {
                S::Reconnecting => {
                    self.spent.remove(&S::Reconnecting);
                    self.timer = None;
                    Ok(vec![Effect::Probe])
                }
                S::Failed => {
                    self.spent.clear();
                    self.enter(S::Initializing, vec![Effect::Probe])
                }
                _ if state.is_error() => {
                    self.spent.remove(&state);
                    self.enter(S::Initializing, vec![Effect::Probe])
                }
                _ => refuse(state, &event, "nothing to retry"),
            },
            E::UseNextPort { .. } if state != S::CoreErrorPortConflict => {
                refuse(state, &event, "only after a port conflict")
            }
            E::UseNextPort { listen } => {
                self.listen = Some(listen);
                self.spent.remove(&state);
                self.launch()
            }
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

/// The README's table of states: meaning, time limit, retry budget and delay.
pub fn policy_table() -> String {
    let mut out = String::from(
        "| state | what it means | time limit | automatic retries | delay before a retry |\n\
         |---|---|---|---|---|\n",
    );
    for state in State::ALL {
        let p = state.policy();
        let limit = p.time_limit.map_or_else(|| "—".to_owned(), seconds);
        let delay = match p.delay {
            Delay::None => "—".to_owned(),
            Delay::Fixed(d) => seconds(d),
            Delay::Doubling { first, max } => {
                format!("{}, doubling to {}", seconds(first), seconds(max))
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {limit} | {} | {delay} |\n",
            state.as_str(),
            state.meaning(),
            if p.retries == 0 {
                "—".to_owned()
            } else {
                p.retries.to_string()
            }
        ));
    }
    out
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
