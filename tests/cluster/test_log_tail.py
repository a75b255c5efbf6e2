"""LogTail, what a node keeps of what it broadcast per log entry for recovery across nodes:
offsets are log positions, a session gets what was for its rooms after its offset, and
once anything after the offset is gone (window, caps, a restart of the log) nothing is."""

import trio

from minidiscord.chat.cluster.recovery import LogTail, offset_at, position_of
from minidiscord.protocol.socketio import Packet, PacketType
from minidiscord.sockets import BroadcastOptions, Recovery

ROOMS = frozenset({"sid-1", "welcome", "general", "user:u1"})


def event(*data: object) -> Packet:
    return Packet(PacketType.EVENT, "/", list(data))


def tail_of(recovery: Recovery) -> LogTail:
    tail = LogTail()
    tail.recovery = recovery
    tail.reset(10)
    return tail


def show(tail: LogTail, position: int, packet: Packet, opts: BroadcastOptions) -> None:
    with tail.showing(position):
        tail.record(packet, opts)


def to(*rooms: str, but: tuple[str, ...] = ()) -> BroadcastOptions:
    return BroadcastOptions(rooms=frozenset(rooms), except_=frozenset(but))


def test_offsets_are_the_entries_ids() -> None:
    assert offset_at(42) == "0-42"
    assert position_of("0-42") == 42
    for foreign in ("1a2b3c4d-42", "1-42", "0-", "0-x", "42", "0-" + "9" * 20):
        assert position_of(foreign) is None


async def test_a_session_gets_what_was_for_its_rooms_after_its_offset_in_order() -> None:
    tail = tail_of(Recovery())
    show(tail, 11, event("message:channel", "general", {"id": 11}), to("general"))
    show(tail, 12, event("user:connect", {"userId": "u1"}), to("welcome", but=("user:u1",)))
    show(tail, 13, event("message:channel", "react", {"id": 13}), to("react"))
    show(tail, 14, event("user:join", {"userId": "u2"}), to("welcome", but=("user:u2",)))
    show(tail, 15, event("message:channel", "general", {"id": 15}), to("general"))
    missed = tail.missed(11, ROOMS)
    # Not its own presence (12), nor a channel it is not in (13).
    assert missed == [
        ('42["user:join",{"userId":"u2"},"0-14"]',),
        ('42["message:channel","general",{"id":15},"0-15"]',),
    ]
    assert tail.missed(15, ROOMS) == []
    assert tail.missed(10, ROOMS) is not None


async def test_stamped_only_is_not_kept_and_nothing_is_stamped_outside() -> None:
    tail = tail_of(Recovery())
    with tail.offset_at(11):
        assert tail.stamping
        assert tail.record(event("users", []), to("sid-1")) == ('42["users",[],"0-11"]',)
    assert not tail.stamping
    assert len(tail) == 0


async def test_an_offset_before_the_tail_or_the_last_reset_is_not_recovered() -> None:
    tail = tail_of(Recovery())
    show(tail, 11, event("message:channel", "general", {"id": 11}), to("general"))
    assert tail.missed(9, ROOMS) is None  # before this node started
    tail.reset(20)  # a resync: entries 12..20 were never shown here
    assert tail.missed(11, ROOMS) is None
    assert tail.missed(20, ROOMS) == []


async def test_the_window_and_the_caps_drop_the_oldest_and_what_came_before(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tail = tail_of(Recovery(max_disconnection_duration=60.0, max_buffered_packets=3))
    for position in range(11, 16):
        show(tail, position, event("message:channel", "general", {"id": position}), to("general"))
    assert len(tail) == 3  # 13, 14, 15
    assert tail.missed(11, ROOMS) is None
    assert tail.missed(12, ROOMS) is not None
    await trio.sleep(61)
    assert tail.missed(12, ROOMS) is None
    assert tail.missed(15, ROOMS) == []
    assert len(tail) == 0


async def test_more_missed_than_allowed_is_not_recovered() -> None:
    tail = tail_of(Recovery(max_missed_packets=2))
    for position in range(11, 14):
        show(tail, position, event("message:channel", "general", {"id": position}), to("general"))
    assert tail.missed(10, ROOMS) is None
    assert tail.missed(11, ROOMS) is not None
