"""SqliteStore: the durable Store, one SQLite file, with grouped commits off the event loop.

Writes (messages, new users, deleted users) are queued by the calling task and committed by
one writer task: it takes everything queued meanwhile, commits it in one transaction in a
worker thread (one fsync for the lot), then wakes each caller. While one batch is being
committed the next one gathers, so the batch size follows the load with no added delay.

Durability: WAL journal with ``synchronous=FULL``: the WAL is fsynced at every commit, so
an acknowledged message survives a killed process *and* a power loss. (``NORMAL`` would
survive a killed process only: the OS would still hold the unsynced WAL pages.) Grouping
makes FULL cheap: one fsync per batch, not per message.

Message ids are handed out in the trio thread when ``add_message`` is called (from a
counter that starts at the file's largest id) and inserted explicitly, so they follow call
order whatever the batching. An exclusive ``flock`` on the database file keeps a second
server off it: two writers would hand out the same ids. A caller cancelled while it waits
does not withdraw its write (it may already be in the transaction): it is committed anyway,
and the caller waits for that outcome all the same (the Store contract), for as long as the
commit takes: SQLite has no timeout of its own but its busy timeout. A failed batch leaves
a gap in the ids, never a reordering.

Reads run on a small pool of separate connections, in worker threads; WAL lets them
proceed while a commit is in progress, and each sees everything committed before it began.

"Last seen" notes are not awaited: they wait in a dict (one per user) for the writer's next
batch, and a batch of nothing else is committed without its fsync (``synchronous=NORMAL``
for that transaction: a killed process keeps it, a power loss may not, which would only
reorder the `users` list). So connects and disconnects never cost an fsync of their own.

Whoever deletes or replaces the database file under a running server would otherwise see
writes acknowledged into a file nobody can open again. Around each commit (and in the
health check) the path is compared with the file opened, one ``stat`` each; once it differs
the store is failed: every write is refused, reads go on from the file still open.
"""

import fcntl
import logging
import os
import secrets
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any, Final

import trio

from ...transitions import TransitionTable
from ..models import CHANNELS, Message, Role, Session, User
from .base import Snapshot, StoreWriteError, session_hash
from .migrations import SchemaError, migrate

log = logging.getLogger(__name__)

READ_CONNECTIONS: Final = 2
# How long a statement waits for a lock held by a checkpoint or a reader before failing.
BUSY_TIMEOUT_MS: Final = 5000

_MESSAGE_COLUMNS: Final = "id, channel_id, user_id, username, avatar, timestamp, message"
_INSERT_MESSAGE: Final = f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
# What a read of messages takes: the columns a message is inserted with, and its edit time.
_MESSAGE_READ: Final = f"{_MESSAGE_COLUMNS}, edited_at"
_INSERT_USER: Final = (
    "INSERT INTO users (seq, user_id, username, avatar, last_seen, role, created)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_SEEN: Final = "UPDATE users SET last_seen = ? WHERE user_id = ?"
_USER_COLUMNS: Final = "seq, user_id, username, avatar, role"
# Statements a batch may run for many writes in one executemany: nobody reads their rowcount.
_GROUPABLE: Final = frozenset({_INSERT_MESSAGE, _UPDATE_SEEN})
_INSERT_SESSION: Final = "INSERT INTO sessions (session_hash, user_id) VALUES (?, ?)"
_DELETE_USER: Final = "DELETE FROM users WHERE user_id = ?"
_SET_ROLE: Final = "UPDATE users SET role = ? WHERE user_id = ?"
# A tombstone (see migration 4): the text goes, the id stays taken.
_DELETE_MESSAGE: Final = (
    "UPDATE messages SET deleted = 1, message = '' WHERE id = ? AND channel_id = ? AND deleted = 0"
)
_EDIT_MESSAGE: Final = (
    "UPDATE messages SET message = ?, edited_at = ? WHERE id = ? AND channel_id = ? AND deleted = 0"
)

Params = tuple[object, ...]


class StoreError(Exception):
    """The store cannot be opened; the message is one line for a human (no traceback)."""


class WriteFailed(StoreWriteError):
    """A grouped commit failed; nothing of the caller's write was stored."""


class StoreFailed(StoreWriteError):
    """The store refuses every write: its file is no longer the one it opened."""


def new_user_id() -> str:
    return secrets.token_hex(16)


def new_session_id() -> str:
    # 256 bits, URL-safe, as MemoryStore.
    return secrets.token_urlsafe(32)


@dataclass(eq=False, slots=True)
class _Write:
    """One caller's write: statements run in order inside the batch's transaction."""

    statements: tuple[tuple[str, Params], ...]
    done: trio.Event = field(default_factory=trio.Event)
    rowcount: int = 0
    error: BaseException | None = None
    # A "last seen" note: nobody waits for it, and it needs no fsync of its own.
    background: bool = False

    @property
    def groupable(self) -> str | None:
        """The statement a run of such writes shares in one executemany, if any (other
        writes need their own rowcount)."""
        if len(self.statements) == 1 and self.statements[0][0] in _GROUPABLE:
            return self.statements[0][0]
        return None


class StoreState(Enum):
    """Where a SqliteStore is in its life; only ``run`` and ``close`` move it.

    OPEN: the file is open and checked; reads work, writes wait for the writer task.
    RUNNING: the writer task commits queued writes. STOPPED: the writer task ended without a
    close (it was cancelled): writes are refused, reads still work. CLOSING: ``close`` was
    called: what is queued is committed, nothing new is taken. CLOSED: the connections and
    the file lock are released.
    """

    OPEN = auto()
    RUNNING = auto()
    STOPPED = auto()
    CLOSING = auto()
    CLOSED = auto()


STORE_TRANSITIONS = TransitionTable(
    {
        StoreState.OPEN: {StoreState.RUNNING, StoreState.CLOSING},
        StoreState.RUNNING: {StoreState.STOPPED, StoreState.CLOSING},
        StoreState.STOPPED: {StoreState.CLOSING},
        StoreState.CLOSING: {StoreState.CLOSED},
        StoreState.CLOSED: set(),
    }
)


class SqliteStore:
    """The Store on an SQLite file. Start ``run`` in a nursery before writing; ``close``
    flushes queued writes and releases the file (see :class:`StoreState`)."""

    def __init__(
        self,
        path: str,
        writer: sqlite3.Connection,
        readers: Sequence[sqlite3.Connection],
        lock_fd: int,
        channel_ids: dict[str, int],
        last_id: int,
        last_seq: int = 0,
    ) -> None:
        # Use SqliteStore.open(): it validates the file and builds these.
        self.path = path
        self._writer = writer
        self._readers = list(readers)
        self._lock_fd = lock_fd
        # The file opened, as (device, inode): the path must lead to it for writes to count.
        opened = os.fstat(lock_fd)
        self._identity = (opened.st_dev, opened.st_ino)
        self._failure: str | None = None
        self._channel_ids = channel_ids
        self._channel_names = {cid: name for name, cid in channel_ids.items()}
        self._last_id = last_id
        self._last_seq = last_seq
        self._free_send, self._free_receive = trio.open_memory_channel[sqlite3.Connection](
            len(self._readers)
        )
        for conn in self._readers:
            self._free_send.send_nowait(conn)
        self._pending: list[_Write] = []
        # "Last seen" notes waiting for the next batch: the latest per user.
        self._seen: dict[str, int] = {}
        self._wakeup = trio.Event()
        self.state = StoreState.OPEN
        self._stopped = trio.Event()
        self._close_done = trio.Event()
        self._commits = 0
        self._last_commit_failed = False
        self._committed_writes = 0

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str,
        *,
        channels: Iterable[str] = CHANNELS,
        readers: int = READ_CONNECTIONS,
        quick_check: bool = True,
    ) -> "SqliteStore":
        """Open (creating if need be), check and migrate the database; raises StoreError.

        Blocking: meant for startup, before the server serves anyone.
        """
        if readers < 1:
            raise ValueError("a SqliteStore needs at least one read connection")
        _check_path(path)
        try:
            lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the database {path}: {exc.strerror}") from None
        conns: list[sqlite3.Connection] = []
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"the database {path} is in use by another minidiscord process"
                ) from None
            writer = _connect(path)
            conns.append(writer)
            _prepare_writer(writer, path, quick_check=quick_check)
            channel_ids = _ensure_channels(writer, channels)
            last_id = writer.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
            last_seq = writer.execute("SELECT coalesce(max(seq), 0) FROM users").fetchone()[0]
            for _ in range(readers):
                reader = _connect(path)
                conns.append(reader)
                reader.execute("PRAGMA query_only = ON")
            return cls(path, writer, conns[1:], lock_fd, channel_ids, last_id, last_seq)
        except sqlite3.Error as exc:
            _close_all(conns, lock_fd)
            raise StoreError(f"cannot use the database {path}: {_reason(exc)}") from None
        except BaseException:
            _close_all(conns, lock_fd)
            raise

    # -- lifetime ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The writer task: commits queued writes in groups until ``close``.

        If it is cancelled instead, writes still queued fail (their callers never got an
        acknowledgement, so nothing acknowledged is lost).
        """
        # Only once, and never after a close.
        self.state = STORE_TRANSITIONS.check("the store", self.state, StoreState.RUNNING)
        task_status.started()
        try:
            while True:
                # Under sustained load the queue is never empty: without this a cancelled
                # writer would go on committing forever.
                await trio.lowlevel.checkpoint_if_cancelled()
                while not self._pending and not self._seen:
                    if self.state is StoreState.CLOSING:
                        return
                    self._wakeup = trio.Event()
                    await self._wakeup.wait()
                batch, self._pending = self._pending, []
                batch += self._take_seen()
                # Shielded: the thread cannot be interrupted anyway, and its callers must
                # learn the outcome of a commit that happened.
                with trio.CancelScope(shield=True):
                    await self._commit_batch(batch)
        finally:
            if self.state is StoreState.RUNNING:
                self._move_to(StoreState.STOPPED)
            stranded, self._pending = self._pending, []
            for write in stranded:
                write.error = RuntimeError("the store stopped before this write was committed")
                write.done.set()
            self._stopped.set()

    async def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections and the file.

        Every caller returns once that is done, not only the first.
        """
        if self.state is StoreState.CLOSING or self.state is StoreState.CLOSED:
            await self._close_done.wait()
            return
        writer_running = self.state is StoreState.RUNNING
        self._move_to(StoreState.CLOSING)
        # Shielded: a close abandoned halfway would keep the file locked and leave later
        # callers waiting; it is bounded by the commit in progress.
        with trio.CancelScope(shield=True):
            if writer_running:
                self._wakeup.set()
                await self._stopped.wait()
            # Waits for readers in worker threads to hand their connections back.
            for _ in self._readers:
                await self._free_receive.receive()
            _close_all([self._writer, *self._readers], self._lock_fd)
            self._move_to(StoreState.CLOSED)
            self._close_done.set()

    def _move_to(self, state: StoreState) -> None:
        self.state = STORE_TRANSITIONS.check("the store", self.state, state)

    @property
    def _taking_requests(self) -> bool:
        return self.state is not StoreState.CLOSING and self.state is not StoreState.CLOSED

    async def healthy(self) -> bool:
        """Whether writes are being committed and the file can be read (for /healthz)."""
        if self._failure is None and self._taking_requests:
            problem = await trio.to_thread.run_sync(self._file_problem)
            if problem is not None:
                self._set_failed(problem)
        if self.state is not StoreState.RUNNING or self._last_commit_failed or self._failure:
            return False
        try:
            await self._read("SELECT count(*) FROM channels", ())
        except sqlite3.Error as exc:
            log.warning("the database %s cannot be read: %s", self.path, _reason(exc))
            return False
        return True

    @property
    def failure(self) -> str | None:
        """Why every write is refused (the database file was deleted or replaced), or None."""
        return self._failure

    @property
    def trouble(self) -> str | None:
        """Why the last health check failed, as far as the store knows, or None."""
        return "the last commit failed" if self._last_commit_failed else None

    @property
    def commits(self) -> int:
        """Transactions committed by the writer so far (one per group of writes)."""
        return self._commits

    @property
    def committed_writes(self) -> int:
        """Writes (messages, user changes; not "last seen" notes) committed so far, over all
        groups."""
        return self._committed_writes

    # -- writes ------------------------------------------------------------------------

    async def create_user(
        self, username: str, avatar: str | None = None, *, seen: int = 0, role: Role = Role.GUEST
    ) -> tuple[User, Session]:
        self._check_writable()
        # Numbered now, as message ids are: creation order is call order.
        self._last_seq += 1
        user = User(new_user_id(), username, avatar, seq=self._last_seq, role=role)
        session = Session(new_session_id(), user.user_id, created=seen)
        await self._write(
            (_INSERT_USER, (user.seq, user.user_id, username, avatar, seen, role.value, seen)),
            (_INSERT_SESSION, (session_hash(session.session_id), user.user_id)),
        )
        return user, session

    def note_seen(self, user_id: str, when: int) -> None:
        # Disconnect handlers may still run after shutdown closed the store: ignored then.
        if not self._taking_requests or self._failure is not None:
            return
        self._seen[user_id] = when
        self._wakeup.set()

    def _take_seen(self) -> list[_Write]:
        notes, self._seen = self._seen, {}
        return [
            _Write(((_UPDATE_SEEN, (when, user_id)),), background=True)
            for user_id, when in notes.items()
        ]

    async def delete_user(self, user_id: str) -> bool:
        # Sessions go with the user (ON DELETE CASCADE); messages stay.
        return await self._write((_DELETE_USER, (user_id,))) > 0

    async def add_channel(self, channel: str) -> None:
        if channel in self._channel_ids:
            return
        await self._write(("INSERT OR IGNORE INTO channels (name) VALUES (?)", (channel,)))
        # Shielded, as the write was (the Store contract): committed, it is reported.
        with trio.CancelScope(shield=True):
            (row,) = await self._read("SELECT id FROM channels WHERE name = ?", (channel,))
        self._channel_ids[channel] = row[0]
        self._channel_names[row[0]] = channel

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        self._check_writable()
        channel_id = self._channel_ids.get(channel)
        if channel_id is None:
            raise KeyError(f"no channel {channel!r}")
        # Numbered now, in the caller's step: ids follow call order whatever the batching.
        self._last_id += 1
        message = Message.by(
            user, id=self._last_id, channel=channel, text=text, timestamp=timestamp
        )
        params = (message.id, channel_id, user.user_id, user.username, user.avatar, timestamp, text)
        await self._write((_INSERT_MESSAGE, params))
        return message

    async def delete_message(self, channel: str, message_id: int) -> bool:
        channel_id = self._channel_ids.get(channel)
        if channel_id is None:
            return False
        return await self._write((_DELETE_MESSAGE, (message_id, channel_id))) > 0

    async def set_role(self, user_id: str, role: Role) -> None:
        await self._write((_SET_ROLE, (role.value, user_id)))

    async def edit_message(
        self, channel: str, message_id: int, text: str, edited_at: int
    ) -> Message | None:
        channel_id = self._channel_ids.get(channel)
        if channel_id is None:
            self._check_writable()
            return None
        params = (text, edited_at, message_id, channel_id)
        if not await self._write((_EDIT_MESSAGE, params)):
            return None
        # Read back after the commit: another write may have changed it since (then that is
        # its state now). Shielded, as the write was (the Store contract).
        with trio.CancelScope(shield=True):
            edited = await self.message(channel, message_id)
        return edited

    async def _write(self, *statements: tuple[str, Params]) -> int:
        self._check_writable()
        write = _Write(statements)
        self._pending.append(write)
        self._wakeup.set()
        # Shielded (the Store contract): queued, the write will be committed whatever
        # happens to its caller, who must learn that it was. The writer sets ``done``
        # after the commit in progress and this one's (each retried alone if its batch
        # failed), or when it stops.
        with trio.CancelScope(shield=True):
            await write.done.wait()
        if write.error is not None:
            raise write.error
        return write.rowcount

    def _check_writable(self) -> None:
        self._check_open()
        if self.state is not StoreState.RUNNING:
            raise RuntimeError("the store's writer is not running: start SqliteStore.run first")
        if self._failure is not None:
            raise StoreFailed(f"the database cannot be written: {self._failure}")

    async def _commit_batch(self, batch: list[_Write]) -> None:
        if self._failure is not None:
            self._refuse(batch)
            return
        try:
            problem = await trio.to_thread.run_sync(self._commit_and_check, batch)
        except Exception as exc:
            awaited = [write for write in batch if not write.background]
            if len(batch) > 1 and awaited:
                # One bad write must not fail the others grouped with it: each is tried
                # on its own (a fault of the database itself then fails each in turn).
                # "Last seen" notes are dropped rather than tried one by one.
                for write in awaited:
                    await self._commit_batch([write])
                return
            self._fail(batch, exc)
            return
        except BaseException as exc:
            self._fail(batch, exc)
            raise
        if problem is not None:
            # Not committed, or committed into a file the path no longer leads to: lost.
            self._set_failed(problem)
            self._refuse(batch)
            return
        self._last_commit_failed = False
        self._commits += 1
        self._committed_writes += sum(not write.background for write in batch)
        for write in batch:
            write.done.set()

    def _fail(self, batch: list[_Write], exc: BaseException) -> None:
        # Unhealthy until a commit succeeds again (a full disk freed, a lock released).
        self._last_commit_failed = True
        log.error("committing %d writes failed: %s", len(batch), _reason(exc))
        for write in batch:
            # A fresh exception per caller: one instance raised in many tasks would
            # collect all their tracebacks.
            write.error = WriteFailed(f"the database write failed: {_reason(exc)}")
            write.done.set()

    def _set_failed(self, problem: str) -> None:
        if self._failure is None:
            self._failure = problem
            self._seen.clear()
            log.error(
                "%s (%s): every write is refused from now on; restart the server once the "
                "file is back in place",
                problem,
                self.path,
            )

    def _refuse(self, batch: list[_Write]) -> None:
        for write in batch:
            write.error = StoreFailed(f"the database cannot be written: {self._failure}")
            write.done.set()

    def _file_problem(self) -> str | None:
        """What is wrong with the file at the path, if it is not the one opened. (Without
        the path: /healthz shows it to anyone; the log names the file.)"""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return "the database file was deleted"
        except OSError:
            return None  # cannot tell (a permission changed): the writes still land
        if (now.st_dev, now.st_ino) != self._identity:
            return "the database file was replaced by another file"
        return None

    def _commit_and_check(self, batch: list[_Write]) -> str | None:
        """Commit if the path still leads to the file opened; then say whether it still
        does (the file may go while the commit runs: its writes are then refused too)."""
        problem = self._file_problem()
        if problem is None:
            self._commit_in_thread(batch)
            problem = self._file_problem()
        return problem

    def _commit_in_thread(self, batch: list[_Write]) -> None:
        conn = self._writer
        # Only "last seen" notes: worth a commit, not an fsync (the next full commit's
        # fsync covers them as well, the WAL being one file written in order).
        relaxed = all(write.background for write in batch)
        if relaxed:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            self._run_batch(conn, batch)
        finally:
            if relaxed:
                conn.execute("PRAGMA synchronous = FULL")

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            start = 0
            while start < len(batch):
                end = start + 1
                sql = batch[start].groupable
                while end < len(batch) and sql is not None and batch[end].groupable == sql:
                    end += 1
                if sql is not None and end - start > 1:
                    conn.executemany(sql, [w.statements[0][1] for w in batch[start:end]])
                else:
                    write = batch[start]
                    for n, (sql, params) in enumerate(write.statements):
                        cursor = conn.execute(sql, params)
                        if n == 0:
                            write.rowcount = cursor.rowcount
                start = end
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- reads -------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> tuple[User, Session] | None:
        if not session_id:
            self._check_open()
            return None
        rows = await self._read(
            "SELECT u.seq, u.user_id, u.username, u.avatar, u.role, u.created, u.last_seen"
            " FROM sessions s"
            " JOIN users u ON u.user_id = s.user_id WHERE s.session_hash = ?",
            (session_hash(session_id),),
        )
        if not rows:
            return None
        user = _user(rows[0])
        created, last_seen = rows[0][5:7]
        return user, Session(session_id, user.user_id, created=created, last_seen=last_seen)

    async def recent_messages(self, channel: str, limit: int) -> list[Message]:
        self._check_open()
        channel_id = self._channel_ids.get(channel)
        if channel_id is None or limit <= 0:
            return []
        rows = await self._read(
            f"SELECT {_MESSAGE_READ} FROM messages WHERE channel_id = ? AND deleted = 0"
            " ORDER BY id DESC LIMIT ?",
            (channel_id, limit),
        )
        return self._messages(reversed(rows))

    async def message(self, channel: str, message_id: int) -> Message | None:
        self._check_open()
        channel_id = self._channel_ids.get(channel)
        if channel_id is None or not -(2**63) <= message_id < 2**63:
            return None
        rows = await self._read(
            f"SELECT {_MESSAGE_READ} FROM messages WHERE id = ? AND channel_id = ? AND deleted = 0",
            (message_id, channel_id),
        )
        return self._messages(rows)[0] if rows else None

    async def messages_before(self, channel: str, before_id: int, limit: int) -> list[Message]:
        self._check_open()
        channel_id = self._channel_ids.get(channel)
        if channel_id is None or limit <= 0:
            return []
        rows = await self._read(
            f"SELECT {_MESSAGE_READ} FROM messages"
            " WHERE channel_id = ? AND id < ? AND deleted = 0 ORDER BY id DESC LIMIT ?",
            (channel_id, min(before_id, 2**63 - 1), limit),
        )
        return self._messages(reversed(rows))

    async def snapshot(
        self,
        channels: Sequence[str],
        limit: int,
        *,
        users_max: int | None = None,
        seen_since: int = 0,
        including: Collection[str] = (),
        skip_online: bool = False,
    ) -> Snapshot:
        # No cluster presence here: skip_online leaves nobody out.
        self._check_open()
        channel_ids = [(name, self._channel_ids.get(name)) for name in channels]
        users = _UserCut(users_max, seen_since, tuple(including))
        conn = await self._free_receive.receive()
        try:
            per_channel, user_rows, last_id = await trio.to_thread.run_sync(
                _read_snapshot, conn, [cid for _, cid in channel_ids], limit, users
            )
        finally:
            self._free_send.send_nowait(conn)
        return Snapshot(
            messages={
                name: self._messages(reversed(rows))
                for (name, _), rows in zip(channel_ids, per_channel, strict=True)
            },
            users=[_user(row) for row in user_rows],
            last_id=last_id,
            seen={row[1]: row[5] for row in user_rows},
            outside_cut=frozenset(row[1] for row in user_rows if not row[6]),
        )

    async def list_users(self) -> list[User]:
        rows = await self._read(f"SELECT {_USER_COLUMNS} FROM users ORDER BY seq", ())
        return [_user(row) for row in rows]

    async def _read(self, sql: str, params: Params) -> list[Any]:
        self._check_open()
        conn = await self._free_receive.receive()
        try:
            return await trio.to_thread.run_sync(_fetchall, conn, sql, params)
        finally:
            self._free_send.send_nowait(conn)

    def _messages(self, rows: Iterable[Any]) -> list[Message]:
        return [
            Message(
                id=mid,
                channel=self._channel_names[channel_id],
                user_id=user_id,
                username=username,
                timestamp=timestamp,
                message=text,
                avatar=avatar,
                edited_at=edited_at,
            )
            for mid, channel_id, user_id, username, avatar, timestamp, text, edited_at in rows
        ]

    def _check_open(self) -> None:
        if not self._taking_requests:
            raise RuntimeError("the store is closed")


# -- opening helpers (blocking, startup only) ------------------------------------------


def _check_path(path: str) -> None:
    if os.path.isdir(path):
        raise StoreError(f"cannot use the database {path}: it is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(f"cannot create the database {path}: directory {parent} does not exist")
    # WAL mode creates -wal and -shm files next to the database.
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot use the database {path}: directory {parent} is not writable")
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"cannot use the database {path}: the file is not readable and writable")


def open_beside(path: str) -> sqlite3.Connection:
    """A connection of its own to the chat's database (created and migrated if need be),
    for a store that keeps its tables beside the chat's; raises StoreError with a one-line
    message. Blocking: for startup."""
    _check_path(path)
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {_reason(exc)}") from None
    try:
        _prepare_writer(conn, path, quick_check=False)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot use the database {path}: {_reason(exc)}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _connect(path: str) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (BEGIN/COMMIT in _commit_in_thread).
    # check_same_thread=False: each connection is used by one worker thread at a time,
    # though not always the same thread.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _prepare_writer(conn: sqlite3.Connection, path: str, *, quick_check: bool) -> None:
    # The first statement that reads the file: random bytes fail here ("not a database").
    conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    if quick_check:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            first = " ".join(str(problems[0]).split())  # its report spans several lines
            raise StoreError(f"the database {path} is corrupt: {first}")
    try:
        migrate(conn)
    except SchemaError as exc:
        raise StoreError(f"cannot use the database {path}: {exc}") from None
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StoreError(f"cannot use the database {path}: WAL journal mode unavailable ({mode})")
    conn.execute("PRAGMA synchronous = FULL")


def _ensure_channels(conn: sqlite3.Connection, channels: Iterable[str]) -> dict[str, int]:
    """Add the configured channels the file lacks; every stored channel stays usable."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO channels (name) VALUES (?)", [(name,) for name in channels]
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return {name: cid for cid, name in conn.execute("SELECT id, name FROM channels")}


@dataclass(frozen=True, slots=True)
class _UserCut:
    """Which users a snapshot lists (see Store.snapshot)."""

    most: int | None
    seen_since: int
    including: tuple[str, ...]

    def query(self) -> tuple[str, Params]:
        """Rows of (user columns, last_seen, whether in the cut)."""
        columns = f"{_USER_COLUMNS}, last_seen"
        if self.most is None and self.seen_since <= 0:
            return f"SELECT {columns}, 1 FROM users ORDER BY seq", ()
        # The index on last_seen finds the most recent without reading every user.
        asked = ", ".join("?" * len(self.including))
        return (
            "WITH cut(seq) AS (SELECT seq FROM users WHERE last_seen >= ?"
            " ORDER BY last_seen DESC, seq DESC LIMIT ?)"
            f" SELECT {columns}, seq IN cut FROM users"
            f" WHERE seq IN cut OR user_id IN ({asked}) ORDER BY seq",
            (self.seen_since, -1 if self.most is None else self.most, *self.including),
        )


def _user(row: Any) -> User:
    seq, user_id, username, avatar, role = row[:5]
    return User(user_id, username, avatar, seq=seq, role=Role(role))


def _read_snapshot(
    conn: sqlite3.Connection, channel_ids: list[int | None], limit: int, users: _UserCut
) -> tuple[list[list[Any]], list[Any], int]:
    # One read transaction: in WAL mode every statement sees the same committed state.
    conn.execute("BEGIN")
    try:
        per_channel = [
            conn.execute(
                f"SELECT {_MESSAGE_READ} FROM messages WHERE channel_id = ? AND deleted = 0"
                " ORDER BY id DESC LIMIT ?",
                (channel_id, limit),
            ).fetchall()
            if channel_id is not None and limit > 0
            else []
            for channel_id in channel_ids
        ]
        user_rows = conn.execute(*users.query()).fetchall()
        (last_id,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()
    finally:
        conn.execute("COMMIT")
    return per_channel, user_rows, int(last_id)


def _fetchall(conn: sqlite3.Connection, sql: str, params: Params) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _close_all(conns: Iterable[sqlite3.Connection], lock_fd: int) -> None:
    # The lock fd is closed last: closing any descriptor of the file drops the POSIX locks
    # SQLite holds on it in this process.
    for conn in conns:
        conn.close()
    os.close(lock_fd)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
