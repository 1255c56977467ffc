// api.js: the REST API, as the panel's only way to read or change anything. Errors come back
// as the API wrote them.

class ApiError extends Error {
  constructor(status, message, requestId, code) {
    // A refusal by a gate or a rule starts with its reason code, as the CLI and MCP show it.
    super(code ? `${code}: ${message}` : message);
    this.status = status;
    this.requestId = requestId;
    this.code = code || null;
  }
}

/** A query string from an object, leaving out empty values. */
function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The key was refused (reset, or the sign-in expired): the page itself shows the sign-in
 * form then. Reload once; if that already happened a moment ago, say so instead of looping. */
function signedOut() {
  const last = Number(sessionStorage.getItem("mcpproxy-reloaded") || 0);
  if (Date.now() - last > 10000) {
    sessionStorage.setItem("mcpproxy-reloaded", String(Date.now()));
    location.reload();
  }
}

/** `method` on `/api/v1<path>`; resolves to the envelope's `data`. A string body is sent as
 * it is (the config editor's text), anything else as JSON. */
async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    throw new ApiError(0, `The proxy does not answer (${e.message}). Is mcpproxy running?`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  if (response.status === 401) signedOut();
  if (!response.ok || !json || json.success === false) {
    const message = (json && json.error) || text || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, json && json.request_id, json && json.code);
  }
  return json.data;
}

const enc = encodeURIComponent;
