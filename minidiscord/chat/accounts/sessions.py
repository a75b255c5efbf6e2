"""Login session lifetimes: whether a session still lets its holder in, and if not why."""

from dataclasses import dataclass
from enum import Enum, auto

from .records import LoginSession

DEFAULT_IDLE_SECONDS = 14 * 24 * 3600
DEFAULT_ABSOLUTE_SECONDS = 90 * 24 * 3600
# A session's last use is written at most this often (ms): a connect costs no write then.
TOUCH_EVERY_MS = 60_000


class SessionState(Enum):
    """What a login session is at a moment. ACTIVE is the only one that lets anyone in;
    each other state is final. Only the store's end_* methods (ENDED) and time (the two
    EXPIRED ones) move a session out of ACTIVE: ``Lifetimes.state_of`` says which."""

    ACTIVE = auto()
    IDLE_EXPIRED = auto()
    EXPIRED = auto()
    ENDED = auto()


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a login lasts: ``idle`` seconds since its last use, and ``absolute``
    seconds since it was made, whichever comes first."""

    idle: float = DEFAULT_IDLE_SECONDS
    absolute: float = DEFAULT_ABSOLUTE_SECONDS

    def state_of(self, session: LoginSession, now: int) -> SessionState:
        if session.ended is not None:
            return SessionState.ENDED
        return self.state_at(session.created, session.last_used, now)

    def state_at(self, created: int, last_used: int, now: int) -> SessionState:
        """A session (a login's, or a guest's) made at ``created`` and last used at
        ``last_used`` (ms), that nothing ended."""
        if now >= created + self.absolute * 1000:
            return SessionState.EXPIRED
        if now >= last_used + self.idle * 1000:
            return SessionState.IDLE_EXPIRED
        return SessionState.ACTIVE

    def kept_until(self, session: LoginSession) -> int:
        """When (ms) a session's record may go: after its absolute lifetime, however it
        ended, so that until then a client trying it hears why it no longer works."""
        return session.created + int(self.absolute * 1000)

    def why_not(self, session: LoginSession, now: int) -> str | None:
        """None for an active login session; otherwise a sentence for the client."""
        state = self.state_of(session, now)
        if state is SessionState.ENDED:
            return f"this login session has ended ({session.end_reason}); log in again"
        return refusal(state, "login session", "log in again")


def refusal(state: SessionState, what: str, then: str) -> str | None:
    """Why a session in ``state`` lets nobody in (None: it does), for the client."""
    if state is SessionState.ACTIVE:
        return None
    if state is SessionState.IDLE_EXPIRED:
        return f"this {what} expired after a long time unused; {then}"
    if state is SessionState.EXPIRED:
        return f"this {what} is too old and has expired; {then}"
    return f"this {what} has ended; {then}"
