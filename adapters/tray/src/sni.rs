//! Linux: the tray as a StatusNotifierItem with its menu over `com.canonical.dbusmenu` (ksni),
//! and notifications through `org.freedesktop.Notifications`, both on the session bus.

use std::collections::HashMap;

use ksni::menu::{CheckmarkItem, StandardItem, SubMenu};
use ksni::{MenuItem, TrayMethods};
use tokio::sync::{mpsc, watch};

use crate::icon;
use crate::menu::{Action, Item};
use crate::model::IconKind;
use crate::notice::Notice;
use crate::runner::View;

#[derive(Debug, thiserror::Error)]
pub enum SniError {
    #[error("cannot show the tray icon: {0}")]
    Tray(#[from] ksni::Error),
    #[error("the session bus is unavailable: {0}")]
    Bus(#[from] zbus::Error),
}

/// The item ksni serves: the latest view, and where clicks go.
struct SniItem {
    view: View,
    actions: mpsc::UnboundedSender<Action>,
}

/// dbusmenu reads `_` as the mark of an access key; a literal one is doubled.
fn label(text: &str) -> String {
    text.replace('_', "__")
}

fn items(list: &[Item]) -> Vec<MenuItem<SniItem>> {
    list.iter()
        .map(|item| match item {
            Item::Label(text) => StandardItem {
                label: label(text),
                enabled: false,
                ..Default::default()
            }
            .into(),
            Item::Button {
                label: text,
                action,
                enabled,
            } => {
                let action = action.clone();
                StandardItem {
                    label: label(text),
                    enabled: *enabled,
                    activate: Box::new(move |t: &mut SniItem| {
                        let _ = t.actions.send(action.clone());
                    }),
                    ..Default::default()
                }
                .into()
            }
            Item::Check {
                label: text,
                checked,
                action,
            } => {
                let action = action.clone();
                CheckmarkItem {
                    label: label(text),
                    checked: *checked,
                    activate: Box::new(move |t: &mut SniItem| {
                        let _ = t.actions.send(action.clone());
                    }),
                    ..Default::default()
                }
                .into()
            }
            Item::Submenu {
                label: text,
                enabled,
                items: children,
            } => SubMenu {
                label: label(text),
                enabled: *enabled,
                submenu: items(children),
                ..Default::default()
            }
            .into(),
            Item::Separator => MenuItem::Separator,
        })
        .collect()
}

/// The icon as StatusNotifierItem's ARGB32 pixmap.
pub fn pixmap(kind: IconKind) -> ksni::Icon {
    let image = icon::image(kind);
    ksni::Icon {
        width: i32::try_from(image.width).unwrap_or(0),
        height: i32::try_from(image.height).unwrap_or(0),
        data: image.argb(),
    }
}

impl ksni::Tray for SniItem {
    // A left click opens the menu: there is no window to show.
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "mcpproxy".into()
    }

    fn title(&self) -> String {
        "MCPProxy".into()
    }

    fn status(&self) -> ksni::Status {
        if self.view.icon == IconKind::Error {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![pixmap(self.view.icon)]
    }

    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![pixmap(IconKind::Error)]
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: "MCPProxy".into(),
            description: self.view.tooltip.clone(),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        items(&self.view.menu)
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        // Keep serving: the panel may come (back) later; the core is watched either way.
        tracing::warn!("no tray host shows the icon right now ({reason:?})");
        true
    }
}

/// Serves the item on the session bus and keeps it at the latest view until the views end.
pub async fn serve(
    mut views: watch::Receiver<View>,
    actions: mpsc::UnboundedSender<Action>,
) -> Result<(), SniError> {
    let view = views.borrow_and_update().clone();
    let handle = SniItem { view, actions }
        .assume_sni_available(true)
        .spawn()
        .await?;
    while views.changed().await.is_ok() {
        let view = views.borrow_and_update().clone();
        if handle.update(|item| item.view = view).await.is_none() {
            break;
        }
    }
    handle.shutdown().await;
    Ok(())
}

/// Shows each notice through `org.freedesktop.Notifications` until the notices end. With no
/// notification server on the bus, notices stay in the log only.
pub async fn notify(mut notices: mpsc::UnboundedReceiver<Notice>) -> Result<(), SniError> {
    let bus = zbus::Connection::session().await?;
    while let Some(notice) = notices.recv().await {
        let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        let sent = bus
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    "MCPProxy",
                    0u32,
                    "",
                    notice.summary.as_str(),
                    notice.body.as_str(),
                    Vec::<&str>::new(),
                    hints,
                    -1i32,
                ),
            )
            .await;
        if let Err(e) = sent {
            tracing::debug!("no desktop notification ({e}): {}", notice.summary);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscores_survive_dbusmenu() {
        assert_eq!(label("fx:add_tool — new"), "fx:add__tool — new");
    }

    #[test]
    fn the_pixmap_is_the_icon_in_argb() {
        let p = pixmap(IconKind::Degraded);
        assert_eq!((p.width, p.height), (64, 64));
        assert_eq!(p.data, icon::image(IconKind::Degraded).argb());
    }
}
