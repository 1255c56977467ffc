//! A real headless Chromium (Debian's `chromium`, driven by its `chromedriver` over the
//! W3C WebDriver protocol) for the web panel's tests. One browser serves the whole test
//! binary: it starts with the first test that asks and the tests take turns with it.
//!
//! WebDriver is JSON over HTTP, so the client is a few calls of our own over reqwest: the
//! session lives in chromedriver, not in a connection, and each test (each with its own
//! tokio runtime) talks to it with its own HTTP client. Nothing is downloaded: a missing
//! browser is a setup error that names the Debian packages (`scripts/test.d/16-chromium.sh`
//! installs them).
//!
//! A statics' destructor never runs, so the browser cannot be stopped by a `Drop`: a small
//! watchdog shell holds a pipe from this process and, when the test binary ends (however it
//! ends), stops chromedriver's process group and every process using our private profile
//! directory, then removes that directory.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard, OnceCell};

use crate::{PATIENCE, free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver's JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The shared browser: chromedriver's address and the session.
#[derive(Debug)]
struct Shared {
    driver: String,
    session: String,
    /// Held open for the life of this process; its closing is the watchdog's signal.
    _watchdog: Mutex<ChildStdin>,
}

static BROWSER: OnceCell<Shared> = OnceCell::const_new();
static TURN: AsyncMutex<()> = AsyncMutex::const_new(());

fn need(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the web panel tests need Debian's chromium and chromium-driver \
         (scripts/test installs them through scripts/test.d/16-chromium.sh; as root: \
         apt-get install chromium chromium-driver)"
    );
}

// chromedriver and the watchdog live as long as this process; the watchdog stops the browser
// when it ends, and init reaps them both.
#[allow(clippy::zombie_processes)]
async fn start() -> Shared {
    need(CHROMIUM);
    need(CHROMEDRIVER);
    let profile = tempfile::Builder::new()
        .prefix("mcpproxy-chromium-")
        .tempdir()
        .unwrap()
        .keep();
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(
            r#"cat >/dev/null
kill -TERM -"$1" 2>/dev/null
pkill -TERM -f -- "--user-data-dir=$2" 2>/dev/null
sleep 1
kill -KILL -"$1" 2>/dev/null
pkill -KILL -f -- "--user-data-dir=$2" 2>/dev/null
rm -rf -- "$2""#,
        )
        .arg("watchdog")
        .arg(driver.id().to_string())
        .arg(&profile)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ready = http
            .get(format!("{base}/status"))
            .send()
            .await
            .ok()
            .and_then(|r| r.status().is_success().then_some(()));
        if ready.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--lang=en-US".to_owned(),
        "--window-size=1280,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    }}});
    let answer: Value = http
        .post(format!("{base}/session"))
        .json(&caps)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = answer["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("chromedriver did not start Chromium: {answer}"))
        .to_owned();
    Shared {
        driver: base,
        session,
        _watchdog: Mutex::new(watchdog.stdin.unwrap()),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .no_proxy()
        .build()
        .unwrap()
}

/// Where the tests leave their screenshots: `<target>/test-output/web/`.
pub fn output_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/debug/deps/web-<hash>
    let target = exe.ancestors().nth(3).unwrap().to_owned();
    let dir = target.join("test-output").join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser, for one test at a time; the turn ends when the page is dropped.
pub async fn page() -> Page {
    let turn = TURN.lock().await;
    let shared = BROWSER.get_or_init(start).await;
    let page = Page {
        base: format!("{}/session/{}", shared.driver, shared.session),
        http: client(),
        _turn: turn,
    };
    // A fresh start: one desktop window in light colours, no page of the last test.
    page.close_other_windows().await;
    page.color_scheme("light").await;
    page.resize(1280, 900).await;
    page.goto("about:blank").await;
    page
}

/// One element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// The shared browser during one test's turn.
#[derive(Debug)]
pub struct Page {
    base: String,
    http: reqwest::Client,
    _turn: MutexGuard<'static, ()>,
}

impl Page {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"].get("error") {
            panic!(
                "WebDriver {method} {path}: {error}: {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    async fn try_call(&self, path: &str, body: Value) -> Result<Value, String> {
        let answer: Value = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match answer["value"].get("error") {
            Some(e) => Err(format!("{e}: {}", answer["value"]["message"])),
            None => Ok(answer["value"].clone()),
        }
    }

    /// Closes the windows a test opened (a link with `target=_blank`), keeping this one.
    async fn close_other_windows(&self) {
        let current = self.call(reqwest::Method::GET, "/window", None).await;
        let handles = self
            .call(reqwest::Method::GET, "/window/handles", None)
            .await;
        for handle in handles.as_array().unwrap() {
            if *handle != current {
                self.call(
                    reqwest::Method::POST,
                    "/window",
                    Some(json!({"handle": handle})),
                )
                .await;
                self.call(reqwest::Method::DELETE, "/window", None).await;
            }
        }
        self.call(
            reqwest::Method::POST,
            "/window",
            Some(json!({"handle": current})),
        )
        .await;
    }

    /// Pretends the system asks for `light` or `dark` colours (`prefers-color-scheme`).
    pub async fn color_scheme(&self, scheme: &str) {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{"name": "prefers-color-scheme", "value": scheme}]
            }})),
        )
        .await;
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script` that calls its last argument with the result.
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The first element matching `css` now, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let found = self
            .try_call("/element", json!({"using": "css selector", "value": css}))
            .await
            .ok()?;
        found[ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}:\n{}",
                self.url().await,
                self.body_text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `condition` (a JavaScript expression) is true; says `what` when it never is.
    pub async fn until(&self, what: &str, condition: &str) {
        let deadline = Instant::now() + PATIENCE;
        let script = format!("return Boolean({condition});");
        loop {
            if self.exec(&script, json!([])).await == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({condition}) on {}:\n{}",
                self.url().await,
                self.body_text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page shows `text` somewhere.
    pub async fn until_text(&self, text: &str) {
        let quoted = serde_json::to_string(text).unwrap();
        self.until(
            &format!("the text {text:?}"),
            &format!("document.body.innerText.includes({quoted})"),
        )
        .await;
    }

    pub async fn body_text(&self) -> String {
        self.exec(
            "return document.body ? document.body.innerText : '';",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Brings the element to the middle of its scroll box, as a person scrolls to what they
    /// click (WebDriver alone scrolls it to an edge, under a dialog's sticky buttons).
    /// A failure (the element replaced meanwhile) is left to the click to report.
    async fn scroll_to(&self, element: &Element) {
        let script = "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});";
        let args = json!({"script": script, "args": [{ ELEMENT: element.0 }]});
        let _ = self.try_call("/execute/sync", args).await;
    }

    /// Clicks the element as a person would (it must be visible and not covered).
    pub async fn click(&self, element: &Element) {
        self.scroll_to(element).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            None,
        )
        .await;
    }

    /// Clicks the first element matching `css`, waiting for it. A live update may replace
    /// the element between finding and clicking it; then it is found again.
    pub async fn click_on(&self, css: &str) {
        for _ in 0..5 {
            let element = self.find(css).await;
            self.scroll_to(&element).await;
            match self
                .try_call(&format!("/element/{}/click", element.0), json!({}))
                .await
            {
                Ok(_) => return,
                Err(e) if e.contains("stale element") => {}
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
        panic!("{css} kept being replaced");
    }

    /// Clicks the first button (or link) whose text is `label` exactly.
    pub async fn click_button(&self, label: &str) {
        let quoted = serde_json::to_string(label).unwrap();
        self.until(
            &format!("a button {label:?}"),
            &format!(
                "[...document.querySelectorAll('button, a.btn')].some(b => b.textContent.trim() === {quoted} && b.offsetParent !== null && !b.disabled)"
            ),
        )
        .await;
        let element = self
            .exec(
                &format!(
                    "return [...document.querySelectorAll('button, a.btn')].reverse().find(b => b.textContent.trim() === {quoted} && b.offsetParent !== null && !b.disabled);"
                ),
                json!([]),
            )
            .await;
        let id = element[ELEMENT].as_str().unwrap().to_owned();
        self.click(&Element(id)).await;
    }

    /// Types `text` into the element (after what is there).
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn clear(&self, element: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            None,
        )
        .await;
    }

    /// Replaces what the field matching `css` holds with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.clear(&element).await;
        self.type_into(&element, text).await;
    }

    /// Presses keys (WebDriver's key codes: "\u{E004}" is Tab, "\u{E007}" Enter).
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let k = c.to_string();
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// Saves a PNG of what the page shows as `<output>/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        let path = output_dir().join(format!("{name}.png"));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&png)
            .unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// Runs axe-core (from npm) on the page and fails on any serious or critical violation.
    pub async fn check_accessibility(&self, what: &str) {
        let axe = crate::upstream::node_module("axe-core/axe.min.js");
        let source = std::fs::read_to_string(axe).unwrap();
        self.exec(&format!("{source}\nreturn true;"), json!([]))
            .await;
        let violations = self
            .exec_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))))
                   .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
                json!([]),
            )
            .await;
        let bad: Vec<&Value> = violations
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            bad.is_empty(),
            "{what}: accessibility violations (axe-core):\n{}",
            serde_json::to_string_pretty(&bad).unwrap()
        );
    }
}
