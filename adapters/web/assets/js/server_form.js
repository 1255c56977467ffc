// server_form.js: the dialog that adds a server or edits one. Adding sends the new entry
// (POST /servers); editing sends only what changed as a JSON merge patch (PATCH
// /servers/{name}). Secret values are shown masked by the API: a value left as shown is
// left as it is on the proxy.

const TRANSPORTS = [
  ["stdio", "Local command (stdio)"],
  ["streamable-http", "Remote URL (streamable HTTP)"],
  ["sse", "Remote URL (legacy SSE)"],
];

function parsePairs(text, sep, what) {
  const out = {};
  text.split("\n").map((l) => l.trim()).filter(Boolean).forEach((line, n) => {
    const at = line.indexOf(sep);
    if (at <= 0) throw new Error(`${what}, line ${n + 1}: write it as NAME${sep === ":" ? ": " : "="}value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  return out;
}

function pairsText(map, sep) {
  return Object.entries(map || {}).map(([k, v]) => `${k}${sep === ":" ? ": " : "="}${v}`).join("\n");
}

/** A merge patch of one map: changed and new keys, removed keys as null, values left as the
 * API showed them (masked) out. */
function mapPatch(before, after) {
  const patch = {};
  for (const [k, v] of Object.entries(after)) if (before[k] !== v) patch[k] = v;
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  return Object.keys(patch).length ? patch : undefined;
}

/** Opens the dialog. `server` is the API's view of the server to edit, or null to add one.
 * `done(view)` runs after the proxy accepted it. */
function serverDialog(server, done) {
  const editing = Boolean(server);
  const s = server || { enabled: true, args: [], env: {}, headers: {} };
  const initialTransport = editing ? transportOf(s) : "stdio";
  const name = h("input", { type: "text", name: "name", required: true, spellcheck: "false", autocomplete: "off", value: s.name || "", readonly: editing });
  const transport = select("protocol", TRANSPORTS, initialTransport === "http" ? "streamable-http" : initialTransport);
  const command = h("input", { type: "text", name: "command", spellcheck: "false", value: s.command || "" });
  const args = h("textarea", { name: "args", rows: 3, spellcheck: "false" }, (s.args || []).join("\n"));
  const workingDir = h("input", { type: "text", name: "working_dir", spellcheck: "false", value: s.working_dir || "" });
  const env = h("textarea", { name: "env", rows: 3, spellcheck: "false" }, pairsText(s.env, "="));
  const url = h("input", { type: "url", name: "url", spellcheck: "false", placeholder: "https://example.com/mcp", value: s.url || "" });
  const headers = h("textarea", { name: "headers", rows: 3, spellcheck: "false" }, pairsText(s.headers, ":"));
  const trust = h("input", { type: "checkbox", name: "trust" });
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: s.enabled !== false });
  const error = h("div", { class: "error-box", role: "alert", hidden: true });

  const stdioPart = h("div", { class: "form" },
    field("Command", command, "The program to start, like npx or uvx."),
    field("Arguments", args, "One per line."),
    field("Working directory", workingDir, "Optional."),
    field("Environment", env, "One NAME=value per line. Masked values (abcd****) are kept as they are."));
  const remotePart = h("div", { class: "form" },
    field("URL", url),
    field("Headers", headers, "One Name: value per line, like Authorization: Bearer …"));
  const showPart = () => {
    const stdio = transport.value === "stdio";
    stdioPart.hidden = !stdio;
    remotePart.hidden = stdio;
  };
  transport.addEventListener("change", showPart);
  showPart();

  const form = h("form", { class: "form", novalidate: true },
    error,
    field("Name", name, editing ? "A server cannot be renamed." : "Letters, digits, - and _; no colon."),
    field("Type", transport),
    stdioPart,
    remotePart,
    field("Enabled", enabled),
    editing ? null : field("Trust it now (skip quarantine)", trust,
      "Otherwise it starts quarantined: connected, but its tools are not offered to agents until you unquarantine it."));

  const save = button(editing ? "Save" : "Add server", null, { kind: "primary", type: "submit" });
  save.setAttribute("form", (form.id = uid("server-form")));
  const cancel = button("Cancel", () => d.close());
  const d = openDialog({ title: editing ? `Edit ${s.name}` : "Add a server", body: form, foot: [cancel, save] });

  const showError = (err) => {
    error.textContent = err.message;
    error.hidden = false;
    error.scrollIntoView({ block: "nearest" });
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    let body;
    try {
      body = editing ? patchFrom() : entryFrom();
    } catch (err) {
      showError(err);
      return;
    }
    const view = await act(save, () => (editing
      ? api("PATCH", `/servers/${enc(s.name)}`, body)
      : api("POST", "/servers", body)), editing ? `${s.name} saved` : `${name.value.trim()} added`, showError);
    if (view) {
      d.close();
      if (done) done(view);
    }
  });

  function entryFrom() {
    const entry = { name: name.value.trim(), protocol: transport.value, enabled: enabled.checked };
    if (transport.value === "stdio") {
      entry.command = command.value.trim();
      entry.args = args.value.split("\n").map((a) => a.trim()).filter(Boolean);
      if (workingDir.value.trim()) entry.working_dir = workingDir.value.trim();
      const e = parsePairs(env.value, "=", "Environment");
      if (Object.keys(e).length) entry.env = e;
    } else {
      entry.url = url.value.trim();
      const hs = parsePairs(headers.value, ":", "Headers");
      if (Object.keys(hs).length) entry.headers = hs;
    }
    if (trust.checked) entry.quarantined = false;
    return entry;
  }

  function patchFrom() {
    const patch = {};
    const stdio = transport.value === "stdio";
    if (transport.value !== (initialTransport === "http" ? "streamable-http" : initialTransport)) patch.protocol = transport.value;
    if (enabled.checked !== (s.enabled !== false)) patch.enabled = enabled.checked;
    if (stdio) {
      if (command.value.trim() !== (s.command || "")) patch.command = command.value.trim();
      const newArgs = args.value.split("\n").map((a) => a.trim()).filter(Boolean);
      if (JSON.stringify(newArgs) !== JSON.stringify(s.args || [])) patch.args = newArgs;
      if (workingDir.value.trim() !== (s.working_dir || "")) patch.working_dir = workingDir.value.trim();
      const e = mapPatch(s.env || {}, parsePairs(env.value, "=", "Environment"));
      if (e) patch.env = e;
    } else {
      if (url.value.trim() !== (s.url || "")) patch.url = url.value.trim();
      const hs = mapPatch(s.headers || {}, parsePairs(headers.value, ":", "Headers"));
      if (hs) patch.headers = hs;
    }
    if (!Object.keys(patch).length) throw new Error("Nothing changed.");
    return patch;
  }
  name.focus();
  return d;
}
