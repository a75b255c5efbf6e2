"""Run tests/node/live.mjs: node's socket.io-client connects and runs a list of steps."""

import json
from typing import Any

from tests.support.nodeclient import run_node


async def node_steps(
    url: str, auth: dict[str, Any], steps: list[list[Any]]
) -> tuple[str, list[Any]]:
    """Node's user id, and each step's answer in order (an `emit`'s ack, a `wait`'s args)."""
    lines = await run_node("live.mjs", url, json.dumps(auth), json.dumps(steps))
    session, *answers = lines
    assert [line["step"] for line in answers] == list(range(len(steps))), lines
    return session["userId"], [line.get("ack", line.get("got")) for line in answers]
