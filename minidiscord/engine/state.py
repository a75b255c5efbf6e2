"""Which transport carries an Engine.IO session, and the moves between them: one table.

The session alone changes its state, through its own methods (each names the move it
makes); :func:`check_transition` is the one place a move is judged (see
:mod:`minidiscord.transitions`). Only the moves are checked, never each frame: the hot path
reads the state, it does not judge it.
"""

from enum import Enum, auto

from ..transitions import TransitionTable


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

TRANSITIONS = TransitionTable(
    {
        TransportState.POLLING: {TransportState.PROBING, TransportState.CLOSING},
        TransportState.PROBING: {
            TransportState.UPGRADING,
            TransportState.POLLING,
            TransportState.CLOSING,
        },
        TransportState.UPGRADING: {
            TransportState.WEBSOCKET,
            TransportState.POLLING,
            TransportState.CLOSING,
        },
        TransportState.WEBSOCKET: {TransportState.CLOSING},
        TransportState.CLOSING: {TransportState.CLOSED},
        TransportState.CLOSED: set(),
    }
)

# A session in one of these is being upgraded: a second WebSocket cannot take it over.
UPGRADE_IN_PROGRESS = frozenset({TransportState.PROBING, TransportState.UPGRADING})


def check_transition(sid: str, old: TransportState, new: TransportState) -> TransportState:
    """``new``, when the table allows session ``sid`` to move there from ``old``."""
    return TRANSITIONS.check(f"session {sid}", old, new)
