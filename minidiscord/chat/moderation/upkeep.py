"""What a running server does in the background for moderation: applying the effects
``minidiscord admin`` put in the SQLite outbox, and pruning the audit log.

Why an outbox polled once a second rather than a wake-up: the command line and the server
are two processes on one file, with nothing else between them. SQLite has no notification
across processes (``PRAGMA data_version`` only says that *some* other connection
committed, which the server's own chat writer does all the time), so the server would poll
something anyway; one indexed read of the rows after the last one applied is the cheapest
poll there is, and it costs nothing when nothing happened. A change made at the command
line reaches the running server's sockets within ``RELAY_SECONDS`` (plus the read).
"""

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Final, Protocol

import trio

from ..accounts.service import AccountError
from ..store.base import StoreReadError, StoreWriteError
from .effects import Effect
from .service import AuditRetention, Moderation

log = logging.getLogger(__name__)

# How often the server reads the outbox (seconds): the longest a command-line ban, role
# change, revocation or prune waits before the running server applies it.
RELAY_SECONDS: Final = 1.0
# How often the server prunes the audit log to its retention (seconds).
AUDIT_PRUNE_SECONDS: Final = 3600.0


class OutboxSource(Protocol):
    """The SQLite outbox as the running server reads it (SqliteAccounts)."""

    async def last_effect(self) -> int: ...

    async def effects_after(self, last: int) -> list[tuple[int, Effect]]: ...


async def relay_outbox(
    source: OutboxSource,
    apply: Callable[[Effect], None],
    *,
    every: float = RELAY_SECONDS,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Apply every effect put in the outbox from now on, in order, until cancelled. What
    was put before the server started needs nothing: its connects read the store."""
    last = await source.last_effect()
    task_status.started()
    while True:
        await trio.sleep(every)
        try:
            found = await source.effects_after(last)
        except (StoreReadError, StoreWriteError) as exc:
            # A locked or failing file: the rows stay, the next round reads them.
            log.warning("the moderation outbox could not be read: %s", exc)
            continue
        for number, effect in found:
            apply(effect)
            last = number


async def prune_audit(
    moderation: Moderation, retention: AuditRetention, *, every: float = AUDIT_PRUNE_SECONDS
) -> None:
    """Prune the audit log to ``retention`` now and then every ``every`` seconds."""
    while True:
        # A store failure is logged by store_write: the next round tries again.
        with suppress(AccountError):
            await moderation.prune_audit(retention)
        await trio.sleep(every)
