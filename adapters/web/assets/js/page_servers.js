// page_servers.js: every server with its state, and what can be done to it. The buttons
// offered follow what the config gates allow (the proxy's /status says); the proxy refuses
// the rest anyway.

/** Starts an OAuth login and opens the authorization page (the proxy opens a browser
 * itself only on a desktop; otherwise the page gives the link). */
async function startLogin(btn, s) {
  const done = await act(btn, () => api("POST", `/servers/${enc(s.name)}/login`));
  if (!done) return;
  if (done.browser_opened) {
    toast(`A browser window opened to log in to ${s.name}.`);
    return;
  }
  if (done.auth_url) {
    const link = h("a", { href: done.auth_url, target: "_blank", rel: "noopener noreferrer", class: "btn primary" },
      "Open the login page");
    const d = openDialog({
      title: `Log in to ${s.name}`,
      body: h("div", null,
        h("p", null, "Log in at the server's authorization page. This page updates by itself when the login completes."),
        link),
      foot: [button("Close", () => d.close())],
    });
    link.addEventListener("click", () => setTimeout(() => d.close(), 100));
    link.focus();
  }
}

/** What the row actions need: with none of these allowed, the list has no Actions column. */
const ROW_ACTIONS = ["change_config", "server_actions", "authenticate", "unquarantine", "remove_servers"];

/** The buttons for one server. `after` runs when an action went through. */
function serverActions(s, after, { detail = false } = {}) {
  const out = [];
  const name = s.name;
  const post = (action, verb) => (e) =>
    act(e.currentTarget, () => api("POST", `/servers/${enc(name)}/${action}`), `${name}: ${verb}`).then((r) => r && after && after());
  if (allowed("change_config")) {
    out.push(s.enabled
      ? button("Disable", post("disable", "disabled"), { small: true, label: `Disable ${name}` })
      : button("Enable", post("enable", "enabled"), { small: true, label: `Enable ${name}` }));
  }
  if (allowed("server_actions") && s.enabled) {
    out.push(button("Restart", post("restart", "restarting"), { small: true, label: `Restart ${name}` }));
  }
  if (allowed("authenticate") && s.enabled) {
    const needsLogin = s.status === "Pending Auth" || s.status === "Authenticating";
    if (needsLogin || (detail && s.oauth)) {
      out.push(button("Log in", (e) => startLogin(e.currentTarget, s), { small: true, kind: needsLogin ? "primary" : "", label: `Log in to ${name}` }));
    }
    if (detail && s.oauth) out.push(button("Log out", post("logout", "logged out"), { small: true, label: `Log out of ${name}` }));
  }
  if (s.quarantined ? allowed("unquarantine") : allowed("change_config")) {
    out.push(s.quarantined
      ? button("Unquarantine", async (e) => {
        const btn = e.currentTarget;
        const yes = await confirmAction({
          title: `Trust ${name}?`,
          message: `Its approved tools become available to agents. Review its tools first on the server's page.`,
          confirm: "Unquarantine",
        });
        if (yes) act(btn, () => api("POST", `/servers/${enc(name)}/unquarantine`), `${name}: unquarantined`).then((r) => r && after && after());
      }, { small: true, label: `Unquarantine ${name}` })
      : button("Quarantine", post("quarantine", "quarantined"), { small: true, label: `Quarantine ${name}` }));
  }
  if (allowed("change_config")) {
    out.push(button("Edit", () => serverDialog(s, after), { small: true, label: `Edit ${name}` }));
  }
  if (allowed("remove_servers")) {
    out.push(button("Remove", async (e) => {
      const btn = e.currentTarget;
      const yes = await confirmAction({
        title: `Remove ${name}?`,
        message: `Its process is stopped and its tool approvals are forgotten. This cannot be undone.`,
        confirm: "Remove",
        danger: true,
      });
      if (!yes) return;
      const r = await act(btn, () => api("DELETE", `/servers/${enc(name)}`), `${name} removed`);
      if (r && after) after({ removed: name });
    }, { small: true, kind: "danger", label: `Remove ${name}` }));
  }
  return h("div", { class: "actions" }, out);
}

page({
  path: "servers",
  title: "Servers",
  nav: "Servers",
  navOrder: 1,
  mount(view, ctx) {
    const PAGE = 100;
    let list = [];
    let offset = 0;
    let loaded = false;
    const filterInput = h("input", { type: "search", name: "filter", value: ctx.query.get("q") || "", placeholder: "Name, command or URL" });
    const stateSelect = select("state", [["", "Any state"], ...SERVER_BUCKETS.map(([k, label]) => [k, label])], ctx.query.get("state") || "");
    const toolbar = h("div", { class: "toolbar" });
    const body = h("div", { "aria-live": "polite" }, h("p", { class: "loading" }, "Loading…"));
    view.append(
      h("div", { class: "page-head" }, h("h1", null, "Servers"), toolbar),
      h("div", { class: "filters", role: "search" },
        field("Filter", filterInput), field("State", stateSelect)),
      body);

    function renderToolbar() {
      const items = [];
      if (allowed("add_servers")) items.push(button("Add server", () => serverDialog(null, load), { kind: "primary" }));
      if (allowed("server_actions")) {
        items.push(button("Restart all", (e) => bulk(e.currentTarget, "restart_all", "Restart every enabled server?", "Restart all")));
      }
      if (allowed("change_config")) {
        items.push(button("Enable all", (e) => bulk(e.currentTarget, "enable_all", "Enable every server?", "Enable all")));
        items.push(button("Disable all", (e) => bulk(e.currentTarget, "disable_all", "Disable every server? Agents lose their tools until you enable them again.", "Disable all")));
      }
      fill(toolbar, ...items);
    }

    async function bulk(btn, op, question, label) {
      const yes = await confirmAction({ title: label, message: question, confirm: label, danger: op === "disable_all" });
      if (!yes) return;
      const r = await act(btn, () => api("POST", `/servers/${op}`));
      if (r) {
        toast(r.failed ? `${label}: ${r.successful} of ${r.total} done; ${r.errors.map((e) => `${e.server}: ${e.error}`).join("; ")}` : `${label}: ${r.total} servers`, r.failed ? "error" : "ok");
        load();
      }
    }

    function renderList() {
      const text = filterInput.value.trim().toLowerCase();
      const state = stateSelect.value;
      const shown = list.filter((s) => (!state || serverBucket(s) === state)
        && (!text || [s.name, s.command, ...(s.args || []), s.url].join(" ").toLowerCase().includes(text)));
      if (offset >= shown.length) offset = 0;
      const rows = shown.slice(offset, offset + PAGE);
      keepFocus(body, () => fillList(rows, shown));
    }

    function fillList(rows, shown) {
      const empty = list.length
        ? emptyState("No server matches this filter.")
        : emptyState("No servers yet — add one.",
          allowed("add_servers") ? button("Add server", () => serverDialog(null, load), { kind: "primary" }) : null);
      fill(body, table({
        rows,
        rowKey: (s) => s.name,
        empty,
        columns: [
          { label: "Name", class: "wrap", cell: (s) => h("a", { href: `/ui/servers/${enc(s.name)}`, class: "row-link" }, s.name) },
          { label: "State", cell: stateBadge },
          { label: "Transport", cell: transportOf },
          { label: "Tools", num: true, cell: (s) => fmtNumber(s.tool_count) },
          { label: "Last error", hidden: !rows.some((s) => s.last_error), cell: (s) => h("span", { class: "cell-error" }, s.last_error) },
          // A read-only proxy offers no action on a server: no empty column then.
          { label: "Actions", hidden: !ROW_ACTIONS.some(allowed), cell: (s) => serverActions(s, load) },
        ],
      }), shown.length > PAGE ? pager({ total: shown.length, offset, limit: PAGE, label: "servers", onPage: (o) => { offset = o; renderList(); } }) : null);
    }

    async function load() {
      try {
        list = (await api("GET", "/servers")).servers;
        loaded = true;
        renderToolbar();
        renderList();
      } catch (e) {
        fill(body, errorBox(e));
      }
    }

    filterInput.addEventListener("input", () => { ctx.setQuery({ q: filterInput.value }); offset = 0; renderList(); });
    stateSelect.addEventListener("change", () => { ctx.setQuery({ state: stateSelect.value }); offset = 0; renderList(); });
    // "Add a server" from elsewhere (?add=1) opens the dialog once the gates allow it.
    let wantAdd = Boolean(ctx.query.get("add"));
    const onStatus = () => {
      if (wantAdd && allowed("add_servers")) {
        wantAdd = false;
        ctx.setQuery({ add: null });
        serverDialog(null, load);
      }
      if (loaded) { renderToolbar(); renderList(); }
    };
    app.statusListeners.add(onStatus);
    load();
    if (app.status) onStatus();
    const reload = debounce(load, 200);
    return {
      refresh: load,
      onEvent(name) {
        if (name === "servers.changed" || name === "config.reloaded" || name.startsWith("tools.") || name.startsWith("oauth.")) reload();
      },
      unmount() { app.statusListeners.delete(onStatus); },
    };
  },
});
