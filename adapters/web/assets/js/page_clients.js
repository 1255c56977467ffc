// page_clients.js: the AI clients on this machine (Claude Code, Cursor, VS Code, …), each
// with its config file and whether it points at this proxy; Connect writes the proxy's entry
// into that file (a backup first), Disconnect takes it out. The proxy does the work
// (/api/v1/connect, the same use case as `mcpproxy connect`); the page shows its answers.

page({
  path: "clients",
  title: "AI clients",
  mount(view) {
    const list = h("section", { class: "section", "aria-labelledby": "clients-h" }, h("p", { class: "loading" }, "Loading…"));
    view.append(
      h("div", { class: "page-head" }, h("h1", null, "AI clients")),
      h("p", { class: "muted" },
        "Connect an AI client to use every server through this proxy: its config file gets an entry for mcpproxy (the file is backed up first). Disconnect takes the entry out again."),
      list);

    async function change(btn, client, method, body) {
      const path = `/connect/${enc(client.id)}`;
      const done = await act(btn, () => api(method, path, body), (r) => r.message, async (e) => {
        // An entry of that name that points elsewhere is replaced only when asked.
        if (e.status === 409) {
          const yes = await confirmAction({
            title: `Replace the entry in ${client.name}?`,
            message: e.message,
            confirm: "Replace it",
            danger: true,
          });
          if (yes) {
            const forced = await act(btn, () => api("POST", path, { force: true }), (r) => r.message);
            if (forced) load();
          }
          return;
        }
        toast(e.message, "error");
        load();
      });
      if (done) load();
    }

    function stateOf(c) {
      if (c.error) return h("span", { class: "badge error" }, "Unreadable");
      if (c.connected) return h("span", { class: "badge ok" }, "Connected");
      return h("span", { class: "badge muted" }, "Not connected");
    }

    async function load() {
      let clients;
      try {
        clients = (await api("GET", "/connect")).clients;
      } catch (e) {
        fill(list, h("h2", { id: "clients-h" }, "Clients"), errorBox(e));
        return;
      }
      const may = allowed("connect_clients");
      keepFocus(list, () => fill(list,
        h("h2", { id: "clients-h", class: "visually-hidden" }, "Clients"),
        table({
          caption: `${clients.length} clients this proxy knows how to connect`,
          rows: clients,
          rowKey: (c) => c.id,
          empty: emptyState("No AI client is known on this system."),
          columns: [
            { label: "Client", cell: (c) => h("strong", null, c.name) },
            {
              label: "Config file",
              class: "wrap",
              cell: (c) => [h("span", { class: "mono" }, c.config_path),
                c.exists ? null : h("div", { class: "small muted" }, "Not there yet: Connect creates it.")],
            },
            {
              label: "State",
              class: "wrap",
              cell: (c) => [stateOf(c),
                c.error ? h("div", { class: "cell-error" }, c.error) : null,
                c.note ? h("div", { class: "small muted" }, c.note) : null],
            },
            {
              label: "Actions",
              hidden: !may,
              cell: (c) => c.connected
                ? button("Disconnect", (e) => change(e.currentTarget, c, "DELETE"), { small: true, label: `Disconnect ${c.name}` })
                : button("Connect", (e) => change(e.currentTarget, c, "POST", {}), { small: true, kind: "primary", label: `Connect ${c.name}` }),
            },
          ],
        }),
        may ? null : h("p", { class: "small muted" }, "The proxy's gates hold changes now: clients can be looked at, not connected.")));
    }

    return reloading(load);
  },
});
