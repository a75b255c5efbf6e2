"""Broadcast acks answered by node's socket.io-client 4.8 (the reference client) over
WebSocket, long-polling, and polling then upgrade (tests/node/broadcast_acks.mjs)."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.sockets.operators_app import operators_app
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

NODE_DIR = Path(__file__).parent.parent / "node"
SCRIPT = NODE_DIR / "broadcast_acks.mjs"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
        reason="run `npm install` in tests/node",
    ),
]


async def test_node_clients_answer_a_broadcast_with_ack(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    done: list[subprocess.CompletedProcess[bytes]] = []

    async def run_node() -> None:
        done.append(
            await trio.run_process(
                ["node", str(SCRIPT), server.url],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        )

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_node)
            await wait_until(lambda: len(sio.of("/").rooms.get("team", ())) == 3, timeout=15)
            answers = await sio.to("team").timeout(5).emit_with_ack("question", 21)
            sio.emit("done")
    (result,) = done
    lines: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert result.returncode == 0, (lines, result.stderr.decode()[-2000:])
    assert [line["step"] for line in lines] == ["connected", "done"]
    assert sorted(answers) == ["polling: 42", "upgrade: 42", "websocket: 42"]
