"""Connection state recovery: the exact frames on the wire (pid in the CONNECT answer, an
offset last in each kept event), a socket given back with its id, rooms, data and the
packets it missed, in order; what is not recoverable; the window and the caps (MockClock)."""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from minidiscord.engine.reasons import CloseReason
from minidiscord.protocol.socketio import Packet, PacketType
from minidiscord.sockets import BroadcastOptions, Namespace, Recovery, Session, SocketServer
from minidiscord.sockets.recovery import PacketLog
from tests.sockets.recovery_app import Seen, recovery_server
from tests.sockets.test_adapter_seam import RecordingAdapter
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import RunningApp, serve_any_app
from tests.support.waiting import wait_until


@asynccontextmanager
async def served(sio: SocketServer) -> AsyncIterator[RunningApp]:
    async with trio.open_nursery() as nursery:
        server = await serve_any_app(nursery, sio)
        try:
            yield server
        finally:
            server.shutdown.set()


def event_of(frame: str) -> list[Any]:
    assert frame.startswith("42"), frame
    decoded: list[Any] = json.loads(frame[2:])
    return decoded


async def joined(ws: RawWebSocket, room: str, auth: str = "") -> dict[str, Any]:
    """CONNECT (with ``auth``), then join ``room``; the CONNECT answer."""
    answer: dict[str, Any] = json.loads((await ws.join(auth))[2:])
    await ws.send(f'420["join","{room}"]')
    assert await ws.text() == '430["joined"]'
    return answer


async def test_off_by_default_no_pid_and_no_offsets() -> None:
    seen = Seen()
    sio = recovery_server(seen, recovery=None)
    async with served(sio) as server, raw_websocket(server.ws_url) as ws:
        answer = await joined(ws, "r")
        assert set(answer) == {"sid"}
        sio.to("r").emit("news", 1)
        assert event_of(await ws.text()) == ["news", 1]


async def test_the_connect_answer_has_a_pid_and_kept_events_end_with_an_offset() -> None:
    seen = Seen()
    sio = recovery_server(seen)
    async with served(sio) as server, raw_websocket(server.ws_url) as ws:
        answer = await joined(ws, "r")
        assert set(answer) == {"sid", "pid"}
        assert isinstance(answer["pid"], str)
        assert answer["pid"] != answer["sid"]
        socket = seen.sockets[answer["sid"]]
        assert socket.pid == answer["pid"]
        assert not socket.recovered

        sio.to("r").emit("news", 1)
        sio.emit("all", {"a": 2})
        socket.emit("direct", "x")
        first, second, third = [event_of(await ws.text()) for _ in range(3)]
        assert first[:2] == ["news", 1]
        assert len(first) == 3
        assert second[:2] == ["all", {"a": 2}]
        assert len(second) == 3
        # A socket's own emit is kept too (the reference sends it to the room of its id).
        assert third[:2] == ["direct", "x"]
        assert len(third) == 3
        offsets = [first[2], second[2], third[2]]
        assert all(isinstance(o, str) for o in offsets)
        assert len(set(offsets)) == 3

        # Volatile and with-ack events are not kept: no offset.
        sio.volatile.emit("vol", 1)
        assert await ws.text() == '42["vol",1]'
        await wait_until(lambda: socket.writable)
        assert socket.volatile.emit("vol", 2)
        assert await ws.text() == '42["vol",2]'
        socket.emit("ask", 1, callback=lambda *_: None)
        assert re.fullmatch(r'42\d+\["ask",1\]', await ws.text())


async def test_a_dropped_connection_gets_its_socket_and_missed_packets_back() -> None:
    seen = Seen()
    sio = recovery_server(seen)
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = await joined(ws, "r")
            sio.to("r").emit("before", 0)
            offset = event_of(await ws.text())[-1]
        # The WebSocket went away without a DISCONNECT: a recoverable reason.
        await wait_until(lambda: len(seen.disconnects) == 1)
        assert seen.disconnects == [(answer["sid"], "transport close")]
        sio.to("r").emit("missed", 1)
        sio.to("elsewhere").emit("not for it", 2)
        sio.except_("r").emit("not for it either", 3)
        sio.emit("missed", 4)
        assert seen.middleware_runs == 1

        auth = json.dumps({"pid": answer["pid"], "offset": offset, "token": "t"})
        async with raw_websocket(server.ws_url) as ws:
            await ws.send(f"40{auth}")
            assert json.loads((await ws.text())[2:]) == answer
            missed = [event_of(await ws.text()) for _ in range(2)]
            assert [m[:2] for m in missed] == [["missed", 1], ["missed", 4]]
            # Back in its rooms: live broadcasts to them reach it again.
            sio.to("r").emit("live", 5)
            assert event_of(await ws.text())[:2] == ["live", 5]

            sid, recovered, rooms, data = seen.connects[-1]
            assert (sid, recovered) == (answer["sid"], True)
            assert rooms == {answer["sid"], "r"}
            assert data == {"first_auth": None, "joined": "r"}
            # skip_middlewares (the default): the middleware ran once, on the first connect.
            assert seen.middleware_runs == 1
            socket = seen.sockets[sid]
            assert socket.handshake.auth == {"pid": answer["pid"], "offset": offset, "token": "t"}


async def test_middlewares_run_again_unless_skipped() -> None:
    seen = Seen()
    sio = recovery_server(seen, Recovery(skip_middlewares=False))
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = await joined(ws, "r")
            sio.to("r").emit("before", 0)
            offset = event_of(await ws.text())[-1]
        await wait_until(lambda: len(seen.disconnects) == 1)
        auth = json.dumps({"pid": answer["pid"], "offset": offset})
        async with raw_websocket(server.ws_url) as ws:
            await ws.send(f"40{auth}")
            assert json.loads((await ws.text())[2:]) == answer
    assert seen.middleware_runs == 2
    assert seen.connects[-1][1] is True


async def test_a_namespace_disconnect_is_not_recoverable() -> None:
    seen = Seen()
    sio = recovery_server(seen)
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = await joined(ws, "r")
            sio.to("r").emit("before", 0)
            offset = event_of(await ws.text())[-1]
            await ws.send("41")
            await wait_until(lambda: len(seen.disconnects) == 1)
            assert seen.disconnects[0][1] == "client namespace disconnect"
            await ws.send("40" + json.dumps({"pid": answer["pid"], "offset": offset}))
            again = json.loads((await ws.text())[2:])
        assert again["sid"] != answer["sid"]
        assert again["pid"] != answer["pid"]
        assert seen.connects[-1][1] is False
        assert seen.middleware_runs == 2


async def test_a_server_disconnect_is_not_recoverable() -> None:
    seen = Seen()
    sio = recovery_server(seen)
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = await joined(ws, "r")
            sio.to("r").emit("before", 0)
            offset = event_of(await ws.text())[-1]
            seen.sockets[answer["sid"]].disconnect()
            assert await ws.text() == "41"
            await ws.send("40" + json.dumps({"pid": answer["pid"], "offset": offset}))
            again = json.loads((await ws.text())[2:])
        assert again["sid"] != answer["sid"]


@pytest.mark.parametrize("reason", [CloseReason.PING_TIMEOUT, CloseReason.TRANSPORT_ERROR])
async def test_a_lost_connection_is_recoverable(reason: CloseReason) -> None:
    seen = Seen()
    sio = recovery_server(seen)
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = await joined(ws, "r")
            sio.to("r").emit("before", 0)
            offset = event_of(await ws.text())[-1]
            sio.app.engine.sessions[ws.sid].close(reason, flush=False)
            await wait_until(lambda: len(seen.disconnects) == 1)
        sio.to("r").emit("missed", 1)
        async with raw_websocket(server.ws_url) as ws:
            await ws.send("40" + json.dumps({"pid": answer["pid"], "offset": offset}))
            assert json.loads((await ws.text())[2:]) == answer
            assert event_of(await ws.text())[:2] == ["missed", 1]


async def test_an_unknown_offset_or_pid_makes_a_new_socket() -> None:
    seen = Seen()
    sio = recovery_server(seen)
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = await joined(ws, "r")
        await wait_until(lambda: len(seen.disconnects) == 1)
        for auth in (
            {"pid": answer["pid"], "offset": "somewhere-else-1"},
            {"pid": "nobody", "offset": "x"},
            {"pid": answer["pid"]},
        ):
            async with raw_websocket(server.ws_url) as ws:
                await ws.send("40" + json.dumps(auth))
                again = json.loads((await ws.text())[2:])
                assert again["sid"] != answer["sid"]
        assert [recovered for _, recovered, _, _ in seen.connects] == [False] * 4


# The window and the caps, on the adapter's log alone, in MockClock time ------------------


def event(n: int) -> Packet:
    return Packet(PacketType.EVENT, "/", ["e", n])


def offset_of(frames: tuple[Any, ...]) -> str:
    text = frames[0]
    assert isinstance(text, str)
    last: str = json.loads(text[2:])[-1]
    return last


ROOM_R = BroadcastOptions(rooms=frozenset({"r"}))


def session(pid: str = "p") -> Session:
    return Session("sid", pid, frozenset({"sid", "r"}), {"k": 1})


async def test_a_session_and_its_packets_expire_after_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = PacketLog(Recovery(max_disconnection_duration=120.0))
    seen_offset = offset_of(log.record(event(0), ROOM_R))
    log.persist(session())
    log.record(event(1), ROOM_R)
    await trio.sleep(119.0)
    restored = log.restore("p", seen_offset)
    assert restored is not None
    assert len(restored.missed) == 1
    # Restored once: the same pid again is unknown.
    assert log.restore("p", seen_offset) is None

    log.persist(session())
    await trio.sleep(121.0)
    assert log.restore("p", seen_offset) is None
    # The packets older than the window went too (on the next record).
    log.record(event(2), ROOM_R)
    assert len(log) == 1


async def test_a_packet_missed_but_no_longer_kept_makes_the_session_unrecoverable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = PacketLog(Recovery(max_disconnection_duration=120.0, max_buffered_packets=3))
    seen_offset = offset_of(log.record(event(0), ROOM_R))
    log.persist(session())
    for n in range(1, 4):
        log.record(event(n), ROOM_R)
    # Four recorded, three kept: packet 1, the first missed, is still there.
    assert len(log) == 3
    assert log.restore("p", seen_offset) is not None
    log.persist(session())
    log.record(event(4), ROOM_R)  # now packet 1 is gone
    assert log.restore("p", seen_offset) is None


async def test_more_missed_packets_than_the_cap_make_the_session_unrecoverable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = PacketLog(Recovery(max_missed_packets=2))
    seen_offset = offset_of(log.record(event(0), ROOM_R))
    log.persist(session())
    log.record(event(1), ROOM_R)
    log.record(event(2), BroadcastOptions(rooms=frozenset({"other"})))  # not for it
    log.record(event(3), ROOM_R)
    restored = log.restore("p", seen_offset)
    assert restored is not None
    assert len(restored.missed) == 2
    log.persist(session())
    log.record(event(4), ROOM_R)
    assert log.restore("p", seen_offset) is None


async def test_sessions_are_persisted_and_restored_through_the_adapter() -> None:
    adapters: list[RecordingAdapter] = []

    def recording(namespace: Namespace) -> RecordingAdapter:
        adapters.append(RecordingAdapter(namespace))
        return adapters[-1]

    sio = SocketServer(adapter=recording, connection_state_recovery=Recovery())
    (root,) = adapters
    async with served(sio) as server:
        async with raw_websocket(server.ws_url) as ws:
            answer = json.loads((await ws.join())[2:])
            sio.emit("news", 1)
            offset = event_of(await ws.text())[-1]
        await wait_until(lambda: not sio.of("/").sockets)
        persisted = [call for call in root.take() if call[0] == "persist_session"]
        assert persisted == [("persist_session", answer["sid"], frozenset({answer["sid"]}))]
        async with raw_websocket(server.ws_url) as ws:
            await ws.send("40" + json.dumps({"pid": answer["pid"], "offset": offset}))
            assert json.loads((await ws.text())[2:]) == answer
        assert ("restore_session", answer["pid"], offset) in root.take()


async def test_the_kept_bytes_are_capped_oldest_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = PacketLog(Recovery(max_buffered_bytes=100))
    seen_offset = offset_of(log.record(event(0), ROOM_R))
    log.persist(session())
    big = Packet(PacketType.EVENT, "/", ["e", "x" * 40])
    log.record(big, ROOM_R)
    assert log.buffered_bytes <= 100
    assert len(log) == 2
    restored = log.restore("p", seen_offset)
    assert restored is not None
    assert len(restored.missed) == 1
    log.persist(session())
    log.record(big, ROOM_R)  # over 100 bytes kept: the oldest go until it fits
    assert log.buffered_bytes <= 100
    assert len(log) == 1
    assert log.restore("p", seen_offset) is None


async def test_an_unkept_event_carries_the_last_kept_offset_and_recovers_from_there(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = PacketLog(Recovery(max_disconnection_duration=120.0))
    own = BroadcastOptions(rooms=frozenset({"sid"}))
    # A greeting before anything was kept: the offset of "nothing yet".
    with log.unkept():
        first_greeting = offset_of(log.record(event(0), own))
    assert len(log) == 0
    log.record(event(1), ROOM_R)
    with log.unkept():
        greeting = offset_of(log.record(event(2), own))
    assert len(log) == 1  # the greeting was not kept
    log.persist(session())
    restored = log.restore("p", greeting)
    assert restored is not None
    assert restored.missed == []
    # Held before packet 1: it is given back, and the greeting after it is not.
    log.persist(session())
    log.record(event(3), ROOM_R)
    restored = log.restore("p", first_greeting)
    assert restored is not None
    assert [event_of(str(frames[0]))[1] for frames in restored.missed] == [1, 3]
    # Once the window has dropped every kept packet, an older offset missed some.
    await trio.sleep(121.0)
    log.persist(session())
    with log.unkept():
        latest = offset_of(log.record(event(4), own))
    assert len(log) == 0
    assert log.restore("p", first_greeting) is None
    log.persist(session())
    restored = log.restore("p", latest)
    assert restored is not None
    assert restored.missed == []
