"""Emitting to many sockets, and acting on many at once: the broadcast operators.

A :class:`BroadcastOperator` is a selection (``to``/``in_`` rooms, ``except_`` rooms) with
flags (``volatile``, ``local``, ``timeout``); each call on it goes to the namespace's
:class:`~minidiscord.sockets.Adapter`, which the default in-memory adapter carries out by
encoding the packet once and handing the same frames to each recipient without waiting.
"""

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.socketio import Packet, PacketType
from .adapter import Adapter, BroadcastOptions
from .errors import BroadcastAckTimeout

if TYPE_CHECKING:
    from .remote import RemoteSocket

_DEFAULT = BroadcastOptions()
# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_EVENT = PacketType.EVENT


class BroadcastOperator:
    """A selection of a namespace's sockets: ``to`` rooms (every socket when none), minus
    those in ``except_`` rooms, with flags; immutable, each modifier returns a new one.

    ``volatile``: a recipient that cannot take the packet now (see
    :attr:`Socket.writable <minidiscord.sockets.Socket.writable>`) does not get it, rather
    than getting it late. ``local``: this server's sockets only (the in-memory adapter has
    no others). ``timeout(seconds)``: how long ``emit_with_ack`` waits for the answers.
    """

    __slots__ = ("_adapter", "_opts")

    def __init__(self, adapter: Adapter, opts: BroadcastOptions = _DEFAULT) -> None:
        self._adapter = adapter
        self._opts = opts

    @property
    def options(self) -> BroadcastOptions:
        """The selection and flags this operator applies."""
        return self._opts

    # Modifiers ------------------------------------------------------------------------

    def to(self, room: str | Iterable[str]) -> "BroadcastOperator":
        """Also the sockets in ``room`` (a name or several; a socket id is a room too)."""
        opts = self._opts
        # The constructor, not dataclasses.replace: this runs on every chat message (~1 us less).
        return BroadcastOperator(
            self._adapter, BroadcastOptions(opts.rooms | _names(room), opts.except_, opts.flags)
        )

    in_ = to

    def except_(self, room: str | Iterable[str]) -> "BroadcastOperator":
        """Without the sockets in ``room`` (a name or several)."""
        opts = self._opts
        return BroadcastOperator(
            self._adapter, BroadcastOptions(opts.rooms, opts.except_ | _names(room), opts.flags)
        )

    @property
    def volatile(self) -> "BroadcastOperator":
        """Dropped, not queued, for a recipient that cannot take it now."""
        return self._with_flags(volatile=True)

    @property
    def local(self) -> "BroadcastOperator":
        """This server's sockets only."""
        return self._with_flags(local=True)

    def timeout(self, seconds: float) -> "BroadcastOperator":
        """Wait this long for acknowledgements (``emit_with_ack``)."""
        if seconds < 0:
            raise ValueError(f"a timeout is not negative: {seconds}")
        return self._with_flags(timeout=seconds)

    def _with_flags(self, **flags: Any) -> "BroadcastOperator":
        opts = self._opts
        return BroadcastOperator(self._adapter, replace(opts, flags=replace(opts.flags, **flags)))

    # Emitting -------------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to every selected socket; never waits on a client."""
        adapter = self._adapter
        packet = Packet(_EVENT, adapter.namespace.name, [event, *args])
        adapter.broadcast(packet, self._opts)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send an event asking each selected socket to acknowledge it; every answer (the
        client's first ack argument), in the order they came, once all recipients answered.

        Needs ``timeout(seconds)``: when some recipients have not answered by then, raises
        :class:`~minidiscord.sockets.BroadcastAckTimeout` naming how many, with the answers
        received. No recipients: ``[]`` at once.
        """
        timeout = self._opts.flags.timeout
        if timeout is None:
            raise ValueError("a broadcast with acks needs a timeout: use .timeout(seconds)")
        adapter = self._adapter
        namespace = adapter.namespace
        ack_id = next(namespace.ack_ids)
        packet = Packet(PacketType.EVENT, namespace.name, [event, *args], ack_id)
        answers = _Answers()
        try:
            with trio.move_on_after(timeout):
                await adapter.broadcast_with_ack(
                    packet, self._opts, answers.counted, answers.answered
                )
                # With ``local`` only this server sends it, however many share the namespace.
                local = self._opts.flags.local
                answers.expect_servers(1 if local else await adapter.server_count())
                await answers.done.wait()
        finally:
            # Timed out or cancelled: the sockets that did not answer stop waiting too.
            if not answers.done.is_set():
                adapter.remove_acks(ack_id, self._opts)
        if answers.done.is_set():
            return answers.responses
        missing, described = answers.missing()
        raise BroadcastAckTimeout(
            f"{described} did not acknowledge {event!r} within {timeout} s "
            f"({len(answers.responses)} answered)",
            list(answers.responses),
            missing,
        )

    # Acting on the selected sockets ---------------------------------------------------

    async def fetch_sockets(self) -> list["RemoteSocket"]:
        """The selected sockets (of every server): id, handshake, rooms and data, and
        ``join``/``leave``/``disconnect``/``emit`` that act on the socket wherever it is."""
        from .remote import RemoteSocket

        adapter = self._adapter
        return [
            RemoteSocket(adapter, details) for details in await adapter.fetch_sockets(self._opts)
        ]

    def sockets_join(self, room: str | Iterable[str]) -> None:
        """Every selected socket joins ``room`` (a name or several)."""
        self._adapter.add_sockets(self._opts, _names(room))

    def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Every selected socket leaves ``room`` (a name or several)."""
        self._adapter.del_sockets(self._opts, _names(room))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket; ``close`` ends their whole connections too."""
        self._adapter.disconnect_sockets(self._opts, close)


class _Answers:
    """The answers to one broadcast with acks, complete once every server has said how many
    clients it sent it to and that many answers have come."""

    __slots__ = ("clients", "done", "expected_servers", "responses", "servers")

    def __init__(self) -> None:
        self.responses: list[Any] = []
        self.clients = 0
        self.servers = 0
        self.expected_servers: int | None = None
        self.done = trio.Event()

    def counted(self, clients: int) -> None:
        self.clients += clients
        self.servers += 1
        self._check()

    def answered(self, response: Any) -> None:
        if not self.done.is_set():
            self.responses.append(response)
            self._check()

    def expect_servers(self, count: int) -> None:
        self.expected_servers = count
        self._check()

    def _check(self) -> None:
        if self.servers == self.expected_servers and len(self.responses) >= self.clients:
            self.done.set()

    def missing(self) -> tuple[int, str]:
        """How many did not answer, and those words (a lower bound while some servers have
        not said how many clients they sent to)."""
        missing = max(self.clients - len(self.responses), 0)
        if self.expected_servers is None or self.servers < self.expected_servers:
            return missing, f"at least {missing} of at least {self.clients} clients"
        return missing, f"{missing} of {self.clients} clients"


def _names(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)
