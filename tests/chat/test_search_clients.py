"""Search with other clients: node's socket.io-client (tests/node/search.mjs) and
python-socketio."""

from typing import Any

import pytest
import trio

from tests.support.nodeclient import by_step, run_node
from tests.support.pysio import WAIT, Recorder
from tests.support.servers import RunningServer


@pytest.mark.node
async def test_node_searches(server: RunningServer) -> None:
    steps = by_step(await run_node("search.mjs", server.url))
    first, second = steps["sent"]["ids"]
    every = steps["all"]["ack"]
    assert every["ok"] is True
    assert [(r["channel"], r["id"]) for r in every["results"]] == [
        ("react", second),
        ("general", first),
    ]
    assert every["results"][0]["snippet"] == "another needle here"
    assert every["next"] is None
    one = steps["one"]["ack"]
    assert ([r["id"] for r in one["results"]], one["next"]) == ([second], second)
    assert steps["bad"]["ack"] == {"ok": False, "error": "query must be a string"}


async def test_python_socketio_searches(server: RunningServer) -> None:
    def story() -> dict[str, Any]:
        seeker = Recorder("seeker")
        seeker.client.connect(server.url, auth={"username": "seeker-py"}, wait_timeout=WAIT)
        try:
            seeker.wait_for("users")
            sent = seeker.client.call(
                "message:channel:send", ("casual", "Café au lait"), timeout=WAIT
            )
            return {
                "id": sent["id"],
                "found": seeker.client.call("search", {"query": "café"}, timeout=WAIT),
                "bad": seeker.client.call("search", {"query": ""}, timeout=WAIT),
            }
        finally:
            seeker.disconnect()

    steps = await trio.to_thread.run_sync(story)
    (hit,) = steps["found"]["results"]
    assert (hit["id"], hit["channel"], hit["snippet"]) == (steps["id"], "casual", "Café au lait")
    assert steps["bad"] == {"ok": False, "error": "query has no word to look for"}
