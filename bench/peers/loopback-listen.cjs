// Preloaded into mcp-hub (node --require) so its HTTP server binds loopback only:
// mcp-hub 4.2.1 calls app.listen(port, cb) with no host, which binds every interface,
// and has no flag for the host. Any listen() given a port but no host gets
// MCP_HUB_HOST (default 127.0.0.1).
"use strict";
const net = require("net");
const host = process.env.MCP_HUB_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] !== "string") args.splice(1, 0, host);
  } else if (args[0] && typeof args[0] === "object" && args[0].port !== undefined && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host };
  }
  return listen.apply(this, args);
};
