"""The chat story driven by node's socket.io-client (polling, then the WebSocket upgrade)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from tests.support.layouts import ChatFactory, spread_over

HERE = Path(__file__).parent
# The node interop suite installs socket.io-client here; NODE_PATH may point elsewhere.
NODE_MODULES = HERE.parent / "node" / "node_modules"


def node_env() -> dict[str, str] | None:
    """The environment that lets node find socket.io-client, or None when it cannot."""
    node = shutil.which("node")
    if node is None:
        return None
    paths = [str(NODE_MODULES), *filter(None, os.environ.get("NODE_PATH", "").split(os.pathsep))]
    env = {**os.environ, "NODE_PATH": os.pathsep.join(paths)}
    found = subprocess.run(
        [node, "-e", "require.resolve('socket.io-client')"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    return env if found.returncode == 0 else None


NODE_ENV = node_env()

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(NODE_ENV is None, reason="node with socket.io-client is not installed"),
]


# On three nodes each step that can cross nodes does: bob restores his session on another
# node than his first, and carol leaves from a third.
@spread_over(1, 3)
async def test_node_client_walks_the_chat_story(start_chat: ChatFactory) -> None:
    await _walk_the_story([node.url for node in await start_chat()])


async def _walk_the_story(urls: list[str]) -> None:
    assert NODE_ENV is not None
    with trio.fail_after(60):
        result = await trio.run_process(
            ["node", str(HERE / "node_story.cjs"), *urls],
            env=NODE_ENV,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    output = result.stdout.decode().strip().splitlines()
    assert output, result.stderr.decode()
    outcome = json.loads(output[-1])
    assert outcome["ok"] is True, outcome.get("error")
    assert outcome["transport"] == "websocket"  # the upgrade from polling happened
