"""One way to test a transition table: every move of its enum, judged against the moves
the test writes out (not read from the table, so a changed table fails the test)."""

import itertools
from enum import Enum
from typing import TypeVar

import pytest

from minidiscord.transitions import IllegalTransition, TransitionTable

S = TypeVar("S", bound=Enum)


def assert_moves(table: TransitionTable[S], states: type[S], legal: set[tuple[S, S]]) -> None:
    """Every legal move returns its target; every other raises, naming both states."""
    for old, new in itertools.product(states, repeat=2):
        if (old, new) in legal:
            assert table.check("it", old, new) is new, (old, new)
        else:
            with pytest.raises(IllegalTransition) as raised:
                table.check("it", old, new)
            assert (raised.value.old, raised.value.new) == (old, new)
            assert str(raised.value) == f"it: no transition from {old.name} to {new.name}"
