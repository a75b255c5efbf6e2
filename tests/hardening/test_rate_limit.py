"""Per-user message rate limit: a burst, then a steady rate; the flooder alone pays."""

import json
from typing import Any

import trio
import trio.testing

from minidiscord.app import ChatApp
from minidiscord.limits import Rate
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import ServerFactory


async def _join(client: RawWebSocket, name: str) -> None:
    await client.send("40" + json.dumps({"username": name}))
    while not (await client.text()).startswith('42["users"'):
        pass


async def _send(client: RawWebSocket, ack_id: int, text: str) -> tuple[dict[str, Any], list[str]]:
    """Send one message; return its ack and the other events that came before the ack."""
    await client.send(f'42{ack_id}["message:channel:send","general",{json.dumps(text)}]')
    others: list[str] = []
    while True:
        frame = await client.text()
        if frame.startswith(f"43{ack_id}["):
            ack: dict[str, Any] = json.loads(frame[2 + len(str(ack_id)) :])[0]
            return ack, others
        others.append(frame)


async def test_flood_is_refused_with_an_ack_error_and_a_notice(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        rate_limit=Rate(burst=10, per_second=1.0), ping_interval=1000.0, ping_timeout=1000.0
    )
    async with raw_websocket(server.ws_url) as flooder, raw_websocket(server.ws_url) as calm:
        await _join(flooder, "flooder")
        await _join(calm, "calm")
        for number in range(10):
            ack, _ = await _send(flooder, number, f"burst {number}")
            assert ack["ok"] is True
        ack, before = await _send(flooder, 10, "one too many")
        assert ack == {
            "ok": False,
            "error": "you are sending too fast; try again in 1.0 s",
            "retryAfter": 1000,
        }
        assert any(
            frame == '42["rate-limited",{"event":"message:channel:send","retryAfter":1000}]'
            for frame in before
        )
        # Someone else is not slowed down by the flood.
        ack, _ = await _send(calm, 1, "hello")
        assert ack["ok"] is True
        await trio.sleep(1.0)
        ack, _ = await _send(flooder, 11, "after a pause")
        assert ack["ok"] is True
    assert isinstance(server.app, ChatApp)
    stored = await server.app.store.recent_messages("general", 100)
    texts = [message.message for message in stored]
    assert "one too many" not in texts
    assert texts.count("hello") == 1
    assert len(texts) == 12
