"""Transition tables: the one way a state machine here judges a move.

Each state machine (an Engine.IO session's transport, a native WebSocket, the SQLite store)
is an ``Enum`` whose legal moves are written once, as a :class:`TransitionTable`, and whose
owner alone moves it, through :meth:`TransitionTable.check`. A move the table does not
allow is our bug, never something a client did: it raises :class:`IllegalTransition`
instead of leaving the object half in two states. Only moves are judged, never each frame.
"""

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Generic, TypeVar

S = TypeVar("S", bound=Enum)


class IllegalTransition(RuntimeError):
    """A move the table does not allow (a bug in the code that asked for it)."""

    def __init__(self, what: str, old: Enum, new: Enum) -> None:
        super().__init__(f"{what}: no transition from {old.name} to {new.name}")
        self.old = old
        self.new = new


class TransitionTable(Generic[S]):
    """The states each state may move to; every state of the enum has an entry."""

    def __init__(self, moves: Mapping[S, Iterable[S]]) -> None:
        self._moves = {state: frozenset(targets) for state, targets in moves.items()}
        states = {type(state) for state in self._moves}
        if len(states) != 1 or len(self._moves) != len(states.pop()):
            raise ValueError("a transition table names every state of one enum")

    def allows(self, old: S, new: S) -> bool:
        return new in self._moves[old]

    def check(self, what: str, old: S, new: S) -> S:
        """``new``, when ``what`` (named in the error) may move there from ``old``."""
        if new not in self._moves[old]:
            raise IllegalTransition(what, old, new)
        return new
