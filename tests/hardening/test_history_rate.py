"""History pages cost their asker: a burst, then a steady rate, per user."""

import trio
import trio.testing

from minidiscord.limits import Rate
from tests.chat.rawchat import call, join
from tests.support.rawclient import raw_websocket
from tests.support.servers import ServerFactory

REFUSED = {
    "ok": False,
    "error": "you are asking for history too fast; try again in 0.5 s",
    "retryAfter": 500,
}
NOTICE = '42["rate-limited",{"event":"channel:history","retryAfter":500}]'


async def test_history_pages_past_the_burst_are_refused_for_that_user_only(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        history_rate=Rate(burst=3, per_second=2.0), ping_interval=1000.0, ping_timeout=1000.0
    )
    async with raw_websocket(server.ws_url) as reader, raw_websocket(server.ws_url) as other:
        await join(reader, {"username": "reader"})
        await join(other, {"username": "other"})
        assert (await call(reader, 1, "message:channel:send", "general", "hello"))[0]["ok"]
        for ack_id in range(2, 5):
            ack, _ = await call(reader, ack_id, "channel:history", "general", {"limit": 100})
            assert ack["ok"] is True
            assert [m["message"] for m in ack["messages"]] == ["hello"]
        ack, before = await call(reader, 5, "channel:history", "general")
        assert ack == REFUSED
        assert NOTICE in before
        # Asking with a bad request still costs: the store is not the only cost.
        assert (await call(reader, 6, "channel:history", "nowhere"))[0] == REFUSED
        # Someone else reads as usual.
        assert (await call(other, 1, "channel:history", "general"))[0]["ok"] is True
        await trio.sleep(0.5)
        assert (await call(reader, 7, "channel:history", "general"))[0]["ok"] is True
        assert (await call(reader, 8, "channel:history", "general"))[0] == REFUSED
