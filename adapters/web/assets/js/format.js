// format.js: how values read for people.

function fmtNumber(n) {
  return typeof n === "number" ? n.toLocaleString("en") : String(n ?? "");
}

function fmtTime(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

function fmtAgo(ts) {
  const d = new Date(ts);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (Number.isNaN(s)) return "";
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** Where a server stands, in the words of the dashboard: one bucket per server. */
const SERVER_BUCKETS = [
  ["ready", "Ready", "ok"],
  ["connecting", "Connecting", "info"],
  ["login", "Login required", "warn"],
  ["quarantined", "Quarantined", "warn"],
  ["disabled", "Disabled", "muted"],
  ["error", "Error", "error"],
];

function serverBucket(s) {
  if (!s.enabled) return "disabled";
  if (s.quarantined) return "quarantined";
  if (s.status === "Ready") return "ready";
  if (s.status === "Error" || s.status === "Docker unavailable") return "error";
  if (s.status === "Pending Auth" || s.status === "Authenticating") return "login";
  return "connecting";
}

function stateBadge(s) {
  const kind = {
    Ready: "ok", Error: "error", "Pending Auth": "warn", Authenticating: "warn", "Docker unavailable": "error",
    Disabled: "muted", Disconnected: "muted",
  }[s.status] || "info";
  const parts = [h("span", { class: `badge ${kind}` }, s.status === "Pending Auth" ? "Login required" : s.status)];
  if (s.quarantined) parts.push(" ", h("span", { class: "badge warn" }, "Quarantined"));
  return h("span", { class: "state" }, parts);
}

function approvalBadge(state) {
  const kind = { approved: "ok", pending: "warn", changed: "error" }[state] || "muted";
  const label = { approved: "Approved", pending: "Awaiting approval", changed: "Changed" }[state] || state;
  return h("span", { class: `badge ${kind}` }, label);
}

function statusBadge(status) {
  const kind = { success: "ok", error: "error", blocked: "warn", rejected: "warn" }[status] || "muted";
  return h("span", { class: `badge ${kind}` }, status);
}

function transportOf(s) {
  return s.protocol || (s.command ? "stdio" : "http");
}

/** How a stdio server is isolated, as the proxy reports it (`isolation` of a server view):
 * "docker node:22 · network none · 512m · 1.0 CPU", "sandbox · no network", "none". */
function isolationText(iso) {
  if (!iso) return null;
  if (iso.mode === "docker" && iso.own_container) return "docker (the command runs its own container)";
  const parts = [iso.mode === "docker" && iso.image ? `docker ${iso.image}` : iso.mode];
  if (iso.mode === "sandbox") parts.push(iso.network_mode === "host" ? "host network" : "no network");
  else if (iso.network_mode) parts.push(`network ${iso.network_mode}`);
  if (iso.memory_limit) parts.push(iso.memory_limit);
  if (iso.cpu_limit) parts.push(`${iso.cpu_limit} CPU`);
  return parts.join(" · ");
}
