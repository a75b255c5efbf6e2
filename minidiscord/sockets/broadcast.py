"""Emitting to many sockets: the packet is encoded once and the same frames go to each.

Delivery is ``send_nowait`` into each recipient's bounded queue, so a broadcast never
waits on a client; a client whose queue is full is dropped by its session.
"""

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .catchall import notify_recipients
from .packets import event_frames

if TYPE_CHECKING:
    from .namespace import Namespace
    from .socket import Socket


class BroadcastOperator:
    """A selection of a namespace's sockets: ``to`` rooms, minus ``except_`` rooms."""

    __slots__ = ("_except", "_namespace", "_rooms")

    def __init__(
        self,
        namespace: "Namespace",
        rooms: frozenset[str] = frozenset(),
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        self._namespace = namespace
        self._rooms = rooms
        self._except = excluded

    def to(self, room: str | Iterable[str]) -> "BroadcastOperator":
        return BroadcastOperator(self._namespace, self._rooms | _names(room), self._except)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> "BroadcastOperator":
        return BroadcastOperator(self._namespace, self._rooms, self._except | _names(room))

    def recipients(self) -> Iterable["Socket"]:
        namespace = self._namespace
        rooms = namespace.rooms
        selected: Iterable[Socket]
        if not self._rooms:
            selected = namespace.sockets.values()
        elif len(self._rooms) == 1:
            (room,) = self._rooms
            selected = rooms.get(room, ())
        else:
            selected = set().union(*(rooms.get(room, ()) for room in self._rooms))
        if not self._except:
            return selected
        excluded: set[Socket] = set().union(*(rooms.get(room, ()) for room in self._except))
        return [socket for socket in selected if socket not in excluded]

    def emit(self, event: str, *args: Any) -> None:
        started = time.perf_counter()
        frames = event_frames(self._namespace.name, event, args)
        selected = self.recipients()
        watching = self._namespace.watching_outgoing
        if watching:
            selected = notify_recipients(selected, watching, event, args)
        recipients = 0
        if len(frames) == 1:
            (frame,) = frames
            for socket in selected:
                socket.deliver_frame(frame)
                recipients += 1
        else:
            for socket in selected:
                socket.deliver(frames)
                recipients += 1
        metrics = self._namespace.metrics
        metrics.frames_delivered.inc(recipients * len(frames))
        metrics.fanout_seconds.observe(time.perf_counter() - started)


def _names(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)
