#!/usr/bin/env bash
# Dumps the tool lists of the real MCP servers behind the search-quality dev set into
# bench/quality/tools/*.json: installs the pinned servers (npm: package.json and its lock
# here; PyPI: requirements.txt, one virtualenv per server), then lists each server's tools
# (dump.py, placeholder credentials only). Run it when a server's version changes; the dump is
# committed, so the quality harness itself needs none of this.
#
#   bench/quality/dump.sh [NAME ...]
set -euo pipefail
cd "$(dirname "$0")"
export PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
export MCPPROXY_QUALITY_VENVS="${MCPPROXY_QUALITY_VENVS:-$HOME/.cache/mcpproxy-quality-venvs}"
mkdir -p "$MCPPROXY_QUALITY_VENVS"
grep -v '^#' requirements.txt | grep . | while read -r pin; do
  name=$(python3 -c "import json,sys; print(next(s['name'] for s in json.load(open('servers.json'))['servers'] if s['package'] == sys.argv[1]))" "${pin%%==*}")
  venv="$MCPPROXY_QUALITY_VENVS/$name"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin"
done
exec python3 dump.py "$@"
