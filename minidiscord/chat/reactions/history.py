"""Messages read from the chat store, with their reactions read from the ReactionStore."""

from dataclasses import replace

from ..models import Message
from ..store.base import Snapshot
from .store import ReactionStore


async def with_reactions(reactions: ReactionStore, messages: list[Message]) -> list[Message]:
    """``messages`` (of any channels) with their reactions, in one read."""
    wanted: dict[str, list[int]] = {}
    for message in messages:
        wanted.setdefault(message.channel, []).append(message.id)
    found = await reactions.of(wanted) if wanted else {}
    if not found:
        return messages
    return [
        replace(m, reactions=found[(m.channel, m.id)]) if (m.channel, m.id) in found else m
        for m in messages
    ]


async def snapshot_with_reactions(reactions: ReactionStore, snapshot: Snapshot) -> Snapshot:
    """A connect snapshot whose messages carry their reactions (one more read)."""
    every = [m for messages in snapshot.messages.values() for m in messages]
    if not every:
        return snapshot
    reacted = iter(await with_reactions(reactions, every))
    by_channel = {
        name: [next(reacted) for _ in messages] for name, messages in snapshot.messages.items()
    }
    return replace(snapshot, messages=by_channel)
