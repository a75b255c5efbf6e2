"""python-socketio's (blocking) client against our server: websocket-only, polling-only and
polling then upgrade. It runs in a worker thread so the in-process server keeps serving."""

import contextlib
import threading
from typing import Any

import pytest
import socketio
import trio

from tests.conformance.interop import NAMESPACE, QUESTION, SHOUT_BYTES, TOKEN, Seen, install
from tests.support.pysio import disconnect_when_written
from tests.support.servers import RunningServer

WAIT = 5.0


def run_scenario(url: str, transports: list[str]) -> dict[str, Any]:
    """Connect, exchange events, acks and binary, disconnect; returns what the client saw."""
    client = socketio.Client(reconnection=False)
    seen: dict[str, Any] = {}
    arrived = {name: threading.Event() for name in ("welcome", "shouted", "answer", "refused")}

    def record(name: str) -> Any:
        def handler(*args: Any) -> None:
            seen[name] = list(args)
            arrived[name].set()

        return handler

    client.on("welcome", record("welcome"), namespace=NAMESPACE)
    client.on("shouted", record("shouted"), namespace=NAMESPACE)
    client.on("answer", record("answer"), namespace=NAMESPACE)
    client.on("question", lambda text: (f"{text} pong", bytes([9, 8, 7])), namespace=NAMESPACE)

    client.connect(
        url,
        namespaces=[NAMESPACE],
        auth={"token": TOKEN, "name": "python"},
        transports=transports,
        wait_timeout=WAIT,
    )
    try:
        seen["sid"] = client.get_sid(NAMESPACE)
        assert arrived["welcome"].wait(WAIT), "no welcome"
        if transports == ["polling", "websocket"]:
            deadline = threading.Event()
            for _ in range(100):  # bounded: the upgrade takes a round trip or two
                if client.transport() == "websocket":
                    break
                deadline.wait(0.05)
        seen["transport"] = client.transport()
        seen["echo"] = client.call(
            "echo", ("hi", 42, {"nested": [True, None]}, b"\x01\x02\x03"), NAMESPACE, WAIT
        )
        client.emit("shout", "hello", namespace=NAMESPACE)
        assert arrived["shouted"].wait(WAIT), "no shouted"
        assert arrived["answer"].wait(WAIT), "no answer"
    finally:
        disconnect_when_written(client)

    refused = socketio.Client(reconnection=False)
    refused.on("connect_error", record("refused"), namespace=NAMESPACE)
    with contextlib.suppress(socketio.exceptions.ConnectionError):
        refused.connect(url, namespaces=[NAMESPACE], auth={"token": "wrong"}, wait_timeout=WAIT)
    refused.disconnect()
    return seen


@pytest.mark.parametrize(
    ("transports", "transport"),
    [
        (["websocket"], "websocket"),
        (["polling"], "polling"),
        (["polling", "websocket"], "websocket"),
    ],
    ids=["websocket", "polling", "upgrade"],
)
async def test_python_client(server: RunningServer, transports: list[str], transport: str) -> None:
    seen_by_server: Seen = install(server.app.sio)
    with trio.fail_after(30):
        seen = await trio.to_thread.run_sync(run_scenario, server.url, transports)

    assert seen["welcome"] == [{"id": seen["sid"], "name": "python"}]
    assert seen_by_server.connected == [seen["sid"]]
    assert seen["transport"] == transport
    assert seen["echo"] == ("hi", 42, {"nested": [True, None]}, b"\x01\x02\x03")
    assert seen["shouted"] == ["HELLO", SHOUT_BYTES]
    assert seen_by_server.answers == [[f"{QUESTION} pong", bytes([9, 8, 7])]]
    assert seen["answer"] == [f"{QUESTION} pong", bytes([9, 8, 7])]
    assert seen["refused"] == [{"message": "bad token", "data": {"hint": "use the secret"}}]

    await seen_by_server.wait_for_disconnect()
    # python-engineio's client closes its WebSocket without waiting for the DISCONNECT
    # packet it queued to be written, so over WebSocket the server may see the transport
    # close first. Either way the handler runs exactly once.
    expected = {"client namespace disconnect"}
    if transport == "websocket":
        expected.add("transport close")
    assert len(seen_by_server.disconnects) == 1
    assert seen_by_server.disconnects[0] in expected
