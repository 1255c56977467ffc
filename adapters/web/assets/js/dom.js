// dom.js: elements are built with h(), never from HTML strings, so text that comes from
// servers, tools and agents can never turn into markup.

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (key === "value" && (tag === "input" || tag === "textarea" || tag === "select")) {
        el.value = value;
        if (tag === "input") el.setAttribute("value", value);
      } else if (value === true) el.setAttribute(key, "");
      else el.setAttribute(key, String(value));
    }
  }
  return append(el, children);
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false || child === "") continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces what `el` holds with `children` (null and false are left out). */
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function $(selector, root = document) {
  return root.querySelector(selector);
}

let lastId = 0;
/** A unique id for label/field pairs. */
function uid(prefix) {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

/** Runs `fn` at most once per `ms`, after the calls stop (for bursts of live events). */
function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
