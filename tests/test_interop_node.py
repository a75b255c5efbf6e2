"""Node's socket.io-client against our server: websocket-only, polling-only, polling then upgrade.

The client side is tests/node/scenario.mjs; it prints what it saw as JSON lines.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.conformance.interop import QUESTION, SHOUT_BYTES, b64, install
from tests.support.servers import RunningServer

NODE_DIR = Path(__file__).parent / "node"
SCENARIO = NODE_DIR / "scenario.mjs"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
        reason="run `npm install` in tests/node",
    ),
]


async def run_scenario(url: str, mode: str) -> dict[str, dict[str, Any]]:
    with trio.fail_after(30):
        result = await trio.run_process(
            ["node", str(SCENARIO), url, mode],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines() if line]
    assert result.returncode == 0, (lines, result.stderr.decode()[-2000:])
    return {line["step"]: line for line in lines}


@pytest.mark.parametrize(
    ("mode", "transport"),
    [("websocket", "websocket"), ("polling", "polling"), ("upgrade", "websocket")],
)
async def test_node_client(server: RunningServer, mode: str, transport: str) -> None:
    seen = install(server.app.sio)
    steps = await run_scenario(server.url, mode)

    assert steps["welcome"]["welcome"] == {"id": steps["welcome"]["id"], "name": "node"}
    assert seen.connected == [steps["welcome"]["id"]]
    assert steps["transport"]["name"] == transport
    assert steps["echo"]["args"] == ["hi", 42, {"nested": [True, None]}, b64(b"\x01\x02\x03")]
    assert steps["shouted"]["args"] == ["HELLO", b64(SHOUT_BYTES)]
    assert seen.answers == [[f"{QUESTION} pong", bytes([9, 8, 7])]]
    assert steps["answer"]["args"] == [f"{QUESTION} pong", b64(bytes([9, 8, 7]))]
    assert steps["refused"]["message"] == "bad token"
    assert steps["refused"]["data"] == {"hint": "use the secret"}
    assert "disconnected" in steps

    await seen.wait_for_disconnect()
    assert seen.disconnects == ["client namespace disconnect"]
