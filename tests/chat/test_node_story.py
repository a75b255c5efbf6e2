"""The chat story driven by node's socket.io-client (polling, then the WebSocket upgrade)."""

import json
import os
import shutil
import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from tests.support.redisserver import redis_server
from tests.support.servers import ServerFactory, start_nodes

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


@pytest.mark.parametrize("nodes", [1, 2], ids=["one node", "two nodes"])
async def test_node_client_walks_the_chat_story(
    start_server: ServerFactory, tmp_path: Path, nodes: int
) -> None:
    assert NODE_ENV is not None
    async with AsyncExitStack() as stack:
        if nodes == 1:
            urls = [(await start_server()).url]
        else:
            # A cluster: the story's clients take turns between the two nodes.
            redis = await stack.enter_async_context(redis_server(tmp_path / "redis"))
            urls = [node.url for node in await start_nodes(start_server, redis.url, nodes)]
        await _walk_the_story(urls)


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
