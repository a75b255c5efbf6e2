"""Dynamic namespaces: a parent namespace made of a pattern, whose children are created on
first connect to a name it matches.

``sio.of(re.compile(r"^/room-\\d+$"))`` or ``sio.of(predicate)``, where ``predicate(name,
auth)`` returns a bool (or an awaitable of one), gives a :class:`ParentNamespace`. As in the
reference server, a regular expression is searched in the name (anchor it to match the
whole name), and parents are asked in the order they were made, the first that matches
creating the child. A child is a namespace of its own (``sio.namespaces[name]``, its own
sockets and rooms); it uses its parent's handlers and middlewares, those added later
included, and may add its own. Broadcasting on the parent reaches every child. A name no
parent matches still gets ``CONNECT_ERROR {"message": "Invalid namespace"}``.

With ``SocketServer(cleanup_empty_child_namespaces=True)`` a child is forgotten when its
last socket leaves (the reference's ``cleanupEmptyChildNamespaces``, off by default there
too): names chosen by clients then cost nothing once unused.
"""

import inspect
import itertools
import logging
import re
from collections import ChainMap
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..metrics import Metrics
from .broadcast import BroadcastOperator
from .middleware import ConnectMiddleware
from .namespace import Handler, Namespace

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

NamespacePredicate = Callable[[str, dict[str, Any] | None], bool | Awaitable[bool]]
"""``predicate(name, auth)``: whether the client may have a namespace of that name."""

NamespacePattern = re.Pattern[str] | NamespacePredicate

_parents = itertools.count()


class ParentNamespace(Namespace):
    """The namespace of a pattern: handlers and middlewares for its children, and
    broadcasts to all of them. No client connects to it under its own name."""

    def __init__(
        self,
        pattern: NamespacePattern,
        registry: dict[str, Namespace],
        metrics: Metrics | None = None,
        *,
        cleanup_empty_children: bool = False,
    ) -> None:
        # A name no client can ask for (the reference's "/_0", "/_1", ...).
        super().__init__(f"/_{next(_parents)}", metrics)
        self.pattern = pattern
        self.children: dict[str, Namespace] = {}
        self._registry = registry
        self._cleanup = cleanup_empty_children

    def __repr__(self) -> str:
        return f"<ParentNamespace {self.pattern!r}>"

    async def matches(self, name: str, auth: dict[str, Any] | None) -> bool:
        """Whether ``name`` belongs to this parent (a failing predicate is a no, logged)."""
        pattern = self.pattern
        if isinstance(pattern, re.Pattern):
            return pattern.search(name) is not None
        try:
            answer = pattern(name, auth)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception:
            logger.exception("namespace predicate %r failed on %r", pattern, name)
            return False
        return bool(answer)

    def create_child(self, name: str) -> Namespace:
        """Make the child namespace ``name`` and register it with the server."""
        child = ChildNamespace(name, self)
        self.children[name] = child
        self._registry[name] = child
        return child

    def forget_if_empty(self, child: "ChildNamespace") -> None:
        """Forget a child nobody is in or connecting to (when cleanup is on)."""
        if not self._cleanup or child.sockets or child.connecting:
            return
        if self.children.get(child.name) is child:
            del self.children[child.name]
        if self._registry.get(child.name) is child:
            del self._registry[child.name]

    # Broadcasting reaches every child ---------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        for child in list(self.children.values()):
            child.emit(event, *args)

    def to(self, room: str | Iterable[str]) -> "ParentBroadcast":
        return ParentBroadcast(self).to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> "ParentBroadcast":
        return ParentBroadcast(self).except_(room)


class ChildNamespace(Namespace):
    """A namespace its parent created for a name it matched."""

    def __init__(self, name: str, parent: ParentNamespace) -> None:
        super().__init__(name, parent.metrics)
        self.parent = parent
        # The parent's handlers, read live; ``on`` on the child adds its own in front.
        self.handlers = ChainMap[str, Handler]({}, parent.handlers)
        # Clients between their CONNECT and joining: cleanup waits for them.
        self.connecting = 0

    def middleware_chain(self) -> Sequence[ConnectMiddleware]:
        return [*self.parent.middlewares, *self.middlewares]

    def remove(self, socket: "Socket") -> None:
        super().remove(socket)
        self.parent.forget_if_empty(self)


class ParentBroadcast(BroadcastOperator):
    """``to``/``in_``/``except_`` on a parent namespace: the same selection in each child."""

    __slots__ = ()

    def __init__(
        self,
        parent: ParentNamespace,
        rooms: frozenset[str] = frozenset(),
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(parent, rooms, excluded)

    @property
    def _parent(self) -> ParentNamespace:
        parent = self._namespace
        assert isinstance(parent, ParentNamespace)
        return parent

    def to(self, room: str | Iterable[str]) -> "ParentBroadcast":
        return ParentBroadcast(self._parent, self._rooms | _names(room), self._except)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> "ParentBroadcast":
        return ParentBroadcast(self._parent, self._rooms, self._except | _names(room))

    def _in_children(self) -> list[BroadcastOperator]:
        children = list(self._parent.children.values())
        return [BroadcastOperator(child, self._rooms, self._except) for child in children]

    def recipients(self) -> Iterable["Socket"]:
        return [socket for each in self._in_children() for socket in each.recipients()]

    def emit(self, event: str, *args: Any) -> None:
        for each in self._in_children():
            each.emit(event, *args)


async def find_child(
    parents: Sequence[ParentNamespace],
    registry: dict[str, Namespace],
    name: str,
    auth: dict[str, Any] | None,
) -> Namespace | None:
    """The namespace for a CONNECT to a name not registered: the child of the first parent
    that matches it (made now), or None."""
    for parent in parents:
        if await parent.matches(name, auth):
            # Another client's CONNECT may have made it while a predicate awaited.
            existing = registry.get(name)
            return existing if existing is not None else parent.create_child(name)
    return None


@contextmanager
def connecting(namespace: Namespace) -> Iterator[None]:
    """While a client goes through a namespace's middlewares: a child is not cleaned up
    under it."""
    if not isinstance(namespace, ChildNamespace):
        yield
        return
    namespace.connecting += 1
    try:
        yield
    finally:
        namespace.connecting -= 1


def _names(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)
