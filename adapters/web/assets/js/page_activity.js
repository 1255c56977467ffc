// page_activity.js: the activity log — what the last day's tool calls add up to, filters,
// pages, a record's arguments and answer, export, and new records as they happen.

function activityDetail(id) {
  const body = h("div", null, h("p", { class: "loading" }, "Loading…"));
  openDialog({ title: "Activity record", body, wide: true });
  api("GET", `/activity/${enc(id)}`).then((r) => {
    const facts = [
      ["Time", fmtTime(r.timestamp)], ["Type", r.type], ["Source", r.source], ["Status", statusBadge(r.status)],
      ["Server", r.server_name], ["Tool", r.tool_name], ["Duration", fmtDuration(r.duration_ms)],
      ["Request", r.request_id], ["Session", r.session_id], ["Id", r.id],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    fill(body,
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", { class: k === "Id" || k === "Request" ? "mono" : null }, v)])),
      r.error_message ? h("div", { class: "error-box" }, r.error_message) : null,
      r.arguments !== undefined && r.arguments !== null ? [h("h3", null, "Arguments"), h("pre", { class: "code", tabindex: "0", "aria-label": "Arguments" }, pretty(r.arguments))] : null,
      r.response !== undefined && r.response !== null ? [h("h3", null, "Response"), h("pre", { class: "code", tabindex: "0", "aria-label": "Response" }, pretty(r.response))] : null,
      r.metadata && Object.keys(r.metadata).length ? [h("h3", null, "Details"), h("pre", { class: "code", tabindex: "0", "aria-label": "Details" }, pretty(r.metadata))] : null);
  }).catch((e) => fill(body, errorBox(e)));
}

function isoFromLocal(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

function localFromIso(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

page({
  path: "activity",
  title: "Activity",
  mount(view, ctx) {
    const q = ctx.query;
    const limit = Math.min(100, Math.max(1, Number(q.get("limit") || 50)));
    let offset = Number(q.get("offset") || 0);
    const type = select("type", [["", "Any type"], ...ACTIVITY_KINDS.map((k) => [k, k.replace(/_/g, " ")])], q.get("type") || "");
    const status = select("status", [["", "Any status"], ["success", "success"], ["error", "error"], ["blocked", "blocked"], ["rejected", "rejected"]], q.get("status") || "");
    const server = h("input", { type: "text", name: "server", value: q.get("server") || "", spellcheck: "false" });
    const tool = h("input", { type: "text", name: "tool", value: q.get("tool") || "", spellcheck: "false" });
    const from = h("input", { type: "datetime-local", name: "start_time", value: localFromIso(q.get("start_time")) });
    const to = h("input", { type: "datetime-local", name: "end_time", value: localFromIso(q.get("end_time")) });
    const exportJson = h("a", { class: "btn", download: "activity.json" }, "Export JSON");
    const exportCsv = h("a", { class: "btn", download: "activity.csv" }, "Export CSV");
    const clear = button("Clear", () => {
      for (const el of [type, status, server, tool, from, to]) el.value = "";
      apply();
    });
    const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter the activity" },
      field("Type", type), field("Server", server), field("Tool", tool), field("Status", status),
      field("From", from), field("To", to),
      h("div", { class: "toolbar" }, button("Apply", null, { type: "submit", kind: "primary" }), clear));
    const fresh = h("p", { class: "notice", hidden: true, role: "status" });
    const body = h("div", null, h("p", { class: "loading" }, "Loading…"));
    const summary = h("div", { class: "cards", role: "group", "aria-label": "Tool calls in the last 24 hours", "aria-busy": "true" });
    view.append(h("div", { class: "page-head" }, h("h1", null, "Activity"), h("div", { class: "toolbar" }, exportJson, exportCsv)),
      summary, filters, fresh, body);

    // The last day's tool calls, counted by the proxy (GET /activity/summary and /usage).
    async function loadSummary() {
      const card = (value, label, kind, href) => h(href ? "a" : "div", { class: `card ${kind || ""}`, href },
        h("div", { class: "value" }, value), h("div", { class: "label" }, label));
      try {
        const [s, u] = await Promise.all([
          api("GET", "/activity/summary?type=tool_call&period=24h"),
          api("GET", "/activity/usage?window=24h"),
        ]);
        const t = u.totals;
        const held = s.blocked_count + s.rejected_count;
        fill(summary,
          card(fmtNumber(s.total_count), "tool calls in the last 24 hours", "", "/ui/activity?type=tool_call"),
          card(fmtNumber(s.error_count), "failed", s.error_count ? "error" : "", "/ui/activity?type=tool_call&status=error"),
          card(fmtNumber(held), "blocked or rejected", held ? "warn" : ""),
          card(t.calls ? `${fmtNumber(t.p50_ms)} / ${fmtNumber(t.p95_ms)} / ${fmtNumber(t.p99_ms)}` : "–", "ms p50 / p95 / p99"),
          card(t.avg_resp_bytes === null || t.avg_resp_bytes === undefined ? "–" : fmtNumber(t.avg_resp_bytes), "bytes per answer"));
      } catch (e) {
        fill(summary, errorBox(e));
      }
      summary.removeAttribute("aria-busy");
    }

    const current = () => ({
      type: type.value, server: server.value.trim(), tool: tool.value.trim(), status: status.value,
      start_time: isoFromLocal(from.value), end_time: isoFromLocal(to.value),
    });

    async function load() {
      const f = current();
      exportJson.href = `/api/v1/activity/export${qs({ ...f, format: "json" })}`;
      exportCsv.href = `/api/v1/activity/export${qs({ ...f, format: "csv" })}`;
      try {
        const data = await api("GET", `/activity${qs({ ...f, limit, offset })}`);
        fresh.hidden = true;
        keepFocus(body, () => fill(body,
          table({
            rows: data.activities,
            rowKey: (r) => r.id,
            empty: emptyState(Object.values(f).some(Boolean) ? "No record matches these filters." : "No activity yet. Calls from agents and changes to servers show up here."),
            columns: [
              { label: "Time", cell: (r) => h("button", { type: "button", class: "linklike", onclick: () => activityDetail(r.id), "aria-label": `Open the record of ${fmtTime(r.timestamp)}` }, fmtTime(r.timestamp)) },
              { label: "Type", cell: (r) => r.type.replace(/_/g, " ") },
              { label: "Source", cell: (r) => r.source },
              { label: "Server", cell: (r) => r.server_name ? h("a", { href: `/ui/servers/${enc(r.server_name)}` }, r.server_name) : "" },
              { label: "Tool", class: "wrap", cell: (r) => r.tool_name || (r.metadata && r.metadata.action) || "" },
              { label: "Status", cell: (r) => statusBadge(r.status) },
              { label: "Duration", num: true, cell: (r) => fmtDuration(r.duration_ms) },
            ],
          }),
          data.total > limit || offset ? pager({
            total: data.total, offset, limit,
            onPage: (o) => { offset = o; ctx.setQuery({ offset: o || null }); load(); },
          }) : h("p", { class: "small muted" }, `${fmtNumber(data.total)} records`)));
      } catch (e) {
        fill(body, errorBox(e));
      }
    }

    function apply() {
      offset = 0;
      ctx.setQuery({ ...current(), offset: null });
      load();
    }
    filters.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
    load();
    loadSummary();
    if (q.get("id")) {
      activityDetail(q.get("id"));
      ctx.setQuery({ id: null });
    }
    const reload = debounce(load, 300);
    const recount = debounce(loadSummary, 1000);
    let missed = 0;
    return {
      refresh: () => { load(); loadSummary(); },
      onEvent(name) {
        if (!name.startsWith("activity.")) return;
        recount();
        if (offset === 0) {
          reload();
        } else {
          missed += 1;
          fill(fresh, `${missed} new record${missed === 1 ? "" : "s"} since this page was loaded. `,
            button("Show the newest", () => { missed = 0; offset = 0; ctx.setQuery({ offset: null }); load(); }, { small: true }));
          fresh.hidden = false;
        }
      },
    };
  },
});
