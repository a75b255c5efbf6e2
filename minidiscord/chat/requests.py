"""The chat's acked requests (issue 18's edits, deletes, reactions and search; channels and
conversations; moderation and the admin view): one object from a joined user, answered by
an ack ``{ok, ...}`` whatever goes wrong.

Each refusal is the sender's alone: answered in the ack (``{ok: false, error}``), logged at
INFO and counted, never an exception out of the handler. The checks every such event
shares live here once: who asks, a channel they may read, a message's id.
"""

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeGuard

import trio

from minidiscord.limits import KeyedBuckets
from minidiscord.sockets import Socket

from .accounts.service import AccountError
from .channels.registry import Need
from .models import User
from .moderation.service import ModerationError
from .store.base import StoreReadError, StoreWriteError
from .validation import Invalid

log = logging.getLogger(__name__)

Ack = dict[str, Any]
Request = Callable[[Socket, User, dict[str, Any]], Awaitable[Ack]]
Handler = Callable[..., Awaitable[Ack]]


class Refused(Exception):
    """A request refused: ``message`` is for whoever asked; ``extra`` goes into the ack
    (``retryAfter``, ``until``); ``label`` is the metrics' reason."""

    def __init__(self, message: str, *, label: str = "invalid event", **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.label = label
        self.extra = extra


def guarded(event: str, request: Request, *, optional: bool = False) -> Handler:
    """The handler of ``event``: ``request`` run for the socket's user with the one object
    the client sent (``optional``: sending none stands for ``{}``); every refusal and store
    failure becomes the ack. The one guard of the chat's acked requests (issue 18's, the
    channels', moderation's and the admin view's)."""

    async def handle(socket: Socket, *args: Any) -> Ack:
        user: User | None = socket.data.get("user")
        try:
            if user is None:
                raise Refused("not connected")
            if optional and not args:
                args = ({},)
            if len(args) != 1 or not isinstance(args[0], dict):
                raise Refused("expected one object argument")
            return await request(socket, user, args[0])
        except Invalid as error:
            return refused(socket, event, Refused(error.reason))
        except ModerationError as error:
            return refused(socket, event, Refused(error.message))
        except Refused as error:
            return refused(socket, event, error)
        except AccountError as error:
            # The accounts' own answer (their store unavailable, a throttle): not the
            # client's mistake, so not counted as one.
            return {"ok": False, "error": error.message}
        except StoreWriteError as exc:
            log.warning("%s from socket %s was not stored: %s", event, socket.id, exc)
            return {"ok": False, "error": "the server could not store this now"}
        except StoreReadError as exc:
            log.warning("%s from socket %s was not read: %s", event, socket.id, exc)
            return {"ok": False, "error": "the server could not read this now"}

    return handle


def within_rate(buckets: KeyedBuckets, user: User, doing: str) -> None:
    """Spend one of ``user``'s tokens, or refuse: "you are DOING too fast" (retryAfter)."""
    wait = buckets.take(user.user_id, trio.current_time())
    if wait:
        retry_ms = math.ceil(wait * 1000)
        raise Refused(
            f"you are {doing} too fast; try again in {retry_ms / 1000:.1f} s",
            label="rate limited",
            retryAfter=retry_ms,
        )


def refused(socket: Socket, event: str, error: Refused) -> Ack:
    return {**refuse(socket, event, error.message, label=error.label), **error.extra}


def refuse(socket: Socket, event: str, reason: str, *, label: str = "invalid event") -> Ack:
    """Refuse ``event`` from ``socket``: logged at INFO, counted, and the ack that says why."""
    log.info("refused %s from socket %s: %s", event, socket.id, reason)
    socket.namespace.metrics.reject(label)
    return {"ok": False, "error": reason}


def rate_limited(socket: Socket, event: str, wait: float, reason: str) -> Ack:
    """Told twice: in the ack, and as an event for clients that send without one."""
    retry_ms = math.ceil(wait * 1000)
    socket.emit("rate-limited", {"event": event, "retryAfter": retry_ms})
    ack = refuse(
        socket, event, f"{reason}; try again in {retry_ms / 1000:.1f} s", label="rate limited"
    )
    ack["retryAfter"] = retry_ms
    return ack


class ChannelAccess(Protocol):
    """The one access check (chat/channels/registry.py ChannelRegistry)."""

    async def usable(self, user_id: str, raw: object, need: Need) -> str: ...

    def check(self, user_id: str, raw: object, need: Need) -> str: ...

    def readable(self, user_id: str) -> list[str]: ...


def message_id(raw: object) -> int:
    """A message's id as the wire names it (an integer)."""
    if not is_int(raw):
        raise Invalid("id must be a message's id (an integer)")
    return raw


def is_int(value: object) -> TypeGuard[int]:
    """An integer of JSON (not a bool, which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)
