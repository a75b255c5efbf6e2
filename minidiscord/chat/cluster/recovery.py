"""Connection state recovery across the nodes of a cluster: a client that dropped from one
node gets its socket back on whichever node it reaches next (the same id, rooms and user),
with every event it missed once and in order, and no new greeting.

It rests on two facts. Every node shows the same log, in the same order (``reader.py``);
and what a node broadcasts while it applies entry ``n`` is for the same sockets whichever
node it is: a message goes to its channel's room, a presence event to the `welcome` room
except the room of the user it is about (``ChatServer._others``), and every socket of the
chat is in every channel and in its user's room. So:

- an offset is a log position, written as the entry's id ``0-n``, and means the same on
  every node. What the chat broadcasts while applying entry ``n`` carries ``0-n``; the
  connect greeting's `users` carries the position its history and users list are of
  (``Feed.offset_at``); nothing else the chat sends one socket carries an offset;
- each node keeps, for the recovery window, the frames it broadcast for each entry and whom
  they were for (:class:`LogTail`: the in-memory adapter's packet log, with log positions
  for offsets);
- a persisted session (socket id, rooms, ``data`` with its user as JSON) is kept in Redis
  (``P:recovery:{pid}``, the way ``minidiscord.redis.sessions`` keeps the Redis adapter's),
  so any node can take it (once: ``GETDEL``);
- a node restores a session only once its reader has applied the client's offset (a node
  behind the client would otherwise show it again what it has seen), and gives it back
  what it broadcast after that offset for the session's rooms, from its own tail, with no
  await between reading the tail and the socket joining its rooms: everything after that
  reaches the socket live. When the tail does not reach back to the offset (the node
  started or resynced after it, or dropped it for the window or the caps) the client gets
  a new socket and the usual fresh greeting.

What a client may not get back: events the chat sent that one socket alone outside the log
(a rate-limit notice, a System line refusing its message) that were lost with the
connection, as acknowledgements are.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import trio

from minidiscord.redis.connection import RedisClient, RedisUnavailable
from minidiscord.redis.sessions import SessionWriter, session_value, take_session
from minidiscord.sockets.recovery import Kept, KeptBroadcasts, reaches, stamped

from ...protocol.engineio import Frame
from ...protocol.socketio import Packet
from ...sockets import BroadcastOptions, InMemoryAdapter, Recovery, Session
from ...sockets.packets import frames_of
from ...sockets.recovery import Recorder
from ..models import Message, User
from .keys import ClusterKeys
from .presence import user_body, user_from
from .reader import LogReader, LogSink

if TYPE_CHECKING:
    from ...sockets import Adapter, Namespace

log = logging.getLogger(__name__)

# How long a restore waits for this node to apply the client's offset (seconds).
CATCH_UP_TIMEOUT = 2.0
# socket.data key of the chat's user (a User; JSON in a kept session).
USER_KEY = "user"


def offset_at(position: int) -> str:
    """The offset of log position ``position``: the entry's id."""
    return f"0-{position}"


def position_of(offset: str) -> int | None:
    """The log position an offset names (None when it is not one of ours)."""
    head, dash, number = offset.partition("-")
    if head != "0" or not dash or not number.isdigit() or len(number) > 19:
        return None
    return int(number)


class LogTail:
    """What this node broadcast while applying each log entry: the frames (stamped with the
    entry's offset) and whom they were for, kept for the recovery window, at most
    ``max_buffered_packets`` of them and ``max_buffered_bytes`` of frames (oldest dropped
    first). Every broadcast for an entry after ``complete_after`` is kept.

    It is the chat adapter's :class:`~minidiscord.sockets.recovery.Recorder` while a
    position is being shown (:meth:`showing`, or :meth:`offset_at` for what is stamped only).
    """

    def __init__(self) -> None:
        # The options of the namespace it records for (set by the adapter).
        self.recovery: Recovery | None = None
        self._kept = KeptBroadcasts()
        # Where the node started (or started over): nothing before it was kept.
        self._start = 0
        self._stamp: int | None = None
        self._keep = False

    def __len__(self) -> int:
        return len(self._kept.items)

    @property
    def complete_after(self) -> int:
        """Every broadcast for an entry after this position is kept."""
        return max(self._start, self._kept.dropped_up_to)

    @property
    def stamping(self) -> bool:
        """Whether broadcasts now get an offset."""
        return self._stamp is not None

    def reset(self, position: int) -> None:
        """The node starts (or starts over) at ``position``: nothing before it is kept."""
        self._kept.clear()
        self._start = position

    def showing(self, position: int) -> AbstractContextManager[None]:
        """Broadcasts within are entry ``position``'s: stamped with its offset, and kept."""
        return self._stamping(position, keep=True)

    def offset_at(self, position: int) -> AbstractContextManager[None]:
        """Broadcasts within carry ``position``'s offset but are not kept."""
        return self._stamping(position, keep=False)

    @contextmanager
    def _stamping(self, position: int, *, keep: bool) -> Iterator[None]:
        self._stamp, self._keep = position, keep
        try:
            yield
        finally:
            self._stamp, self._keep = None, False

    @contextmanager
    def unkept(self) -> Iterator[None]:
        """Broadcasts within carry the offset being shown but are not kept."""
        keep, self._keep = self._keep, False
        try:
            yield
        finally:
            self._keep = keep

    def record(self, packet: Packet, opts: BroadcastOptions) -> tuple[Frame, ...]:
        position = self._stamp
        assert position is not None, "record() is only called while stamping"
        frames = frames_of(stamped(packet, offset_at(position)))
        recovery = self.recovery
        if not self._keep or recovery is None:
            return frames
        now = trio.current_time()
        self._kept.drop_older_than(now - recovery.max_disconnection_duration)
        size = sum(len(frame) for frame in frames)
        self._kept.keep(Kept(position, now, opts, frames, size), recovery)
        return frames

    def missed(self, position: int, rooms: frozenset[str]) -> list[tuple[Frame, ...]] | None:
        """The frames broadcast for entries after ``position`` to a socket in ``rooms``, in
        order; None when some of them are no longer kept, or they are too many."""
        recovery = self.recovery
        if recovery is None:
            return None
        self._kept.drop_older_than(trio.current_time() - recovery.max_disconnection_duration)
        if position < self.complete_after:
            return None
        cap = recovery.max_missed_packets
        found: list[tuple[Frame, ...]] = []
        for kept in reversed(self._kept.items):
            if kept.key <= position:
                break
            if reaches(rooms, kept.opts):
                if len(found) == cap:
                    return None
                found.append(kept.frames)
        found.reverse()
        return found


class _Showing:
    """The chat's log sink, with each entry's broadcasts recorded under its position."""

    def __init__(self, sink: LogSink, tail: LogTail) -> None:
        self._sink = sink
        self._tail = tail

    def reset(self, position: int, online: list[User], *, resync: bool) -> None:
        self._tail.reset(position)
        self._sink.reset(position, online, resync=resync)

    def message(self, position: int, message: Message) -> None:
        with self._tail.showing(position):
            self._sink.message(position, message)

    def online(self, position: int, user: User, *, first: bool) -> None:
        with self._tail.showing(position):
            self._sink.online(position, user, first=first)

    def offline(self, position: int, user: User) -> None:
        with self._tail.showing(position):
            self._sink.offline(position, user)

    def leave(self, position: int, user: User) -> None:
        with self._tail.showing(position):
            self._sink.leave(position, user)

    def moderated(self, position: int, effect: dict[str, Any]) -> None:
        with self._tail.showing(position):
            self._sink.moderated(position, effect)

    def skipped(self, position: int) -> None:
        self._sink.skipped(position)


def _stored(session: Session) -> bytes:
    """A chat socket's session as kept in Redis (raises TypeError when its data is not
    JSON): its user as presence writes users."""
    data = session.data
    user = data.get(USER_KEY)
    if isinstance(user, User):
        data = {**data, USER_KEY: user_body(user)}
    return session_value(Session(session.sid, session.pid, session.rooms, data))


def _loaded(session: Session) -> Session:
    """A kept session with its user a User again (dropped when malformed)."""
    data = dict(session.data)
    if USER_KEY in data:
        user = user_from(data[USER_KEY])
        if user is None:
            del data[USER_KEY]
        else:
            data[USER_KEY] = user
    return Session(session.sid, session.pid, session.rooms, data)


class ChatRecovery:
    """One node's side of recovery across nodes: its tail, its session writer, and the
    restore (see the module docstring). Made by the node; the chat's adapter uses it."""

    def __init__(self, client: RedisClient, keys: ClusterKeys) -> None:
        self.tail = LogTail()
        self.sessions = SessionWriter()
        self._client = client
        self._keys = keys
        self._reader: LogReader | None = None

    def attach(self, sink: LogSink, reader: Callable[[LogSink], LogReader]) -> LogReader:
        """The node's log reader, made by ``reader`` for the chat's sink wrapped so that
        every entry's broadcasts are recorded under its position."""
        self._reader = reader(_Showing(sink, self.tail))
        return self._reader

    def persist(self, session: Session, recovery: Recovery) -> None:
        try:
            value = _stored(session)
        except TypeError as exc:
            log.warning("session %s not kept: its data is not JSON (%s)", session.pid, exc)
            return
        window_ms = int(recovery.max_disconnection_duration * 1000)
        self.sessions.keep(self._keys.recovery(session.pid), value, window_ms)

    async def restore(self, pid: str, offset: str) -> Session | None:
        reader = self._reader
        if reader is None:
            return None
        key = self._keys.recovery(pid)
        # A client straight back on the node it left may be quicker than that node's write.
        await self.sessions.settled(key, CATCH_UP_TIMEOUT)
        try:
            kept = await take_session(self._client, key)
        except RedisUnavailable as exc:
            log.warning("session %s not restored: %s", pid, exc)
            return None
        position = position_of(offset)
        if kept is None or position is None:
            return None
        session = _loaded(kept)
        # The client may have seen entries this node has not shown yet: they would reach
        # it again live.
        if not await reader.wait_applied(position, CATCH_UP_TIMEOUT):
            log.info("session %s not restored: this node is behind its offset %s", pid, offset)
            return None
        # No await from here until the socket is in its rooms (sockets.restore).
        missed = self.tail.missed(position, session.rooms)
        if missed is None:
            log.info("session %s not restored: what it missed is no longer kept here", pid)
            return None
        return Session(session.sid, session.pid, session.rooms, session.data, missed)


class ChatAdapter(InMemoryAdapter):
    """The chat namespace's adapter in cluster mode: the in-memory adapter (the log reader
    makes broadcasts cluster-wide, not the adapter), with recovery offsets that are log
    positions and sessions kept in Redis (:class:`ChatRecovery`)."""

    def __init__(self, namespace: "Namespace", recovery: ChatRecovery) -> None:
        super().__init__(namespace)
        self._recovery = recovery

    def _recovery_log(self) -> Recorder | None:
        tail = self._recovery.tail
        if not tail.stamping:
            return None
        tail.recovery = self.namespace.recovery
        return tail

    def persist_session(self, session: Session) -> None:
        recovery = self.namespace.recovery
        if recovery is not None:
            self._recovery.persist(session, recovery)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        recovery = self.namespace.recovery
        if recovery is None:
            return None
        self._recovery.tail.recovery = recovery
        return await self._recovery.restore(pid, offset)


def adapter_factory(recovery: ChatRecovery) -> Callable[["Namespace"], "Adapter"]:
    """Adapters for a chat node's namespaces: the chat's own (``/``) is a ChatAdapter."""

    def make(namespace: "Namespace") -> "Adapter":
        if namespace.name == "/":
            return ChatAdapter(namespace, recovery)
        return InMemoryAdapter(namespace)

    return make
