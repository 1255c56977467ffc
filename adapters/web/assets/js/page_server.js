// page_server.js: one server — its state and actions, its tools with their approval states
// (a changed tool shows what changed since it was approved, and can be approved), its log
// following live, and its configuration.

function toolReview(server, tool, after) {
  const canApprove = allowed("approve_tools") && tool.state !== "approved";
  const approve = canApprove
    ? button("Approve", (e) => act(e.currentTarget,
      () => api("POST", `/servers/${enc(server)}/tools/approve`, { tools: [tool.name] }),
      `${tool.name} approved`).then((r) => r && after()), { small: true, kind: "primary", label: `Approve ${tool.name}` })
    : null;
  const parts = [h("div", { class: "section-head" },
    h("h3", { class: "mono" }, tool.name), approvalBadge(tool.state), approve)];
  if (tool.state === "changed") {
    parts.push(h("p", { class: "small" },
      "This tool changed since it was approved. Agents cannot see or call it until it is approved again."));
    const before = tool.approved_description ?? null;
    if (before !== null && before !== tool.description) {
      parts.push(diffView("Description: approved → now", before, tool.description));
    } else if (before !== null) {
      parts.push(h("p", { class: "small muted" }, "Description: unchanged."));
    }
    if (tool.approved_input_schema) {
      const was = pretty(tool.approved_input_schema);
      const now = pretty(tool.inputSchema);
      parts.push(was === now
        ? h("p", { class: "small muted" }, "Input schema: unchanged.")
        : diffView("Input schema: approved → now", was, now));
    }
  } else {
    parts.push(h("p", { class: "desc" }, tool.description || "No description."));
    if (tool.state === "pending") {
      parts.push(h("p", { class: "small" }, "New since the server was approved: agents cannot use it until it is approved."));
    }
  }
  return h("article", { class: "tool-review", dataset: { tool: tool.name, state: tool.state } }, parts);
}

page({
  path: "servers/:name",
  title: (p) => p.name,
  mount(view, ctx) {
    const name = ctx.params.name;
    let following = true;
    let logTimer = null;
    let server = null;
    const head = h("div", { class: "page-head" }, h("h1", { class: "wrap" }, name));
    const summary = h("section", { class: "section", "aria-label": "State" }, h("p", { class: "loading" }, "Loading…"));
    const toolsBox = h("section", { class: "section", "aria-labelledby": "tools-h" });
    const follow = h("input", { type: "checkbox", checked: true, name: "follow" });
    const logPre = h("pre", { class: "code log", tabindex: "0", "aria-label": `Log of ${name}` }, "");
    const logBox = h("section", { class: "section", "aria-labelledby": "log-h" },
      h("div", { class: "section-head" }, h("h2", { id: "log-h" }, "Log"), field("Follow", follow)),
      logPre);
    const configBox = h("section", { class: "section", "aria-labelledby": "config-h" });
    view.append(h("p", { class: "small" }, h("a", { href: "/ui/servers" }, "← Servers")), head, summary, toolsBox, logBox, configBox);

    function afterAction(result) {
      if (result && result.removed) {
        navigate("/ui/servers");
        return;
      }
      loadServer();
    }

    async function loadServer() {
      try {
        const list = (await api("GET", "/servers")).servers;
        server = list.find((s) => s.name === name);
      } catch (e) {
        fill(summary, errorBox(e));
        return;
      }
      if (!server) {
        fill(head, h("h1", null, name));
        fill(summary, emptyState(`There is no server named ${name} (any more).`, h("a", { class: "btn", href: "/ui/servers" }, "All servers")));
        toolsBox.hidden = true;
        logBox.hidden = true;
        configBox.hidden = true;
        return;
      }
      fill(head, h("h1", { class: "wrap" }, name), stateBadge(server));
      const where = server.command ? [server.command, ...(server.args || [])].join(" ") : server.url;
      keepFocus(summary, () => fill(summary,
        h("dl", { class: "facts" },
          h("dt", null, "Transport"), h("dd", null, transportOf(server)),
          h("dt", null, server.command ? "Command" : "URL"), h("dd", { class: "mono" }, where || ""),
          h("dt", null, "Tools"), h("dd", null, fmtNumber(server.tool_count)),
          h("dt", null, "Trust"), h("dd", null, server.trust_mode),
          server.isolation ? [h("dt", null, "Isolation"), h("dd", null, isolationText(server.isolation))] : null,
          server.oauth ? [h("dt", null, "Login"), h("dd", null, "OAuth")] : null),
        server.last_error ? h("div", { class: "error-box", role: "status" }, server.last_error) : null,
        server.quarantined ? h("p", { class: "notice" },
          "Quarantined: the proxy is connected to it, but agents get none of its tools. Review them below, then unquarantine it.") : null,
        serverActions(server, afterAction, { detail: true })));
      fill(configBox, h("h2", { id: "config-h" }, "Configuration"),
        h("p", { class: "small muted" }, "As the proxy keeps it; secrets are masked."),
        h("pre", { class: "code", tabindex: "0", "aria-label": `Configuration of ${name}` }, pretty(server)));
    }

    async function loadTools() {
      let tools;
      try {
        tools = (await api("GET", `/servers/${enc(name)}/tools`)).tools;
      } catch (e) {
        if (e.status === 404) return;
        fill(toolsBox, h("h2", { id: "tools-h" }, "Tools"), errorBox(e));
        return;
      }
      const waiting = tools.filter((t) => t.state !== "approved");
      const order = { changed: 0, pending: 1, approved: 2 };
      tools.sort((a, b) => order[a.state] - order[b.state] || a.name.localeCompare(b.name));
      const approveAll = waiting.length && allowed("approve_tools")
        ? button(`Approve all (${waiting.length})`, async (e) => {
          const btn = e.currentTarget;
          const yes = await confirmAction({ title: `Approve ${waiting.length} tools of ${name}?`, message: "They become available to agents as they are now.", confirm: "Approve all" });
          if (yes) act(btn, () => api("POST", `/servers/${enc(name)}/tools/approve`, {}), "Tools approved").then((r) => r && loadTools());
        })
        : null;
      const shown = tools.slice(0, 100);
      keepFocus(toolsBox, () => fill(toolsBox,
        h("div", { class: "section-head" }, h("h2", { id: "tools-h" }, `Tools (${tools.length})`), approveAll),
        tools.length
          ? h("div", { class: "tool-list" }, shown.map((t) => toolReview(name, t, loadTools)))
          : emptyState(server && server.status !== "Ready" ? "No tools yet: the server is not connected." : "This server offers no tools."),
        tools.length > 100 ? h("p", { class: "small" }, `The first 100 of ${tools.length} are shown (those awaiting approval first); `,
          h("a", { href: `/ui/tools?server=${enc(name)}` }, "all of them are on the Tools page"), ".") : null));
    }

    async function loadLog() {
      try {
        const logs = (await api("GET", `/servers/${enc(name)}/logs?tail=200`)).logs;
        const atBottom = logPre.scrollHeight - logPre.scrollTop - logPre.clientHeight < 30;
        logPre.textContent = logs.length ? logs.join("\n") : "Nothing logged yet.";
        if (following && atBottom) logPre.scrollTop = logPre.scrollHeight;
      } catch (e) {
        if (e.status !== 404) logPre.textContent = e.message;
      }
    }

    function schedule() {
      clearTimeout(logTimer);
      if (following) logTimer = setTimeout(async () => { await loadLog(); schedule(); }, 2000);
    }
    follow.addEventListener("change", () => {
      following = follow.checked;
      if (following) { loadLog().then(() => { logPre.scrollTop = logPre.scrollHeight; }); }
      schedule();
    });

    const refresh = () => Promise.all([loadServer(), loadTools(), loadLog()]);
    refresh().then(() => { logPre.scrollTop = logPre.scrollHeight; });
    schedule();
    // Both parts follow the gates: either may have been drawn before the status arrived
    // (the tools often come back first), so both are drawn again, whatever came first.
    const onStatus = () => { loadServer(); loadTools(); };
    app.statusListeners.add(onStatus);
    const servers = debounce(() => { loadServer(); loadLog(); }, 200);
    const toolsChanged = debounce(loadTools, 200);
    return {
      refresh,
      onEvent(event, payload) {
        const about = payload.server || payload.server_name;
        if (event === "config.reloaded") { servers(); toolsChanged(); return; }
        if (about && about !== name) return;
        if (event.startsWith("tools.")) { toolsChanged(); servers(); }
        else if (event === "servers.changed" || event.startsWith("oauth.")) servers();
      },
      unmount() {
        clearTimeout(logTimer);
        following = false;
        app.statusListeners.delete(onStatus);
      },
    };
  },
});
