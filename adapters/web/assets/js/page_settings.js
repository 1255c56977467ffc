// page_settings.js: the configuration as JSON, checked by the proxy before it is applied
// (each problem names its key, and the editor shows its line), and the gates in force.

const GATES = [
  ["read_only_mode", "Read-only mode", "Nothing can be changed — servers, tool approvals, logins, the configuration — from here, REST, the CLI or agents; only the config file changes it."],
  ["disable_management", "Management disabled", "Servers cannot be managed at all, from anywhere; only the config file changes them."],
  ["allow_server_add", "Servers may be added", "Off: nobody can add a server except in the config file."],
  ["allow_server_remove", "Servers may be removed", "Off: nobody can remove a server except in the config file."],
  ["quarantine_enabled", "New servers start quarantined", "Their tools reach agents only after a person trusts the server."],
  ["require_mcp_auth", "Agents need the API key", "The MCP endpoints ask agents for the key too."],
  ["enable_prompts", "Prompts are relayed", "Off: agents see no prompts of the servers."],
];

page({
  path: "settings",
  title: "Settings",
  nav: "Settings",
  navOrder: 4,
  mount(view) {
    const gates = h("section", { class: "section", "aria-labelledby": "gates-h" });
    const editor = h("textarea", { class: "config", name: "config", spellcheck: "false", autocomplete: "off", rows: 24 });
    const result = h("div", { "aria-live": "polite" });
    const validate = button("Validate", () => check(validate), {});
    const applyBtn = button("Apply", () => apply(), { kind: "primary" });
    const reload = button("Reload from the proxy", () => load(), {});
    const hint = h("p", { class: "hint", id: "config-hint" },
      "Secrets are shown masked; a masked value sent back unchanged keeps its real value. ",
      "Changes are checked first, saved atomically and applied at once (listen, data_dir, api_key and tls after a restart).");
    editor.setAttribute("aria-describedby", "config-hint");
    const editorId = editor.id = uid("config");
    view.append(
      h("div", { class: "page-head" }, h("h1", null, "Settings")),
      gates,
      h("section", { class: "section", "aria-labelledby": "config-h" },
        h("h2", { id: "config-h" }, "Configuration"),
        h("label", { for: editorId, class: "label" }, "mcp_config.json"),
        hint, editor,
        h("div", { class: "toolbar" }, validate, applyBtn, reload), result));

    function renderGates(config) {
      const a = (app.status && app.status.allowed) || {};
      fill(gates, h("h2", { id: "gates-h" }, "Gates"),
        table({
          // quarantine_enabled may be left out of the file: it is on unless set to false.
          rows: GATES.map(([key, label, note]) => ({ key, label, note, on: key === "quarantine_enabled" ? config[key] !== false : Boolean(config[key]) })),
          empty: null,
          columns: [
            { label: "Setting", cell: (g) => h("span", null, g.label, h("br"), h("code", { class: "small" }, g.key)) },
            { label: "Now", cell: (g) => h("span", { class: `badge ${g.on ? "info" : "muted"}` }, g.on ? "on" : "off") },
            { label: "Meaning", cell: (g) => h("span", { class: "desc" }, g.note || "") },
          ],
        }),
        h("p", { class: "small muted" }, a.change_config
          ? "The gates allow changes: the controls of this panel are active."
          : h("span", null, "The proxy refuses changes to the configuration from anywhere, so this panel shows it read-only: ",
            a.refusal ? h("code", null, a.refusal.code) : null, a.refusal ? `: ${a.refusal.message}.` : "")));
      const editable = Boolean(a.change_config);
      editor.readOnly = !editable;
      applyBtn.hidden = !editable;
    }

    let shown = null;
    let lastConfig = null;
    const changedElsewhere = h("p", { class: "notice", role: "status", hidden: true },
      "The configuration changed on the proxy since it was loaded here. ", button("Reload it", () => load(), { small: true }));
    result.before(changedElsewhere);

    async function load() {
      try {
        const config = await api("GET", "/config");
        lastConfig = config;
        shown = JSON.stringify(config, null, 2);
        editor.value = shown;
        changedElsewhere.hidden = true;
        fill(result);
        renderGates(config);
      } catch (e) {
        fill(result, errorBox(e));
      }
    }

    function showErrors(errors) {
      const text = editor.value;
      fill(result, h("div", { class: "error-box", role: "alert" },
        h("p", null, errors.length === 1 ? "The proxy refuses this configuration:" : `The proxy refuses this configuration (${errors.length} problems):`),
        h("ul", { class: "error-list" }, errors.map((e) => {
          const line = lineOfKey(text, e.field);
          const where = line ? `line ${line}, ` : "";
          return h("li", null, line
            ? h("button", { type: "button", onclick: () => goToLine(editor, line) }, `${where}${e.field}`)
            : e.field, `: ${e.message}`);
        }))));
    }

    /** Asks the proxy; resolves to true when the text is a valid configuration. A text that
     * is not JSON at all comes back from the proxy with its line and column. */
    async function check(btn) {
      if (btn) btn.disabled = true;
      try {
        const v = await api("POST", "/config/validate", editor.value);
        if (v.valid) {
          fill(result, h("div", { class: "ok-box", role: "status" }, "The configuration is valid."));
          return true;
        }
        showErrors(v.errors);
        return false;
      } catch (e) {
        fill(result, h("div", { class: "error-box", role: "alert" }, e.message));
        const m = /line (\d+)/.exec(e.message);
        if (m) goToLine(editor, Number(m[1]));
        return false;
      } finally {
        if (btn) btn.disabled = false;
      }
    }

    async function apply() {
      applyBtn.disabled = true;
      try {
        if (!(await check())) return;
        const yes = await confirmAction({ title: "Apply this configuration?", message: "It is saved and takes effect at once.", confirm: "Apply" });
        if (!yes) return;
        const r = await api("POST", "/config/apply", editor.value);
        const changed = [["added", r.added], ["removed", r.removed], ["updated", r.updated]]
          .filter(([, v]) => v.length).map(([k, v]) => `${k}: ${v.join(", ")}`);
        fill(result, h("div", { class: "ok-box", role: "status" },
          `Applied. ${changed.length ? changed.join("; ") : "No server changed."}`,
          r.needs_restart.length ? ` Takes effect after a restart: ${r.needs_restart.join(", ")}.` : ""));
        const config = await api("GET", "/config");
        lastConfig = config;
        shown = JSON.stringify(config, null, 2);
        editor.value = shown;
        renderGates(config);
      } catch (e) {
        fill(result, h("div", { class: "error-box", role: "alert" }, e.message));
      } finally {
        applyBtn.disabled = false;
      }
    }

    /** The proxy's config changed (the file, the CLI, another window): an untouched editor
     * follows it, an edited one says so and keeps the edits. */
    const followProxy = debounce(async () => {
      try {
        const config = await api("GET", "/config");
        lastConfig = config;
        renderGates(config);
        const text = JSON.stringify(config, null, 2);
        if (text === shown) return;
        if (editor.value === shown) {
          shown = text;
          editor.value = text;
        } else {
          changedElsewhere.hidden = false;
        }
      } catch (e) {
        fill(result, errorBox(e));
      }
    }, 300);
    const onStatus = () => { if (lastConfig) renderGates(lastConfig); };
    app.statusListeners.add(onStatus);
    load();
    return {
      refresh: followProxy,
      onEvent(name) {
        if (name === "config.reloaded" || name === "servers.changed") followProxy();
      },
      unmount() { app.statusListeners.delete(onStatus); },
    };
  },
});
