"""The one guard of the chat's acked requests (chat/requests.py ``guarded``): issue 18's
events, the channels', moderation's, the admin view's and the read positions' refuse a
socket that is no user and a payload that is not one object with the same ack, log line
and counted rejection."""

import logging

import pytest

from minidiscord.chat.models import Role
from tests.chat import test_moderation
from tests.chat.rawchat import call, turned_away
from tests.chat.test_moderation import Room
from tests.support.rawclient import raw_websocket

# The moderation tests' server with its clients.
room = test_moderation.room

# One event of each family that shares the guard, with a payload it would accept.
EVENTS = [
    ("message:edit", {"channel": "general", "id": 1, "message": "x"}),  # issue 18
    ("channel:create", {"name": "guarded"}),  # channels
    ("user:kick", {"userId": "nobody"}),  # moderation
    ("admin:invite", {}),  # the admin view
    ("read:mark", {"channel": "general", "id": 1}),  # read positions
]


def _rejected(room: Room) -> float:
    registry = room.server.app.sio.of("/").metrics.registry
    value = registry.get_sample_value("minidiscord_rejected_total", {"reason": "invalid event"})
    return value or 0.0


@pytest.mark.parametrize(("event", "fields"), EVENTS)
async def test_a_payload_that_is_not_one_object_is_refused_alike(
    room: Room, event: str, fields: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    admin = await room.as_role("root", Role.ADMIN)
    before = _rejected(room)
    with caplog.at_level(logging.INFO, logger="minidiscord.chat.requests"):
        for args in (("not an object",), (fields, fields), ([fields],)):
            ack = await admin.call(event, *args)
            assert ack == {"ok": False, "error": "expected one object argument"}, args
    assert _rejected(room) - before == 3
    refusals = [r.getMessage() for r in caplog.records if r.name == "minidiscord.chat.requests"]
    assert len(refusals) == 3
    assert all(f"refused {event} from socket " in line for line in refusals), refusals
    # The asker is unaffected.
    assert (await admin.send("general", "still here"))["ok"] is True


async def test_a_socket_that_is_no_user_is_refused_by_every_family(room: Room) -> None:
    async with raw_websocket(room.server.ws_url) as original:
        await turned_away(original, {"username": "System"})
        before = _rejected(room)
        for ack_id, (event, fields) in enumerate(EVENTS, start=1):
            ack, _ = await call(original, ack_id, event, fields)
            assert ack == {"ok": False, "error": "not connected"}, event
        assert _rejected(room) - before == len(EVENTS)


async def test_channel_list_takes_no_argument_as_an_empty_object(room: Room) -> None:
    member = await room.connect({"username": "ann"}, "member")
    ack = await member.call("channel:list")
    assert ack["ok"] is True
    assert ack == await member.call("channel:list", {})
