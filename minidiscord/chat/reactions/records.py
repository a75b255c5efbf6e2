"""What a message's reactions are, the bounds on them, and the one rule that changes them
(memory and SQLite apply ``changed`` under their own atomicity; Redis's script the same)."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

# Distinct emoji on one message, at most: a message is not a palette.
MAX_KINDS: Final = 20
# Reactions by one user on one message, at most.
MAX_OWN: Final = 10


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji on a message and who reacted with it, in the order they did."""

    emoji: str
    user_ids: tuple[str, ...]

    def wire(self) -> dict[str, Any]:
        return {"emoji": self.emoji, "count": len(self.user_ids), "userIds": list(self.user_ids)}


Reactions = tuple[Reaction, ...]


class Outcome(StrEnum):
    """What asking to add or remove a reaction did."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already there (add) or not there (remove)
    TOO_MANY_KINDS = "too many kinds"
    TOO_MANY_OWN = "too many own"


# A message's reactions as kept: (emoji, user id) pairs in the order they were added.
Pairs = tuple[tuple[str, str], ...]


def changed(current: Pairs, emoji: str, user_id: str, *, add: bool) -> tuple[Outcome, Pairs]:
    """``current`` with ``user_id``'s ``emoji`` added (last) or removed, within the bounds."""
    pair = (emoji, user_id)
    if not add:
        if pair not in current:
            return Outcome.UNCHANGED, current
        return Outcome.CHANGED, tuple(p for p in current if p != pair)
    if pair in current:
        return Outcome.UNCHANGED, current
    kinds = {e for e, _ in current}
    if emoji not in kinds and len(kinds) >= MAX_KINDS:
        return Outcome.TOO_MANY_KINDS, current
    if sum(u == user_id for _, u in current) >= MAX_OWN:
        return Outcome.TOO_MANY_OWN, current
    return Outcome.CHANGED, (*current, pair)


def grouped(rows: Iterable[tuple[str, str]]) -> Reactions:
    """(emoji, user id) pairs, in the order they were added, as a message's reactions:
    each emoji where its earliest pair is, its users in their pairs' order."""
    users: dict[str, list[str]] = {}
    for emoji, user_id in rows:
        users.setdefault(emoji, []).append(user_id)
    return tuple(Reaction(emoji, tuple(ids)) for emoji, ids in users.items())


def wire(reactions: Reactions) -> list[dict[str, Any]]:
    return [reaction.wire() for reaction in reactions]
