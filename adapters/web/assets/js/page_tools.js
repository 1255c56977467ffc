// page_tools.js: every tool, a page at a time, and search as agents search
// (`retrieve_tools`, with scores). A tool opens with its schema and a form generated from
// it; the call goes through the variant its annotations ask for (read, write or
// destructive — the last asks first), with every check an agent's call gets.

const VARIANT_WORDS = {
  call_tool_read: ["read", "info"],
  call_tool_write: ["write", "warn"],
  call_tool_destructive: ["destructive", "error"],
};

function variantBadge(callWith) {
  const [word, kind] = VARIANT_WORDS[callWith] || [callWith, "muted"];
  return h("span", { class: `badge ${kind}`, title: `Called with ${callWith}` }, word);
}

function showResult(box, result) {
  const blocks = (result && result.content) || [];
  const text = blocks.filter((b) => b.type === "text").map((b) => b.text).join("\n");
  fill(box,
    result && result.isError
      ? h("div", { class: "error-box", role: "alert" }, text || "The tool reported an error.")
      : h("div", { class: "ok-box", role: "status" }, "Done."),
    h("pre", { class: "code", tabindex: "0", "aria-label": "Result" }, text ? pretty(text) : pretty(result)));
}

/** The tool's dialog: what it is, its schema, and the call form. */
function toolDialog(tool) {
  const id = tool.id || tool.name;
  const callWith = tool.call_with;
  const form = schemaForm(tool.inputSchema);
  const reason = h("input", { type: "text", name: "intent_reason", maxlength: "1000" });
  const result = h("div", { "aria-live": "polite" });
  const notes = [];
  if (tool.approval && tool.approval !== "approved") notes.push(h("p", { class: "notice" }, "This tool is not approved: the proxy refuses calls to it until it is approved on its server's page."));
  else if (tool.enabled === false) notes.push(h("p", { class: "notice" }, "Agents cannot call this tool now (its server is disabled or quarantined, or the config hides it)."));
  const annotations = tool.annotations && Object.keys(tool.annotations).length
    ? h("pre", { class: "code", tabindex: "0", "aria-label": "Annotations" }, pretty(tool.annotations)) : null;
  const call = button(`Call (${(VARIANT_WORDS[callWith] || [callWith])[0]})`, null, { kind: callWith === "call_tool_destructive" ? "danger" : "primary", type: "submit" });
  const callForm = h("form", { class: "form", novalidate: true },
    form.element,
    field("Why (intent)", reason, "Optional; recorded in the activity log with the call."),
    h("div", { class: "toolbar" }, call, h("span", { class: "small muted" }, `Sent as ${callWith}`)));
  callForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    let args;
    try {
      args = form.collect();
    } catch (err) {
      fill(result, h("div", { class: "error-box", role: "alert" }, err.message));
      return;
    }
    if (callWith === "call_tool_destructive") {
      const yes = await confirmAction({
        title: `Call ${id}?`,
        message: "Its server says this tool is destructive: what it does may not be undone.",
        confirm: "Call it",
        danger: true,
      });
      if (!yes) return;
    }
    const body = { tool_name: callWith, arguments: { name: id, args } };
    if (reason.value.trim()) body.arguments.intent_reason = reason.value.trim();
    call.disabled = true;
    fill(result, h("p", { class: "loading" }, "Calling…"));
    try {
      showResult(result, await api("POST", "/tools/call", body));
    } catch (err) {
      fill(result, h("div", { class: "error-box", role: "alert" }, err.message));
    } finally {
      call.disabled = false;
    }
  });
  const body = h("div", null,
    h("p", null, variantBadge(callWith), " ", tool.approval ? approvalBadge(tool.approval) : null, " ",
      h("a", { href: `/ui/servers/${enc(tool.server)}` }, tool.server)),
    h("p", { class: "wrap" }, tool.description || "No description."),
    notes,
    h("details", null, h("summary", null, "Input schema"),
      h("pre", { class: "code", tabindex: "0", "aria-label": "Input schema" }, pretty(tool.inputSchema))),
    annotations ? h("details", null, h("summary", null, "Annotations"), annotations) : null,
    h("h3", null, "Call it"),
    callForm,
    result);
  const d = openDialog({ title: id, body, wide: true });
  const first = callForm.querySelector("input, select, textarea");
  if (first) first.focus();
  return d;
}

page({
  path: "tools",
  title: "Tools",
  nav: "Tools",
  navOrder: 2,
  mount(view, ctx) {
    const PAGE = 100;
    let offset = Number(ctx.query.get("offset") || 0);
    const q = h("input", { type: "search", name: "q", value: ctx.query.get("q") || "", placeholder: "What should the tool do?" });
    let serverFilter = ctx.query.get("server") || "";
    const serverSel = select("server", [["", "All servers"], ...(serverFilter ? [[serverFilter, serverFilter]] : [])], serverFilter);
    const qHint = h("p", { class: "hint", id: uid("hint") }, "Ranked as retrieve_tools ranks them for agents: only tools agents may call now.");
    q.id = uid("q");
    q.setAttribute("aria-describedby", qHint.id);
    const searchForm = h("form", { class: "search-form", role: "search" },
      h("label", { for: q.id }, "Search tools"),
      h("div", { class: "search" }, q, button("Search", null, { type: "submit", kind: "primary" })),
      qHint);
    const results = h("div", { "aria-live": "polite" }, h("p", { class: "loading" }, "Loading…"));
    view.append(h("div", { class: "page-head" }, h("h1", null, "Tools")), searchForm,
      h("div", { class: "filters" }, field("Server", serverSel)), results);
    let rows = [];

    const openTool = (row) => toolDialog(row);
    const nameCell = (row) => h("button", { type: "button", class: "linklike mono", onclick: () => openTool(row), "aria-label": `Open ${row.id || row.name}` }, row.id || row.name);

    async function loadServers() {
      try {
        const servers = (await api("GET", "/servers")).servers;
        fill(serverSel, h("option", { value: "" }, "All servers"),
          ...servers.map((s) => h("option", { value: s.name, selected: s.name === serverFilter }, s.name)));
        serverSel.value = serverFilter;
      } catch {
        // the list of tools says what is wrong
      }
    }

    async function search() {
      const text = q.value.trim();
      try {
        const found = await api("GET", `/index/search${qs({ q: text, limit: 30 })}`);
        rows = found.results;
        const shown = serverFilter ? rows.filter((r) => r.server === serverFilter) : rows;
        fill(results,
          h("p", { class: "small muted" }, `${shown.length} best matches for “${text}”`),
          table({
            rows: shown,
            rowKey: (r) => r.name,
            empty: emptyState("No callable tool matches. Tools awaiting approval, of quarantined or of disabled servers are not searched."),
            columns: [
              { label: "Score", num: true, cell: (r) => r.score.toFixed(2) },
              { label: "Tool", cell: nameCell },
              { label: "Kind", cell: (r) => variantBadge(r.call_with) },
              { label: "Description", cell: (r) => h("span", { class: "desc" }, r.description) },
            ],
          }));
      } catch (e) {
        fill(results, errorBox(e));
      }
    }

    async function list() {
      try {
        const pageData = await api("GET", `/tools${qs({ server: serverFilter, limit: PAGE, offset })}`);
        rows = pageData.tools;
        const st = pageData.stats;
        fill(results,
          h("p", { class: "small muted" }, `${fmtNumber(st.total)} tools, ${fmtNumber(st.enabled)} callable, ${fmtNumber(st.pending_approval)} awaiting approval`),
          table({
            rows,
            rowKey: (r) => r.id,
            empty: emptyState(st.total ? "This server has no tools." : "No tools yet: add a server and its tools appear here.",
              st.total ? null : h("a", { class: "btn", href: "/ui/servers" }, "Servers")),
            columns: [
              { label: "Tool", cell: nameCell },
              { label: "Approval", cell: (r) => approvalBadge(r.approval) },
              { label: "Callable", cell: (r) => (r.enabled ? "yes" : "no") },
              { label: "Kind", cell: (r) => variantBadge(r.call_with) },
              { label: "Description", cell: (r) => h("span", { class: "desc" }, r.description) },
            ],
          }),
          pageData.total_matching > PAGE ? pager({
            total: pageData.total_matching, offset, limit: PAGE, label: "tools",
            onPage: (o) => { offset = o; ctx.setQuery({ offset: o || null }); list(); },
          }) : null);
        const wanted = ctx.query.get("tool");
        if (wanted) {
          ctx.setQuery({ tool: null });
          const row = rows.find((r) => r.id === wanted);
          if (row) openTool(row);
        }
      } catch (e) {
        fill(results, errorBox(e));
      }
    }

    const load = () => (q.value.trim() ? search() : list());
    searchForm.addEventListener("submit", (e) => {
      e.preventDefault();
      offset = 0;
      ctx.setQuery({ q: q.value.trim(), offset: null });
      load();
    });
    q.addEventListener("search", () => { if (!q.value) { ctx.setQuery({ q: null }); load(); } });
    serverSel.addEventListener("change", () => {
      serverFilter = serverSel.value;
      offset = 0;
      ctx.setQuery({ server: serverFilter, offset: null });
      load();
    });
    loadServers();
    load();
    const reload = debounce(load, 400);
    return {
      refresh() { loadServers(); load(); },
      onEvent(name) {
        if (name.startsWith("tools.") || name === "config.reloaded") reload();
        if (name === "servers.changed" || name === "config.reloaded") loadServers();
      },
    };
  },
});
