"""A busy server judges its clients fairly: a connect storm of 1,000 clients, at small scale.

The server's writes are throttled (each frame it sends takes simulated seconds, as when
a thousand clients connect at once); time runs on MockClock. A client that answers its
pings must never be dropped because the server was slow to write the ping, and an
upgrade must not fail because the server was slow to answer the client's pending poll.
"""

from dataclasses import replace

import httpx
import trio
import trio.testing
from trio_websocket import open_websocket_url

from minidiscord.app import ChatApp
from minidiscord.asgi_io import SEND_MANY, AppMessage, Receive, Scope, Send
from minidiscord.chat.accounts.memory import MemoryAccounts
from minidiscord.chat.store.factory import open_store
from tests.support.rawclient import polling_url, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


class SlowWriterApp(ChatApp):
    """The chat app behind a host that takes ``seconds`` to write each frame (or each
    HTTP response body) of the scope types in ``slow`` ("websocket", "http")."""

    def __init__(self, slow: set[str], seconds: float, **overrides: object) -> None:
        super().__init__(
            replace(TEST_SETTINGS, **overrides),  # type: ignore[arg-type]
            open_store("memory", ""),
            account_store=MemoryAccounts(),
        )
        self.slow = slow
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in self.slow:
            await super().__call__(scope, receive, send)
            return

        async def slow_send(message: AppMessage) -> None:
            if message["type"] == SEND_MANY:
                await trio.sleep(self.seconds * len(message["frames"]))
            elif message["type"] in ("websocket.send", "http.response.body"):
                await trio.sleep(self.seconds)
            await send(message)

        await super().__call__(scope, receive, slow_send)


async def test_a_ping_behind_a_slow_backlog_is_judged_from_when_it_was_written(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    app = SlowWriterApp({"websocket"}, 1.0, ping_interval=25.0, ping_timeout=20.0)
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client, raw_websocket(server.ws_url) as talker:
        await client.send('40{"username":"listener"}')
        await talker.send('40{"username":"talker"}')
        assert (await client.text()).startswith("40{")
        # Just before the ping is due, the server gets 30 frames to write to the client:
        # 30 simulated seconds of writing, more than the client's ping_timeout.
        await trio.sleep(20.0 - trio.current_time() % 25.0)
        for number in range(30):
            await talker.send(f'42["message:channel:send","general","burst {number}"]')
        # The client answers every ping as soon as it reads it (raw_websocket does).
        received = 0
        with trio.move_on_after(120):
            while True:
                frame = await client.text()
                received += frame.startswith('42["message:channel"')
        assert received >= 30
        # Alive after several heartbeats, the first of them delayed 30 s by the server.
        assert client.sid in server.app.engine.sessions


async def test_an_upgrade_survives_a_server_slow_to_answer_the_poll(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # Every HTTP response body takes 15 s to write: more than the 10 s upgrade timeout.
    # (No heartbeat during the test: this client does not answer pings.)
    app = SlowWriterApp({"http"}, 15.0, ping_interval=600.0, ping_timeout=20.0)
    server = await start_server(app)
    async with httpx.AsyncClient(timeout=None) as http, trio.open_nursery() as nursery:
        handshake = await http.get(server.url + "/socket.io/?EIO=4&transport=polling")
        sid = handshake.text.split('"sid":"')[1].split('"')[0]
        await http.post(polling_url(server.url, sid), content="40")
        await http.get(polling_url(server.url, sid))  # the CONNECT answer
        poll_answered = trio.Event()

        async def pending_poll() -> None:
            await http.get(polling_url(server.url, sid))
            poll_answered.set()

        nursery.start_soon(pending_poll)
        await trio.sleep(1.0)
        url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with open_websocket_url(url) as ws:
            await ws.send_message("2probe")
            assert await ws.get_message() == "3probe"
            # As socket.io-client does: upgrade once the pending poll has returned.
            await poll_answered.wait()
            await ws.send_message("5")
            await ws.send_message('42["message:channel:send","general","upgraded"]')
            session = server.app.engine.sessions[sid]
            await wait_until(lambda: session.transport == "websocket", timeout=60)


async def test_the_upgrade_packet_may_come_later_than_the_upgrade_timeout(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # A client sends UPGRADE only once its pending requests are answered, however long a
    # busy server takes; failing at the 10 s upgrade timeout would leave it paused for good.
    app = SlowWriterApp(set(), 0.0, ping_interval=25.0, ping_timeout=20.0)
    server = await start_server(app)
    async with httpx.AsyncClient(timeout=None) as http:
        handshake = await http.get(server.url + "/socket.io/?EIO=4&transport=polling")
        sid = handshake.text.split('"sid":"')[1].split('"')[0]
        await http.post(polling_url(server.url, sid), content="40")
        await http.get(polling_url(server.url, sid))
        url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with open_websocket_url(url) as ws:
            await ws.send_message("2probe")
            assert await ws.get_message() == "3probe"
            await trio.sleep(20.0)
            await ws.send_message("5")
            session = server.app.engine.sessions[sid]
            await wait_until(lambda: session.transport == "websocket", timeout=5)
