"""docs/examples/echo_server.py, checked end to end by python-socketio's client.

The client is the blocking one, in a worker thread (as in tests/test_interop_python.py), so
that an in-process server keeps serving meanwhile.
"""

import contextlib
import threading
from typing import Any

import socketio

from docs.examples.echo_server import TOKEN

NAMESPACE = "/echo"
WAIT = 5.0


def _client(url: str, name: str, said: list[list[Any]], arrived: threading.Event) -> Any:
    client = socketio.Client(reconnection=False)

    def on_said(*args: Any) -> None:
        said.append(list(args))
        arrived.set()

    client.on("said", on_said, namespace=NAMESPACE)
    client.connect(
        url, namespaces=[NAMESPACE], auth={"token": TOKEN, "name": name}, wait_timeout=WAIT
    )
    return client


def run_echo_scenario(url: str) -> dict[str, Any]:
    """Refused without the token; an ack; a room broadcast reaching the room but neither the
    sender nor a client outside it. Returns what the clients saw."""
    seen: dict[str, Any] = {}
    refused = socketio.Client(reconnection=False)
    refusal = threading.Event()

    def on_refused(data: Any) -> None:
        seen["refused"] = data
        refusal.set()

    refused.on("connect_error", on_refused, namespace=NAMESPACE)
    with contextlib.suppress(socketio.exceptions.ConnectionError):
        refused.connect(url, namespaces=[NAMESPACE], auth={"token": "wrong"}, wait_timeout=WAIT)
    assert refusal.wait(WAIT), "no connect_error"
    refused.disconnect()

    said: dict[str, list[list[Any]]] = {name: [] for name in ("alice", "bob", "carol")}
    arrived = {name: threading.Event() for name in said}
    clients = {name: _client(url, name, said[name], arrived[name]) for name in said}
    try:
        alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
        seen["echo"] = alice.call("echo", ("hi", 42, b"\x00\x01"), NAMESPACE, WAIT)
        seen["joined"] = [
            alice.call("join", "lobby", NAMESPACE, WAIT),
            bob.call("join", "lobby", NAMESPACE, WAIT),
        ]
        alice.emit("say", ("lobby", "hello"), namespace=NAMESPACE)
        assert arrived["bob"].wait(WAIT), "bob heard nothing"
        # A "said" for alice or carol would have been queued before bob's: an answer to
        # each, asked for now, arrives after it.
        alice.call("echo", "after", NAMESPACE, WAIT)
        carol.call("echo", "after", NAMESPACE, WAIT)
        seen["said"] = said
    finally:
        for client in clients.values():
            client.disconnect()
    return seen


def check_echo_scenario(seen: dict[str, Any]) -> None:
    """What the example promises its clients."""
    assert seen["refused"] == {
        "message": "not authorized",
        "data": {"hint": "connect with auth {token}"},
    }
    assert seen["echo"] == ("hi", 42, b"\x00\x01")
    assert seen["joined"] == ["alice joined lobby", "bob joined lobby"]
    assert seen["said"] == {"alice": [], "bob": [["alice", "hello"]], "carol": []}
