// widgets.js: the pieces every page uses — messages, dialogs, tables, pagers, form fields.

/** A message at the bottom right. Errors stay until dismissed and are announced at once. */
function toast(message, kind = "ok") {
  const box = $("#toasts");
  const close = h("button", { type: "button", class: "btn small quiet", "aria-label": "Dismiss" }, "✕");
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("p", null, message), close);
  close.addEventListener("click", () => item.remove());
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 5000);
  return item;
}

/** Runs an action from a button: the button is busy meanwhile, a refusal is shown as the API
 * wrote it (in a toast, or by `onError` when the caller shows it in place). Resolves to the
 * result, or undefined when it failed. */
async function act(button, fn, success, onError) {
  if (button) button.disabled = true;
  try {
    const result = await fn();
    if (success) toast(typeof success === "function" ? success(result) : success, "ok");
    return result;
  } catch (e) {
    if (onError) onError(e);
    else toast(e.message, "error");
    return undefined;
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

function button(label, onclick, opts = {}) {
  return h("button", {
    type: opts.type || "button",
    class: `btn ${opts.kind || ""} ${opts.small ? "small" : ""}`.trim(),
    onclick,
    "aria-label": opts.label,
    title: opts.title,
    disabled: opts.disabled,
    dataset: opts.dataset,
  }, label);
}

/** A modal dialog. `body` is an element; `foot` buttons go at the bottom. The browser keeps
 * the focus inside, and Escape closes it. */
function openDialog({ title, body, foot = [], wide = false, onClose }) {
  const titleId = uid("dlg-title");
  const closeBtn = h("button", { type: "button", class: "btn small quiet", "aria-label": "Close" }, "✕");
  const dialog = h("dialog", { class: wide ? "wide" : "", "aria-labelledby": titleId },
    h("div", { class: "dialog-head" }, h("h2", { id: titleId }, title), closeBtn),
    h("div", { class: "dialog-body" }, body),
    foot.length ? h("div", { class: "dialog-foot" }, foot) : null);
  const close = () => dialog.close();
  closeBtn.addEventListener("click", close);
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** Asks before something that cannot be undone. Resolves to true when confirmed. */
function confirmAction({ title, message, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = button(confirm, () => { answer = true; d.close(); }, { kind: danger ? "danger" : "primary" });
    const no = button("Cancel", () => d.close());
    const d = openDialog({
      title,
      body: h("p", null, message),
      foot: [no, yes],
      onClose: () => resolve(answer),
    });
    no.focus();
  });
}

/** A table. Each column: {label, cell(row) -> node|string, num?, hidden?}. Rows stack into
 * cards on narrow screens (each cell labelled by its column). */
function table({ caption, columns: all, rows, empty, rowKey }) {
  if (!rows.length) return empty;
  const columns = all.filter((c) => !c.hidden);
  const head = h("thead", null, h("tr", null,
    columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label))));
  const body = h("tbody", null, rows.map((row) => h("tr", { dataset: rowKey ? { key: rowKey(row) } : undefined },
    columns.map((c) => h("td", { "data-label": c.label, class: c.num ? "num" : c.class || null }, c.cell(row))))));
  return h("div", { class: "table-wrap" },
    h("table", { class: "table stack" }, caption ? h("caption", null, caption) : null, head, body));
}

/** A clear empty state, with the action that fills it when there is one. */
function emptyState(text, action) {
  return h("div", { class: "empty" }, h("p", null, text), action || null);
}

/** "41–60 of 245", previous and next. */
function pager({ total, offset, limit, onPage, label = "records" }) {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("span", { class: "muted" }, `${fmtNumber(first)}–${fmtNumber(last)} of ${fmtNumber(total)} ${label}`),
    button("Previous", () => onPage(Math.max(0, offset - limit)), { disabled: offset === 0, small: true }),
    button("Next", () => onPage(offset + limit), { disabled: offset + limit >= total, small: true }));
}

/** A labelled input. `input` is the element; the label points at it. */
function field(label, input, hint) {
  if (!input.id) input.id = uid("f");
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: uid("hint") }, hint);
    input.setAttribute("aria-describedby", hintEl.id);
  }
  if (input.type === "checkbox") {
    return h("div", { class: "field check" }, input, h("label", { for: input.id }, label), hintEl);
  }
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintEl);
}

function select(name, options, value) {
  return h("select", { name },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

/** Runs `render` (which replaces what `container` shows) keeping the keyboard focus where it
 * was: live updates must not throw a keyboard user back to the top of the page. The control
 * is found again by its label, name or text. */
function keepFocus(container, render) {
  const active = document.activeElement;
  const inside = active && active !== document.body && container.contains(active);
  const key = inside && (active.getAttribute("aria-label") || active.name || active.textContent.trim());
  const tag = inside && active.tagName;
  render();
  if (!inside || container.contains(active)) return;
  const again = [...container.querySelectorAll(tag)].find((el) =>
    (el.getAttribute("aria-label") || el.name || el.textContent.trim()) === key);
  if (again) again.focus({ preventScroll: true });
}

/** An error as a box in the page (for what failed to load). */
function errorBox(error) {
  return h("div", { class: "error-box", role: "alert" }, error.message || String(error));
}
