//! A private session bus for a test (Debian's `dbus-daemon`), with the test playing the desktop:
//! the StatusNotifierWatcher the tray registers with and the notification server it notifies,
//! and a reader of the tray's item and its `com.canonical.dbusmenu` menu.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::PATIENCE;

/// A `dbus-daemon --session` of its own, stopped when dropped.
#[derive(Debug)]
pub struct Bus {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    pub fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg("--session")
            .arg("--nofork")
            .arg("--print-address=1")
            .arg(format!("--address=unix:path={}/bus", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // It warns that it cannot raise its fd limit when not run by the system.
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is missing: install Debian's `dbus` (scripts/test does)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        Bus {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the desktop side saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Bus names of the items that registered.
    pub items: Vec<String>,
    /// `(summary, body)` of each notification.
    pub notices: Vec<(String, String)>,
}

struct Watcher(Arc<Mutex<Seen>>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // An item may give its path rather than its name; then its sender is the name.
        let name = if service.starts_with('/') {
            header.sender().map(ToString::to_string).unwrap_or_default()
        } else {
            service.to_owned()
        };
        self.0.lock().unwrap().items.push(name);
    }

    async fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    async fn registered_status_notifier_items(&self) -> Vec<String> {
        self.0.lock().unwrap().items.clone()
    }

    #[zbus(property)]
    async fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    async fn protocol_version(&self) -> i32 {
        0
    }
}

struct Notifications(Arc<Mutex<Seen>>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.0.lock().unwrap();
        seen.notices.push((summary.to_owned(), body.to_owned()));
        u32::try_from(seen.notices.len()).unwrap()
    }

    async fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    async fn get_server_information(&self) -> (String, String, String, String) {
        ("test".into(), "mcpproxy".into(), "1".into(), "1.2".into())
    }
}

/// The test's side of the bus: it owns the watcher's and the notification server's names.
#[derive(Debug)]
pub struct Desktop {
    pub conn: zbus::Connection,
    pub seen: Arc<Mutex<Seen>>,
}

impl Desktop {
    pub async fn join(bus: &Bus) -> Desktop {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let conn = zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .serve_at("/StatusNotifierWatcher", Watcher(seen.clone()))
            .unwrap()
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications(seen.clone()),
            )
            .unwrap()
            .name("org.kde.StatusNotifierWatcher")
            .unwrap()
            .name("org.freedesktop.Notifications")
            .unwrap()
            .build()
            .await
            .unwrap();
        Desktop { conn, seen }
    }

    /// Waits for an item to register; returns its bus name.
    pub async fn item(&self) -> Item {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(name) = self.seen.lock().unwrap().items.first().cloned() {
                return Item {
                    conn: self.conn.clone(),
                    name,
                };
            }
            assert!(Instant::now() < deadline, "no tray item registered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a notification whose summary contains `words`.
    pub async fn notice(&self, words: &str) -> (String, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self
                .seen
                .lock()
                .unwrap()
                .notices
                .iter()
                .find(|(summary, _)| summary.contains(words))
                .cloned();
            if let Some(n) = found {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "no notification saying {words:?}; got {:?}",
                self.seen.lock().unwrap().notices
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One entry of the tray's menu as the bus shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i32,
    /// The label with dbusmenu's access-key escaping undone (`__` → `_`).
    pub label: String,
    pub enabled: bool,
    pub kind: String,
    pub toggle_state: Option<i32>,
    pub children: Vec<Entry>,
}

impl Entry {
    /// The entry at `path`: each step is the start of a label (a leading status symbol is
    /// skipped).
    pub fn find(&self, path: &[&str]) -> Option<&Entry> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        let child = self.children.iter().find(|c| {
            let text = c
                .label
                .trim_start_matches(|ch: char| !ch.is_alphanumeric())
                .trim_start();
            text.starts_with(first)
        })?;
        child.find(rest)
    }

    /// The labels of the tree, indented, for messages.
    pub fn outline(&self) -> String {
        let mut out = String::new();
        fn walk(e: &Entry, depth: usize, out: &mut String) {
            for c in &e.children {
                let off = if c.enabled { "" } else { " (off)" };
                out.push_str(&format!("{}{}{off}\n", "  ".repeat(depth), c.label));
                walk(c, depth + 1, out);
            }
        }
        walk(self, 0, &mut out);
        out
    }
}

fn plain<'a>(v: &'a Value<'a>) -> &'a Value<'a> {
    match v {
        Value::Value(inner) => plain(inner),
        other => other,
    }
}

fn entry(v: &Value<'_>) -> Entry {
    let Value::Structure(s) = plain(v) else {
        panic!("a menu entry is a structure: {v:?}")
    };
    let fields = s.fields();
    let Value::I32(id) = plain(&fields[0]) else {
        panic!("id: {:?}", fields[0])
    };
    let mut e = Entry {
        id: *id,
        label: String::new(),
        enabled: true,
        kind: "standard".into(),
        toggle_state: None,
        children: Vec::new(),
    };
    if let Value::Dict(props) = plain(&fields[1]) {
        for (k, v) in props.iter() {
            let (Value::Str(key), value) = (plain(k), plain(v)) else {
                continue;
            };
            match (key.as_str(), value) {
                ("label", Value::Str(l)) => e.label = l.as_str().replace("__", "_"),
                ("enabled", Value::Bool(b)) => e.enabled = *b,
                ("type", Value::Str(t)) => e.kind = t.as_str().to_owned(),
                ("toggle-state", Value::I32(t)) => e.toggle_state = Some(*t),
                _ => {}
            }
        }
    }
    if let Value::Array(children) = plain(&fields[2]) {
        e.children = children.inner().iter().map(entry).collect();
    }
    e
}

/// A dbusmenu layout node: id, properties, children (each a variant holding a node).
type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// The tray's StatusNotifierItem.
#[derive(Debug, Clone)]
pub struct Item {
    conn: zbus::Connection,
    pub name: String,
}

impl Item {
    async fn proxy(&self, path: &str, interface: &'static str) -> zbus::Proxy<'static> {
        zbus::proxy::Builder::new(&self.conn)
            .destination(self.name.clone())
            .unwrap()
            .path(path.to_owned())
            .unwrap()
            .interface(interface)
            .unwrap()
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap()
    }

    async fn sni(&self) -> zbus::Proxy<'static> {
        self.proxy("/StatusNotifierItem", "org.kde.StatusNotifierItem")
            .await
    }

    pub async fn property<T>(&self, name: &str) -> T
    where
        T: TryFrom<OwnedValue>,
        T::Error: Into<zbus::Error>,
    {
        self.sni().await.get_property(name).await.unwrap()
    }

    /// The first icon pixmap: width, height, ARGB32 bytes.
    pub async fn pixmap(&self) -> (i32, i32, Vec<u8>) {
        let icons: Vec<(i32, i32, Vec<u8>)> = self.property("IconPixmap").await;
        icons.into_iter().next().expect("an icon pixmap")
    }

    async fn menu_proxy(&self) -> zbus::Proxy<'static> {
        let path: OwnedObjectPath = self.property("Menu").await;
        self.proxy(path.as_str(), "com.canonical.dbusmenu").await
    }

    /// The whole menu, read with `GetLayout`.
    pub async fn menu(&self) -> Entry {
        let menu = self.menu_proxy().await;
        let reply = menu
            .call_method("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .await
            .unwrap();
        let (_revision, (id, _props, children)): (u32, Layout) =
            reply.body().deserialize().unwrap();
        Entry {
            id,
            label: String::new(),
            enabled: true,
            kind: "root".into(),
            toggle_state: None,
            children: children.iter().map(|c| entry(c)).collect(),
        }
    }

    /// Clicks the entry with `id`, as a desktop's menu does. `false` when the id has expired:
    /// the layout changed since it was read (ksni then renumbers every entry, so a stale click
    /// never lands on another entry).
    pub async fn click(&self, id: i32) -> bool {
        let menu = self.menu_proxy().await;
        let timestamp = 0u32;
        match menu
            .call_method("Event", &(id, "clicked", Value::I32(0), timestamp))
            .await
        {
            Ok(_) => true,
            Err(zbus::Error::MethodError(name, Some(text), _))
                if name.as_str() == "org.freedesktop.DBus.Error.InvalidArgs"
                    && text == "id not found" =>
            {
                false
            }
            Err(e) => panic!("clicking {id}: {e}"),
        }
    }

    /// Waits for the entry at `path` to satisfy `ok` and clicks it, reading the menu again
    /// when it changed in between (as a person would after the menu redraws).
    pub async fn press(&self, path: &[&str], ok: impl Fn(&Entry) -> bool) -> Entry {
        loop {
            let entry = self.until_entry(path, &ok).await;
            if self.click(entry.id).await {
                return entry;
            }
        }
    }

    /// Waits for the menu entry at `path` to exist and satisfy `ok`; returns it.
    pub async fn until_entry(&self, path: &[&str], ok: impl Fn(&Entry) -> bool) -> Entry {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let menu = self.menu().await;
            if let Some(e) = menu.find(path).filter(|e| ok(e)) {
                return e.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the menu never had {path:?} as wanted:\n{}",
                menu.outline()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
