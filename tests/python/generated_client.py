"""Drives mcpproxy through a client generated from openapi/openapi.json.

Usage: generated_client.py <base url> <api key> <fixture server command>
The package `mcpproxy_client` must be on PYTHONPATH (openapi-python-client's output).
Prints one JSON line with what it saw; exits non-zero on the first surprise.
"""

import json
import sys
import time

from mcpproxy_client import AuthenticatedClient
from mcpproxy_client.api.servers import (
    add_server,
    approve_tools,
    list_servers,
    server_action,
    server_tools,
)
from mcpproxy_client.api.tools import call_tool
from mcpproxy_client.models import (
    ApproveBody,
    CallBody,
    CallBodyArgumentsType0,
    ErrorEnvelope,
    ServerConfig,
)


def data(answer, what):
    """The envelope's data, or exit with the error."""
    if answer is None or isinstance(answer, ErrorEnvelope) or not answer.success:
        sys.exit(f"{what} failed: {answer}")
    return answer.data


def main():
    base, key, fixture = sys.argv[1:4]
    client = AuthenticatedClient(base_url=f"{base}/api/v1", token=key, raise_on_unexpected_status=True)
    with client as c:
        before = data(list_servers.sync(client=c), "list servers")
        names_before = [s.name for s in before.servers]

        config = ServerConfig(name="generated", command=fixture, args=["--name", "generated"], enabled=False)
        added = data(add_server.sync(client=c, body=config), "add server")
        done = data(server_action.sync("generated", "enable", client=c), "enable")

        deadline = time.monotonic() + 30
        while True:
            tools = data(server_tools.sync("generated", client=c), "server tools").tools
            if tools or time.monotonic() > deadline:
                break
            time.sleep(0.1)

        approved = data(
            approve_tools.sync("generated", client=c, body=ApproveBody(tools=["echo"])), "approve"
        ).approved
        data(server_action.sync("generated", "unquarantine", client=c), "unquarantine")
        arguments = CallBodyArgumentsType0.from_dict({"message": "from a generated client"})
        result = data(
            call_tool.sync(client=c, body=CallBody(tool_name="generated:echo", arguments=arguments)),
            "call",
        )
        after = data(list_servers.sync(client=c), "list servers")

    print(
        json.dumps(
            {
                "servers_before": names_before,
                "added": added.name,
                "added_enabled": added.enabled,
                "added_quarantined": added.quarantined,
                "enable_action": done.action,
                "tools": sorted(t.name for t in tools),
                "tool_states": sorted({t.state.value for t in tools}),
                "approved": approved,
                "call_result": result if isinstance(result, dict) else result.to_dict(),
                "servers_after": sorted(s.name for s in after.servers),
            }
        )
    )


if __name__ == "__main__":
    main()
