"""The connections of the stores kept beside the chat store (accounts, channels): each on a
connection of its own, to the chat's SQLite file or to the cluster's Redis.

SqliteSide: the chat store holds the file's lock against a second server, not against this:
a side store writes through its own connection (WAL lets it write beside the running
server's, each transaction waiting its turn), which is what lets `minidiscord admin` work on
the database of a running server. One statement group at a time, in a worker thread; each
write is one transaction committed with ``synchronous=FULL``.

RedisSide: one client while ``run`` runs; every call bounded, failing with the chat store's
StoreReadError / StoreWriteError.
"""

import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Self, TypeVar

import trio

from ...redis.connection import DEFAULT_CALL_TIMEOUT, RedisClient, open_redis
from ...redis.target import RedisTarget
from .base import StoreReadError, StoreWriteError
from .rediscall import redis_call
from .sqlite import _reason, open_beside

T = TypeVar("T")


class SqliteSide:
    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        # Use open().
        self.path = path
        self._conn = conn
        self._lock = trio.Lock()

    @classmethod
    def open(cls, path: str) -> Self:
        """Open (creating and migrating if need be) the database; raises StoreError with a
        one-line message. Blocking: for startup or the admin command."""
        return cls(path, open_beside(path))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        async with self._lock:
            self._conn.close()

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        async with self._lock:
            try:
                return await trio.to_thread.run_sync(work, self._conn)
            except sqlite3.Error as exc:
                # Locked for longer than the busy timeout, a full disk: one line, as the
                # chat store says it.
                fault = StoreWriteError if write else StoreReadError
                raise fault(f"{self.path}: {_reason(exc)}") from None

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        return await self._in_thread(transaction)

    async def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """One query's rows; a failure is a StoreReadError (what a read's caller expects)."""
        return await self._in_thread(lambda conn: conn.execute(sql, params).fetchall(), write=False)


class RedisSide:
    def __init__(
        self, target: RedisTarget, prefix: str, *, timeout: float = DEFAULT_CALL_TIMEOUT
    ) -> None:
        self.target = target
        self._prefix = prefix
        self._timeout = timeout
        self._client: RedisClient | None = None
        self._closed = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with open_redis(self.target) as client:
            self._client = client
            try:
                task_status.started()
                await self._closed.wait()
            finally:
                self._client = None

    async def close(self) -> None:
        self._closed.set()

    def _call(self, what: str, *, write: bool) -> AbstractAsyncContextManager[RedisClient]:
        return redis_call(self, self._client, what, self._timeout, write=write)
