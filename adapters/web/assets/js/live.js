// live.js: the proxy's events (/events, Server-Sent Events). Every change made anywhere —
// the CLI, REST, an agent over MCP, the config file — reaches the page on show. A lost
// stream reconnects by itself, and then everything is loaded again, since events may have
// been missed meanwhile.

const ACTIVITY_KINDS = ["tool_call", "policy_decision", "quarantine_change", "server_change",
  "system_start", "system_stop", "config_change", "tool_quarantine_change"];
const EVENT_NAMES = ["status", "ping", "dropped", "servers.changed", "config.reloaded",
  "tools.discovered", "tools.indexed", "tools.approval_changed", "oauth.login_required",
  "oauth.login_started", "oauth.token_refreshed", "oauth.refresh_failed",
  ...ACTIVITY_KINDS.map((k) => `activity.${k}`)];

const refreshStatus = debounce(loadStatus, 300);

function setLive(state, text) {
  const el = $("#live");
  el.dataset.state = state;
  el.textContent = text;
  document.body.dataset.live = state;
}

/** Everything again: after a reconnect or when events were dropped. */
function resync() {
  loadStatus();
  if (app.current && app.current.refresh) app.current.refresh();
}

function dispatch(name, payload) {
  if (name === "ping" || name === "status") return;
  if (name === "dropped") {
    resync();
    return;
  }
  if (!name.startsWith("activity.")) refreshStatus();
  if (app.current && app.current.onEvent) app.current.onEvent(name, payload);
}

function startLive() {
  let source = null;
  let lost = false;
  let retry = 1000;
  const open = () => {
    source = new EventSource("/events");
    source.addEventListener("open", () => {
      setLive("live", "Live");
      retry = 1000;
      if (lost) {
        lost = false;
        resync();
      }
    });
    source.addEventListener("error", () => {
      lost = true;
      setLive("down", "Reconnecting…");
      // The browser retries by itself unless the answer was not an event stream at all.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(async () => {
          try {
            await api("GET", "/status");
          } catch (e) {
            if (e.status === 401) return;
          }
          open();
        }, retry);
        retry = Math.min(retry * 2, 30000);
      }
    });
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (e) => {
        let data = {};
        try {
          data = JSON.parse(e.data);
        } catch {
          data = {};
        }
        dispatch(name, data.payload || {});
      });
    }
  };
  open();
  // A page the browser keeps for Back must not hold a connection: browsers allow only a
  // few per host, and each open event stream takes one.
  window.addEventListener("pagehide", () => source.close());
  window.addEventListener("pageshow", (e) => {
    if (e.persisted) {
      lost = true;
      open();
    }
  });
}
