"""A newcomer sees a message as it is, whatever the timing: an edit or a reaction made while
its connect snapshot was read (before it joined the rooms, so it gets no live event) makes
the snapshot be read again."""

import json

import pytest
import trio

from tests.chat.test_history_race import _chat, _join
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import ServerFactory


async def _event(client: RawWebSocket, name: str) -> None:
    with trio.fail_after(5):
        while not (await client.text()).startswith(f'42["{name}"'):
            pass


def _general(frames: list[str]) -> list[dict[str, object]]:
    channels = next(json.loads(f[2:])[1] for f in frames if f.startswith('42["channels"'))
    messages: list[dict[str, object]] = next(c for c in channels if c["name"] == "general")[
        "messages"
    ]
    return messages


@pytest.mark.parametrize(
    ("request_frame", "event"),
    [
        ('421["message:edit",{"channel":"general","id":1,"text":"v2"}]', "message:edit"),
        ('421["reaction:add",{"channel":"general","id":1,"emoji":"🎉"}]', "reaction:update"),
        ('421["message:delete",{"channel":"general","id":1}]', "message:delete"),
    ],
)
async def test_a_change_made_while_the_snapshot_was_read_is_in_history(
    start_server: ServerFactory, request_frame: str, event: str
) -> None:
    server, store = await _chat(start_server)
    async with raw_websocket(server.ws_url) as sender, trio.open_nursery() as nursery:
        await _join(sender, "sender")
        await sender.send('420["message:channel:send","general","v1"]')
        await _event(sender, "message:channel")
        store.hold_snapshot = True
        frames: list[str] = []

        async def newcomer_joins() -> None:
            async with raw_websocket(server.ws_url) as newcomer:
                frames.extend(await _join(newcomer, "newcomer"))

        nursery.start_soon(newcomer_joins)
        await store.held.wait()
        # Changed after the newcomer's read, before it joins the rooms.
        await sender.send(request_frame)
        await _event(sender, event)
        store.release.set()
    history = _general(frames)
    if event == "message:delete":
        assert history == []
        return
    (shown,) = history
    if event == "message:edit":
        assert (shown["message"], "editedAt" in shown) == ("v2", True)
    else:
        assert shown["reactions"] == [{"emoji": "🎉", "count": 1, "userIds": [shown["userId"]]}]
