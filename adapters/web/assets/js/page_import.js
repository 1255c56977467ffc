// page_import.js: servers from another client's config (Claude Desktop, Claude Code, Cursor,
// Codex, Gemini): one of the files the proxy found on this machine, or pasted text. A preview
// (a dry run: what would be added, what is skipped as a duplicate, what fails) comes first;
// Import then adds them, quarantined. The proxy parses and decides; the page shows its report.

const IMPORT_FORMATS = [["", "Tell from the file"], ["claude-desktop", "Claude Desktop"], ["claude-code", "Claude Code"],
  ["cursor", "Cursor"], ["codex", "Codex (TOML)"], ["gemini", "Gemini"]];

function importReport(report) {
  const s = report.summary;
  const verb = report.dry_run ? "would be imported" : "imported";
  const servers = (list, columns) => table({ rows: list, rowKey: (r) => r.name, empty: null, columns });
  return h("div", { class: "import-report", dataset: { dryRun: String(report.dry_run) } },
    h("p", { role: "status" }, h("strong", null, `${s.imported} of ${s.total} ${verb}`),
      `, ${s.skipped} skipped, ${s.failed} failed (read as ${report.format_name || report.format}).`),
    report.imported.length ? [h("h3", null, report.dry_run ? "To be added" : "Added"),
      servers(report.imported, [
        { label: "Name", cell: (r) => h("span", { class: "mono" }, r.name) },
        { label: "Transport", cell: (r) => r.protocol },
        { label: "Runs", class: "wrap", cell: (r) => h("span", { class: "mono small" }, r.command ? [r.command, ...(r.args || [])].join(" ") : r.url) },
        { label: "Quarantined", cell: (r) => (r.quarantined ? "yes" : "no") },
      ])] : null,
    report.skipped.length ? [h("h3", null, "Skipped"),
      servers(report.skipped, [
        { label: "Name", cell: (r) => h("span", { class: "mono" }, r.name) },
        { label: "Why", class: "wrap", cell: (r) => r.reason },
      ])] : null,
    report.failed.length ? [h("h3", null, "Failed"),
      servers(report.failed, [
        { label: "Name", cell: (r) => h("span", { class: "mono" }, r.name) },
        { label: "Why", class: "wrap", cell: (r) => h("span", { class: "cell-error" }, r.reason) },
      ])] : null,
    (report.warnings || []).length ? h("ul", { class: "notice" }, report.warnings.map((w) => h("li", null, w))) : null,
    keyringNote(report));
}

/** What became of the secrets that came along: stored in the keyring, or left in plain text. */
function keyringNote(report) {
  const k = report.keyring;
  const found = (report.secrets || []).map((x) => `${x.server} ${x.kind} ${x.name}`).join(", ");
  if (k && k.requested && k.error) return h("p", { class: "error-box" }, `Not stored in the keyring: ${k.error}`);
  if (k && k.stored) {
    return h("p", { class: "notice" }, `${k.stored} secret value${k.stored === 1 ? "" : "s"} ${report.dry_run ? "would be" : "were"} stored in the keyring and referred to as \${keyring:…}${k.plaintext ? `; ${k.plaintext} left in plain text` : ""}.`);
  }
  return found ? h("p", { class: "notice" }, `Plain-text secrets came along: ${found}. Tick "Store secrets in the keyring" to keep them out of the config file.`) : null;
}

page({
  path: "import",
  title: "Import servers",
  mount(view) {
    const pathSelect = h("select", { name: "path" }, h("option", { value: "" }, "Looking for client configs…"));
    const content = h("textarea", { name: "content", rows: "8", class: "mono", spellcheck: "false", placeholder: "{\"mcpServers\": {…}}" });
    const format = select("format", IMPORT_FORMATS, "");
    const toKeyring = h("input", { type: "checkbox", name: "to_keyring" });
    const fromFile = h("input", { type: "radio", name: "source", value: "file", checked: true });
    const fromText = h("input", { type: "radio", name: "source", value: "text" });
    const out = h("section", { class: "section", "aria-labelledby": "report-h", "aria-live": "polite", hidden: true });
    let previewed = null;
    const previewBtn = button("Preview", () => run(true, previewBtn), { kind: "primary" });
    const importBtn = button("Import", () => run(false, importBtn));
    importBtn.hidden = true;
    const fileBox = h("div", null, field("Config file", pathSelect, "Files the proxy found on this machine (greyed out when missing)."));
    const textBox = h("div", { hidden: true }, field("Config text", content, "JSON (or TOML for Codex), as in the client's file."), field("Format", format));
    const choose = () => {
      fileBox.hidden = !fromFile.checked;
      textBox.hidden = fromFile.checked;
      previewed = null;
      importBtn.hidden = true;
    };
    fromFile.addEventListener("change", choose);
    fromText.addEventListener("change", choose);
    for (const input of [pathSelect, content, format, toKeyring]) input.addEventListener("input", () => { previewed = null; importBtn.hidden = true; });
    view.append(
      h("div", { class: "page-head" }, h("h1", null, "Import servers")),
      h("p", { class: "muted" }, "Bring the servers of another AI client into this proxy. Nothing changes until you import after a preview; imported servers start quarantined."),
      h("section", { class: "section", "aria-labelledby": "from-h" },
        h("h2", { id: "from-h" }, "From"),
        h("fieldset", { class: "choice" }, h("legend", { class: "visually-hidden" }, "Where the servers come from"),
          field("A client's config file", fromFile), field("Pasted text", fromText)),
        fileBox, textBox,
        field("Store secrets in the keyring", toKeyring, "Values that look like secrets go into the OS keyring; the config gets ${keyring:NAME} references."),
        h("div", { class: "toolbar" }, previewBtn, importBtn)),
      out);

    function request(preview) {
      const query = qs({ preview: preview ? "true" : "" });
      const keyring = toKeyring.checked ? { to_keyring: true } : {};
      if (fromFile.checked) return ["/servers/import/path" + query, { path: pathSelect.value, ...keyring }];
      const body = { content: content.value, ...keyring };
      if (format.value) body.format = format.value;
      return ["/servers/import/json" + query, body];
    }

    async function run(preview, btn) {
      out.hidden = false;
      const [path, body] = request(preview);
      if (fromFile.checked && !body.path) {
        fill(out, h("h2", { id: "report-h" }, "Preview"), errorBox(new Error("Choose a config file first.")));
        return;
      }
      if (!fromFile.checked && !body.content.trim()) {
        fill(out, h("h2", { id: "report-h" }, "Preview"), errorBox(new Error("Paste a client's config first.")));
        return;
      }
      const report = await act(btn, () => api("POST", path, body), null,
        (e) => fill(out, h("h2", { id: "report-h" }, preview ? "Preview" : "Import"), errorBox(e)));
      if (!report) return;
      previewed = preview ? report : null;
      fill(out, h("h2", { id: "report-h" }, preview ? "Preview" : "Imported"), importReport(report),
        preview ? null : h("p", null, h("a", { href: "/ui/servers?state=quarantined" }, "Review the quarantined servers")));
      importBtn.hidden = !(preview && report.summary.imported > 0 && allowed("add_servers"));
      const n = report.summary.imported;
      if (!preview) toast(`${n} server${n === 1 ? "" : "s"} imported`);
    }

    async function load() {
      let found;
      try {
        found = (await api("GET", "/servers/import/paths")).paths;
      } catch (e) {
        fill(fileBox, errorBox(e));
        return;
      }
      const existing = found.filter((p) => p.exists);
      fill(pathSelect,
        h("option", { value: "" }, existing.length ? "Choose a file" : "No client config found here: paste one instead"),
        found.map((p) => h("option", { value: p.path, disabled: !p.exists }, `${p.name} — ${p.path}${p.exists ? "" : " (not found)"}`)));
      if (!existing.length) {
        fromText.checked = true;
        choose();
      }
    }

    // Even a preview is a change asked for: the gates that hold adding servers refuse it.
    const gated = h("p", { class: "notice", hidden: true });
    out.before(gated);
    const applyGates = () => {
      const may = allowed("add_servers");
      previewBtn.hidden = !may;
      if (!may) importBtn.hidden = true;
      gated.hidden = may || !app.status;
      const refusal = app.status && app.status.allowed.refusal;
      gated.textContent = refusal ? `${refusal.code}: ${refusal.message}` : "Adding servers is not allowed on this proxy (allow_server_add is off).";
    };
    applyGates();
    app.statusListeners.add(applyGates);
    load();
    return {
      refresh: load,
      unmount() {
        app.statusListeners.delete(applyGates);
      },
    };
  },
});
