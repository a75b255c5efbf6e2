"""open_store: the Store the settings ask for ("memory" or "sqlite", or Redis when a Redis
URL is given), checked and ready to run.

Every store it returns has the same lifetime: ``await nursery.start(store.run)`` before
use, ``await store.close()`` at shutdown (which flushes queued writes), then the nursery
may be cancelled.
"""

from typing import Final, Protocol

import trio

from ...config import Settings
from ...redis.target import RedisTarget
from .base import Store
from .memory import MemoryStore
from .redis import RedisStore
from .sqlite import SqliteStore, StoreError

STORE_KINDS: Final = ("sqlite", "memory")

__all__ = ["STORE_KINDS", "RunnableStore", "StoreError", "open_store", "store_for"]


class RunnableStore(Store, Protocol):
    """A Store with a background task (the SQLite writer; nothing for memory)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the store until ``close``; start it with ``nursery.start``."""
        ...

    async def healthy(self) -> bool:
        """Whether the store can take reads and writes now (for a health check)."""
        ...

    @property
    def failure(self) -> str | None:
        """Why the store refuses every write for good (its file was deleted or replaced),
        or None."""
        ...

    @property
    def trouble(self) -> str | None:
        """What made the last health check fail, when the store can say (for /healthz), or
        None."""
        ...


class RunnableMemoryStore(MemoryStore):
    """MemoryStore with the common lifetime; it has no background work."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def healthy(self) -> bool:
        return not self._closed

    @property
    def failure(self) -> str | None:
        return None

    @property
    def trouble(self) -> str | None:
        return None


def store_for(settings: Settings) -> RunnableStore:
    """The store the settings ask for (Redis in cluster mode): ``open_store`` with them."""
    return open_store(
        settings.store, settings.db_path, redis=settings.redis_url, prefix=settings.redis_prefix
    )


def open_store(
    kind: str, path: str, *, redis: RedisTarget | None = None, prefix: str = "minidiscord"
) -> RunnableStore:
    """The store of that kind; raises StoreError with a one-line message when it cannot be
    used (unknown kind, unusable database file, Redis not answering). Blocking: call it at
    startup.

    With ``redis`` the store is Redis (keys under ``prefix:``) whatever ``kind`` and
    ``path`` say: a cluster's nodes share it."""
    if redis is not None:
        return RedisStore.open(redis, prefix)
    if kind == "memory":
        return RunnableMemoryStore()
    if kind == "sqlite":
        return SqliteStore.open(path)
    raise StoreError(f"unknown store {kind!r} (choose {' or '.join(STORE_KINDS)})")
