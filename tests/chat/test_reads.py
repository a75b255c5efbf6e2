"""Read positions on a real server: `read:mark` stored and synced to every tab of the user
(and no one else), `read:list` after a reload, refusals; with our trio client,
python-socketio and node's socket.io-client, on one node and across a cluster."""

from typing import Any

import pytest
import trio

from minidiscord.app import ChatApp
from tests.support.chatclient import joined
from tests.support.layouts import ChatFactory
from tests.support.pysio import WAIT, Recorder
from tests.support.rawclient import raw_websocket
from tests.support.servers import RunningServer, ServerFactory

from .livenode import node_steps
from .rawchat import call, turned_away


async def test_a_mark_reaches_every_tab_of_the_user_and_no_one_else(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    async with joined(nodes[0].url, {"username": "ada"}, "ada") as ada:
        session = {"sessionId": ada.session["sessionId"]}
        async with (
            joined(nodes[-1].url, session, "ada's phone") as phone,
            joined(nodes[-1].url, {"username": "bob"}, "bob") as bob,
        ):
            first = await bob.send("general", "one")
            second = await bob.send("general", "two")
            assert await ada.call("read:mark", {"channel": "general", "id": second["id"]}) == {
                "ok": True,
                "id": second["id"],
            }
            for tab in (ada, phone):
                (read,) = await tab.wait_for("read")
                assert read == {"channel": "general", "id": second["id"]}
            # A tab that was behind cannot move it back.
            behind = await phone.call("read:mark", {"channel": "general", "id": first["id"]})
            assert behind == {"ok": True, "id": second["id"]}
            assert await phone.call("read:list") == {
                "ok": True,
                "reads": {"general": second["id"]},
            }
            assert await bob.call("read:list", {}) == {"ok": True, "reads": {}}
            assert bob.received("read") == []
    # After a reload (a new connection of the same session) the positions are there.
    async with joined(nodes[0].url, session, "ada again") as again:
        assert await again.call("read:list") == {"ok": True, "reads": {"general": second["id"]}}


async def test_bad_marks_are_refused_and_cost_only_the_sender(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        sent = await bob.send("react", "hi")
        refusals: list[tuple[Any, ...]] = [
            (),
            ("react", sent["id"]),
            ({"channel": "nowhere", "id": sent["id"]},),
            ({"channel": "react", "id": "1"},),
            ({"channel": "react", "id": True},),
            ({"channel": "react", "id": 0},),
            ({"channel": "react", "id": sent["id"] + 1000},),
        ]
        for args in refusals:
            ack = await ada.call("read:mark", *args)
            assert ack["ok"] is False, args
            assert ack["error"], args
        assert (await ada.call("read:list", "everything"))["ok"] is False
        assert await ada.call("read:list") == {"ok": True, "reads": {}}
        assert ada.received("read") == []
        assert (await bob.send("react", "still fine"))["ok"] is True


async def test_marking_too_fast_is_refused(server: RunningServer) -> None:
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        sent = await ada.send("general", "mine")
        answers = [
            await ada.call("read:mark", {"channel": "general", "id": sent["id"]}) for _ in range(25)
        ]
        refused = [a for a in answers if not a["ok"]]
        assert refused
        assert all(a["retryAfter"] > 0 for a in refused)


async def test_a_socket_that_has_not_joined_has_no_positions(
    start_server: ServerFactory,
) -> None:
    server = await start_server(auth="accounts")
    async with raw_websocket(server.ws_url) as original:
        await turned_away(original, {"username": "ada"})
        marked, _ = await call(original, 1, "read:mark", {"channel": "general", "id": 1})
        listed, _ = await call(original, 2, "read:list")
    assert marked == {"ok": False, "error": "not connected"}
    assert listed == {"ok": False, "error": "not connected"}


async def test_python_socketio_marks_and_lists(server: RunningServer) -> None:
    async with joined(server.url, {"username": "bob"}, "bob") as bob:
        sent = await bob.send("learners", "read me")

        def story() -> tuple[Any, Any, Any]:
            pat = Recorder("pat")
            pat.client.connect(server.url, auth={"username": "pat"}, wait_timeout=WAIT)
            try:
                pat.wait_for("users")
                mark = {"channel": "learners", "id": sent["id"]}
                marked = pat.client.call("read:mark", mark, timeout=WAIT)
                synced = pat.wait_for("read")
                listed = pat.client.call("read:list", timeout=WAIT)
                return marked, synced, listed
            finally:
                pat.disconnect()

        marked, synced, listed = await trio.to_thread.run_sync(story)
        assert marked == {"ok": True, "id": sent["id"]}
        assert synced == ({"channel": "learners", "id": sent["id"]},)
        assert listed == {"ok": True, "reads": {"learners": sent["id"]}}
        assert bob.received("read") == []


@pytest.mark.node
async def test_node_marks_and_lists(server: RunningServer) -> None:
    async with joined(server.url, {"username": "bob"}, "bob") as bob:
        sent = await bob.send("casual", "for node")
        steps: list[list[Any]] = [
            ["emit", "read:mark", [{"channel": "casual", "id": sent["id"]}]],
            ["wait", "read", {"channel": "casual"}],
            ["emit", "read:list", []],
            ["emit", "read:mark", [{"channel": "casual"}]],
        ]
        _, (marked, (synced,), listed, bad) = await node_steps(
            server.url, {"username": "nod"}, steps
        )
        assert marked == {"ok": True, "id": sent["id"]}
        assert synced == {"channel": "casual", "id": sent["id"]}
        assert listed == {"ok": True, "reads": {"casual": sent["id"]}}
        assert bad["ok"] is False
        assert bob.received("read") == []


async def test_a_guest_who_leaves_takes_its_positions(server: RunningServer) -> None:
    app = server.app
    assert isinstance(app, ChatApp)
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        sent = await ada.send("general", "mine")
        user_id = ada.session["userId"]
        assert (await ada.call("read:mark", {"channel": "general", "id": sent["id"]}))["ok"]
        assert await app.read_store.positions(user_id) == {"general": sent["id"]}
        assert await ada.call("user:leave") == {"ok": True}
        await ada.wait_for("disconnect")
    assert await app.read_store.positions(user_id) == {}
