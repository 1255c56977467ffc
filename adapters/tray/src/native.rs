//! macOS and Windows: the tray through `tray-icon` (its menu through `muda`), on a `winit`
//! event loop that must own the main thread; notifications through `notify-rust`.
//!
//! Built for those targets by the `native` feature (the binary turns it on there). It has
//! never run on macOS or Windows in our CI, which is Linux only; on Linux the same code is
//! type-checked with `--features native` against tray-icon's KSNI backend, where it is not
//! used (Linux shows the tray through [`crate::sni`]).

use std::collections::HashMap;

use tokio::sync::{mpsc, watch};
use tray_icon::menu::{
    CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuId, MenuItem, PredefinedMenuItem, Submenu,
};
use tray_icon::{TrayIcon, TrayIconBuilder};
use winit::application::ApplicationHandler;
use winit::event::{StartCause, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::window::WindowId;

use crate::icon;
use crate::menu::{Action, Item};
use crate::model::IconKind;
use crate::notice::Notice;
use crate::runner::View;

#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("cannot start the desktop event loop: {0}")]
    EventLoop(#[from] winit::error::EventLoopError),
}

enum UserEvent {
    View(Box<View>),
    Menu(MenuEvent),
    /// The runner ended: the tray is done.
    Done,
}

/// muda reads `&` as the mark of a mnemonic; a literal one is doubled.
fn label(text: &str) -> String {
    text.replace('&', "&&")
}

fn tray_icon_image(kind: IconKind) -> Option<tray_icon::Icon> {
    let image = icon::image(kind);
    tray_icon::Icon::from_rgba(image.rgba.clone(), image.width, image.height).ok()
}

/// A muda item for each of ours; clickable ones are remembered by id.
fn build(items: &[Item], actions: &mut HashMap<MenuId, Action>) -> Vec<Box<dyn IsMenuItem>> {
    items
        .iter()
        .map(|item| -> Box<dyn IsMenuItem> {
            match item {
                Item::Label(text) => Box::new(MenuItem::new(label(text), false, None)),
                Item::Button {
                    label: text,
                    action,
                    enabled,
                } => {
                    let entry = MenuItem::new(label(text), *enabled, None);
                    actions.insert(entry.id().clone(), action.clone());
                    Box::new(entry)
                }
                Item::Check {
                    label: text,
                    checked,
                    action,
                } => {
                    let entry = CheckMenuItem::new(label(text), true, *checked, None);
                    actions.insert(entry.id().clone(), action.clone());
                    Box::new(entry)
                }
                Item::Submenu {
                    label: text,
                    enabled,
                    items: children,
                } => {
                    let submenu = Submenu::new(label(text), *enabled);
                    for child in build(children, actions) {
                        if let Err(e) = submenu.append(child.as_ref()) {
                            tracing::warn!("cannot build the tray menu: {e}");
                        }
                    }
                    Box::new(submenu)
                }
                Item::Separator => Box::new(PredefinedMenuItem::separator()),
            }
        })
        .collect()
}

struct App {
    tray: Option<TrayIcon>,
    view: View,
    actions: HashMap<MenuId, Action>,
    send: mpsc::UnboundedSender<Action>,
}

impl App {
    fn menu(&mut self) -> Menu {
        self.actions.clear();
        let menu = Menu::new();
        for item in build(&self.view.menu, &mut self.actions) {
            if let Err(e) = menu.append(item.as_ref()) {
                tracing::warn!("cannot build the tray menu: {e}");
            }
        }
        menu
    }

    /// Creates the icon (on macOS only once the loop runs) or brings it up to date.
    fn show(&mut self) {
        let menu = Box::new(self.menu());
        match &self.tray {
            None => {
                let mut builder = TrayIconBuilder::new()
                    .with_menu(menu)
                    .with_tooltip(&self.view.tooltip)
                    .with_title("MCPProxy");
                if let Some(icon) = tray_icon_image(self.view.icon) {
                    builder = builder.with_icon(icon);
                }
                match builder.build() {
                    Ok(tray) => self.tray = Some(tray),
                    Err(e) => tracing::warn!("cannot show the tray icon: {e}"),
                }
            }
            Some(tray) => {
                tray.set_menu(Some(menu));
                if let Err(e) = tray.set_tooltip(Some(&self.view.tooltip)) {
                    tracing::debug!("cannot set the tooltip: {e}");
                }
                if let Err(e) = tray.set_icon(tray_icon_image(self.view.icon)) {
                    tracing::debug!("cannot set the icon: {e}");
                }
            }
        }
    }
}

impl ApplicationHandler<UserEvent> for App {
    fn new_events(&mut self, _: &ActiveEventLoop, cause: StartCause) {
        if cause == StartCause::Init {
            self.show();
        }
    }

    fn resumed(&mut self, _: &ActiveEventLoop) {}

    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, _: WindowEvent) {}

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: UserEvent) {
        match event {
            UserEvent::View(view) => {
                self.view = *view;
                self.show();
            }
            UserEvent::Menu(e) => {
                if let Some(action) = self.actions.get(e.id()) {
                    let _ = self.send.send(action.clone());
                }
            }
            UserEvent::Done => {
                self.tray = None;
                event_loop.exit();
            }
        }
    }
}

#[cfg(any(target_os = "macos", windows))]
fn notify(notice: &Notice) {
    if let Err(e) = notify_rust::Notification::new()
        .appname("MCPProxy")
        .summary(&notice.summary)
        .body(&notice.body)
        .show()
    {
        tracing::debug!("no desktop notification ({e}): {}", notice.summary);
    }
}

#[cfg(not(any(target_os = "macos", windows)))]
fn notify(notice: &Notice) {
    tracing::debug!(
        "notification (shown by the SNI surface on Linux): {}",
        notice.summary
    );
}

/// Runs the tray on this thread (the main thread, which macOS requires) until the views end,
/// that is until the runner has stopped.
pub fn run(
    mut views: watch::Receiver<View>,
    actions: mpsc::UnboundedSender<Action>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
) -> Result<(), NativeError> {
    let event_loop = EventLoop::<UserEvent>::with_user_event().build()?;
    event_loop.set_control_flow(ControlFlow::Wait);
    let proxy = event_loop.create_proxy();
    MenuEvent::set_event_handler(Some(move |e| {
        let _ = proxy.send_event(UserEvent::Menu(e));
    }));
    // The runner's views and notices reach the loop from a small thread of their own.
    let proxy = event_loop.create_proxy();
    let first = views.borrow_and_update().clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            let _ = proxy.send_event(UserEvent::Done);
            return;
        };
        rt.block_on(async {
            loop {
                tokio::select! {
                    changed = views.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let view = views.borrow_and_update().clone();
                        if proxy.send_event(UserEvent::View(Box::new(view))).is_err() {
                            return;
                        }
                    }
                    Some(notice) = notices.recv() => notify(&notice),
                }
            }
            let _ = proxy.send_event(UserEvent::Done);
        });
    });
    let mut app = App {
        tray: None,
        view: first,
        actions: HashMap::new(),
        send: actions,
    };
    event_loop.run_app(&mut app)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ampersands_survive_muda() {
        assert_eq!(label("Tom & Jerry"), "Tom && Jerry");
    }
}
