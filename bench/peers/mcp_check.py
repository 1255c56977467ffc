#!/usr/bin/env python3
"""Smoke check for an MCP endpoint over streamable HTTP or legacy HTTP+SSE (standard library only).

    python3 mcp_check.py URL [TOOL] [--header 'K: V']... [--message TEXT] [--wait SECONDS] [--sse]

Does initialize -> notifications/initialized -> tools/list -> tools/call TOOL
{"message": TEXT} the way bench/src/load.rs does (protocolVersion 2025-11-25,
Accept: application/json, text/event-stream, Mcp-Session-Id echoed back),
prints the tool names and the echoed text, and exits 0 only if the text came
back. Without TOOL it calls the one listed tool whose name ends in "echo".
--wait retries the initialize until the endpoint answers (a readiness probe).
--sse speaks the legacy HTTP+SSE transport instead (GET URL opens the event stream,
whose "endpoint" event names the URL to POST to; answers come on the stream), which
is all mcp-hub serves.
"""

import argparse
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse
import urllib.error
import urllib.request

VERSION = "2025-11-25"


class Session:
    def __init__(self, url, headers):
        self.url = url
        self.headers = dict(headers)
        self.session_id = None
        self.version = VERSION
        self.next_id = 1

    def post(self, body):
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": self.version,
            **self.headers,
        }
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            sid = resp.headers.get("mcp-session-id")
            if sid:
                self.session_id = sid
            ctype = resp.headers.get("content-type", "")
            raw = resp.read().decode()
        if "id" not in body:
            return None
        if ctype.startswith("text/event-stream"):
            for line in raw.splitlines():
                if line.startswith("data:"):
                    data = line[5:].strip()
                    if not data:
                        continue
                    msg = json.loads(data)
                    if msg.get("id") == body["id"]:
                        return msg
            raise RuntimeError(f"no answer to id {body['id']} in SSE body: {raw!r}")
        return json.loads(raw)

    def request(self, method, params=None):
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            body["params"] = params
        msg = self.post(body)
        if "error" in msg:
            raise RuntimeError(f"{method} failed: {msg['error']}")
        return msg["result"]

    def notify(self, method):
        self.post({"jsonrpc": "2.0", "method": method})


class SseSession(Session):
    """Legacy HTTP+SSE transport (MCP 2024-11-05 style)."""

    def __init__(self, url, headers):
        super().__init__(url, headers)
        self.messages = queue.Queue()
        self.endpoint = None
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
        self.conn.request(
            "GET", (u.path or "/") + (f"?{u.query}" if u.query else ""),
            headers={"accept": "text/event-stream", **self.headers},
        )
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {resp.status} {resp.read()[:300]!r}")
        self.stream = resp
        ready = threading.Event()

        def reader():
            event, data = "message", []
            for raw in self.stream:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "":
                    if data:
                        payload = "\n".join(data)
                        if event == "endpoint":
                            self.endpoint = urllib.parse.urljoin(url, payload)
                            ready.set()
                        else:
                            self.messages.put(json.loads(payload))
                    event, data = "message", []

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("no endpoint event on the SSE stream")

    def post(self, body):
        req = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode(),
            headers={"content-type": "application/json", **self.headers}, method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
        if "id" not in body:
            return None
        deadline = time.monotonic() + 30
        while True:
            msg = self.messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if msg.get("id") == body["id"]:
                return msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("tool", nargs="?")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--message", default="hello through the peer")
    ap.add_argument("--wait", type=float, default=0.0)
    ap.add_argument("--sse", action="store_true")
    a = ap.parse_args()
    headers = dict(h.split(":", 1) for h in a.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}

    init_params = {
        "protocolVersion": VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp_check", "version": "0"},
    }
    deadline = time.monotonic() + a.wait
    while True:
        try:
            s = (SseSession if a.sse else Session)(a.url, headers)
            init = s.request("initialize", init_params)
            break
        except (OSError, RuntimeError, http.client.HTTPException):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
    s.version = init.get("protocolVersion", VERSION)
    print("server:", init.get("serverInfo"), "protocol:", s.version, "session:", s.session_id)
    s.notify("notifications/initialized")
    tools = [t["name"] for t in s.request("tools/list", {}).get("tools", [])]
    print("tools:", tools)
    tool = a.tool
    if tool is None:
        matches = [t for t in tools if t.endswith("echo")]
        if len(matches) != 1:
            sys.exit(f"cannot pick the echo tool from {tools}")
        tool = matches[0]
    result = s.request("tools/call", {"name": tool, "arguments": {"message": a.message}})
    texts = [c.get("text") for c in result.get("content", []) if c.get("type") == "text"]
    print("tools/call", tool, "->", texts, "isError:", result.get("isError"))
    if result.get("isError") or not any(a.message in (t or "") for t in texts):
        sys.exit("echoed text did not come back")
    print("OK")


if __name__ == "__main__":
    main()
