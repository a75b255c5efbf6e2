"""minidiscord.client against a real minidiscord server over real sockets: emits and acks
both ways, binary, namespaces, auth, refusals, transports and the upgrade, disconnects,
reconnection with backoff, clean close, bounds, and the chat's own events."""

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from minidiscord.client import (
    BufferFull,
    CallTimeout,
    Client,
    ConnectError,
    Disconnected,
    Event,
    connect,
)
from minidiscord.engine.reasons import CloseReason
from tests.client.server import Seen, make_app
from tests.support.servers import RunningServer, ServerFactory
from tests.support.waiting import wait_until

TRANSPORTS = pytest.mark.parametrize(
    "transports",
    [("websocket",), ("polling", "websocket"), ("polling",)],
    ids=["websocket", "upgrade", "polling"],
)


async def started(start_server: ServerFactory) -> tuple[RunningServer, Seen]:
    seen = Seen()
    return await start_server(make_app(seen)), seen


async def next_event(events: trio.MemoryReceiveChannel[Event]) -> Event:
    with trio.fail_after(5):
        return await events.receive()


@TRANSPORTS
async def test_emits_calls_and_acks_go_both_ways_with_binary(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server, seen = await started(start_server)
    client = Client(auth={"name": "trio"}, transports=transports, reconnection=False)
    hello: list[tuple[Any, ...]] = []
    client.on("hello", lambda *args: hello.append(args))

    @client.on("question")
    def question(text: str, data: bytes) -> tuple[str, bytes]:
        # The return value is the acknowledgement the server awaits.
        return text + "!", data + b"\x03"

    acked: list[Any] = []
    async with (
        client.events("shouted", "answered") as events,
        client.connect(server.url) as sio,
    ):
        nested = {"n": [1, b"\x01"], "deep": {"b": b""}}
        echoed = await sio.call("echo", "hi", b"\x00\xff", nested, timeout=5)
        assert echoed == ["/", "hi", b"\x00\xff", nested]

        done = trio.Event()

        def on_ack(*args: Any) -> None:
            acked.extend(args)
            done.set()

        sio.emit("echo", 42, callback=on_ack)
        with trio.fail_after(5):
            await done.wait()

        sio.emit("shout", "hey", b"\x01\x02\x03")
        assert await next_event(events) == Event("shouted", ("HEY", b"\x03\x02\x01"))
        sio.emit("ask")
        assert await next_event(events) == Event("answered", ("sure?!", b"\x01\x02\x03"))

        engine_session = server.app.engine.sessions[sio.engine_sid or ""]
        if "websocket" in transports:
            await wait_until(lambda: sio.transport == "websocket")
            assert engine_session.transport == "websocket"
        else:
            assert sio.transport == "polling"
            assert engine_session.transport == "polling"
        assert seen.connects == [("/", sio.id, {"name": "trio"}, transports[0])]
    assert acked == ["/", 42]
    assert hello == [("/", {"name": "trio"})]
    assert seen.answers == [["sure?!", b"\x01\x02\x03"]]


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_headers_and_query_go_with_the_opening_request(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server, seen = await started(start_server)
    async with connect(
        server.url + "?from=url",
        transports=transports,
        reconnection=False,
        headers={"X-Client-Test": "yes"},
        query={"room": "blue"},
    ):
        pass
    ((headers, query),) = seen.requests
    assert headers["x-client-test"] == "yes"
    assert query["room"] == "blue"
    assert query["from"] == "url"
    assert query["EIO"] == "4"


async def test_namespaces_share_one_connection_each_with_its_auth(
    start_server: ServerFactory,
) -> None:
    server, seen = await started(start_server)
    client = Client(auth=lambda: {"who": "everyone"}, transports=("websocket",), reconnection=False)

    async def admin_auth() -> dict[str, Any]:
        return {"who": "admin"}

    admin = client.of("/admin", auth=admin_auth)
    async with client.connect(server.url, namespaces=["/", "/admin"]) as sio:
        assert sio.connected
        assert admin.connected
        assert sio.id != admin.id
        assert len(server.app.engine.sessions) == 1
        assert await admin.call("echo", 1, timeout=5) == ["/admin", 1]
        assert await sio.call("echo", 2, timeout=5) == ["/", 2]

        await admin.disconnect()
        await wait_until(lambda: ("/admin", "client namespace disconnect") in seen.disconnects)
        assert sio.connected
        assert not admin.connected
        with pytest.raises(Disconnected):
            admin.emit("echo")
        assert await sio.call("echo", 3, timeout=5) == ["/", 3]

        # Joining a namespace again, on the same connection.
        await admin.connect()
        assert await admin.call("echo", 4, timeout=5) == ["/admin", 4]
        assert len(server.app.engine.sessions) == 1
    assert sorted(((name, auth) for name, _, auth, _ in seen.connects), key=lambda e: e[0]) == [
        ("/", {"who": "everyone"}),
        ("/admin", {"who": "admin"}),
        ("/admin", {"who": "admin"}),
    ]


@pytest.mark.parametrize("transports", [("websocket",), ("polling", "websocket")])
async def test_a_refused_namespace_raises_the_servers_message_and_data(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server, seen = await started(start_server)
    # Reconnection on: a refusal is final all the same, as in socket.io-client.
    client = Client(auth={"refuse": True}, transports=transports)
    errors: list[ConnectError] = []
    client.on("connect_error", errors.append)
    with pytest.raises(ConnectError) as refused:
        async with client.connect(server.url):
            pytest.fail("connected although refused")
    assert refused.value.message == "not welcome"
    assert refused.value.data == {"why": "asked"}
    assert errors == [refused.value]
    # The connection that carried nothing else is closed, not left to time out.
    await wait_until(lambda: not server.app.engine.sessions)
    assert seen.connects == []


async def test_an_unknown_namespace_is_refused_with_invalid_namespace(
    start_server: ServerFactory,
) -> None:
    server, _ = await started(start_server)
    with pytest.raises(ConnectError, match="Invalid namespace"):
        async with connect(server.url, namespaces=["/nowhere"], transports=("websocket",)):
            pytest.fail("connected to a namespace the server does not have")


async def test_a_server_disconnect_is_final(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=("websocket",))
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    async with client.connect(server.url) as sio:
        sio.emit("kick-me")
        with trio.fail_after(5):
            await sio.wait_closed()
        assert reasons == ["io server disconnect"]
        assert not sio.connected
        assert sio.error is None
        with pytest.raises(Disconnected):
            sio.emit("echo")
    assert len(seen.connects) == 1
    assert seen.disconnects == [("/", "server namespace disconnect")]


@pytest.mark.parametrize(
    ("transports", "reason"),
    # A polling client learns of the cut from its pending poll's answer (a CLOSE packet) or,
    # when the session is already gone, from the next poll's refusal.
    [
        (("websocket",), {"transport close"}),
        (("polling",), {"transport close", "transport error"}),
    ],
    ids=["websocket", "polling"],
)
async def test_a_cut_transport_reconnects_after_the_backoff_delay(
    start_server: ServerFactory,
    autojump_clock: trio.testing.MockClock,
    transports: tuple[str, ...],
    reason: set[str],
) -> None:
    server, seen = await started(start_server)
    attempts = 0

    async def auth() -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        return {"attempt": attempts}

    # No jitter: the first delay is exactly reconnection_delay.
    client = Client(auth=auth, transports=transports, random=lambda: 0.0)
    happened: list[tuple[str, float]] = []
    client.on("connect", lambda: happened.append(("connect", trio.current_time())))
    client.on("disconnect", lambda why: happened.append((why, trio.current_time())))
    async with client.connect(server.url) as sio:
        first_id = sio.id
        for cut in (1, 2):
            session = server.app.engine.sessions[sio.engine_sid or ""]
            session.close(CloseReason.FORCED_CLOSE, flush=False)
            await wait_until(lambda cut=cut: len(happened) == 1 + 2 * cut)  # type: ignore[misc]
            _, (why, lost), (_, back) = happened[-3:]
            assert why in reason
            # Each cut waits the first delay again: a successful open resets the backoff.
            assert back - lost == pytest.approx(1.0, abs=0.1)
        assert sio.id != first_id
        assert await sio.call("echo", "again", timeout=5) == ["/", "again"]
    assert [auth for _, _, auth, _ in seen.connects] == [
        {"attempt": 1},
        {"attempt": 2},
        {"attempt": 3},
    ]


async def test_emits_while_reconnecting_wait_in_a_bounded_buffer_and_go_out_after(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=("websocket",), max_buffered_packets=2)
    async with client.events("disconnect") as lost, client.connect(server.url) as sio:
        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        await next_event(lost)
        assert not sio.connected
        sio.emit("echo", "first")
        with trio.fail_after(10):
            # The second buffered packet; it goes out once the socket is connected again.
            assert await sio.call("echo", "queued") == ["/", "queued"]
        assert len(seen.connects) == 2

        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        await next_event(lost)
        sio.emit("echo", 1)
        sio.emit("echo", 2)
        with pytest.raises(BufferFull):
            sio.emit("echo", 3)


async def test_leaving_the_last_namespace_while_reconnecting_stops_the_client(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=("websocket",))
    async with client.events("disconnect") as lost, client.connect(server.url) as sio:
        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        await next_event(lost)
        await sio.of("/").disconnect()
        with trio.fail_after(1):
            await sio.wait_closed()
        assert sio.engine_sid is None
    assert len(seen.connects) == 1


async def test_reconnection_backs_off_exponentially_then_gives_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bound but not listening: every attempt is refused at once, so the failures are
    # spaced exactly by the backoff delays.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        client = Client(transports=("websocket",), reconnection_attempts=4, random=lambda: 0.0)
        failures: list[float] = []
        client.on("connect_error", lambda error: failures.append(trio.current_time()))
        with pytest.raises(ConnectError, match="gave up after 4"):
            async with client.connect(f"http://127.0.0.1:{port}"):
                pytest.fail("connected to a closed port")
    gaps = [later - earlier for earlier, later in itertools.pairwise(failures)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0, 5.0], abs=0.1)


async def test_without_reconnection_an_unreachable_server_fails_at_once() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ConnectError, match="could not connect"):
            async with connect(f"http://127.0.0.1:{port}", reconnection=False):
                pytest.fail("connected to a closed port")


@TRANSPORTS
async def test_leaving_the_block_disconnects_cleanly(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=transports)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    async with client.connect(server.url, namespaces=["/", "/admin"]) as sio:
        sid = sio.engine_sid
        assert await sio.call("echo", timeout=5) == ["/"]
    assert not sio.connected
    assert reasons == ["io client disconnect"]
    # The server hears both namespaces leave, and the session ends at once, not by timeout.
    await wait_until(lambda: sid not in server.app.engine.sessions)
    assert sorted(seen.disconnects) == [
        ("/", "client namespace disconnect"),
        ("/admin", "client namespace disconnect"),
    ]
    with trio.fail_after(1):
        await sio.wait_closed()


async def test_the_client_answers_pings_so_an_idle_connection_lasts(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=("websocket",))
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    async with client.connect(server.url) as sio:
        sid = sio.engine_sid
        # Twelve ping intervals of the test server (5 s), idle.
        await trio.sleep(60)
        assert sio.engine_sid == sid
        assert await sio.call("echo", "awake", timeout=5) == ["/", "awake"]
    assert reasons == ["io client disconnect"]
    assert len(seen.connects) == 1


async def test_a_call_without_answer_times_out(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, _ = await started(start_server)
    async with connect(server.url, transports=("websocket",), reconnection=False) as sio:
        with pytest.raises(CallTimeout, match="'silent' within 3"):
            await sio.call("silent", timeout=3)
        assert await sio.call("echo", "still here", timeout=3) == ["/", "still here"]


async def test_catch_all_handlers_and_their_removal(start_server: ServerFactory) -> None:
    server, _ = await started(start_server)
    incoming: list[tuple[Any, ...]] = []
    outgoing: list[tuple[Any, ...]] = []
    client = Client(transports=("websocket",), reconnection=False)
    listener = client.on_any(lambda event, *args: incoming.append((event, *args)))
    out = client.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))
    async with client.events("shouted") as shouted, client.connect(server.url) as sio:
        sio.emit("shout", "a", b"\x01")
        await next_event(shouted)
        sio.off_any(listener)
        sio.off_any_outgoing(out)
        sio.emit("shout", "b", b"\x02")
        await next_event(shouted)
    assert incoming == [("hello", "/", None), ("shouted", "A", b"\x01")]
    assert outgoing == [("shout", "a", b"\x01")]


async def test_emits_beyond_the_send_buffer_raise(start_server: ServerFactory) -> None:
    server, _ = await started(start_server)
    async with connect(
        server.url, transports=("websocket",), reconnection=False, max_buffered_packets=3
    ) as sio:
        acked: list[Any] = []
        all_acked = trio.Event()

        def on_ack(name: str, number: int) -> None:
            acked.append(number)
            if len(acked) == 3:
                all_acked.set()

        # No checkpoint between the emits: the writer cannot drain any of them meanwhile.
        for number in range(3):
            sio.emit("echo", number, callback=on_ack)
        with pytest.raises(BufferFull):
            sio.emit("echo", 3)
        with trio.fail_after(5):
            await all_acked.wait()
        assert acked == [0, 1, 2]
        assert await sio.call("echo", "drained", timeout=5) == ["/", "drained"]


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_a_burst_of_emits_all_arrive(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    # The default heartbeat: the client's pong comes in behind its 2,500 emits, which a
    # loaded machine takes more than the tests' short one (5 s + 5 s) to get through.
    server = await start_server(make_app(Seen(), ping_interval=25.0, ping_timeout=20.0))
    acked: list[int] = []
    async with connect(
        server.url, transports=transports, reconnection=False, max_buffered_packets=5000
    ) as sio:
        # Queued without a checkpoint, so a polling client must split them over POSTs
        # the server accepts (it takes at most 1000 packets in one).
        for number in range(2500):
            sio.emit("echo", number, callback=lambda _, number: acked.append(number))
        # Answered after the 2,500 before it: bounded only against a hang.
        assert await sio.call("echo", "last", timeout=60) == ["/", "last"]
    assert acked == list(range(2500))


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_a_message_over_the_size_bound_ends_the_connection(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server, _ = await started(start_server)
    client = Client(transports=transports, reconnection=False, max_message_bytes=4096)
    async with client.connect(server.url) as sio:
        sio.emit("big", 10_000)
        with trio.fail_after(5):
            await sio.wait_closed()
        assert sio.error is not None
        assert not sio.connected


async def test_a_reader_that_does_not_keep_up_slows_the_connection_and_loses_nothing(
    start_server: ServerFactory,
) -> None:
    server, _ = await started(start_server)
    client = Client(transports=("websocket",), reconnection=False)
    async with client.events("flood", buffer=4) as flood, client.connect(server.url) as sio:
        sio.emit("flood", 300)
        await wait_until(lambda: flood.statistics().current_buffer_used == 4)
        numbers = [(await next_event(flood)).args[0] for _ in range(300)]
    assert numbers == list(range(300))


async def test_leaving_with_an_unread_events_channel_does_not_wait_for_it(
    start_server: ServerFactory,
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=("websocket",), reconnection=False)
    with trio.fail_after(3):
        async with client.events(buffer=1) as events, client.connect(server.url) as sio:
            # "connect" fills the channel; the server's "hello" then waits in the reader.
            await wait_until(lambda: events.statistics().tasks_waiting_send == 1)
            sio.emit("echo")
    await wait_until(lambda: ("/", "client namespace disconnect") in seen.disconnects)


async def test_the_chat_through_the_client(server: RunningServer) -> None:
    alice = Client(auth={"username": "alice"}, reconnection=False)
    bob = Client(auth={"username": "bob"}, transports=("websocket",), reconnection=False)
    async with (
        alice.events("session") as sessions,
        bob.events("message:channel") as bobs_messages,
        alice.connect(server.url) as chat,
        bob.connect(server.url),
    ):
        session = (await next_event(sessions)).args[0]
        assert session["username"] == "alice"
        (ack,) = await chat.call("message:channel:send", "general", "hello bob", timeout=5)
        assert ack["ok"] is True
        channel, message = (await next_event(bobs_messages)).args[:2]
        assert channel == "general"
        assert message["message"] == "hello bob"
        assert message["username"] == "alice"
        assert message["id"] == ack["id"]


class HandlerFailed(Exception):
    pass


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_a_handlers_exception_comes_out_of_the_block_as_itself(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    # Not wrapped in the client's nurseries, nor joined by a Disconnected from leaving a
    # connection the failure already ended.
    server, _ = await started(start_server)
    client = Client(transports=transports, reconnection=False)

    @client.on("shouted")
    def shouted(*args: Any) -> None:
        raise HandlerFailed("the handler failed")

    async def shout_and_wait() -> None:
        async with client.connect(server.url) as sio:
            sio.emit("shout", "hey", b"\x01")
            await trio.sleep_forever()

    with pytest.raises(HandlerFailed, match="the handler failed"):
        await shout_and_wait()


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_the_urls_path_is_the_namespace_as_in_io(
    start_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=transports, reconnection=False)
    # The Engine.IO endpoint stays the path option's (/socket.io/); the URL's query still goes.
    async with client.connect(server.url + "/admin?from=url") as sio:
        admin = sio.of("/admin")
        assert admin.connected
        assert not sio.connected
        assert await admin.call("echo", 1, timeout=5) == ["/admin", 1]
    assert [name for name, _, _, _ in seen.connects] == ["/admin"]
    assert seen.requests[0][1]["from"] == "url"
    # Given namespaces win over the URL's path.
    async with client.connect(server.url + "/admin", namespaces=["/"]) as sio:
        assert sio.connected
    assert [name for name, _, _, _ in seen.connects] == ["/admin", "/"]


def record_manager_events(client: Client, happened: list[tuple[str, Any, float]]) -> None:
    def record(event: str) -> Any:
        return lambda *args: happened.append(
            (event, args[0] if args else None, trio.current_time())
        )

    client.on("disconnect", record("disconnect"))
    client.on("connect", record("connect"))
    client.on_manager("reconnect_attempt", record("reconnect_attempt"))
    client.on_manager("reconnect", record("reconnect"))
    client.on_manager("reconnect_failed", record("reconnect_failed"))


async def test_the_connection_reports_its_reconnection_attempts_errors_and_success(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, seen = await started(start_server)
    client = Client(transports=("websocket",), random=lambda: 0.0)
    happened: list[tuple[str, Any, float]] = []
    record_manager_events(client, happened)
    errors: list[ConnectError] = []

    @client.on_manager("reconnect_error")
    async def reconnect_error(error: ConnectError) -> None:
        errors.append(error)
        happened.append(("reconnect_error", len(errors), trio.current_time()))
        if len(errors) == 2:
            client.path = "/socket.io/"

    async with client.connect(server.url) as sio:
        # The server answers no Engine.IO request at this path: the attempts fail until the
        # second failure's handler puts the right path back.
        client.path = "/nowhere/"
        session = server.app.engine.sessions[sio.engine_sid or ""]
        session.close(CloseReason.FORCED_CLOSE, flush=False)
        await wait_until(lambda: happened[-1][0] == "connect" and len(happened) > 1, 30)
        assert await sio.call("echo", "back", timeout=5) == ["/", "back"]
    start = happened[1][2]
    assert [(event, arg) for event, arg, _ in happened] == [
        ("connect", None),
        ("disconnect", "transport close"),
        ("reconnect_attempt", 1),
        ("reconnect_error", 1),
        ("reconnect_attempt", 2),
        ("reconnect_error", 2),
        ("reconnect_attempt", 3),
        ("reconnect", 3),
        ("connect", None),
        ("disconnect", "io client disconnect"),
    ]
    # Each attempt starts after its backoff delay: 1 s, then 2 s, then 4 s.
    attempts = [when - start for event, _, when in happened if event == "reconnect_attempt"]
    assert attempts == pytest.approx([1.0, 3.0, 7.0], abs=0.1)
    assert all(isinstance(error, ConnectError) for error in errors)
    assert len(seen.connects) == 2


async def test_the_connection_reports_giving_up_after_its_reconnection_attempts(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server, _ = await started(start_server)
    client = Client(transports=("websocket",), reconnection_attempts=2, random=lambda: 0.0)
    happened: list[tuple[str, Any, float]] = []
    record_manager_events(client, happened)
    client.on_manager("reconnect_error", lambda error: happened.append(("error", error, 0.0)))
    async with client.connect(server.url) as sio:
        client.path = "/nowhere/"
        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        with trio.fail_after(30):
            await sio.wait_closed()
        assert sio.error is not None
        assert "gave up after 2" in str(sio.error)
    assert [event for event, _, _ in happened] == [
        "connect",
        "disconnect",
        "reconnect_attempt",
        "error",
        "reconnect_attempt",
        "error",
        "reconnect_failed",
    ]
    assert [arg for event, arg, _ in happened if event == "reconnect_attempt"] == [1, 2]


async def test_no_reconnection_events_without_a_reconnection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The first connection failing is a connect_error, not a reconnect_error.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        client = Client(transports=("websocket",), reconnection=False)
        happened: list[tuple[str, Any, float]] = []
        record_manager_events(client, happened)
        client.on_manager("reconnect_error", lambda error: happened.append(("error", error, 0)))
        with pytest.raises(ConnectError, match="could not connect"):
            async with client.connect(f"http://127.0.0.1:{port}"):
                pytest.fail("connected to a closed port")
    assert happened == []


def test_only_the_connections_events_register_on_the_manager() -> None:
    with pytest.raises(ValueError, match="not an event of the connection"):
        Client().on_manager("connect", lambda: None)  # type: ignore[call-overload]


async def test_a_refused_websocket_handshake_fails_the_opening_at_once(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # The server answers the upgrade at an unknown path with an HTTP error, not a WebSocket:
    # a failed opening now, not one that waits out the open timeout.
    server, _ = await started(start_server)
    client = Client(transports=("websocket",), path="/nowhere/", reconnection=False)
    with trio.fail_after(1), pytest.raises(ConnectError, match="ConnectionRejected"):
        async with client.connect(server.url):
            pytest.fail("connected at a path the server does not serve")
