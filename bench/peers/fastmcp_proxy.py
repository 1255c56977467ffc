#!/usr/bin/env python3
"""FastMCP proxy in front of one streamable-HTTP upstream, in the foreground.

    fastmcp_proxy.py UPSTREAM_URL PORT [--shared-session] [--stateless]

Serves streamable HTTP at http://127.0.0.1:PORT/mcp; the upstream's tools keep
their names (no prefix). One process: kill its pid to stop it.

By default this is FastMCP's recommended `create_proxy(URL)`: every request
from a client opens a fresh upstream session (connect + initialize + the call).
--shared-session instead connects one upstream Client at start-up and reuses
that session for every request (FastMCP's "connected client" mode, which it
warns may mix request contexts under concurrency).
--stateless serves the front end without Mcp-Session-Id sessions.
"""

import argparse
import asyncio
import logging

from fastmcp import Client
from fastmcp.server import create_proxy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream")
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--shared-session", action="store_true")
    ap.add_argument("--stateless", action="store_true")
    ap.add_argument("--log-level", default="warning")
    a = ap.parse_args()
    # In the default mode every request ends its upstream session with a DELETE; rmcp
    # answers 202, which the mcp client logs as "Session termination failed: 202"
    # (a warning per request). Keep that off the benchmark's stderr.
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.ERROR)

    async def run() -> None:
        if a.shared_session:
            client = Client(a.upstream)
            async with client:
                proxy = create_proxy(client, name="fastmcp-proxy")
                await serve(proxy)
        else:
            await serve(create_proxy(a.upstream, name="fastmcp-proxy"))

    async def serve(proxy) -> None:
        await proxy.run_http_async(
            transport="http",
            host=a.host,
            port=a.port,
            path="/mcp",
            show_banner=False,
            log_level=a.log_level,
            stateless_http=a.stateless,
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
