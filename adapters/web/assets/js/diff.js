// diff.js: a line diff (longest common subsequence) of what was approved and what a tool
// says now, for the approval review. Every line is marked with a sign, not a colour alone.

function diffLines(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  const n = a.length;
  const m = b.length;
  const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push(["same", a[i]]);
      i += 1;
      j += 1;
    } else if (table[i + 1][j] >= table[i][j + 1]) {
      out.push(["del", a[i]]);
      i += 1;
    } else {
      out.push(["add", b[j]]);
      j += 1;
    }
  }
  while (i < n) out.push(["del", a[i++]]);
  while (j < m) out.push(["add", b[j++]]);
  return out;
}

function diffView(label, before, after) {
  const sign = { same: "  ", add: "+ ", del: "- " };
  const words = { same: "", add: "added: ", del: "removed: " };
  const rows = diffLines(before, after).map(([kind, text]) =>
    h("div", { class: kind }, h("span", { "aria-hidden": "true" }, sign[kind]),
      words[kind] ? h("span", { class: "visually-hidden" }, words[kind]) : null, text));
  return h("div", { class: "diff-block" }, h("p", { class: "small muted" }, label),
    h("div", { class: "diff", role: "group", "aria-label": label }, rows));
}
