#!/usr/bin/env python3
"""Dumps the tool lists of the real MCP servers in servers.json into tools/<name>.json.

Speaks MCP's JSON-RPC over stdio itself (initialize, tools/list with every page), so it
depends on nothing but the standard library and on no SDK version. Each server gets only
placeholder credentials: listing tools must not need an account. Run through dump.sh,
which installs the pinned servers first.

    dump.py [NAME ...]     # default: every server in servers.json
"""

import json
import os
import select
import subprocess
import tempfile
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT = 90.0


class Server:
    def __init__(self, spec):
        if spec["registry"] == "pypi":
            # Each PyPI server has its own virtualenv (their pins conflict); dump.sh makes them.
            os.environ["VENV"] = os.path.join(os.environ["MCPPROXY_QUALITY_VENVS"], spec["name"])
        env = dict(os.environ)
        env.update({k: os.path.expandvars(v) for k, v in spec.get("env", {}).items()})
        command = [str(HERE / c) if c.startswith("node_modules/") else c for c in spec["command"]]
        command = [os.path.expandvars(c) for c in command]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=spec.get("cwd", "/tmp"),
        )
        self.next_id = 0
        self.buffer = b""

    def send(self, message):
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def request(self, method, params):
        self.next_id += 1
        wanted = self.next_id
        self.send({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params})
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                line = line.strip()
                if not line.startswith(b"{"):
                    continue  # some servers print banners on stdout
                message = json.loads(line)
                if message.get("id") == wanted and "method" not in message:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message["result"]
                if "method" in message and "id" in message:
                    # A request from the server (roots/list, ...): answer empty.
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": {"roots": []}})
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer in {TIMEOUT:.0f} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise RuntimeError(f"{method}: the server exited ({self.proc.poll()})")
                self.buffer += chunk

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def dump(spec):
    server = Server(spec)
    try:
        init = server.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {"roots": {}},
                "clientInfo": {"name": "mcpproxy-quality-dump", "version": "1"},
            },
        )
        server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools, cursor = [], None
        while True:
            page = server.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(page.get("tools", []))
            cursor = page.get("nextCursor")
            if not cursor:
                break
    finally:
        server.close()
    keep = ("name", "title", "description", "inputSchema", "annotations")
    return {
        "server": spec["name"],
        "package": spec["package"],
        "version": spec["version"],
        "registry": spec["registry"],
        "server_info": init.get("serverInfo", {}),
        "tools": [{k: t[k] for k in keep if k in t} for t in tools],
    }


def placeholder_home():
    """A working directory with placeholder OAuth client files, which some servers insist on
    reading at start (they are never used: no tool is called)."""
    home = Path(tempfile.mkdtemp(prefix="mcpproxy-quality-"))
    keys = {"installed": {"client_id": "placeholder", "client_secret": "placeholder",
                          "redirect_uris": ["http://127.0.0.1"]}}
    (home / "gcp-oauth.keys.json").write_text(json.dumps(keys))
    os.environ["PLACEHOLDER_OAUTH_KEYS"] = str(home / "gcp-oauth.keys.json")
    return home


def main():
    home = placeholder_home()
    specs = json.loads((HERE / "servers.json").read_text())["servers"]
    wanted = set(sys.argv[1:])
    out = HERE / "tools"
    out.mkdir(exist_ok=True)
    failed = []
    for spec in specs:
        if wanted and spec["name"] not in wanted:
            continue
        spec.setdefault("cwd", str(home))
        try:
            data = dump(spec)
        except Exception as e:  # report and go on: one broken server must not stop the dump
            print(f"FAIL {spec['name']}: {e}", file=sys.stderr)
            failed.append(spec["name"])
            continue
        if not data["tools"]:
            print(f"FAIL {spec['name']}: no tools", file=sys.stderr)
            failed.append(spec["name"])
            continue
        (out / f"{spec['name']}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"ok   {spec['name']}: {len(data['tools'])} tools")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
