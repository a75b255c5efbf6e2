"""Dynamic namespaces: a parent namespace made of a pattern, whose children are created on
first connect to a name it matches.

``sio.of(re.compile(r"^/room-\\d+$"))`` or ``sio.of(predicate)``, where ``predicate(name,
auth)`` returns a bool (or an awaitable of one), gives a :class:`ParentNamespace`. As in the
reference server, a regular expression is searched in the name (anchor it to match the
whole name), and parents are asked in the order they were made, the first that matches
creating the child. A child is a namespace of its own (``sio.namespaces[name]``, its own
sockets and rooms); it uses its parent's handlers and middlewares, those added later
included (its server-side event handlers too), and may add its own. A child's adapter is
made by the server's adapter factory, like any namespace's; the parent's operators
(broadcasts, acks, bulk operations) reach every child through the children's adapters. A
name no parent matches still gets ``CONNECT_ERROR {"message": "Invalid namespace"}``.

With ``SocketServer(cleanup_empty_child_namespaces=True)`` a child is forgotten when its
last socket leaves (the reference's ``cleanupEmptyChildNamespaces``, off by default there
too): names chosen by clients then cost nothing once unused. A forgotten child's adapter is
closed.
"""

import inspect
import itertools
import logging
import re
from collections import ChainMap
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..metrics import Metrics
from .adapter import Adapter, AdapterFactory
from .middleware import ConnectMiddleware
from .namespace import Handler, Namespace
from .parent_adapter import ParentBroadcastAdapter
from .serverside import ServerSideHandler

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

NamespacePredicate = Callable[[str, dict[str, Any] | None], bool | Awaitable[bool]]
"""``predicate(name, auth)``: whether the client may have a namespace of that name."""

NamespacePattern = re.Pattern[str] | NamespacePredicate
"""What ``sio.of`` takes to make a parent of dynamic namespaces: a compiled regular
expression the names must match, or a :data:`NamespacePredicate`."""

_parents = itertools.count()


class ParentNamespace(Namespace):
    """The namespace of a pattern: handlers and middlewares for its children, and the
    operators over all of them. No client connects to it under its own name.

    Its adapter is a :class:`~minidiscord.sockets.parent_adapter.ParentBroadcastAdapter`:
    ``emit``, ``to``/``except_``, ``volatile``, ``local``, ``timeout(...).emit_with_ack``,
    ``fetch_sockets``, ``sockets_join``/``sockets_leave`` and ``disconnect_sockets`` act on
    every child through the child's own adapter, which ``adapter_factory`` (the server's)
    makes.
    """

    def __init__(
        self,
        pattern: NamespacePattern,
        registry: dict[str, Namespace],
        metrics: Metrics | None = None,
        *,
        # No default: a child must never fall back to the in-memory adapter unnoticed.
        adapter_factory: AdapterFactory,
        cleanup_empty_children: bool = False,
    ) -> None:
        self.children: dict[str, Namespace] = {}
        # A name no client can ask for (the reference's "/_0", "/_1", ...).
        super().__init__(f"/_{next(_parents)}", metrics, adapter_factory=_parent_adapter)
        self.pattern = pattern
        self.child_adapter_factory = adapter_factory
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
        child.adapter.close()


class ChildNamespace(Namespace):
    """A namespace its parent created for a name it matched."""

    def __init__(self, name: str, parent: ParentNamespace) -> None:
        super().__init__(name, parent.metrics, adapter_factory=parent.child_adapter_factory)
        self.parent = parent
        self.recovery = parent.recovery
        # The family's one counter: a broadcast with acks from the parent sends the same
        # ack id to every child, which then collides with no pending ack of theirs.
        self.ack_ids = parent.ack_ids
        # The parent's handlers, read live; ``on`` on the child adds its own in front.
        self.handlers = ChainMap[str, Handler]({}, parent.handlers)
        # Its server-side events' too, as in the reference.
        self.server_side.handlers = ChainMap[str, ServerSideHandler](
            {}, parent.server_side.handlers
        )
        # Clients between their CONNECT and joining: cleanup waits for them.
        self.connecting = 0

    def middleware_chain(self) -> Sequence[ConnectMiddleware]:
        return [*self.parent.middlewares, *self.middlewares]

    def remove(self, socket: "Socket") -> None:
        super().remove(socket)
        self.parent.forget_if_empty(self)


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


def _parent_adapter(namespace: Namespace) -> Adapter:
    assert isinstance(namespace, ParentNamespace)
    return ParentBroadcastAdapter(namespace)


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
