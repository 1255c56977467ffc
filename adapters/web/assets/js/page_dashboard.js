// page_dashboard.js: how the proxy is doing at a glance — servers by state, tools, calls,
// the tokens agents save by searching, and the latest activity. Everything follows the
// live events.

function activityTable(records, caption) {
  return table({
    caption,
    rows: records,
    rowKey: (r) => r.id,
    empty: emptyState("No activity yet. Calls from agents and changes to servers show up here."),
    columns: [
      { label: "Time", cell: (r) => h("a", { href: `/ui/activity?id=${enc(r.id)}`, title: fmtTime(r.timestamp) }, fmtAgo(r.timestamp)) },
      { label: "Type", cell: (r) => r.type.replace(/_/g, " ") },
      { label: "Server", cell: (r) => r.server_name ? h("a", { href: `/ui/servers/${enc(r.server_name)}` }, r.server_name) : "" },
      { label: "Tool", class: "wrap", cell: (r) => r.tool_name || (r.metadata && r.metadata.action) || "" },
      { label: "Status", cell: (r) => statusBadge(r.status) },
    ],
  });
}

page({
  path: "",
  title: "Dashboard",
  nav: "Dashboard",
  navOrder: 0,
  mount(view) {
    const hour = 3600 * 1000;
    const cards = h("div", { class: "cards", "aria-label": "Servers by state" });
    const tools = h("div", { class: "cards", "aria-label": "Tools and calls" });
    const savings = h("section", { class: "section", "aria-labelledby": "savings-h" });
    const attention = h("section", { class: "section", "aria-labelledby": "attention-h" });
    const recent = h("section", { class: "section", "aria-labelledby": "recent-h" });
    view.append(
      h("div", { class: "page-head" }, h("h1", null, "Dashboard")),
      h("h2", { class: "visually-hidden" }, "Servers"), cards,
      h("h2", { class: "visually-hidden" }, "Tools and calls"), tools,
      h("div", { class: "grid-2" }, savings, attention),
      recent);

    const card = (value, label, kind, href) => h(href ? "a" : "div", { class: `card ${kind || ""}`, href },
      h("div", { class: "value" }, fmtNumber(value)), h("div", { class: "label" }, label));

    async function loadServers() {
      let list;
      try {
        list = (await api("GET", "/servers")).servers;
      } catch (e) {
        fill(cards, errorBox(e));
        return;
      }
      if (!list.length) {
        fill(cards, h("div", { class: "empty" },
          h("p", null, "No servers yet — add one to give your agents tools."),
          h("a", { class: "btn primary", href: "/ui/servers?add=1" }, "Add a server")));
        fill(attention, h("h2", { id: "attention-h" }, "Needs attention"), h("p", { class: "muted" }, "Nothing."));
        return;
      }
      const counts = Object.fromEntries(SERVER_BUCKETS.map(([k]) => [k, 0]));
      for (const s of list) counts[serverBucket(s)] += 1;
      fill(cards,
        card(list.length, "servers", "", "/ui/servers"),
        ...SERVER_BUCKETS.map(([k, label, kind]) =>
          card(counts[k], label.toLowerCase(), counts[k] ? kind : "", `/ui/servers?state=${k}`)));
      // For the first-paint measurement (tests/tests/web.rs): when the servers first show.
      if (!performance.getEntriesByName("mcpproxy:servers-shown").length) performance.mark("mcpproxy:servers-shown");
      const needs = list.filter((s) => ["error", "login", "quarantined"].includes(serverBucket(s)));
      fill(attention, h("h2", { id: "attention-h" }, "Needs attention"),
        needs.length
          ? h("ul", { class: "plain" }, needs.slice(0, 8).map((s) => h("li", null,
            h("a", { href: `/ui/servers/${enc(s.name)}`, class: "row-link" }, s.name), " ", stateBadge(s),
            s.last_error ? h("div", { class: "cell-error" }, s.last_error) : null)))
          : h("p", { class: "muted" }, "Every server is either ready, connecting or switched off."));
    }

    async function loadCounts() {
      const since = (ms) => new Date(Date.now() - ms).toISOString();
      const count = (params) => api("GET", `/activity${qs({ ...params, type: "tool_call", limit: 1 })}`).then((p) => p.total);
      try {
        const [status, h1, d1, e1, ed] = await Promise.all([
          api("GET", "/status"),
          count({ start_time: since(hour) }),
          count({ start_time: since(24 * hour) }),
          count({ start_time: since(hour), status: "error" }),
          count({ start_time: since(24 * hour), status: "error" }),
        ]);
        const t = status.tools;
        fill(tools,
          card(t.total, "tools", "", "/ui/tools"),
          card(t.enabled, "callable", t.enabled ? "ok" : ""),
          card(t.pending_approval, "awaiting approval", t.pending_approval ? "warn" : ""),
          card(h1, "calls in the last hour", "", "/ui/activity?type=tool_call"),
          card(d1, "calls in the last day", "", "/ui/activity?type=tool_call"),
          card(e1, `errors in the last hour (${fmtNumber(ed)} today)`, e1 ? "error" : "", "/ui/activity?type=tool_call&status=error"));
      } catch (e) {
        fill(tools, errorBox(e));
      }
    }

    async function loadSavings() {
      try {
        const s = await api("GET", "/stats/tokens");
        const pct = s.saved_tokens_percentage;
        const meter = h("div", { class: "meter", role: "img", "aria-label": `${pct}% saved` }, h("span"));
        meter.firstChild.style.width = `${Math.max(0, Math.min(100, pct))}%`;
        const explain = s.saved_tokens_percentage >= 10
          ? `Loading every callable tool's definition costs an agent about ${fmtNumber(s.total_server_tool_list_size)} tokens; one retrieve_tools answer about ${fmtNumber(s.average_query_result_size)}.`
          : `Every callable tool's definition together is about ${fmtNumber(s.total_server_tool_list_size)} tokens, hardly more than one retrieve_tools answer: the savings grow with every server added.`;
        fill(savings, h("h2", { id: "savings-h" }, "Tokens saved by searching"),
          h("p", null, h("strong", null, `≈ ${fmtNumber(s.saved_tokens)} tokens`), ` per request (${pct}%)`),
          meter,
          h("p", { class: "small muted" }, explain));
      } catch (e) {
        fill(savings, h("h2", { id: "savings-h" }, "Tokens saved by searching"), errorBox(e));
      }
    }

    async function loadRecent() {
      try {
        const page = await api("GET", "/activity?limit=10");
        fill(recent, h("div", { class: "section-head" }, h("h2", { id: "recent-h" }, "Recent activity"),
          h("a", { href: "/ui/activity" }, "All activity")), activityTable(page.activities));
      } catch (e) {
        fill(recent, h("h2", { id: "recent-h" }, "Recent activity"), errorBox(e));
      }
    }

    const refresh = () => Promise.all([loadServers(), loadCounts(), loadSavings(), loadRecent()]);
    const servers = debounce(() => { loadServers(); loadCounts(); }, 250);
    const toolsChanged = debounce(() => { loadCounts(); loadSavings(); }, 500);
    const activity = debounce(() => { loadRecent(); loadCounts(); }, 500);
    refresh();
    return {
      refresh,
      onEvent(name) {
        if (name.startsWith("activity.")) activity();
        else if (name.startsWith("tools.")) toolsChanged();
        else servers();
      },
    };
  },
});
