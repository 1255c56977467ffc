#!/usr/bin/env bash
# End-to-end check of the three peers: starts mcp-fixture on streamable HTTP, puts each
# peer in front of it in turn, waits for the peer's readiness condition, makes a real
# MCP call (initialize -> notifications/initialized -> tools/list -> tools/call echo) with
# mcp_check.py, and stops everything it started by pid.
#
#   smoke.sh [VENV_ROOT] [PEER...]     PEER: fastmcp mcp-hub contextforge (default: all)
#
# FIXTURE overrides the fixture binary (default ~/.cache/mcpproxy-target/debug/mcp-fixture).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${1:-$HOME/.cache/mcpproxy-peers}
shift || true
peers=("$@")
[ ${#peers[@]} -gt 0 ] || peers=(fastmcp mcp-hub contextforge)
fixture=${FIXTURE:-$HOME/.cache/mcpproxy-target/debug/mcp-fixture}
logs=$(mktemp -d "${TMPDIR:-/tmp}/peers-smoke.XXXXXX")
pids=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  pids=()
}
trap stop_all EXIT
# wait_for SECONDS PID COMMAND...: until COMMAND succeeds; fails if PID dies first
wait_for() {
  local deadline=$((SECONDS + $1)) pid=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.25
  done
}
hub_ready() {
  curl -sf "http://127.0.0.1:$1/api/health" | python3 -c '
import json, sys
h = json.load(sys.stdin)
sys.exit(0 if h["state"] == "ready" and [s["status"] for s in h["servers"]] == ["connected"] else 1)'
}

up_port=$(free_port)
"$fixture" --http "127.0.0.1:$up_port" >"$logs/fixture.log" 2>&1 &
fixture_pid=$!
upstream="http://127.0.0.1:$up_port/mcp"
wait_for 10 "$fixture_pid" python3 "$here/mcp_check.py" "$upstream" echo || { echo "fixture did not start"; exit 1; }

passed=0 failed=0
for peer in "${peers[@]}"; do
  port=$(free_port)
  case $peer in
    fastmcp)
      "$root/fastmcp/bin/python" "$here/fastmcp_proxy.py" "$upstream" "$port" >"$logs/$peer.log" 2>&1 &
      pid=$!; url="http://127.0.0.1:$port/mcp"; tool=echo; args=()
      ready=(python3 "$here/mcp_check.py" "$url" "$tool"); timeout=60 ;;
    mcp-hub)
      "$here/mcp_hub.sh" "$upstream" "$port" >"$logs/$peer.log" 2>&1 &
      pid=$!; url="http://127.0.0.1:$port/mcp"; tool=upstream__echo; args=(--sse)
      ready=(hub_ready "$port"); timeout=60 ;;
    contextforge)
      "$root/contextforge/bin/python" "$here/contextforge.py" "$upstream" "$port" >"$logs/$peer.log" 2>&1 &
      pid=$!; url="http://127.0.0.1:$port/servers/00000000000000000000000000000001/mcp"; tool=upstream-echo; args=()
      ready=(curl -sf -o /dev/null "http://127.0.0.1:$port/servers/00000000000000000000000000000001"); timeout=180 ;;
    *) echo "unknown peer $peer"; exit 2 ;;
  esac
  pids=("$pid")
  start=$SECONDS
  if wait_for "$timeout" "$pid" "${ready[@]}" &&
     python3 "$here/mcp_check.py" "$url" "$tool" "${args[@]}" --message "smoke via $peer" >"$logs/$peer.check" 2>&1; then
    echo "PASS $peer: ready in $((SECONDS - start))s, $url, tool $tool"
    passed=$((passed + 1))
  else
    echo "FAIL $peer (logs in $logs):"; tail -5 "$logs/$peer.check" "$logs/$peer.log" 2>/dev/null
    failed=$((failed + 1))
  fi
  stop_all
done
pids=("$fixture_pid")
stop_all
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
