"""History pages cost their asker: a burst, then a steady rate, per user."""

import trio
import trio.testing

from minidiscord.limits import Rate
from tests.support.chatclient import joined
from tests.support.servers import ServerFactory

REFUSED = {
    "ok": False,
    "error": "you are asking for history too fast; try again in 0.5 s",
    "retryAfter": 500,
}
NOTICE = ({"event": "channel:history", "retryAfter": 500},)


async def test_history_pages_past_the_burst_are_refused_for_that_user_only(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        history_rate=Rate(burst=3, per_second=2.0), ping_interval=1000.0, ping_timeout=1000.0
    )
    async with (
        joined(server.url, {"username": "reader"}) as reader,
        joined(server.url, {"username": "other"}) as other,
    ):
        assert (await reader.send("general", "hello"))["ok"]
        for _ in range(3):
            ack = await reader.call("channel:history", "general", {"limit": 100})
            assert ack["ok"] is True
            assert [m["message"] for m in ack["messages"]] == ["hello"]
        assert reader.received("rate-limited") == []
        assert await reader.call("channel:history", "general") == REFUSED
        assert reader.received("rate-limited") == [NOTICE]
        # Asking with a bad request still costs: the store is not the only cost.
        assert await reader.call("channel:history", "nowhere") == REFUSED
        # Someone else reads as usual.
        assert (await other.call("channel:history", "general"))["ok"] is True
        await trio.sleep(0.5)
        assert (await reader.call("channel:history", "general"))["ok"] is True
        assert await reader.call("channel:history", "general") == REFUSED
