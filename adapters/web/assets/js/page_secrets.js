// page_secrets.js: the secrets in the OS keyring that servers' env and headers refer to as
// ${keyring:NAME} — by name only (the panel never reads a value back): which are set, which
// the config needs but are missing, which servers use each; set one, delete one.

function setSecretDialog(name, after) {
  const nameInput = h("input", { type: "text", name: "name", required: true, autocomplete: "off", value: name || "", readonly: Boolean(name) });
  const value = h("input", { type: "password", name: "value", required: true, autocomplete: "new-password" });
  const problem = h("div", { role: "alert" });
  const save = button("Save", async (e) => {
    const done = await act(e.currentTarget, () => api("POST", "/secrets", { name: nameInput.value.trim(), value: value.value }),
      null, (err) => fill(problem, h("div", { class: "error-box" }, err.message)));
    if (!done) return;
    d.close();
    toast(`${done.name} saved; use it as ${done.reference}`);
    after();
  }, { kind: "primary" });
  const d = openDialog({
    title: name ? `Set ${name}` : "New secret",
    body: h("div", null, problem,
      field("Name", nameInput, "Referred to as ${keyring:NAME} in a server's env or headers."),
      field("Value", value, "Stored in the OS keyring; the servers that use it restart.")),
    foot: [button("Cancel", () => d.close()), save],
  });
  (name ? value : nameInput).focus();
}

page({
  path: "secrets",
  title: "Secrets",
  mount(view) {
    const head = h("div", { class: "page-head" }, h("h1", null, "Secrets"));
    const list = h("section", { class: "section", "aria-labelledby": "secrets-h" }, h("p", { class: "loading" }, "Loading…"));
    view.append(head,
      h("p", { class: "muted" }, "Keep API keys out of the config file: store them here and refer to them as ${keyring:NAME}. Values are never shown."),
      list);

    async function load() {
      let answer;
      try {
        answer = await api("GET", "/secrets");
      } catch (e) {
        fill(list, h("h2", { id: "secrets-h" }, "Secrets"), errorBox(e));
        return;
      }
      const may = allowed("change_config");
      fill(head, h("h1", null, "Secrets"), may ? button("New secret", () => setSecretDialog(null, load), { kind: "primary" }) : null);
      keepFocus(list, () => fill(list,
        h("h2", { id: "secrets-h", class: "visually-hidden" }, "Secrets"),
        answer.missing ? h("p", { class: "notice" }, `${answer.missing} secrets the config refers to are not set: the servers that use them cannot start.`) : null,
        table({
          caption: `In ${answer.store}`,
          rows: answer.secrets,
          rowKey: (s) => s.name,
          empty: emptyState(may ? "No secrets yet — add one, then use it as ${keyring:NAME} in a server's env or headers." : "No secrets."),
          columns: [
            { label: "Name", cell: (s) => h("strong", { class: "mono" }, s.name) },
            { label: "Reference", class: "wrap", cell: (s) => h("code", null, s.reference) },
            { label: "State", cell: (s) => h("span", { class: `badge ${s.set ? "ok" : "error"}` }, s.set ? "set" : "missing") },
            { label: "Used by", class: "wrap", cell: (s) => (s.referenced_by.length ? s.referenced_by.join(", ") : h("span", { class: "muted" }, "no server")) },
            {
              label: "Actions",
              hidden: !may,
              cell: (s) => [
                button(s.set ? "Change" : "Set", () => setSecretDialog(s.name, load), { small: true, kind: s.set ? "" : "primary", label: `${s.set ? "Change" : "Set"} ${s.name}` }),
                s.set ? button("Delete", async (e) => {
                  const btn = e.currentTarget;
                  const users = s.referenced_by.length ? ` ${s.referenced_by.join(", ")} use it and will fail to start.` : "";
                  const yes = await confirmAction({ title: `Delete ${s.name}?`, message: `It is removed from the keyring.${users}`, confirm: "Delete", danger: true });
                  if (yes) act(btn, () => api("DELETE", `/secrets/${enc(s.name)}`), `${s.name} deleted`).then((r) => r && load());
                }, { small: true, kind: "danger", label: `Delete ${s.name}` }) : null,
              ],
            },
          ],
        })));
    }

    return reloading(load, (name) => name.startsWith("secrets."));
  },
});
