//! The runner: one task that owns the [`Machine`] and the [`Model`], executes the machine's
//! effects (look for the core, launch it, connect, stop it), keeps its one timer, carries out
//! the person's clicks through the REST API, and publishes a new [`View`] after each change.
//! The desktop surfaces only show views and send clicks back.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::SystemTime;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::client::{CoreSite, Endpoint};
use crate::core::{self, CoreCommand, CoreEnd};
use crate::desktop::{Autostart, Opener};
use crate::machine::{Core, Effect, Event, Machine, State};
use crate::menu::{Action, Item, ServerOp, menu};
use crate::model::{IconKind, Model};
use crate::notice::{Notice, Told, notice_for_state};
use crate::session;

/// What the tray needs to know, decided by the binary.
#[derive(Debug, Clone)]
pub struct Settings {
    pub version: String,
    pub core: CoreCommand,
    pub site: CoreSite,
    /// The configured listen address (shown on a port conflict; the next port starts here).
    pub listen: String,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub log_dir: PathBuf,
    /// Added to the web panel's URL so the browser may use the API.
    pub api_key: String,
    pub autostart: Option<Autostart>,
    pub opener: Opener,
}

/// What the surfaces show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub state: State,
    pub status: String,
    pub tooltip: String,
    pub icon: IconKind,
    pub menu: Vec<Item>,
    /// The core this tray launched, while it runs.
    pub core_pid: Option<u32>,
}

impl View {
    pub fn of(model: &Model, core_pid: Option<u32>) -> Self {
        let status = model.status_line();
        let mut tooltip = status.clone();
        if let Some(d) = model.detail.as_deref()
            && !status.contains(d)
        {
            tooltip = format!("{status}\n{d}");
        }
        Self {
            state: model.state,
            status,
            tooltip,
            icon: model.icon(),
            menu: menu(model),
            core_pid,
        }
    }

    /// One JSON line for `--print-status`.
    pub fn status_json(&self) -> String {
        json!({
            "state": self.state.as_str(),
            "status": self.status,
            "icon": self.icon.as_str(),
            "core_pid": self.core_pid,
        })
        .to_string()
    }
}

/// What reaches the runner.
#[derive(Debug)]
pub enum Input {
    /// The result of a look for the core (`Probe`) or of waiting for it (`AwaitReady`).
    Found(Option<Endpoint>),
    Ready(Endpoint),
    Ended(CoreEnd),
    Session(session::Update),
    /// An action could not be done: tell the person.
    Failed(Notice),
}

/// The channels between the runner and the desktop.
#[derive(Debug)]
pub struct Channels {
    pub views: watch::Sender<View>,
    pub notices: mpsc::UnboundedSender<Notice>,
    pub actions: mpsc::UnboundedReceiver<Action>,
}

enum Next {
    Input(Input),
    Action(Action),
    Timer,
    Tick,
}

struct Runner {
    s: Settings,
    machine: Machine,
    model: Model,
    tx: mpsc::UnboundedSender<Input>,
    endpoint: Option<Endpoint>,
    /// The look or the wait under way, dropped when the state changes.
    op: Option<JoinHandle<()>>,
    session: Option<JoinHandle<()>>,
    core_pid: Option<u32>,
    timer: Option<(u64, Pin<Box<tokio::time::Sleep>>)>,
    /// In `core_error_config`: the config file's modification time when the state began.
    config_stamp: Option<Option<SystemTime>>,
    ui: Channels,
    exit: bool,
    /// The last failure a notification told of (not repeated while retries fail alike).
    alerted: Option<State>,
    /// The logins, agents' servers and tools to review told of, kept across reconnections.
    told: Told,
}

/// Runs the tray until Quit (or a stop signal sent as `Action::Quit`) has stopped the core it
/// launched.
pub async fn run(settings: Settings, ui: Channels) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut model = Model::new(
        &settings.version,
        &settings.listen,
        &settings.data_dir.display().to_string(),
    );
    model.autostart = settings.autostart.as_ref().map(Autostart::enabled);
    let mut r = Runner {
        machine: Machine::new(),
        model,
        tx,
        endpoint: None,
        op: None,
        session: None,
        core_pid: None,
        timer: None,
        config_stamp: None,
        ui,
        exit: false,
        alerted: None,
        told: Told::default(),
        s: settings,
    };
    let start = r.machine.start();
    r.apply(start);
    r.publish();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    while !r.exit {
        let timer = &mut r.timer;
        let actions = &mut r.ui.actions;
        let next = tokio::select! {
            Some(input) = rx.recv() => Next::Input(input),
            Some(action) = actions.recv() => Next::Action(action),
            () = async {
                match timer.as_mut() {
                    Some((_, sleep)) => sleep.as_mut().await,
                    None => std::future::pending().await,
                }
            } => Next::Timer,
            _ = tick.tick() => Next::Tick,
        };
        match next {
            Next::Input(input) => r.input(input),
            Next::Action(action) => r.action(action),
            Next::Timer => {
                r.timer = None;
                if let Some(t) = r.machine.timer() {
                    r.feed(t.event());
                }
            }
            Next::Tick => r.watch_config(),
        }
        r.sync_timer();
        r.publish();
    }
    for task in [r.op.take(), r.session.take()].into_iter().flatten() {
        task.abort();
    }
}

impl Runner {
    fn publish(&mut self) {
        let view = View::of(&self.model, self.core_pid);
        self.ui.views.send_if_modified(|v| {
            if *v == view {
                false
            } else {
                *v = view;
                true
            }
        });
    }

    fn notify(&self, notice: Notice) {
        tracing::info!(summary = %notice.summary, "{}", notice.body);
        let _ = self.ui.notices.send(notice);
    }

    /// Keeps the runner's sleep in step with the machine's one timer.
    fn sync_timer(&mut self) {
        match (self.machine.timer(), &self.timer) {
            (Some(t), Some((id, _))) if t.id == *id => {}
            (Some(t), _) => self.timer = Some((t.id, Box::pin(tokio::time::sleep(t.after)))),
            (None, _) => self.timer = None,
        }
    }

    /// Feeds one event and runs what follows from it.
    fn feed(&mut self, event: Event) {
        let name = event.name();
        let before_state = self.machine.state();
        let before = self.model.clone();
        match self.machine.handle(event) {
            Ok(effects) => {
                if self.machine.state() != before_state {
                    tracing::info!(from = %before_state, to = %self.machine.state(), event = name, "tray state");
                    if let Some(op) = self.op.take() {
                        op.abort();
                    }
                    self.entered();
                }
                self.model.follow(&self.machine);
                self.core_pid = match self.machine.core() {
                    Core::Launched { pid } => Some(pid),
                    _ => None,
                };
                if let Some(n) = notice_for_state(&before, &self.model, self.alerted) {
                    self.notify(n);
                }
                if self.model.state.is_error() {
                    self.alerted = Some(self.model.state);
                } else if self.model.state == State::Connected {
                    self.alerted = None;
                }
                self.apply(effects);
            }
            Err(refusal) => tracing::debug!("{refusal}"),
        }
        self.sync_timer();
    }

    /// What entering a state needs beyond the machine's effects.
    fn entered(&mut self) {
        let state = self.machine.state();
        self.config_stamp = (state == State::CoreErrorConfig).then(|| self.config_mtime());
        if state == State::CoreErrorPortConflict {
            self.model.next_port = core::next_free_port(&self.model.listen);
        } else if state == State::Connected {
            self.model.next_port = None;
        }
    }

    fn config_mtime(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.s.config_path)
            .and_then(|m| m.modified())
            .ok()
    }

    /// A config error is retried as soon as the file changes.
    fn watch_config(&mut self) {
        if let Some(stamp) = self.config_stamp
            && self.machine.state() == State::CoreErrorConfig
            && self.config_mtime() != stamp
        {
            tracing::info!("the config file changed; starting mcpproxy again");
            self.config_stamp = None;
            self.feed(Event::RetryNow);
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Probe => {
                    let site = self.s.site.clone();
                    let tx = self.tx.clone();
                    self.op = Some(tokio::spawn(async move {
                        let _ = tx.send(Input::Found(site.find().await));
                    }));
                }
                Effect::Launch { listen } => self.launch(listen),
                Effect::AwaitReady => {
                    let site = self.s.site.clone();
                    let tx = self.tx.clone();
                    self.op = Some(tokio::spawn(async move {
                        loop {
                            if let Some(endpoint) = site.find().await {
                                let _ = tx.send(Input::Ready(endpoint));
                                return;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }));
                }
                Effect::Connect => self.connect(),
                Effect::Disconnect => {
                    if let Some(s) = self.session.take() {
                        s.abort();
                    }
                }
                Effect::StopCore => self.signal_core(Signal::SIGTERM),
                Effect::KillCore => self.signal_core(Signal::SIGKILL),
                Effect::Exit => self.exit = true,
            }
        }
    }

    fn launch(&mut self, listen: Option<String>) {
        if let Some(l) = &listen {
            l.clone_into(&mut self.model.listen);
        } else {
            self.s.listen.clone_into(&mut self.model.listen);
        }
        let tx = self.tx.clone();
        let result = core::launch(&self.s.core, listen.as_deref(), move |end| {
            let _ = tx.send(Input::Ended(end));
        });
        // Fed at once, before any other input: a Quit that follows must know the core runs.
        match result {
            Ok(launched) => {
                tracing::info!(pid = launched.pid, "launched mcpproxy");
                self.feed(Event::CoreStarted { pid: launched.pid });
            }
            Err(e) => self.feed(Event::CoreStartFailed {
                reason: format!(
                    "cannot start {}: {e}; install mcpproxy next to mcpproxy-tray or pass --core",
                    self.s.core.program.display()
                ),
            }),
        }
    }

    fn signal_core(&self, signal: Signal) {
        if let Core::Launched { pid } = self.machine.core() {
            tracing::info!(pid, "sending {signal} to mcpproxy");
            core::signal(pid, signal);
        }
    }

    fn connect(&mut self) {
        let Some(endpoint) = self.endpoint.clone() else {
            self.feed(Event::ConnectFailed {
                reason: "no address for mcpproxy is known".to_owned(),
            });
            return;
        };
        if let Some(s) = self.session.take() {
            s.abort();
        }
        let tx = self.tx.clone();
        self.session = Some(tokio::spawn(session::follow(endpoint, move |u| {
            let _ = tx.send(Input::Session(u));
        })));
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Found(Some(endpoint)) => {
                tracing::info!(via = endpoint.via(), "found a running mcpproxy");
                self.endpoint = Some(endpoint);
                self.feed(Event::Attach);
            }
            Input::Found(None) => self.feed(Event::NoCoreFound),
            Input::Ready(endpoint) => {
                self.endpoint = Some(endpoint);
                self.feed(Event::CoreReady);
            }
            Input::Ended(end) => {
                tracing::info!(pid = end.pid, code = ?end.code, message = ?end.message, "mcpproxy exited");
                if self.core_pid == Some(end.pid) {
                    self.feed(Event::CoreExited {
                        code: end.code,
                        message: end.message,
                    });
                }
            }
            Input::Session(update) => self.session_update(update),
            Input::Failed(notice) => self.notify(notice),
        }
    }

    fn session_update(&mut self, update: session::Update) {
        match update {
            session::Update::Info(info) => self.model.set_info(&info),
            session::Update::Servers(servers) => {
                for n in self.told.servers(&servers) {
                    self.notify(n);
                }
                self.model.servers = servers;
            }
            session::Update::Review(review) => {
                for n in self.told.review(&review) {
                    self.notify(n);
                }
                self.model.review = review;
            }
            session::Update::Event { name, payload } => {
                if let Some(n) = self.told.event(&name, &payload) {
                    self.notify(n);
                }
            }
            session::Update::Connected => self.feed(Event::ApiConnected),
            session::Update::Failed(reason) => self.feed(Event::ConnectFailed { reason }),
            session::Update::Lost(reason) => self.feed(Event::ConnectionLost { reason }),
        }
    }

    fn action(&mut self, action: Action) {
        tracing::info!(?action, "menu");
        match action {
            Action::Quit => self.feed(Event::Shutdown),
            Action::RetryNow => self.feed(Event::RetryNow),
            Action::UseNextPort(listen) => self.feed(Event::UseNextPort { listen }),
            Action::OpenLogs => {
                let _ = std::fs::create_dir_all(&self.s.log_dir);
                self.open(&self.s.log_dir.display().to_string());
            }
            Action::OpenConfig => {
                let dir = self.s.config_path.parent().map(PathBuf::from);
                self.open(&dir.unwrap_or_default().display().to_string());
            }
            Action::OpenWebPanel => match self.model.web_url() {
                Some(url) if self.s.api_key.is_empty() => self.open(&url),
                Some(url) => self.open(&format!("{url}?apikey={}", self.s.api_key)),
                None => self.notify(Notice {
                    summary: "The web control panel is not available".into(),
                    body: "mcpproxy is not running.".into(),
                }),
            },
            Action::ToggleAutostart => self.toggle_autostart(),
            Action::Server { server, op } => self.server_action(server, op),
            Action::ApproveTool { server, tool } => {
                let path = format!("/servers/{}/tools/approve", segment(&server));
                let body = json!({"tools": [tool]});
                self.call(path, body, format!("approve {server}:{tool}"), None);
            }
        }
    }

    fn open(&self, target: &str) {
        if let Err(e) = self.s.opener.open(target) {
            self.notify(Notice {
                summary: "Cannot open it".into(),
                body: format!("{target}: {e}"),
            });
        }
    }

    fn toggle_autostart(&mut self) {
        let Some(autostart) = &self.s.autostart else {
            return;
        };
        let on = !autostart.enabled();
        match autostart.set(on) {
            Ok(()) => self.model.autostart = Some(on),
            Err(e) => self.notify(Notice {
                summary: "Cannot change Start at login".into(),
                body: format!("{}: {e}", autostart.path.display()),
            }),
        }
    }

    fn server_action(&mut self, server: String, op: ServerOp) {
        let path = format!("/servers/{}/{}", segment(&server), op.as_str());
        let opener = (op == ServerOp::Login).then(|| self.s.opener.clone());
        self.call(path, json!({}), format!("{} {server}", op.as_str()), opener);
    }

    /// POSTs to the API in the background; a refusal becomes a notification with the core's
    /// reason (a config gate, a quarantine, an unknown server). A login's URL is opened when
    /// the core could not open it itself.
    fn call(&self, path: String, body: Value, what: String, login: Option<Opener>) {
        let Some(endpoint) = self.endpoint.clone().filter(|_| self.model.connected()) else {
            self.notify(Notice {
                summary: format!("Cannot {what}"),
                body: "mcpproxy is not connected.".into(),
            });
            return;
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            match endpoint.post(&path, &body).await {
                Ok(data) => {
                    if let (Some(opener), Some(url), false) = (
                        login,
                        data.get("auth_url").and_then(Value::as_str),
                        data.get("browser_opened").and_then(Value::as_bool) == Some(true),
                    ) && let Err(e) = opener.open(url)
                    {
                        tracing::warn!("cannot open the login page {url}: {e}");
                    }
                }
                Err(e) => {
                    let _ = tx.send(Input::Failed(Notice {
                        summary: format!("Cannot {what}"),
                        body: e.to_string(),
                    }));
                }
            }
        });
    }
}

/// A server or tool name as one URL path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(segment("github-2.x_y"), "github-2.x_y");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
