// page_server.js: one server — its state and actions, its tools with their approval states
// (a changed tool shows what changed since it was approved, and can be approved), its log
// following live, its diagnostics (the doctor's findings with their codes and fixes), and
// its configuration.

/** One finding of the doctor: its code, cause, what was seen, the server's last stderr
 * lines, what to do, and a Fix button when the doctor can fix it and the gates let us. */
function findingView(server, f, after) {
  const may = f.fix_action === "login" ? allowed("authenticate")
    : f.fix_action === "tighten_data_dir" ? allowed("change_config") : allowed("server_actions");
  const fix = f.fixable && may
    ? button(f.fix_action === "login" ? "Log in" : "Fix", (e) => act(e.currentTarget,
      () => api("POST", "/diagnostics/fix", { code: f.code, server }),
      (r) => r.message).then((r) => {
      if (r && r.login_url && !r.login_url.startsWith("javascript:")) window.open(r.login_url, "_blank", "noopener");
      if (r) after();
    }), { small: true, kind: "primary", label: `Fix ${f.code}` })
    : null;
  return h("article", { class: "finding", dataset: { code: f.code, severity: f.severity } },
    h("div", { class: "section-head" },
      h("span", { class: `badge ${f.severity === "error" ? "error" : "warn"}` }, f.severity),
      h("h3", { class: "mono" }, h("a", { href: f.docs_url, target: "_blank", rel: "noopener" }, f.code)),
      fix),
    h("p", null, f.cause),
    h("p", { class: "small mono wrap" }, f.detail),
    f.stderr && f.stderr.length
      ? h("pre", { class: "code", tabindex: "0", "aria-label": `Last stderr lines of ${server}` }, f.stderr.join("\n"))
      : null,
    h("p", { class: "small" }, h("strong", null, "Fix: "), f.fix));
}

function toolReview(server, tool, after) {
  const canApprove = allowed("approve_tools") && tool.state !== "approved";
  const dangerous = tool.scan && tool.scan.verdict === "dangerous";
  const approve = canApprove
    ? button("Approve", async (e) => {
      const btn = e.currentTarget;
      if (dangerous && !await confirmAction({
        title: `Approve ${tool.name} despite the findings?`,
        message: "The scanner found signs of tool poisoning in it (listed under its name). Agents will see and call it as it is now.",
        confirm: "Approve it",
        danger: true,
      })) return;
      act(btn, () => api("POST", `/servers/${enc(server)}/tools/approve`, { tools: [tool.name] }),
        `${tool.name} approved`).then((r) => r && after());
    }, { small: true, kind: dangerous ? "danger" : "primary", label: `Approve ${tool.name}` })
    : null;
  const parts = [h("div", { class: "section-head" },
    h("h3", { class: "mono" }, tool.name), approvalBadge(tool.state), scanBadge(tool.scan), approve)];
  if (tool.scan && tool.scan.findings.length) parts.push(scanFindings(tool.scan));
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

/** The tool-poisoning scanner's verdict on this version of a tool, when it found something. */
function scanBadge(scan) {
  if (!scan || scan.verdict === "clean") return null;
  return h("span", { class: `badge ${scan.verdict === "dangerous" ? "error" : "warn"}` }, scan.verdict === "dangerous" ? "Dangerous" : "Warnings");
}

function scanFindings(scan) {
  return h("div", { class: `findings ${scan.verdict}` },
    scan.verdict === "dangerous"
      ? h("p", { class: "small" }, h("strong", null, "The scanner holds this tool back: "),
        "it is left out of Approve all and can only be approved by its own button, after reading what was found.")
      : null,
    h("ul", { class: "plain" }, scan.findings.map((f) => h("li", null,
      h("span", { class: `badge ${f.severity === "high" || f.severity === "critical" ? "error" : "warn"}` }, f.severity),
      " ", f.message, h("span", { class: "small muted" }, ` (${f.location}; ${f.check})`),
      f.evidence ? h("div", { class: "small mono wrap" }, f.evidence) : null))));
}

function promptReview(server, prompt, after) {
  const approve = allowed("approve_tools") && prompt.state !== "approved"
    ? button("Approve", (e) => act(e.currentTarget,
      () => api("POST", `/servers/${enc(server)}/prompts/approve`, { prompts: [prompt.name] }),
      `${prompt.name} approved`).then((r) => r && after()), { small: true, kind: "primary", label: `Approve prompt ${prompt.name}` })
    : null;
  const changed = prompt.state === "changed" && prompt.approved_description !== null && prompt.approved_description !== undefined;
  return h("article", { class: "tool-review", dataset: { prompt: prompt.name, state: prompt.state } },
    h("div", { class: "section-head" }, h("h3", { class: "mono" }, prompt.name), approvalBadge(prompt.state), approve),
    changed ? diffView("Description: approved → now", prompt.approved_description, prompt.description)
      : h("p", { class: "desc" }, prompt.description || "No description."),
    prompt.state !== "approved" ? h("p", { class: "small" }, "Held: agents are not offered this prompt until it is approved.") : null);
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
    const promptsBox = h("section", { class: "section", "aria-labelledby": "prompts-h", hidden: true });
    const follow = h("input", { type: "checkbox", checked: true, name: "follow" });
    const logPre = h("pre", { class: "code log", tabindex: "0", "aria-label": `Log of ${name}` }, "");
    const logBox = h("section", { class: "section", "aria-labelledby": "log-h" },
      h("div", { class: "section-head" }, h("h2", { id: "log-h" }, "Log"), field("Follow", follow)),
      logPre);
    const configBox = h("section", { class: "section", "aria-labelledby": "config-h" });
    const diagBox = h("section", { class: "section", "aria-labelledby": "diag-h" });
    view.append(h("p", { class: "small" }, h("a", { href: "/ui/servers" }, "← Servers")), head, summary, diagBox, toolsBox, promptsBox, logBox, configBox);

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
        promptsBox.hidden = true;
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

    async function loadDiagnostics() {
      let report;
      try {
        report = await api("GET", `/servers/${enc(name)}/diagnostics`);
      } catch (e) {
        if (e.status === 404) { diagBox.hidden = true; return; }
        fill(diagBox, h("h2", { id: "diag-h" }, "Diagnostics"), errorBox(e));
        return;
      }
      diagBox.hidden = false;
      keepFocus(diagBox, () => fill(diagBox,
        h("h2", { id: "diag-h" }, `Diagnostics (${report.findings.length})`),
        report.findings.length
          ? h("div", { class: "finding-list" }, report.findings.map((f) => findingView(name, f, refresh)))
          : h("p", { class: "small muted" }, "The doctor finds nothing wrong with this server.")));
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
      // Approve all leaves out what the scanner calls dangerous (the proxy's rule; shown here).
      const held = waiting.filter((t) => t.scan && t.scan.verdict === "dangerous");
      const bulk = waiting.length - held.length;
      const order = { changed: 0, pending: 1, approved: 2 };
      tools.sort((a, b) => order[a.state] - order[b.state] || a.name.localeCompare(b.name));
      const approveAll = bulk && allowed("approve_tools")
        ? button(`Approve all (${bulk})`, async (e) => {
          const btn = e.currentTarget;
          const left = held.length ? ` ${held.length} tools the scanner calls dangerous are left out: approve each by name.` : "";
          const yes = await confirmAction({ title: `Approve ${bulk} tools of ${name}?`, message: `They become available to agents as they are now.${left}`, confirm: "Approve all" });
          if (yes) act(btn, () => api("POST", `/servers/${enc(name)}/tools/approve`, {}), (r) => `${r.approved.length} tool${r.approved.length === 1 ? "" : "s"} approved`).then((r) => r && loadTools());
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

    async function loadPrompts() {
      let prompts;
      try {
        prompts = (await api("GET", `/servers/${enc(name)}/prompts`)).prompts;
      } catch (e) {
        if (e.status === 404) return;
        promptsBox.hidden = false;
        fill(promptsBox, h("h2", { id: "prompts-h" }, "Prompts"), errorBox(e));
        return;
      }
      promptsBox.hidden = !prompts.length;
      const order = { changed: 0, pending: 1, approved: 2 };
      prompts.sort((a, b) => order[a.state] - order[b.state] || a.name.localeCompare(b.name));
      keepFocus(promptsBox, () => fill(promptsBox,
        h("h2", { id: "prompts-h" }, `Prompts (${prompts.length})`),
        h("div", { class: "tool-list" }, prompts.slice(0, 100).map((p) => promptReview(name, p, loadPrompts)))));
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

    const refresh = () => Promise.all([loadServer(), loadDiagnostics(), loadTools(), loadPrompts(), loadLog()]);
    refresh().then(() => { logPre.scrollTop = logPre.scrollHeight; });
    schedule();
    // Both parts follow the gates: either may have been drawn before the status arrived
    // (the tools often come back first), so both are drawn again, whatever came first.
    const onStatus = () => { loadServer(); loadDiagnostics(); loadTools(); loadPrompts(); };
    app.statusListeners.add(onStatus);
    const servers = debounce(() => { loadServer(); loadDiagnostics(); loadLog(); }, 200);
    const toolsChanged = debounce(loadTools, 200);
    return {
      refresh,
      onEvent(event, payload) {
        const about = payload.server || payload.server_name;
        if (event === "config.reloaded") { servers(); toolsChanged(); loadPrompts(); return; }
        if (about && about !== name) return;
        if (event.startsWith("tools.")) { toolsChanged(); servers(); }
        else if (event.startsWith("prompts.")) loadPrompts();
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
