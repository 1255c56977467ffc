#!/usr/bin/env bash
# mcp-hub (npm mcp-hub, pinned in package.json) in front of one streamable-HTTP upstream,
# in the foreground: `exec`s node, so the launcher's pid is the hub's pid.
#
#   mcp_hub.sh UPSTREAM_URL PORT
#
# Clients: legacy HTTP+SSE MCP transport (mcp-hub 4.2.1 has no streamable-HTTP server side):
#   GET  http://127.0.0.1:PORT/mcp                    -> SSE stream; first event "endpoint"
#   POST http://127.0.0.1:PORT/messages?sessionId=ID  -> 202; answers arrive on the SSE stream
# The upstream is registered as server "upstream", so its `echo` is `upstream__echo`.
# Ready when GET /api/health answers {"state":"ready", "servers":[{"status":"connected",...}]}.
# Needs `npm ci` (or `npm install`) in this directory first. NODE overrides the node binary.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 UPSTREAM_URL PORT" >&2
  exit 2
fi
upstream=$1
port=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hub="$here/node_modules/mcp-hub/dist/cli.js"
if [ ! -f "$hub" ]; then
  echo "mcp-hub is not installed: run 'npm ci' in $here" >&2
  exit 1
fi
# One private state directory per port, rewritten on each start: the hub keeps its
# workspace cache, logs and OAuth store under XDG dirs, which would otherwise be in ~.
state="${TMPDIR:-/tmp}/mcp-hub-peer.$port"
rm -rf "$state"
mkdir -p "$state/config" "$state/state" "$state/data"
python3 - "$upstream" "$state/mcp-servers.json" <<'PY'
import json, sys
url, path = sys.argv[1], sys.argv[2]
with open(path, "w") as f:
    json.dump({"mcpServers": {"upstream": {"url": url}}}, f, indent=2)
PY
export XDG_CONFIG_HOME="$state/config" XDG_STATE_HOME="$state/state" XDG_DATA_HOME="$state/data"
exec "${NODE:-node}" --require "$here/loopback-listen.cjs" "$hub" \
  --port "$port" --config "$state/mcp-servers.json"
