"""Immutable records made for every message or emit: frozen for the type checker, plain
slotted dataclasses at run time.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, a call of
a wrapper descriptor that costs about as much as the rest of the construction: the three
Socket.IO packets, the Engine.IO packet and the stored message that one chat message makes
were 9% of its instructions in process (docs/benchmarks.md, "Enum members and frozen
records"). The sockets layer's ``BroadcastOptions``, one per emit, is a record too.
``@record`` keeps what ``frozen=True`` promises where it is checked: mypy (``--strict`` in
CI) rejects an assignment to a field of a record as it does for a frozen dataclass, and
records compare and hash by value. At run time nothing stops an assignment, so no code may
rely on one raising. Records not made per message stay ``@dataclass(frozen=True)``.
"""

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """A slotted dataclass with value equality and hash, read-only to the type checker."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
