// json_locate.js: the line of a key in a JSON text, so that an error the proxy names by key
// (`mcpServers[2].url`) can be shown at its line in the editor. A small scanner that follows
// the document's structure and notes where each key path starts.

function jsonKeyLines(text) {
  const lines = new Map();
  let i = 0;
  let line = 1;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) {
      if (text[i] === "\n") line += 1;
      i += 1;
    }
  };
  const str = () => {
    let out = "";
    i += 1;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        out += text[i + 1] || "";
        i += 2;
      } else {
        if (text[i] === "\n") line += 1;
        out += text[i];
        i += 1;
      }
    }
    i += 1;
    return out;
  };
  const value = (path) => {
    ws();
    const ch = text[i];
    if (ch === "{") {
      i += 1;
      ws();
      while (i < text.length && text[i] !== "}") {
        ws();
        if (text[i] !== '"') return;
        const keyLine = line;
        const key = str();
        const child = path ? `${path}.${key}` : key;
        lines.set(child, keyLine);
        ws();
        if (text[i] !== ":") return;
        i += 1;
        value(child);
        ws();
        if (text[i] === ",") i += 1;
        ws();
      }
      i += 1;
    } else if (ch === "[") {
      i += 1;
      let n = 0;
      ws();
      while (i < text.length && text[i] !== "]") {
        const child = `${path}[${n}]`;
        ws();
        lines.set(child, line);
        value(child);
        ws();
        if (text[i] === ",") i += 1;
        n += 1;
        ws();
      }
      i += 1;
    } else if (ch === '"') {
      str();
    } else {
      while (i < text.length && !/[\s,\]}]/.test(text[i])) i += 1;
    }
  };
  value("");
  return lines;
}

/** The line of `key` (or of its nearest parent that is in the text), or null. */
function lineOfKey(text, key) {
  const lines = jsonKeyLines(text);
  let k = key;
  while (k) {
    if (lines.has(k)) return lines.get(k);
    const cut = Math.max(k.lastIndexOf("."), k.lastIndexOf("["));
    if (cut <= 0) break;
    k = k.slice(0, cut);
  }
  return null;
}

/** Puts the cursor at the start of `line` in a textarea and shows it. */
function goToLine(textarea, line) {
  const lines = textarea.value.split("\n");
  let pos = 0;
  for (let n = 1; n < line && n <= lines.length; n += 1) pos += lines[n - 1].length + 1;
  textarea.focus();
  textarea.setSelectionRange(pos, pos + (lines[line - 1] || "").length);
  const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
  textarea.scrollTop = Math.max(0, (line - 4) * lineHeight);
}
