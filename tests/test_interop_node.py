"""Node's socket.io-client against our server: websocket-only, polling-only, polling then upgrade.

The client side is tests/node/scenario.mjs; it prints what it saw as JSON lines.
"""

import pytest

from tests.conformance.interop import QUESTION, SHOUT_BYTES, b64, install
from tests.support.nodeclient import by_step, run_node
from tests.support.servers import RunningServer

pytestmark = pytest.mark.node


@pytest.mark.parametrize(
    ("mode", "transport"),
    [("websocket", "websocket"), ("polling", "polling"), ("upgrade", "websocket")],
)
async def test_node_client(server: RunningServer, mode: str, transport: str) -> None:
    seen = install(server.app.sio)
    steps = by_step(await run_node("scenario.mjs", server.url, mode))

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
