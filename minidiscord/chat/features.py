"""What the chat server is made of: features, each naming the client events it answers
and the effects it applies, registered by the server in one place.

A feature's ``handlers()`` maps client events to handlers on the "/" namespace; its
``effects()`` maps an effect's ``do`` (moderation/effects.py ``Do``) to how this node
applies one. An effect is what a change on one node must do to every node's sockets:
``ChatServer.moderate`` applies it at once on one node and appends it to the log in
cluster mode, where every node's reader applies it through the same table. An event or an
effect claimed by two features is a programming error, refused at startup.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping

from minidiscord.sockets import Namespace

from .moderation.effects import Do, Effect

# A client event's handler (or `connect`'s, `disconnect`'s): what it returns is the ack.
Handler = Callable[..., Awaitable[object]]

# How this node applies an effect; False when the effect is malformed (nothing applied:
# the log is shared, so its entries are checked, not trusted).
Applier = Callable[[Effect], bool]


def install(ns: Namespace, features: Iterable[Mapping[str, Handler]]) -> None:
    """Register every feature's handlers on ``ns``."""
    taken: set[str] = set()
    for handlers in features:
        for event, handler in handlers.items():
            if event in taken:
                raise ValueError(f"two features answer {event!r}")
            taken.add(event)
            ns.on(event)(handler)


def effect_table(features: Iterable[Mapping[Do, Applier]]) -> dict[str, Applier]:
    """Every feature's appliers, by the ``do`` of the effects they apply."""
    table: dict[str, Applier] = {}
    for effects in features:
        for what, apply in effects.items():
            if what.value in table:
                raise ValueError(f"two features apply {what.value!r}")
            table[what.value] = apply
    return table


def always(apply: Callable[[Effect], None]) -> Applier:
    """An applier that takes every effect of its kind (it checks its fields itself)."""

    def applied(effect: Effect) -> bool:
        apply(effect)
        return True

    return applied
