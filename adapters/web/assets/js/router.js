// router.js: the pages of the panel and how the address picks one. A page registers itself:
//
//   page({ path: "servers/:name", title: (p) => p.name, nav: null,
//          mount(view, ctx) { ...; return { refresh, onEvent, unmount }; } });
//
// `nav` (a label) and `navOrder` put it in the top bar. `ctx` has the address's params and
// query, `app` (the proxy's status, with what the config gates allow), and setQuery() to
// keep filters in the address. `onEvent(name, payload)` hears the live events; `refresh()`
// reloads everything after a lost event stream.

const pages = [];
const app = { status: null, view: null, current: null, statusListeners: new Set() };

function page(def) {
  pages.push(def);
}

function match(def, route) {
  const want = def.path.split("/").filter(Boolean);
  const have = route.split("/").filter(Boolean);
  if (want.length !== have.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(":")) params[want[i].slice(1)] = decodeURIComponent(have[i]);
    else if (want[i] !== have[i]) return null;
  }
  return params;
}

function uiPath(route) {
  return `/ui/${route}`;
}

function renderNav() {
  const nav = $("#nav");
  const route = location.pathname.replace(/^\/ui\/?/, "");
  const links = pages.filter((p) => p.nav).sort((a, b) => a.navOrder - b.navOrder).map((p) => {
    const active = p.path === "" ? route === "" : route === p.path || route.startsWith(`${p.path}/`);
    return h("a", { href: uiPath(p.path), "aria-current": active ? "page" : null }, p.nav);
  });
  fill(nav, ...links);
}

async function render({ focus = true } = {}) {
  const route = location.pathname.replace(/^\/ui\/?/, "").replace(/\/$/, "");
  let found = null;
  let params = null;
  for (const def of pages) {
    params = match(def, route);
    if (params) {
      found = def;
      break;
    }
  }
  if (app.current && app.current.unmount) app.current.unmount();
  app.current = null;
  const view = app.view;
  fill(view);
  renderNav();
  if (!found) {
    document.title = "Not found · mcpproxy";
    view.append(h("h1", null, "No such page"),
      emptyState(`Nothing lives at ${location.pathname}.`, h("a", { class: "btn", href: "/ui/" }, "Go to the dashboard")));
    return;
  }
  const title = typeof found.title === "function" ? found.title(params) : found.title;
  document.title = `${title} · mcpproxy`;
  const ctx = {
    params,
    query: new URLSearchParams(location.search),
    app,
    setQuery(values) {
      const q = new URLSearchParams(location.search);
      for (const [k, v] of Object.entries(values)) {
        if (v === null || v === undefined || v === "") q.delete(k);
        else q.set(k, String(v));
      }
      const text = q.toString();
      history.replaceState(null, "", `${location.pathname}${text ? `?${text}` : ""}`);
      ctx.query = q;
    },
  };
  app.current = found.mount(view, ctx) || {};
  if (focus) {
    const heading = view.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

function navigate(url) {
  history.pushState(null, "", url);
  window.scrollTo(0, 0);
  render();
}

/** Links inside the panel change the page without loading it again. */
function interceptLinks() {
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith("/ui/") || url.pathname.startsWith("/ui/assets/")) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => render());
}

/** What the gates allow now; false until the status is known, so nothing is offered early. */
function allowed(what) {
  return Boolean(app.status && app.status.allowed && app.status.allowed[what]);
}

async function loadStatus() {
  try {
    app.status = await api("GET", "/status");
  } catch (e) {
    if (e.status !== 401) toast(e.message, "error");
    return;
  }
  const mode = $("#mode");
  // The proxy says which gate holds changes and why; the panel only shows it.
  const refusal = app.status.allowed.refusal;
  mode.hidden = !refusal;
  if (refusal) {
    mode.textContent = { READ_ONLY_MODE: "Read-only", MANAGEMENT_DISABLED: "Management disabled" }[refusal.code] || "Changes refused";
    mode.title = `${refusal.code}: ${refusal.message}`;
  }
  for (const listener of app.statusListeners) listener(app.status);
}
