// page_registries.js: the MCP server registries (the built-in ones and those added in the
// config), a search in one of them, and "Add" from a result: the proxy derives the server's
// entry from the registry's record, adds it quarantined (unless quarantine is off) and says
// which inputs (environment variables, headers, arguments) it still needs.

function addFromRegistryDialog(registry, found, after) {
  const inputs = found.required_inputs || [];
  const nameInput = h("input", { type: "text", name: "name", autocomplete: "off", placeholder: "derived from the registry" });
  const fields = inputs.map((i) => {
    const input = h("input", { type: i.secret ? "password" : "text", name: i.name, autocomplete: "off", required: i.required });
    return { input, i, el: field(`${i.name}${i.required ? " (required)" : ""}`, input, `${i.kind}${i.description ? ` — ${i.description}` : ""}`) };
  });
  const start = h("input", { type: "checkbox", name: "enabled", checked: true });
  const problem = h("div", { role: "alert" });
  const add = button("Add", async (e) => {
    const env = {};
    for (const { input, i } of fields) if (input.value) env[i.name] = input.value;
    const body = { env, enabled: start.checked };
    if (nameInput.value.trim()) body.name = nameInput.value.trim();
    const path = `/registries/${enc(registry)}/servers/${enc(found.id)}/add`;
    const result = await act(e.currentTarget, () => api("POST", path, body), null,
      (err) => fill(problem, h("div", { class: "error-box" }, err.message)));
    if (!result) return;
    d.close();
    after(result);
  }, { kind: "primary" });
  const d = openDialog({
    title: `Add ${found.title || found.name}`,
    body: h("div", null,
      h("p", { class: "small" }, found.description || ""),
      h("p", { class: "small muted" }, "It is added quarantined: agents get none of its tools until you review them and unquarantine it."),
      problem,
      field("Name", nameInput, "The server's name in this proxy."),
      field("Start it now", start, "Off: it is added disabled, to be enabled once its inputs are set."),
      inputs.length ? h("h3", null, "Inputs") : null,
      fields.map((f) => f.el)),
    foot: [button("Cancel", () => d.close()), add],
  });
  nameInput.focus();
}

function addedDialog(result) {
  const server = result.server;
  const unset = result.unset_inputs || [];
  const d = openDialog({
    title: `${server.name} added`,
    body: h("div", null,
      h("p", { role: "status" }, result.message),
      unset.length
        ? [h("p", null, "It still needs these before it can work; set them on the server's page:"),
          h("ul", { class: "plain needs" }, unset.map((i) => h("li", null,
            h("span", { class: "mono" }, i.name), ` (${i.kind === "env" ? "environment variable" : i.kind}${i.required ? ", required" : ""})`,
            i.description ? h("span", { class: "small muted" }, ` — ${i.description}`) : null)))]
        : h("p", { class: "small muted" }, "It needs no further input.")),
    foot: [button("Close", () => d.close()),
      h("a", { class: "btn primary", href: `/ui/servers/${enc(server.name)}`, onclick: () => d.close() }, `Open ${server.name}`)],
  });
}

page({
  path: "registries",
  title: "Registries",
  mount(view, ctx) {
    const sources = h("section", { class: "section", "aria-labelledby": "sources-h" }, h("p", { class: "loading" }, "Loading…"));
    const registrySelect = h("select", { name: "registry" });
    const query = h("input", { type: "search", name: "search", value: ctx.query.get("q") || "", placeholder: "e.g. github, files, search" });
    const results = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "toolbar", role: "search", "aria-label": "Search a registry" },
      field("Registry", registrySelect), field("Search", query), button("Search", null, { type: "submit", kind: "primary" }));
    view.append(
      h("div", { class: "page-head" }, h("h1", null, "Registries"), h("a", { class: "btn", href: "/ui/import" }, "Import from a client")),
      h("section", { class: "section", "aria-labelledby": "search-h" }, h("h2", { id: "search-h" }, "Find a server"), form, results),
      sources);

    async function search() {
      const registry = registrySelect.value;
      if (!registry) return;
      ctx.setQuery({ registry, q: query.value.trim() });
      fill(results, h("p", { class: "loading" }, "Searching…"));
      let found;
      try {
        found = await api("GET", `/registries/${enc(registry)}/servers${qs({ search: query.value.trim(), limit: 50 })}`);
      } catch (e) {
        fill(results, errorBox(e));
        return;
      }
      if (found.unavailable || !found.servers.length) {
        fill(results, emptyState(found.message || "Nothing found."));
        return;
      }
      const mayAdd = allowed("add_servers");
      fill(results,
        h("p", { class: "small muted" }, found.message),
        h("ul", { class: "plain results" }, found.servers.map((s) => h("li", { class: "result", dataset: { id: s.id } },
          h("div", { class: "section-head" },
            h("h3", { class: "wrap" }, s.title || s.name, s.version ? h("span", { class: "small muted" }, ` ${s.version}`) : null),
            mayAdd ? button("Add", () => addFromRegistryDialog(registry, s, (r) => { addedDialog(r); }), { small: true, kind: "primary", label: `Add ${s.name}` }) : null),
          h("p", { class: "small mono wrap" }, s.name),
          s.description ? h("p", { class: "desc" }, s.description) : null,
          s.installCmd ? h("p", { class: "small" }, "Runs: ", h("code", null, s.installCmd)) : null,
          s.url && !s.installCmd ? h("p", { class: "small" }, "At: ", h("code", null, s.url)) : null,
          (s.required_inputs || []).length
            ? h("p", { class: "small" }, "Needs: ", s.required_inputs.map((i) => `${i.name}${i.required ? "" : " (optional)"}`).join(", "))
            : null))));
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); search(); });

    async function load() {
      let list;
      try {
        list = (await api("GET", "/registries")).registries;
      } catch (e) {
        fill(sources, h("h2", { id: "sources-h" }, "Sources"), errorBox(e));
        return;
      }
      const chosen = registrySelect.value || ctx.query.get("registry") || (list.find((r) => !r.unavailable) || {}).id;
      fill(registrySelect, list.map((r) => h("option", { value: r.id, selected: r.id === chosen, disabled: Boolean(r.unavailable) },
        `${r.name || r.id}${r.unavailable ? " (unavailable)" : ""}`)));
      fill(sources, h("h2", { id: "sources-h" }, "Sources"),
        table({
          rows: list,
          rowKey: (r) => r.id,
          empty: emptyState("No registry is configured."),
          columns: [
            { label: "Registry", class: "wrap", cell: (r) => [h("strong", null, r.name || r.id), r.description ? h("div", { class: "small muted" }, r.description) : null] },
            { label: "Id", cell: (r) => h("span", { class: "mono" }, r.id) },
            { label: "Address", class: "wrap", cell: (r) => h("span", { class: "mono small" }, r.url || "built in") },
            { label: "Source", cell: (r) => h("span", { class: `badge ${r.builtin ? "info" : "muted"}` }, r.builtin ? "built in" : "added") },
            { label: "State", cell: (r) => r.unavailable ? h("span", { class: "cell-error" }, r.unavailable) : "searchable" },
          ],
        }));
      if (ctx.query.get("q") !== null && !results.childElementCount) search();
    }

    load();
    // The Add buttons follow the gates: a result list drawn before the status came is drawn again.
    const onStatus = () => { if (results.querySelector(".result")) search(); };
    app.statusListeners.add(onStatus);
    return {
      refresh: load,
      onEvent(name) {
        if (name === "config.reloaded") load();
      },
      unmount() {
        app.statusListeners.delete(onStatus);
      },
    };
  },
});
