"""Typing indicators on a real server: `typing:start` from our trio client, python-socketio
and node's socket.io-client; the coalesced `typing` snapshots, what stops a typist, and
refusals (bad input, too fast) that cost only the sender."""

import json
from typing import Any

import httpx
import pytest
import trio

from minidiscord.chat.live.typists import EXPIRE_AFTER
from tests.support.chatclient import ChatClient, joined
from tests.support.layouts import ChatFactory
from tests.support.pysio import WAIT, Recorder
from tests.support.rawclient import polling_connect, polling_url, raw_websocket
from tests.support.servers import RunningServer, ServerFactory

from .livenode import node_steps
from .rawchat import call, turned_away


def typing_of(channel: str, *usernames: str) -> Any:
    """A match for the `typing` snapshot of ``channel`` listing exactly ``usernames``."""

    def match(snapshot: dict[str, Any]) -> bool:
        listed = [t["username"] for t in snapshot["typing"]]
        return snapshot["channel"] == channel and listed == list(usernames)

    return match


async def ada_types_then_goes(
    server: RunningServer, nursery: trio.Nursery, channel: str, watcher: ChatClient
) -> None:
    """ada starts typing in ``channel``, then disconnects: ``watcher`` sees her listed, then
    the list empty."""
    ada = ChatClient(server.url, "ada", nursery=nursery)
    await ada.connect({"username": "ada"})
    assert (await ada.call("typing:start", {"channel": channel}))["ok"] is True
    await watcher.wait_for("typing", typing_of(channel, "ada"))
    await ada.disconnect()
    await watcher.wait_for("typing", typing_of(channel))


async def test_others_see_a_typist_until_the_message_is_shown(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        assert await ada.call("typing:start", {"channel": "general"}) == {"ok": True}
        (snapshot,) = await bob.wait_for("typing", typing_of("general", "ada"))
        assert snapshot["typing"] == [{"userId": ada.session["userId"], "username": "ada"}]
        # Still typing: a repeated start is not sent again.
        assert await ada.call("typing:start", {"channel": "general"}) == {"ok": True}
        assert (await ada.send("general", "done"))["ok"] is True
        await bob.wait_for("typing", typing_of("general"))
        typing = bob.received("typing")
        assert [len(s["typing"]) for (s,) in typing] == [1, 0]


async def test_a_typist_stops_when_its_socket_goes_or_after_a_while(
    server: RunningServer, nursery: trio.Nursery
) -> None:
    async with joined(server.url, {"username": "bob"}, "bob") as bob:
        await ada_types_then_goes(server, nursery, "react", bob)

        async with joined(server.url, {"username": "cy"}, "cy") as cy:
            assert (await cy.call("typing:start", {"channel": "casual"}))["ok"] is True
            await bob.wait_for("typing", typing_of("casual", "cy"))
            # Nothing more from cy: it stops on the server's side (EXPIRE_AFTER seconds;
            # not timed here, only that it happens).
            assert EXPIRE_AFTER < WAIT
            await bob.wait_for("typing", typing_of("casual"))


async def test_the_list_that_empties_reaches_a_client_that_could_not_take_it_then(
    server: RunningServer, nursery: trio.Nursery
) -> None:
    """A polling client with no GET waiting misses the volatile snapshots, but not the last
    one, which says nobody types any more: no later snapshot would mend its loss."""
    async with (
        httpx.AsyncClient(timeout=WAIT) as http,
        joined(server.url, {"username": "cy"}, "cy") as cy,
    ):
        sid = await polling_connect(http, server.url, json.dumps({"username": "bob"}))
        # cy takes every snapshot: once it has the empty one, so has bob's queue, if any.
        await ada_types_then_goes(server, nursery, "general", cy)
        payload = (await http.get(polling_url(server.url, sid))).text
    snapshots = [
        event[1]
        for packet in payload.split("\x1e")
        if packet.startswith("42") and (event := json.loads(packet[2:]))[0] == "typing"
    ]
    # The one listing ada was dropped (no GET waited): bob was not writable.
    assert snapshots == [{"channel": "general", "typing": []}]


async def test_bad_typing_starts_are_refused_and_cost_only_the_sender(
    server: RunningServer,
) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        for args in [(), ("general",), ({"channel": 5},), ({"channel": "nope"},), ({}, {})]:
            ack = await ada.call("typing:start", *args)
            assert ack["ok"] is False, args
            assert ack["error"], args
        answers = [await ada.call("typing:start", {"channel": "general"}) for _ in range(8)]
        refused = [a for a in answers if not a["ok"]]
        assert refused
        assert all(a["retryAfter"] > 0 for a in refused)
        assert "too fast" in refused[0]["error"]
        # The server and the others go on.
        assert await bob.call("typing:start", {"channel": "general"}) == {"ok": True}
        assert (await bob.send("general", "still here"))["ok"] is True
        await ada.wait_for("message:channel", lambda c, m: m["message"] == "still here")


async def test_a_socket_that_has_not_joined_cannot_type(start_server: ServerFactory) -> None:
    server = await start_server(auth="accounts")
    async with raw_websocket(server.ws_url) as original:
        await turned_away(original, {"username": "ada"})
        ack, _ = await call(original, 1, "typing:start", {"channel": "general"})
    assert ack == {"ok": False, "error": "not connected"}


async def test_python_socketio_types_and_is_seen(server: RunningServer) -> None:
    async with joined(server.url, {"username": "bob"}, "bob") as bob:

        def story() -> tuple[Any, Any, Any]:
            ada = Recorder("ada")
            ada.client.connect(server.url, auth={"username": "ada"}, wait_timeout=WAIT)
            try:
                ada.wait_for("users")
                good = ada.client.call("typing:start", {"channel": "learners"}, timeout=WAIT)
                own = ada.wait_for("typing")
                bad = ada.client.call("typing:start", {"channel": ["x"]}, timeout=WAIT)
                return good, own, bad
            finally:
                ada.disconnect()

        good, own, bad = await trio.to_thread.run_sync(story)
        assert good == {"ok": True}
        # The typist's own tabs get the snapshot too (a client leaves itself out).
        assert own[0]["typing"][0]["username"] == "ada"
        assert bad["ok"] is False
        assert "channel must be a string" in bad["error"]
        await bob.wait_for("typing", typing_of("learners", "ada"))
        await bob.wait_for("typing", typing_of("learners"))


@pytest.mark.node
async def test_node_types_and_is_seen(server: RunningServer) -> None:
    async with joined(server.url, {"username": "bob"}, "bob") as bob:
        steps: list[list[Any]] = [
            ["emit", "typing:start", [{"channel": "general"}]],
            ["wait", "typing", {"channel": "general"}],
            ["emit", "typing:start", ["general"]],
            ["emit", "message:channel:send", ["general", "sent from node"]],
        ]
        user_id, (started, (seen,), bad, sent) = await node_steps(
            server.url, {"username": "nod"}, steps
        )
        assert started == {"ok": True}
        assert seen["typing"] == [{"userId": user_id, "username": "nod"}]
        assert bad["ok"] is False
        assert sent["ok"] is True
        await bob.wait_for("typing", typing_of("general", "nod"))
        await bob.wait_for("typing", typing_of("general"))


async def test_a_typist_is_seen_on_every_node(
    start_chat: ChatFactory, nursery: trio.Nursery
) -> None:
    nodes = await start_chat()
    async with joined(nodes[-1].url, {"username": "bob"}, "bob") as bob:
        ada = ChatClient(nodes[0].url, "ada", nursery=nursery)
        await ada.connect({"username": "ada"})
        assert await ada.call("typing:start", {"channel": "general"}) == {"ok": True}
        await bob.wait_for("typing", typing_of("general", "ada"))
        assert (await ada.send("general", "sent"))["ok"] is True
        await bob.wait_for("typing", typing_of("general"))
        assert await ada.call("typing:start", {"channel": "react"}) == {"ok": True}
        await bob.wait_for("typing", typing_of("react", "ada"))
        await ada.disconnect()
        await bob.wait_for("typing", typing_of("react"))
