"""The Engine.IO heartbeat as a pure object: when to ping, and when a client is gone.

Sans-I/O (DESIGN invariant 1): every method takes the time as an argument and nothing
here awaits, sleeps or reads a clock. The session feeds it trio's clock and does what it
answers (queue the ping, close the session); the engine's deadline task calls the session
at :attr:`PingSchedule.next_deadline`.
"""

import math
from enum import Enum, auto

# A deadline that fires this many seconds late means the server is busy, not the client
# slow: a pong timeout is then postponed (by at most MAX_GRACE past the usual cycle).
BUSY_LATENESS = 0.5
MAX_GRACE = 60.0


class Heartbeat(Enum):
    """Where the current heartbeat is; the next deadline depends on it.

    WAITING: the next ping is due at ``ping_due``. QUEUED: the ping waits in the outbox,
    ahead of everything else, or is being written. SENT: the transport wrote it; the pong is
    due ``ping_timeout`` later. A PONG in any state but WAITING starts the next interval.
    The client's time to answer runs from when the ping was written, not queued: a busy
    server does not spend its clients' ``ping_timeout``.
    """

    WAITING = auto()
    QUEUED = auto()
    SENT = auto()


class Due(Enum):
    """What a reached deadline asks of the session."""

    NOTHING = auto()
    # Queue a ping, first in line.
    PING = auto()
    # The client is gone: close the session ("ping timeout").
    TIMEOUT = auto()


class PingSchedule:
    """One session's heartbeat: the server pings every ``interval`` seconds after the last
    pong, and the client must answer within ``timeout`` of the ping being written."""

    __slots__ = ("interval", "ping_due", "pong_deadline", "state", "timeout")

    def __init__(self, interval: float, timeout: float, now: float) -> None:
        self.interval = interval
        self.timeout = timeout
        self.state = Heartbeat.WAITING
        self.ping_due = now + interval
        # While QUEUED: when a ping still not written means the client is not reading (or,
        # on polling with no poll waiting, not polling); while SENT: when the pong is due.
        self.pong_deadline = math.inf

    @property
    def next_deadline(self) -> float:
        """When :meth:`due` has something to say next."""
        return self.ping_due if self.state is Heartbeat.WAITING else self.pong_deadline

    def due(self, at: float, now: float, *, writable: bool) -> Due:
        """The deadline scheduled for ``at`` is reached at ``now``.

        ``writable``: a transport can write a ping at once (a WebSocket, or a poll waiting).
        """
        if self.state is Heartbeat.WAITING:
            if now < self.ping_due:
                return Due.NOTHING
            self.state = Heartbeat.QUEUED
            if writable:
                # Only a client that does not read can keep it unwritten a whole cycle.
                self.pong_deadline = now + self.interval + self.timeout
            else:
                # No poll waiting to carry it: as in the reference server, a polling client
                # that does not come for its ping within the timeout is gone.
                self.pong_deadline = now + self.timeout
            return Due.PING
        if now < self.pong_deadline:
            return Due.NOTHING
        late = now - at
        if late > BUSY_LATENESS and now - self.ping_due < self.interval + self.timeout + MAX_GRACE:
            # The server itself is behind (this deadline runs late): the pong may be waiting
            # in a queue it has not reached. Judge again once it has caught up.
            self.pong_deadline = now + late
            return Due.NOTHING
        return Due.TIMEOUT

    def ping_written(self, now: float) -> bool:
        """The queued ping reached the client at ``now``; True when the deadline moved."""
        if self.state is not Heartbeat.QUEUED:
            return False
        self.state = Heartbeat.SENT
        self.pong_deadline = now + self.timeout
        return True

    def pong(self, now: float) -> bool:
        """The client answered at ``now``; True when the deadline moved (a PONG with no
        ping out is ignored)."""
        if self.state is Heartbeat.WAITING:
            return False
        self.state = Heartbeat.WAITING
        self.pong_deadline = math.inf
        self.ping_due = now + self.interval
        return True
