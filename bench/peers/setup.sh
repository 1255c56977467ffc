#!/usr/bin/env bash
# Installs the three peers: two Python venvs (they cannot share one: fastmcp 4.x needs
# mcp>=2.3, ContextForge needs mcp<2) and mcp-hub from package-lock.json.
#
#   setup.sh [VENV_ROOT]     (default: $HOME/.cache/mcpproxy-peers)
#
# Afterwards:
#   VENV_ROOT/fastmcp/bin/python      fastmcp_proxy.py UPSTREAM_URL PORT
#   VENV_ROOT/contextforge/bin/python contextforge.py  UPSTREAM_URL PORT
#   ./mcp_hub.sh UPSTREAM_URL PORT
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${1:-$HOME/.cache/mcpproxy-peers}
py=${PYTHON:-python3}
# Each peer on its own: one that fails to install is reported (here, and by the benchmark
# run, which cannot start it) without keeping the others from installing.
failed=0
for peer in fastmcp contextforge; do
  if { [ -x "$root/$peer/bin/python" ] || "$py" -m venv "$root/$peer"; } &&
    "$root/$peer/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-$peer.txt"; then
    echo "installed $peer in $root/$peer"
  else
    echo "could not install $peer (see above)" >&2
    failed=1
  fi
done
if (cd "$here" && npm ci --no-audit --no-fund --loglevel=error); then
  echo "installed mcp-hub in $here/node_modules"
else
  echo "could not install mcp-hub (see above)" >&2
  failed=1
fi
exit "$failed"
