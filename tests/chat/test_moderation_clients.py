"""Moderation with other clients: node's socket.io-client (tests/node/moderation.mjs) and
python-socketio, each refused as a member and obeyed as a moderator."""

import json
from typing import Any

import pytest
import trio

from minidiscord.chat.models import Role
from tests.support.accounts import account_with_role
from tests.support.chatclient import joined
from tests.support.nodeclient import run_node
from tests.support.pysio import WAIT, Recorder
from tests.support.servers import ServerFactory


def requests(user_id: str, message_id: int) -> list[list[Any]]:
    return [
        ["message:delete", {"channel": "general", "id": message_id}],
        ["user:timeout", {"userId": user_id, "seconds": 60}],
        ["user:ban", {"userId": user_id, "reason": "spam"}],
        ["user:unban", {"userId": user_id}],
        ["user:kick", {"userId": user_id}],
    ]


@pytest.mark.node
@pytest.mark.parametrize("role", [Role.MEMBER, Role.MODERATOR])
async def test_node_is_refused_as_a_member_and_obeyed_as_a_moderator(
    start_server: ServerFactory, role: Role
) -> None:
    server = await start_server()
    token = await account_with_role(server.app, server.url, "nodemod", role)
    async with joined(server.url, {"username": "tom"}, "tom") as tom:
        sent = await tom.send("general", "spam")
        asked = requests(tom.session["userId"], sent["id"])
        lines = await run_node(
            "moderation.mjs", server.url, json.dumps({"token": token}), json.dumps(asked)
        )
        acks = {line["event"]: line["ack"] for line in lines}
        if role is Role.MEMBER:
            for event in ("message:delete", "user:timeout", "user:ban", "user:unban", "user:kick"):
                assert acks[event]["ok"] is False, event
            assert acks["deleted"] == []
            assert "disconnect" not in tom.names()
            return
        assert acks["message:delete"] == {"ok": True}
        assert acks["deleted"] == [{"channel": "general", "id": sent["id"]}]
        assert acks["user:timeout"]["ok"] is True
        assert acks["user:ban"] == {"ok": True, "reason": "spam"}
        assert acks["user:unban"] == {"ok": True}
        # Banned (and let go) before the kick: nobody left to kick.
        assert acks["user:kick"] == {"ok": False, "error": "no such user online"}
        (gone,) = await tom.wait_for("message:delete")
        assert gone == {"channel": "general", "id": sent["id"]}
        await tom.wait_for("disconnect")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MODERATOR])
async def test_python_socketio_is_refused_as_a_member_and_obeyed_as_a_moderator(
    start_server: ServerFactory, role: Role
) -> None:
    server = await start_server()
    token = await account_with_role(server.app, server.url, "pymod", role)
    async with joined(server.url, {"username": "tom"}, "tom") as tom:
        sent = await tom.send("general", "spam")
        asked = requests(tom.session["userId"], sent["id"])

        def story() -> list[Any]:
            moderator = Recorder("pysio")
            moderator.client.connect(server.url, auth={"token": token}, wait_timeout=WAIT)
            try:
                moderator.wait_for("users")
                return [
                    moderator.client.call(event, payload, timeout=WAIT) for event, payload in asked
                ]
            finally:
                moderator.disconnect()

        acks = await trio.to_thread.run_sync(story)
        if role is Role.MEMBER:
            assert all(ack["ok"] is False for ack in acks)
            assert (await tom.send("general", "unharmed"))["ok"] is True
            return
        assert [ack["ok"] for ack in acks] == [True, True, True, True, False]
        await tom.wait_for("message:delete")
        await tom.wait_for("disconnect")
