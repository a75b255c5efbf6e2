"""Which transport carries an Engine.IO session, and the moves between them: one table.

The session alone changes its state, through its own methods (each names the move it
makes); :func:`check_transition` is the one place a move is judged. A move the table does
not allow is a bug in the engine, not something a client did: it raises
:class:`TransportStateError` instead of leaving the session half in two states. Only the
moves are checked, never each frame: the hot path reads the state, it does not judge it.
"""

from enum import Enum, auto


class TransportState(Enum):
    """Where a session's transport is.

    POLLING: long-polling carries the session. PROBING: a WebSocket was accepted to
    upgrade it and waits for the client's probe; polling still carries everything. UPGRADING:
    the probe is answered, so the client pauses polling (a GET returns at once) and the
    WebSocket waits for its UPGRADE packet. WEBSOCKET: the WebSocket carries the session
    (opened on one, or upgraded). A failed upgrade goes back to POLLING. CLOSING: the session
    is closed; its transport delivers what was queued (bounded) and the close handler runs.
    CLOSED: the handler ran and the engine has forgotten the session.
    """

    POLLING = auto()
    PROBING = auto()
    UPGRADING = auto()
    WEBSOCKET = auto()
    CLOSING = auto()
    CLOSED = auto()


# The states a session may start in: the transport of the request that opened it.
INITIAL = frozenset({TransportState.POLLING, TransportState.WEBSOCKET})

TRANSITIONS: dict[TransportState, frozenset[TransportState]] = {
    TransportState.POLLING: frozenset({TransportState.PROBING, TransportState.CLOSING}),
    TransportState.PROBING: frozenset(
        {TransportState.UPGRADING, TransportState.POLLING, TransportState.CLOSING}
    ),
    TransportState.UPGRADING: frozenset(
        {TransportState.WEBSOCKET, TransportState.POLLING, TransportState.CLOSING}
    ),
    TransportState.WEBSOCKET: frozenset({TransportState.CLOSING}),
    TransportState.CLOSING: frozenset({TransportState.CLOSED}),
    TransportState.CLOSED: frozenset(),
}

# A session in one of these is being upgraded: a second WebSocket cannot take it over.
UPGRADE_IN_PROGRESS = frozenset({TransportState.PROBING, TransportState.UPGRADING})


class TransportStateError(RuntimeError):
    """The engine tried a move its transport table does not allow (our bug)."""

    def __init__(self, sid: str, old: TransportState, new: TransportState) -> None:
        super().__init__(f"session {sid}: no transition from {old.name} to {new.name}")
        self.old = old
        self.new = new


def check_transition(sid: str, old: TransportState, new: TransportState) -> TransportState:
    """``new``, when the table allows moving there from ``old``."""
    if new not in TRANSITIONS[old]:
        raise TransportStateError(sid, old, new)
    return new
