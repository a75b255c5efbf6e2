"""Password hashing (argon2id) off the event loop, with the work and the queue bounded.

Each hash or check takes tens of milliseconds and, with the default parameters (RFC 9106's
low-memory profile: 64 MiB, 3 passes), 64 MiB of memory, in a worker thread. At most
``threads`` run at once, and at most ``queue`` more wait: a login flood beyond that is
refused at once (``HashingBusy``) instead of piling up threads, memory or waiting tasks.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import argon2
import trio
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT_THREADS = 2
DEFAULT_QUEUE = 32
MIN_PASSWORD = 8
# Longer is no safer, and an unbounded one would be hashed whole.
MAX_PASSWORD = 1024


T = TypeVar("T")


class HashingBusy(Exception):
    """Too many hashes are running and waiting: try again shortly."""


@dataclass(frozen=True, slots=True)
class Cost:
    """argon2id parameters (argon2-cffi's defaults unless a test wants it cheap)."""

    time_cost: int = argon2.DEFAULT_TIME_COST
    memory_kib: int = argon2.DEFAULT_MEMORY_COST
    parallelism: int = argon2.DEFAULT_PARALLELISM


# For tests only: argon2's smallest parameters, so thousands of logins stay fast.
CHEAPEST = Cost(time_cost=1, memory_kib=8, parallelism=1)


class Passwords:
    def __init__(
        self,
        cost: Cost | None = None,
        *,
        threads: int = DEFAULT_THREADS,
        queue: int = DEFAULT_QUEUE,
    ) -> None:
        cost = cost or Cost()
        self._hasher = argon2.PasswordHasher(
            time_cost=cost.time_cost,
            memory_cost=cost.memory_kib,
            parallelism=cost.parallelism,
            type=argon2.Type.ID,
        )
        self._limiter = trio.CapacityLimiter(threads)
        self._most = threads + queue
        self._in_use = 0
        # Checked against when the account does not exist, so that a wrong name costs
        # as long as a wrong password (the timing does not tell which names exist). Made
        # at the first check, in its thread: not at startup, on the event loop.
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, encoded: str | None, password: str) -> bool:
        """Whether ``password`` matches ``encoded`` (None: no such account; the check
        runs all the same and fails)."""

        def check(password: str) -> bool:
            if encoded is None and self._decoy is None:
                self._decoy = self._hasher.hash("not a password of anyone")
            try:
                return self._hasher.verify(encoded or self._decoy or "", password) and bool(encoded)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await self._run(check, password)

    async def _run(self, work: Callable[[str], T], password: str) -> T:
        if self._in_use >= self._most:
            raise HashingBusy
        self._in_use += 1
        try:
            return await trio.to_thread.run_sync(work, password, limiter=self._limiter)
        finally:
            self._in_use -= 1
