// schema_form.js: a form for a tool's arguments, generated from its inputSchema. Strings,
// numbers, integers, booleans and enums get their own controls, objects and arrays a JSON
// box. The form only turns what was typed into JSON; whether the arguments fit the schema is
// for the proxy to say (it checks them before the upstream sees them), and its answer is
// shown as written.

function schemaType(prop) {
  const t = prop && prop.type;
  if (Array.isArray(t)) return t.find((x) => x !== "null") || "string";
  if (t) return t;
  if (prop && (prop.properties || prop.additionalProperties)) return "object";
  if (prop && prop.items) return "array";
  return "json";
}

function schemaForm(schema) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const names = Object.keys(props);
  const readers = [];
  const element = h("div", { class: "form" });
  if (!names.length) {
    const box = h("textarea", { rows: 4, spellcheck: "false" }, "{}");
    element.append(field("Arguments (JSON object)", box, "This tool declares no named arguments."));
    readers.push(() => {
      const text = box.value.trim() || "{}";
      let value;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new Error(`Arguments: not valid JSON (${e.message})`);
      }
      return value;
    });
    return { element, collect: () => readers[0]() };
  }
  for (const name of names) {
    const prop = props[name] || {};
    const type = schemaType(prop);
    const label = required.has(name) ? `${name} (required)` : name;
    const hint = [prop.description, type !== "string" ? `Type: ${type}` : null].filter(Boolean).join(" · ") || null;
    let input;
    let read;
    if (Array.isArray(prop.enum)) {
      const options = [["", required.has(name) ? "Choose…" : "(not set)"],
        ...prop.enum.map((v) => [JSON.stringify(v), String(v)])];
      input = select(name, options, prop.default !== undefined ? JSON.stringify(prop.default) : "");
      read = () => (input.value === "" ? undefined : JSON.parse(input.value));
    } else if (type === "boolean") {
      input = h("input", { type: "checkbox", name, checked: prop.default === true });
      read = () => (input.checked ? true : required.has(name) ? false : undefined);
    } else if (type === "integer" || type === "number") {
      input = h("input", {
        type: "number", name, step: type === "integer" ? "1" : "any",
        value: prop.default !== undefined ? String(prop.default) : null,
        min: prop.minimum, max: prop.maximum,
      });
      read = () => {
        if (input.value.trim() === "") return undefined;
        const n = Number(input.value);
        if (Number.isNaN(n)) throw new Error(`${name}: not a number`);
        return n;
      };
    } else if (type === "string") {
      input = h("input", { type: "text", name, spellcheck: "false", value: prop.default !== undefined ? String(prop.default) : null });
      read = () => (input.value === "" && !required.has(name) ? undefined : input.value);
    } else {
      const initial = prop.default !== undefined ? JSON.stringify(prop.default, null, 2) : "";
      input = h("textarea", { name, rows: 3, spellcheck: "false" }, initial);
      read = () => {
        const text = input.value.trim();
        if (text === "") return undefined;
        try {
          return JSON.parse(text);
        } catch (e) {
          throw new Error(`${name}: not valid JSON (${e.message})`);
        }
      };
    }
    element.append(field(label, input, hint));
    readers.push([name, read]);
  }
  const collect = () => {
    const args = {};
    for (const [name, read] of readers) {
      const value = read();
      if (value !== undefined) args[name] = value;
    }
    return args;
  };
  return { element, collect };
}
