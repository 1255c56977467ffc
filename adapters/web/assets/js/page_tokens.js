// page_tokens.js: agent tokens — credentials for agents, each limited to some servers and to
// a permission tier (read, write, destructive). A new token's secret is shown once, with a
// copy button; revoking stops a token at once. The proxy decides everything (/api/v1/tokens).

const TIERS = [["read", "Read: tools that only read"], ["write", "Read and write"], ["destructive", "Read, write and destructive"]];

function tierList(tier) {
  return { read: ["read"], write: ["read", "write"], destructive: ["read", "write", "destructive"] }[tier];
}

/** The secret, once: a read-only field and a copy button. */
function showSecret(created) {
  const secret = h("input", { type: "text", readonly: true, value: created.token, class: "mono", name: "token", "aria-describedby": "secret-once" });
  const copy = button("Copy", async () => {
    try {
      await navigator.clipboard.writeText(created.token);
      toast("Copied");
    } catch {
      secret.select();
      toast("Select and copy it with the keyboard: the browser did not allow the copy.", "error");
    }
  }, { label: "Copy the token" });
  const d = openDialog({
    title: `Token ${created.name} created`,
    body: h("div", null,
      h("p", { id: "secret-once", class: "notice" }, "Copy it now: this is the only time it is shown. Agents send it as X-API-Key or Authorization: Bearer."),
      h("div", { class: "field" }, h("label", { for: "new-secret" }, "Token"), h("div", { class: "toolbar" }, Object.assign(secret, { id: "new-secret" }), copy))),
    foot: [button("Done", () => d.close(), { kind: "primary" })],
  });
  secret.focus();
  secret.select();
}

function createTokenDialog(servers, profiles, after) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const all = h("input", { type: "checkbox", name: "all_servers", checked: true });
  const boxes = servers.map((s) => ({ s, box: h("input", { type: "checkbox", name: "server", value: s }) }));
  const serverList = h("fieldset", { class: "choice", disabled: true },
    h("legend", null, "Servers"),
    boxes.length ? boxes.map(({ s, box }) => field(s, box)) : h("p", { class: "small muted" }, "No servers yet."));
  all.addEventListener("change", () => { serverList.disabled = all.checked; });
  const tier = select("tier", TIERS, "read");
  const expiry = h("input", { type: "text", name: "expires_in", value: "30d", autocomplete: "off" });
  const pin = profiles.length
    ? select("profile_pin", [["", "No profile"], ...profiles.map((p) => [p.name, `${p.name} (${p.servers.join(", ") || "no servers"})`])], "")
    : null;
  const problem = h("div", { role: "alert" });
  const create = button("Create", async (e) => {
    const body = {
      name: name.value.trim(),
      allowed_servers: all.checked ? ["*"] : boxes.filter((b) => b.box.checked).map((b) => b.s),
      permissions: tierList(tier.value),
      expires_in: expiry.value.trim() || null,
      profile_pin: pin && pin.value ? pin.value : null,
    };
    const created = await act(e.currentTarget, () => api("POST", "/tokens", body), null,
      (err) => fill(problem, h("div", { class: "error-box" }, err.message)));
    if (!created) return;
    d.close();
    showSecret(created);
    after();
  }, { kind: "primary" });
  const d = openDialog({
    title: "New agent token",
    body: h("div", null, problem,
      field("Name", name, "Letters, digits, dot, dash and underscore; shown in the activity log."),
      field("Every server", all), serverList,
      field("Permissions", tier, "A tool's tier comes from its annotations; a token never reaches a higher tier."),
      field("Expires in", expiry, "30d, 7d, 12h … at most 365d."),
      pin ? field("Pinned to profile", pin, "The token then reaches only that profile's servers, whatever URL or set_profile it uses.") : null),
    foot: [button("Cancel", () => d.close()), create],
  });
  name.focus();
}

page({
  path: "tokens",
  title: "Agent tokens",
  mount(view) {
    const head = h("div", { class: "page-head" }, h("h1", null, "Agent tokens"));
    const list = h("section", { class: "section", "aria-labelledby": "tokens-h" }, h("p", { class: "loading" }, "Loading…"));
    const profileList = h("section", { class: "section", "aria-labelledby": "profiles-h" });
    view.append(head,
      h("p", { class: "muted" }, "Give each agent its own token: it sees only the servers you pick and calls only tools up to its tier. Every call it makes is recorded under the token's name."),
      list, profileList);
    let profiles = [];

    async function loadProfiles() {
      let active = "";
      try {
        profiles = (await api("GET", "/profiles")).profiles;
        active = (await api("GET", "/profiles/active")).active_profile;
      } catch (e) {
        fill(profileList, h("h2", { id: "profiles-h" }, "Profiles"), errorBox(e));
        return;
      }
      fill(profileList,
        h("h2", { id: "profiles-h" }, "Profiles"),
        h("p", { class: "muted" }, "Named subsets of the servers (profiles in the config): agents connect to /mcp/p/<name> or call set_profile; a token can be pinned to one."),
        table({
          rows: profiles,
          rowKey: (p) => `profile-${p.name}`,
          empty: emptyState("No profiles configured."),
          columns: [
            { label: "Name", cell: (p) => h("strong", { class: "mono" }, p.name) },
            { label: "Endpoint", cell: (p) => h("span", { class: "mono" }, `/mcp/p/${p.name}`) },
            { label: "Servers", class: "wrap", cell: (p) => p.servers.join(", ") || "none" },
            { label: "Tools", cell: (p) => String(p.tool_count) },
            { label: "Default", cell: (p) => (p.name === active ? h("span", { class: "badge ok" }, "default") : "") },
          ],
        }));
    }

    async function load() {
      let tokens;
      try {
        tokens = await api("GET", "/tokens");
      } catch (e) {
        fill(list, h("h2", { id: "tokens-h" }, "Tokens"), errorBox(e));
        return;
      }
      const may = allowed("manage_tokens");
      const newToken = may ? button("New token", async () => {
        let servers = [];
        try {
          servers = (await api("GET", "/servers")).servers.map((s) => s.name);
        } catch {
          servers = [];
        }
        createTokenDialog(servers, profiles, load);
      }, { kind: "primary" }) : null;
      fill(head, h("h1", null, "Agent tokens"), newToken);
      keepFocus(list, () => fill(list,
        h("h2", { id: "tokens-h", class: "visually-hidden" }, "Tokens"),
        table({
          rows: tokens,
          rowKey: (t) => t.name,
          empty: emptyState(may ? "No agent tokens yet — create one for each agent that should not have the proxy's key." : "No agent tokens."),
          columns: [
            { label: "Name", cell: (t) => h("strong", { class: "mono" }, t.name) },
            { label: "Token", cell: (t) => h("span", { class: "mono" }, `${t.token_prefix}…`) },
            { label: "Servers", class: "wrap", cell: (t) => (t.allowed_servers.includes("*") ? "every server" : t.allowed_servers.join(", ")) },
            { label: "Tier", cell: (t) => t.permissions[t.permissions.length - 1] || "" },
            { label: "Profile", cell: (t) => (t.profile_pin ? h("span", { class: "mono" }, t.profile_pin) : "—") },
            { label: "State", cell: (t) => h("span", { class: `badge ${t.status === "active" ? "ok" : "muted"}` }, t.status) },
            { label: "Expires", cell: (t) => h("span", { title: fmtTime(t.expires_at) }, fmtTime(t.expires_at)) },
            { label: "Last used", cell: (t) => (t.last_used_at ? h("span", { title: fmtTime(t.last_used_at) }, fmtAgo(t.last_used_at)) : "never") },
            {
              label: "Actions",
              hidden: !may,
              cell: (t) => t.status === "active"
                ? button("Revoke", async (e) => {
                  const btn = e.currentTarget;
                  const yes = await confirmAction({ title: `Revoke ${t.name}?`, message: "It stops working now, for every agent that uses it. The record and its name stay.", confirm: "Revoke", danger: true });
                  if (yes) act(btn, () => api("DELETE", `/tokens/${enc(t.name)}`), `${t.name} revoked`).then((r) => r && load());
                }, { small: true, label: `Revoke ${t.name}` })
                : "",
            },
          ],
        })));
    }

    return reloading(() => Promise.all([load(), loadProfiles()]), (name) => name === "active_profile.changed");
  },
});
