//! The panel's files, built into the binary. The JavaScript is kept as small files in
//! `assets/js/` for people to read and joined here, in order, into one script inside one
//! function scope (no bundler, no module loader: the files share that scope, and the order
//! below is the order they need). Each file is served under a name that carries a hash of
//! its bytes, so a browser may keep it forever and a new build is never mixed with an old.

use sha2::{Digest, Sha256};

/// The page files of the panel, in load order. A new page is one file here and one line in
/// this list; it registers itself with `page(...)` (see `js/router.js`).
const APP_JS: &str = concat!(
    "// mcpproxy web control panel: adapters/web/assets/js, joined in order by assets.rs\n",
    "(() => {\n\"use strict\";\n",
    include_str!("../assets/js/dom.js"),
    include_str!("../assets/js/api.js"),
    include_str!("../assets/js/widgets.js"),
    include_str!("../assets/js/format.js"),
    include_str!("../assets/js/router.js"),
    include_str!("../assets/js/live.js"),
    include_str!("../assets/js/schema_form.js"),
    include_str!("../assets/js/json_locate.js"),
    include_str!("../assets/js/diff.js"),
    include_str!("../assets/js/server_form.js"),
    include_str!("../assets/js/page_dashboard.js"),
    include_str!("../assets/js/page_servers.js"),
    include_str!("../assets/js/page_server.js"),
    include_str!("../assets/js/page_tools.js"),
    include_str!("../assets/js/page_activity.js"),
    include_str!("../assets/js/page_settings.js"),
    include_str!("../assets/js/main.js"),
    "})();\n"
);
const APP_CSS: &str = include_str!("../assets/app.css");
const ICON: &str = include_str!("../assets/icon.svg");
const INDEX: &str = include_str!("../assets/index.html");

/// One file under its hashed name.
#[derive(Debug)]
pub struct Asset {
    pub name: String,
    pub content_type: &'static str,
    pub body: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hash = hex::encode(&digest[..6]);
        Self {
            name: format!("{stem}.{hash}.{ext}"),
            content_type,
            body,
        }
    }

    /// The address pages refer to it by.
    pub fn url(&self) -> String {
        format!("/ui/assets/{}", self.name)
    }
}

/// Every asset, and the app's page with their addresses filled in.
#[derive(Debug)]
pub struct Assets {
    pub js: Asset,
    pub css: Asset,
    pub icon: Asset,
    index: String,
}

impl Assets {
    pub fn build() -> Self {
        let js = Asset::new("app", "js", "text/javascript; charset=utf-8", APP_JS);
        let css = Asset::new("app", "css", "text/css; charset=utf-8", APP_CSS);
        let icon = Asset::new("icon", "svg", "image/svg+xml", ICON);
        let index = fill(INDEX, &js, &css, &icon);
        Self {
            js,
            css,
            icon,
            index,
        }
    }

    /// The app's page.
    pub fn index(&self) -> &str {
        &self.index
    }

    pub fn get(&self, name: &str) -> Option<&Asset> {
        [&self.js, &self.css, &self.icon]
            .into_iter()
            .find(|a| a.name == name)
    }
}

/// A page template with `{{js}}`, `{{css}}` and `{{icon}}` replaced by the assets' addresses.
pub fn fill(template: &str, js: &Asset, css: &Asset, icon: &Asset) -> String {
    template
        .replace("{{js}}", &js.url())
        .replace("{{css}}", &css.url())
        .replace("{{icon}}", &icon.url())
        .replace("{{version}}", env!("CARGO_PKG_VERSION"))
}
