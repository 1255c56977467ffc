#!/usr/bin/env python3
"""IBM ContextForge (PyPI mcp-contextforge-gateway) in front of one streamable-HTTP
upstream, in the foreground, as ONE process (kill its pid to stop it).

    contextforge.py UPSTREAM_URL PORT [--server-id HEX32] [--state-dir DIR]

Run it with the interpreter of the venv that holds requirements-contextforge.txt.
It runs the gateway's FastAPI app (mcpgateway.main:app) under uvicorn in this
process on 127.0.0.1:PORT with auth off (AUTH_REQUIRED=false, no token needed),
a fresh SQLite database in the state dir, the in-memory cache and the rate
limiter off; once the app is up it registers the upstream through the gateway's
own REST API (POST /gateways, name "upstream") and creates a virtual server with
a fixed id holding all the upstream's tools (POST /servers). Then it prints
"READY <client url>" on stdout.

Clients: streamable HTTP at http://127.0.0.1:PORT/servers/<server-id>/mcp
(default id 00000000000000000000000000000001); the upstream's `echo` is called
`upstream-echo` there. Readiness: GET http://127.0.0.1:PORT/servers/<server-id>
answers 200 only once registration is done (or wait for the READY line).
Any of the environment variables set below can be overridden from outside.
"""

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time

DEFAULT_SERVER_ID = "00000000000000000000000000000001"


def configure_env(port: int, state_dir: str) -> None:
    defaults = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MCG_HOST": "127.0.0.1",
        "MCG_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{state_dir}/mcp.db",
        # Auth off: no token on any request. The REST registration below then runs
        # as the bootstrap platform admin, which needs ALLOW_UNAUTHENTICATED_ADMIN.
        "AUTH_REQUIRED": "false",
        "MCP_REQUIRE_AUTH": "false",
        "ALLOW_UNAUTHENTICATED_ADMIN": "true",
        # The settings refuse to start with placeholder secrets; nothing is signed
        # with them while auth is off, so a random pair per start does.
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "AUTH_ENCRYPTION_SECRET": secrets.token_urlsafe(48),
        "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "false",
        # The upstream is on loopback, which SSRF protection blocks by default.
        "SSRF_ALLOW_LOCALHOST": "true",
        # No Redis here: keep caches and sessions in this process.
        "CACHE_TYPE": "memory",
        # On by default: 100 requests/min (+20 burst) per client IP on /mcp and
        # /servers/*, answered with 429 beyond that, which would cap any benchmark.
        "RATE_LIMITING_ENABLED": "false",
        "LOG_LEVEL": "ERROR",
        "PLUGINS_ENABLED": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


async def register(base: str, upstream: str, server_id: str) -> list[str]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        deadline = time.monotonic() + 30
        while True:
            r = await http.post(
                "/gateways",
                json={"name": "upstream", "url": upstream, "transport": "STREAMABLEHTTP"},
            )
            if r.status_code in (200, 201):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"POST /gateways: HTTP {r.status_code}: {r.text[:500]}")
            await asyncio.sleep(0.5)
        gateway = r.json()
        r = await http.get("/tools", params={"gateway_id": gateway["id"], "limit": 0})
        r.raise_for_status()
        tools = r.json()
        if isinstance(tools, dict):
            tools = tools.get("items", tools.get("data", []))
        tools = [t for t in tools if t.get("gatewayId", gateway["id"]) == gateway["id"]]
        if not tools:
            raise RuntimeError(f"the gateway found no tools on {upstream}: {gateway}")
        r = await http.post(
            "/servers",
            json={
                "server": {
                    "id": server_id,
                    "name": "bench",
                    "description": f"peer in front of {upstream}",
                    "associated_tools": [t["id"] for t in tools],
                    "visibility": "public",
                }
            },
        )
        if r.status_code not in (200, 201):
            raise RuntimeError(f"POST /servers: HTTP {r.status_code}: {r.text[:500]}")
        return sorted(t["name"] for t in tools)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream")
    ap.add_argument("port", type=int)
    ap.add_argument("--server-id", default=DEFAULT_SERVER_ID)
    ap.add_argument(
        "--state-dir",
        help="where the SQLite database goes (emptied at start); "
        "default: $TMPDIR/contextforge-peer.PORT, removed again on exit",
    )
    a = ap.parse_args()

    state_dir = os.path.abspath(
        a.state_dir or os.path.join(tempfile.gettempdir(), f"contextforge-peer.{a.port}")
    )
    # A fresh database each start (the last run may have been SIGKILLed).
    shutil.rmtree(state_dir, ignore_errors=True)
    os.makedirs(state_dir)
    # pydantic-settings reads ./.env: run from the state dir so no stray .env applies.
    os.chdir(state_dir)
    configure_env(a.port, state_dir)

    import uvicorn

    config = uvicorn.Config(
        "mcpgateway.main:app",
        host=os.environ["HOST"],
        port=a.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    base = f"http://127.0.0.1:{a.port}"
    status = {"code": 0}

    async def bootstrap() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.1)
        try:
            names = await register(base, a.upstream, a.server_id)
        except Exception as e:  # report, then stop the server: the caller sees the exit
            print(f"contextforge.py: registration failed: {e}", file=sys.stderr, flush=True)
            status["code"] = 1
            server.should_exit = True
            return
        print(f"tools: {' '.join(names)}", flush=True)
        print(f"READY {base}/servers/{a.server_id}/mcp", flush=True)

    async def run() -> None:
        task = asyncio.create_task(bootstrap())
        await server.serve()
        task.cancel()

    # uvicorn re-raises SIGTERM/SIGINT once it has shut down; with the default
    # disposition that would kill us before the clean-up below.
    caught = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: caught.append(signum))
    try:
        asyncio.run(run())
    finally:
        if not a.state_dir:
            shutil.rmtree(state_dir, ignore_errors=True)
    if caught:
        sys.exit(128 + caught[0])
    if status["code"] == 0 and not server.started:
        status["code"] = 1
    sys.exit(status["code"])


if __name__ == "__main__":
    main()
