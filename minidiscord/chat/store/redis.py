"""RedisStore: the Store on a Redis server shared by every node of a cluster.

The keys (names in ``rediskeys``) and the Lua scripts that change them live here: this
module is the one writer of users, sessions, channels' messages and "last seen" times, and
of the ``message`` and ``leave`` entries of the log stream.

Writes go through one writer task, as on SQLite: callers queue their write and wait; the
writer takes everything queued and sends it as one batch of EVALSHA calls (messages next to
each other merged into one call), each caller getting its own reply. Batches go on the
writer's own connection, the next one sent while Redis still works on the previous ones (up
to MAX_IN_FLIGHT): Redis runs a connection's commands in the order sent, so ids (numbered
inside the scripts) follow the order ``add_message`` was called, and many senders share one
round trip and one AOF fsync.

Every write script carries a deadline in Redis's own clock and writes nothing once Redis's
``TIME`` has passed it (``redisclock`` converts the node's deadlines), so that a write whose
caller was told it failed is not applied later by a thawed Redis or over a mended link.
"""

import concurrent.futures
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any, Final, cast

import orjson
import trio
from coredis.commands.script import Script
from coredis.connection import BaseConnection
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import NoScriptError, RedisError
from coredis.tokens import PureToken

from ...redis.connection import (
    DEFAULT_CALL_TIMEOUT,
    RedisClient,
    RedisUnavailable,
    bounded,
    durability_warnings,
    open_redis,
)
from ...redis.target import RedisTarget
from .. import stages
from ..models import CHANNELS, Message, Role, Session, User
from ..moderation.effects import deleted
from .base import Snapshot, StoreWriteError, session_hash
from .rediscall import redis_call
from .redisclock import RedisClock
from .rediskeys import (
    LEAVE,
    LOG_MAXLEN,
    MESSAGE,
    MODERATION,
    RedisKeys,
    edited_json,
    message_from_json,
    message_json_tail,
    user_from_json,
    user_json,
)
from .sqlite import STORE_TRANSITIONS, StoreError, StoreState

log = logging.getLogger(__name__)

# Seconds the startup check waits for Redis to answer before refusing to start.
STARTUP_TIMEOUT: Final = 3.0
# Below the app's own health check bound (2 s), so that the reason is known when it gives up.
HEALTH_TIMEOUT: Final = 1.5
# "Last seen" notes wait at most this long for a write to ride along with.
SEEN_DELAY: Final = 1.0
# A batch has at least this share of the bound, even when its first caller has waited
# nearly all of theirs behind earlier ones (so a caller hears within 1.25 bounds).
MIN_BATCH_TIME: Final = 0.25
# Batches sent and not yet answered, at most (then the writer waits for the oldest).
MAX_IN_FLIGHT: Final = 4
# The most writes sent in one batch: bounds the reply a slow batch waits for.
MAX_BATCH: Final = 1000
# A batch's scripts write nothing once Redis's clock passes the batch's deadline less this
# share of the bound (at most half the batch's time): a write applied in time has that long
# for its reply to arrive before its caller is told it failed.
LATE_MARGIN: Final = 0.25
# Attempts at an edit while other edits or deletes of the same message race it.
EDIT_TRIES: Final = 3
# Seconds between measurements of Redis's clock (a TIME in the next batch): following a
# stepped wall clock needs a few, and one per batch would cost every lone message a command.
CLOCK_REFRESH: Final = 0.5


@dataclass(frozen=True, slots=True)
class _Script:
    """A Lua script, called by its SHA1 (loaded at the start of every batch of writes)."""

    body: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", sha1(self.body.encode()).hexdigest())


# Every write script starts with this: ARGV[1] is its deadline in Redis's clock (TIME, in
# microseconds; below 2^53, exact in Lua's doubles). Past it, nothing is written and the
# reply is an error starting LATE. Redis 7 replicates scripts by their effects, so reading
# TIME before writing is allowed (and a refused script has no effects to replicate).
_IN_TIME = """
local now = redis.call('TIME')
if tonumber(now[1]) * 1000000 + tonumber(now[2]) > tonumber(ARGV[1]) then
  return redis.error_reply('LATE the deadline had passed when redis ran it')
end
"""
# The error of a script run after its deadline.
_LATE: Final = "LATE"


def _checked_in_time(body: str) -> _Script:
    """A write script: ``body`` behind the deadline check (its ARGV start at 2)."""
    return _Script(_IN_TIME + body)


# Lua numbers are doubles and ``..`` prints them with 14 digits: ids go through %d.
_ADD_MESSAGES = _checked_in_time("""
local usable = {}
for k = 3, #KEYS do
  local kind = redis.call('TYPE', KEYS[k])['ok']
  usable[k] = kind == 'zset' or kind == 'none'
end
local count = (#ARGV - 3) / 2
local numbered = 0
for i = 1, count do
  if usable[2 + tonumber(ARGV[2 + 2 * i])] then numbered = numbered + 1 end
end
local n = redis.call('INCRBY', KEYS[1], numbered) - numbered
local ids = {}
for i = 1, count do
  local channel = KEYS[2 + tonumber(ARGV[2 + 2 * i])]
  if usable[2 + tonumber(ARGV[2 + 2 * i])] then
    n = n + 1
    local id = string.format('%d', n)
    local m = '{"id":' .. id .. ',' .. ARGV[3 + 2 * i]
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. id, 'k', ARGV[3], 'd', m)
    redis.call('ZADD', channel, id, m)
    ids[i] = n
  else
    ids[i] = 0
  end
end
return ids
""")
# KEYS: seq, log, then the channels. ARGV: the deadline, maxlen, kind, then for each message
# the index of its channel among those keys and its JSON tail. Messages sent together share
# one call (Redis's cost per script call is much more than per command inside one). A script
# is not rolled back when a command in it fails, so what could fail is checked first: a
# message whose channel key holds something else is refused (0) before anything is written,
# and the others of the call go through; each message's XADD comes before its ZADD.

_CREATE_USER = _checked_in_time("""
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[4], 'seq', seq, 'json', ARGV[3], 'created', ARGV[4])
redis.call('ZADD', KEYS[2], seq, ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[2])
redis.call('SADD', KEYS[6], ARGV[5])
local made = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[7], string.format('%d', made), ARGV[2])
return seq
""")
# KEYS: userseq, users, seen, user, session, sessions, unshown. ARGV: the deadline, userId,
# JSON, seen, digest. Marked not yet shown in the same step (see RedisKeys.unshown): no
# connect snapshot lists the user before its first arrival is logged.

_DELETE_USER = _checked_in_time("""
local json = redis.call('HGET', KEYS[1], 'json')
if not json then return 0 end
local n = redis.call('INCR', KEYS[5])
local id = string.format('%d', n)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[4], '0-' .. id, 'k', ARGV[5], 'd', json)
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('DEL', ARGV[3] .. digest)
end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[7], ARGV[2])
return n
""")
# KEYS: user, users, seen, sessions, seq, log, unshown. ARGV: the deadline, userId, session
# key prefix, maxlen, kind.

_DELETE_MESSAGE = _checked_in_time("""
if redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2]) == 0 then return 0 end
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '0-' .. string.format('%d', n), 'k', ARGV[4],
  'd', ARGV[5])
return n
""")
# KEYS: the channel, seq, log. ARGV: the deadline, the message id, maxlen, kind, the effect's
# JSON. Removed outright: ids come from the seq counter, so none is handed out again. The
# removal and its `moderation` entry are one step: no crash leaves a message removed but
# shown, or announced but kept. (A reader further behind applies the message's entry, then
# this one: a client catching up sees it come and go.)

_SET_ROLE = _checked_in_time("""
local function with_role(json)
  local user = cjson.decode(json)
  if ARGV[3] == 'guest' then user['role'] = nil else user['role'] = ARGV[3] end
  return cjson.encode(user)
end
local json = redis.call('HGET', KEYS[1], 'json')
if not json then return 0 end
redis.call('HSET', KEYS[1], 'json', with_role(json))
local online = redis.call('HGET', KEYS[2], ARGV[2])
if online then redis.call('HSET', KEYS[2], ARGV[2], with_role(online)) end
return 1
""")
# KEYS: the user, the online users' JSON. ARGV: the deadline, userId, the role (a guest's is
# not written: see user_json).

_EDIT_MESSAGE = _checked_in_time("""
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])
if found[1] ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
return 1
""")
# KEYS: the channel. ARGV: the deadline, the message id, its member as read, its new member.
# Replaced only if still as read (0 otherwise: deleted, or edited meanwhile).

_GET_SESSION = _Script("""
local user_id = redis.call('GET', KEYS[1])
if not user_id then return false end
local user = redis.call('HMGET', ARGV[1] .. user_id, 'seq', 'json', 'created')
if not user[1] then return false end
user[3] = user[3] or '0'
user[4] = redis.call('ZSCORE', KEYS[2], user_id) or '0'
return user
""")
# KEYS: session, seen. ARGV: user key prefix. Returns [seq, json, created, last seen] or nil
# (created is 0 for a user stored before it was kept).

_SNAPSHOT = _Script("""
local limit = tonumber(ARGV[1])
local most = tonumber(ARGV[2])
local since = tonumber(ARGV[3])
local user_prefix = ARGV[4]
local skip = ARGV[5] == '1'
local messages = {}
for i = 6, #KEYS do
  if limit > 0 then
    messages[#messages + 1] = redis.call('ZREVRANGE', KEYS[i], 0, limit - 1)
  else
    messages[#messages + 1] = {}
  end
end
-- Which of these (id, score) pairs are of users neither online anywhere nor still to be
-- shown: one HMGET and one ZMSCORE per thousand ids (unpack's limit), not a command per user.
local function offline(rows, step)
  if not skip then return rows end
  local kept = {}
  for first = 1, #rows, 1000 * step do
    local ids = {}
    for i = first, math.min(#rows, first + 1000 * step - 1), step do ids[#ids + 1] = rows[i] end
    local counts = redis.call('HMGET', KEYS[4], unpack(ids))
    local unshown = redis.call('ZMSCORE', KEYS[5], unpack(ids))
    for j, id in ipairs(ids) do
      if not counts[j] and not unshown[j] then
        kept[#kept + 1] = id
        if step == 2 then kept[#kept + 1] = rows[first + 2 * j - 1] end
      end
    end
  end
  return kept
end
local chosen = {}
if most < 0 and since <= 0 then
  for _, id in ipairs(offline(redis.call('ZRANGE', KEYS[2], 0, -1), 1)) do
    chosen[#chosen + 1] = id
  end
elseif most ~= 0 then
  local rows
  if most < 0 then
    rows = offline(redis.call('ZREVRANGEBYSCORE', KEYS[3], '+inf', since, 'WITHSCORES'), 2)
  else
    -- Online and unshown users are left out after the read: room for all of them.
    local count = most
    if skip then count = count + redis.call('HLEN', KEYS[4]) + redis.call('ZCARD', KEYS[5]) end
    rows = redis.call('ZREVRANGEBYSCORE', KEYS[3], '+inf', since, 'WITHSCORES', 'LIMIT', 0, count)
    rows = offline(rows, 2)
  end
  if most < 0 or #rows < 2 * most then
    for i = 1, #rows, 2 do chosen[#chosen + 1] = rows[i] end
  else
    -- The cut falls among users seen at the same time: the newer users win.
    local edge = rows[2 * most]
    local edge_number = tonumber(edge)
    for i = 1, 2 * most, 2 do
      if tonumber(rows[i + 1]) > edge_number then chosen[#chosen + 1] = rows[i] end
    end
    local tied = {}
    for _, id in ipairs(offline(redis.call('ZRANGEBYSCORE', KEYS[3], edge, edge), 1)) do
      tied[#tied + 1] = {tonumber(redis.call('ZSCORE', KEYS[2], id)), id}
    end
    table.sort(tied, function(a, b) return a[1] > b[1] end)
    for i = 1, most - #chosen do chosen[#chosen + 1] = tied[i][2] end
  end
end
local in_cut = {}
for _, id in ipairs(chosen) do in_cut[id] = 1 end
for i = 6, #ARGV do
  local id = ARGV[i]
  if not in_cut[id] and redis.call('ZSCORE', KEYS[2], id) then
    in_cut[id] = 0
    chosen[#chosen + 1] = id
  end
end
local users = {}
for _, id in ipairs(chosen) do
  local user = redis.call('HMGET', user_prefix .. id, 'seq', 'json')
  if user[1] then
    local seen = redis.call('ZSCORE', KEYS[3], id) or '0'
    users[#users + 1] = {tonumber(user[1]), user[2], seen, in_cut[id]}
  end
end
table.sort(users, function(a, b) return a[1] < b[1] end)
return {redis.call('GET', KEYS[1]) or '0', messages, users}
""")
# KEYS: seq, users, seen, online (the cluster presence's), unshown, then one channel per
# channel asked for. ARGV: limit, users_max (-1: no cut), seen_since, user key prefix, "1" to
# leave out the users online anywhere and those not yet shown (created, first arrival not yet
# logged), then the users listed whatever the cut. One script: one atomic read, so last_id,
# the histories and the users are of the same moment. Each user listed costs an HMGET and a
# ZSCORE, each one left out only its part of one HMGET and one ZMSCORE.


_Call = tuple[_Script, list[str], list[str | bytes | int], list["_Write"]]


@dataclass(eq=False, slots=True)
class _Flight:
    """A batch sent and not yet answered: its script calls (each with its writes), every
    request sent for it, when it must be answered, and the connection it went on."""

    what: str
    calls: list[_Call]
    requests: list[Awaitable[Any]]
    deadline: float
    connection: BaseConnection
    # Which of the requests is the TIME that measures Redis's clock again, if any.
    clock_request: int | None
    # Wall-clock time it was sent (for the stage trace).
    sent_at: float


class RedisWriteError(StoreWriteError):
    """A write failed or timed out. Unlike other backends' write errors, when Redis did not
    answer in time the write may have been applied (nothing is retried): only if Redis ran
    it before its deadline and the reply was then lost or late (see RedisStore). The message
    says which: "nothing was written" is certain."""


@dataclass(eq=False, slots=True)
class _Write:
    """One caller's script call, queued for the writer."""

    what: str
    script: _Script
    # For a message: its channel's key and its JSON tail (merged with its neighbours' into
    # one call). Otherwise the script's own keys and arguments.
    keys: list[str]
    args: list[str | bytes | int]
    # When the caller stops waiting (trio time): the writer answers every write by then.
    deadline: float
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: str | None = None


def new_user_id() -> str:
    return secrets.token_hex(16)


def new_session_id() -> str:
    # 256 bits, URL-safe, as the other stores.
    return secrets.token_urlsafe(32)


def check_reachable(target: RedisTarget, timeout: float = STARTUP_TIMEOUT) -> None:
    """Raise StoreError (one line, the address without its password) unless Redis at
    ``target`` answers PING within ``timeout``. Blocking: for startup, before serving (it
    runs its own trio loop in a thread, so it works inside a running one too)."""

    async def ping() -> None:
        async with open_redis(target) as client:
            with bounded("PING", timeout):
                await client.ping()

    def attempt() -> str | None:
        try:
            trio.run(ping)
        except (RedisUnavailable, RedisError) as exc:
            return _one_line(exc)
        except ExceptionGroup as group:
            # The client's own task group wraps what its block raised.
            found, _ = group.split((RedisUnavailable, RedisError))
            if found is None:
                raise
            return _one_line(_first(found))
        return None

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        problem = pool.submit(attempt).result()
    if problem is not None:
        raise StoreError(f"cannot reach redis at {target}: {problem}")


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class RedisStore:
    """The Store on Redis (see the module docstring for how writes are grouped).

    Every call is bounded in time (``DEFAULT_CALL_TIMEOUT``, 2 s; a write's caller hears
    within 1.25 of it at worst): a write that fails or is not answered in time raises
    :class:`RedisWriteError` (a StoreWriteError), a read raises :class:`StoreReadError`;
    both say why in one line. Writes are never retried.

    **A write its caller was told failed is not applied later.** Each batch's scripts get a
    deadline in Redis's clock: the batch's own (when its callers stop waiting) less a margin
    (``LATE_MARGIN`` of the bound, at most half the batch's time), converted with the offset
    between the clocks (measured with ``TIME`` when the writer's connection opens, then in a
    batch every ``CLOCK_REFRESH``; see ``redisclock``). Redis runs a script past it without
    writing anything. So a frozen Redis that is thawed, or bytes retransmitted when a cut
    link mends, write nothing once the caller has heard "did not answer". The window that
    remains, honestly: Redis ran the write in time but its reply reached the node more than
    the margin later (a link cut, or Redis frozen, between the write and its reply; the
    write is then durable and shown to everyone while its sender was told it "may have been
    applied"), or Redis's wall clock was stepped back by more than the margin within the
    last few readings (``WINDOW`` of them, about 4 s). A write that never left ("nothing was
    written": no connection could be opened, or it waited its whole bound behind slow
    batches) or that Redis ran too late ("after its deadline") was not applied. Deletions
    are bounded the same way: a ``user:leave`` that failed leaves the user in place. A
    caller cancelled while it waits does not withdraw its write (it is applied only within
    its deadline), and waits for its outcome all the same (the Store contract).

    Durability is Redis's: with ``appendonly yes`` and ``appendfsync always`` a write is
    answered after its AOF fsync; ``run`` logs a warning when the server is set weaker.
    "Last seen" notes go with the next batch of writes or within ``SEEN_DELAY``, and are
    dropped if that batch fails.

    Lifetime as the other stores: ``await nursery.start(store.run)``, then ``close()``.
    """

    def __init__(
        self,
        target: RedisTarget,
        prefix: str,
        *,
        channels: Sequence[str] = CHANNELS,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self.target = target
        self.keys = RedisKeys(prefix)
        # The channels whose keys this node may touch (add_channel adds to them).
        self._channels = set(channels)
        self._timeout = timeout
        self._client: RedisClient | None = None
        self.state = StoreState.OPEN
        self._pending: list[_Write] = []
        self._seen: dict[str, int] = {}
        self._seen_due: float | None = None
        self._wakeup = trio.Event()
        self._stopped = trio.Event()
        self._close_done = trio.Event()
        self._last_write_failed = False
        self._trouble: str | None = None
        self._batches = 0
        self._scripts: dict[str, Script[bytes]] = {}
        # The writer's own connection (kept out of the pool: nothing else may come
        # between its commands), and the batches sent on it not yet answered, oldest first.
        self._connection: BaseConnection | None = None
        # The scripts loaded on that connection (by sha).
        self._loaded: set[str] = set()
        self._unanswered: deque[_Flight] = deque()
        # Redis's clock as measured on that connection: the scripts' deadlines are in it.
        self._clock = RedisClock()

    @classmethod
    def open(cls, target: RedisTarget, prefix: str, **options: Any) -> "RedisStore":
        """A store on ``target`` once it answered (raises StoreError otherwise). Blocking."""
        check_reachable(target)
        return cls(target, prefix, **options)

    # -- lifetime ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the client, log weak durability settings, then send queued writes until
        ``close``. Cancelled instead, writes still queued fail."""
        self.state = STORE_TRANSITIONS.check("the store", self.state, StoreState.RUNNING)
        try:
            async with open_redis(self.target) as client:
                self._client = client
                await self._warn_about_durability(client)
                try:
                    # Ready before the first write, so that it waits for no clock.
                    with bounded("TIME", self._timeout):
                        await self._connect(client)
                except (RedisUnavailable, RedisError) as exc:
                    log.warning("redis's clock could not be read yet: %s", exc)
                task_status.started()
                await self._write_until_closed(client)
        finally:
            self._client = None
            if self.state is StoreState.RUNNING:
                self._move_to(StoreState.STOPPED)
            stranded, self._pending = self._pending, []
            for write in stranded:
                write.error = "the store stopped before this write was sent"
                write.done.set()
            # Cancelled while Redis had them: the callers must not wait for ever.
            while self._unanswered:
                flight = self._unanswered.popleft()
                for _, _, _, writes in flight.calls:
                    for write in writes:
                        if not write.done.is_set():
                            write.error = "the store stopped; the write may have been applied"
                            write.done.set()
            if self._connection is not None:
                self._connection.invalidate()
                self._connection = None
            self._stopped.set()

    async def _warn_about_durability(self, client: RedisClient) -> None:
        try:
            warnings = await durability_warnings(client)
        except (RedisUnavailable, RedisError) as exc:
            warnings = [f"could not check redis's persistence settings: {exc}"]
        for line in warnings:
            log.warning("%s (redis at %s)", line, self.target)

    async def close(self) -> None:
        """Send what is queued, stop the writer, close the client; every caller returns
        once that is done."""
        if self.state is StoreState.CLOSING or self.state is StoreState.CLOSED:
            await self._close_done.wait()
            return
        writer_running = self.state is StoreState.RUNNING
        self._move_to(StoreState.CLOSING)
        with trio.CancelScope(shield=True):
            if writer_running:
                self._wakeup.set()
                await self._stopped.wait()
            self._move_to(StoreState.CLOSED)
            self._close_done.set()

    def _move_to(self, state: StoreState) -> None:
        self.state = STORE_TRANSITIONS.check("the store", self.state, state)

    async def healthy(self) -> bool:
        """Whether Redis answers now (a PING, or a harmless write while the last writes
        failed: a server that cannot persist still answers PING), within HEALTH_TIMEOUT."""
        client = self._client
        if self.state is not StoreState.RUNNING or client is None:
            return False
        try:
            if self._last_write_failed:
                with bounded("a test write", HEALTH_TIMEOUT):
                    await client.incrby(self.keys.seq, 0)
                self._last_write_failed = False
            else:
                with bounded("PING", HEALTH_TIMEOUT):
                    await client.ping()
        except (RedisUnavailable, RedisError) as exc:
            self._trouble = str(exc)
            return False
        self._trouble = None
        return True

    @property
    def failure(self) -> str | None:
        """Never set: Redis trouble passes (see ``trouble``)."""
        return None

    @property
    def trouble(self) -> str | None:
        """What the last failed health check ran into (for /healthz), or None."""
        return self._trouble

    @property
    def batches(self) -> int:
        """Batches of writes answered so far (one round trip each)."""
        return self._batches

    @property
    def in_flight(self) -> int:
        """Batches of writes sent and not answered yet."""
        return len(self._unanswered)

    # -- the writer --------------------------------------------------------------------

    async def _write_until_closed(self, client: RedisClient) -> None:
        # Plus the one being answered and the one being sent: MAX_IN_FLIGHT in all.
        send, receive = trio.open_memory_channel[_Flight](MAX_IN_FLIGHT - 2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._answer_flights, receive)
            async with send:
                while True:
                    await trio.lowlevel.checkpoint_if_cancelled()
                    while not self._pending and not self._seen_ready():
                        if self.state is StoreState.CLOSING:
                            if self._seen:
                                break  # flushed with nothing else
                            return
                        self._wakeup = trio.Event()
                        due = self._seen_due if self._seen_due is not None else math.inf
                        with trio.move_on_at(due):
                            await self._wakeup.wait()
                    batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                    notes, self._seen, self._seen_due = self._seen, {}, None
                    try:
                        flight = await self._dispatch(client, self._drop_expired(batch), notes)
                    except BaseException:
                        # Cancelled on its way (opening a connection): in neither the queue
                        # nor a flight, its callers would hear nothing from run's cleanup.
                        self._fail(batch, "the store stopped before this write was sent")
                        raise
                    if flight is not None:
                        self._unanswered.append(flight)
                        await send.send(flight)

    def _drop_expired(self, batch: list[_Write]) -> list[_Write]:
        """Fail the writes whose callers waited their whole bound behind slow pipelines:
        never sent, so never applied."""
        now = trio.current_time()
        kept = []
        for write in batch:
            if write.deadline <= now:
                write.error = f"{self._no_answer(write.what)}; nothing was written"
                write.done.set()
            else:
                kept.append(write)
        return kept

    def _seen_ready(self) -> bool:
        return self._seen_due is not None and trio.current_time() >= self._seen_due

    async def _dispatch(
        self, client: RedisClient, batch: list[_Write], notes: dict[str, int]
    ) -> "_Flight | None":
        """Send a batch on the writer's connection without waiting for its replies: the
        next batch is sent while Redis works on this one. One connection keeps the order:
        Redis runs a connection's commands in the order they were sent."""
        if not batch and not notes:
            return None
        what = batch[0].what if len(batch) == 1 else f"{len(batch)} writes"
        if not batch:
            what = "last-seen notes"
        calls = self._calls(batch)
        # The batch ends by its first caller's deadline (callers wait under no deadline of
        # their own but a late backstop: see _write), unless that leaves too little;
        # opening a connection counts too.
        now = trio.current_time()
        deadline = min([now + self._timeout, *(w.deadline for w in batch)])
        deadline = max(deadline, now + self._timeout * MIN_BATCH_TIME)
        try:
            with trio.fail_at(deadline), bounded(what, self._timeout):
                connection = self._connection
                if connection is None or not connection.usable:
                    connection = await self._connect(client)
                margin = min(self._timeout * LATE_MARGIN, (deadline - now) / 2)
                in_time = self._clock.redis_deadline(deadline - margin)
                # Loaded once per connection, ahead of the EVALSHAs on it: a Redis that
                # restarted (its script cache empty) is reached through a new connection.
                unloaded = {call[0] for call in calls if call[0].sha not in self._loaded}
                self._loaded.update(script.sha for script in unloaded)
                requests: list[Awaitable[Any]] = [
                    connection.create_request(
                        b"SCRIPT", b"LOAD", script.body, decode=False, raise_exceptions=False
                    )
                    for script in unloaded
                ]
                # Measured again with a batch now and then, to follow Redis's clock.
                clock_request = None
                if now - self._clock.measured_at >= CLOCK_REFRESH:
                    clock_request = len(requests)
                    requests.append(connection.create_request(b"TIME", decode=False))
                for user_id, when in notes.items():
                    # XX: the notes of users who are gone (or never were) are dropped.
                    requests.append(
                        connection.create_request(
                            b"ZADD", self.keys.seen, b"XX", when, user_id, raise_exceptions=False
                        )
                    )
                for script, keys, args, _ in calls:
                    requests.append(
                        connection.create_request(
                            b"EVALSHA",
                            script.sha,
                            len(keys),
                            *keys,
                            in_time,
                            *args,
                            decode=False,
                            raise_exceptions=False,
                        )
                    )
        except (RedisUnavailable, RedisError, trio.TooSlowError) as exc:
            self._connection = None
            reason = self._no_answer(what) if isinstance(exc, trio.TooSlowError) else str(exc)
            self._fail(batch, f"{reason}; nothing was written")
            return None
        return _Flight(what, calls, requests, deadline, connection, clock_request, time.time())

    async def _connect(self, client: RedisClient) -> BaseConnection:
        """Open the writer's connection and measure Redis's clock on it: one round trip per
        connection, before any write goes on it (another server may be behind it now)."""
        self._clock.forget()
        self._loaded = set()
        connection: BaseConnection = await client.connection_pool.get_connection()
        self._connection = connection
        try:
            reply = await connection.create_request(b"TIME", decode=False)
        except BaseException:
            connection.invalidate()
            self._connection = None
            raise
        self._clock.observe(cast(list[bytes], reply), trio.current_time())
        return connection

    async def _answer_flights(self, flights: trio.MemoryReceiveChannel[_Flight]) -> None:
        async for flight in flights:
            await self._answer(flight)
            self._unanswered.popleft()

    async def _answer(self, flight: "_Flight") -> None:
        """Wait for a flight's replies (bounded) and hand each caller its own."""
        try:
            with trio.fail_at(flight.deadline), bounded(flight.what, self._timeout):
                results = []
                received = math.inf
                for n, request in enumerate(flight.requests):
                    results.append(await request)
                    if n == flight.clock_request:
                        received = trio.current_time()
                for result in results:
                    if isinstance(result, (RedisConnectionError, OSError, TimeoutError)):
                        raise result
        except (RedisUnavailable, RedisError, trio.TooSlowError) as exc:
            # Later flights on this connection fail with it: none may overtake this one.
            flight.connection.invalidate()
            if self._connection is flight.connection:
                self._connection = None
            if isinstance(exc, trio.TooSlowError):
                reason = self._no_answer(flight.what)
            else:
                reason = str(exc)
            log.warning("redis write failed: %s", reason)
            self._fail(
                [w for _, _, _, writes in flight.calls for w in writes],
                f"{reason}; the write may have been applied",
            )
            return
        if flight.clock_request is not None and flight.connection is self._connection:
            self._clock.observe(results[flight.clock_request], received)
        self._batches += 1
        failed = False
        replies = results[len(results) - len(flight.calls) :]
        for (script, _, _, writes), result in zip(flight.calls, replies, strict=True):
            for n, write in enumerate(writes):
                if isinstance(result, BaseException) and str(result).startswith(_LATE):
                    # Refused by the script itself: certainly not applied, ever.
                    failed = True
                    write.error = (
                        f"redis ran {write.what} after its deadline ({self._timeout:g} s "
                        "bound); nothing was written"
                    )
                    log.warning("%s", write.error)
                elif isinstance(result, BaseException):
                    failed = True
                    write.error = f"redis refused {write.what}: {result}"
                    log.error("%s", write.error)
                    if isinstance(result, NoScriptError):
                        # Its script cache was flushed under a live connection: load
                        # every script again with the next batch.
                        self._loaded.clear()
                elif script is _ADD_MESSAGES and not cast(list[int], result)[n]:
                    failed = True
                    write.error = (
                        f"redis refused {write.what}: the key {write.keys[0]} is not a sorted set"
                    )
                    log.error("%s", write.error)
                else:
                    write.result = cast(list[int], result)[n] if script is _ADD_MESSAGES else result
                write.done.set()
        self._last_write_failed = failed
        if (trace := stages.trace) is not None:
            self._trace_flight(trace, flight)

    @staticmethod
    def _trace_flight(trace: stages.StageTrace, flight: _Flight) -> None:
        answered = time.time()
        for script, _, _, writes in flight.calls:
            if script is _ADD_MESSAGES:
                for write in writes:
                    if write.error is None:
                        trace.mark(int(write.result), "issued", flight.sent_at)
                        trace.mark(int(write.result), "acked", answered)

    def _no_answer(self, what: str) -> str:
        return f"redis did not answer within {self._timeout:g} s ({what})"

    def _fail(self, writes: list[_Write], reason: str) -> None:
        self._last_write_failed = True
        for write in writes:
            if not write.done.is_set():
                write.error = reason
                write.done.set()

    def _calls(self, batch: list[_Write]) -> list[_Call]:
        """The script calls that make ``batch``, in order: messages next to each other
        merged into one call."""
        calls: list[_Call] = []
        for write in batch:
            if write.script is not _ADD_MESSAGES:
                calls.append((write.script, write.keys, write.args, [write]))
                continue
            if not calls or calls[-1][0] is not _ADD_MESSAGES:
                calls.append(
                    (_ADD_MESSAGES, [self.keys.seq, self.keys.log], [LOG_MAXLEN, MESSAGE], [])
                )
            _, keys, args, writes = calls[-1]
            (channel,), (tail,) = write.keys, write.args
            if channel not in keys:
                keys.append(channel)
            # Lua's index of the channel among KEYS, counting from the first channel.
            args += [keys.index(channel) - 1, tail]
            writes.append(write)
        return calls

    async def _write(
        self, what: str, script: _Script, keys: list[str], args: list[str | bytes | int]
    ) -> Any:
        self._check_writable()
        write = _Write(what, script, keys, args, trio.current_time() + self._timeout)
        self._pending.append(write)
        self._wakeup.set()
        # Shielded (the Store contract): a caller cancelled here cannot withdraw its write
        # (it may be in a pipeline), so it waits to learn its outcome. The writer fails
        # every write by about 1.25 timeouts past its deadline (unsent, or its flight not
        # answered), or when it stops; the scope's own deadline, well past that, is a
        # backstop so that no fault of the writer's keeps a caller for ever.
        with trio.CancelScope(shield=True, deadline=write.deadline + 2 * self._timeout):
            await write.done.wait()
        if not write.done.is_set():
            log.error("redis write %s was never answered by the writer", what)
            raise RedisWriteError(f"{self._no_answer(what)}; the write may have been applied")
        if write.error is not None:
            raise RedisWriteError(write.error)
        return write.result

    def _check_writable(self) -> None:
        self._check_open()
        if self.state is not StoreState.RUNNING:
            raise RuntimeError("the store's writer is not running: start RedisStore.run first")

    def _check_open(self) -> None:
        if self.state is StoreState.CLOSING or self.state is StoreState.CLOSED:
            raise RuntimeError("the store is closed")

    # -- writes ------------------------------------------------------------------------

    async def create_user(
        self, username: str, avatar: str | None = None, *, seen: int = 0, role: Role = Role.GUEST
    ) -> tuple[User, Session]:
        user = User(new_user_id(), username, avatar, role=role)
        session = Session(new_session_id(), user.user_id)
        digest = session_hash(session.session_id)
        keys = self.keys
        seq = await self._write(
            "create_user",
            _CREATE_USER,
            [
                keys.userseq,
                keys.users,
                keys.seen,
                keys.user(user.user_id),
                keys.session(digest),
                keys.sessions(user.user_id),
                keys.unshown,
            ],
            [user.user_id, user_json(user), seen, digest.hex()],
        )
        return User(user.user_id, username, avatar, seq=int(seq), role=role), session

    def note_seen(self, user_id: str, when: int) -> None:
        # Disconnect handlers may still run after shutdown closed the store: ignored then.
        if self.state is not StoreState.RUNNING:
            return
        self._seen[user_id] = when
        if self._seen_due is None:
            self._seen_due = trio.current_time() + SEEN_DELAY
            self._wakeup.set()

    async def delete_user(self, user_id: str) -> bool:
        keys = self.keys
        entry = await self._write(
            "delete_user",
            _DELETE_USER,
            [
                keys.user(user_id),
                keys.users,
                keys.seen,
                keys.sessions(user_id),
                keys.seq,
                keys.log,
                keys.unshown,
            ],
            [user_id, keys.session_prefix, LOG_MAXLEN, LEAVE],
        )
        return int(entry) > 0

    async def add_channel(self, channel: str) -> None:
        # A channel's messages are one key, made by its first message: nothing to write.
        self._channels.add(channel)

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        if channel not in self._channels:
            self._check_open()
            raise KeyError(f"no channel {channel!r}")
        draft = Message.by(user, id=0, channel=channel, text=text, timestamp=timestamp)
        number = await self._write(
            "add_message", _ADD_MESSAGES, [self.keys.channel(channel)], [message_json_tail(draft)]
        )
        return Message.by(user, id=int(number), channel=channel, text=text, timestamp=timestamp)

    async def delete_message(self, channel: str, message_id: int) -> bool:
        if channel not in self._channels:
            return False
        keys = self.keys
        position = await self._write(
            "delete_message",
            _DELETE_MESSAGE,
            [keys.channel(channel), keys.seq, keys.log],
            [message_id, LOG_MAXLEN, MODERATION, orjson.dumps(deleted(channel, message_id))],
        )
        return int(position) > 0

    async def set_role(self, user_id: str, role: Role) -> None:
        keys = self.keys
        await self._write(
            "set_role", _SET_ROLE, [keys.user(user_id), keys.online_user], [user_id, role.value]
        )

    async def edit_message(
        self, channel: str, message_id: int, text: str, edited_at: int
    ) -> Message | None:
        # The member is the message's JSON: read it, write the edited one in its place if it
        # is still the one read (a concurrent edit or delete makes us read again).
        for _ in range(EDIT_TRIES):
            member = await self._member(channel, message_id)
            if member is None:
                self._check_writable()
                return None
            edited = edited_json(member, text, edited_at)
            replaced = await self._write(
                "edit_message",
                _EDIT_MESSAGE,
                [self.keys.channel(channel)],
                [message_id, member, edited],
            )
            if int(replaced):
                return message_from_json(edited)
        raise RedisWriteError("the message changed under every attempt to edit it")

    # -- reads -------------------------------------------------------------------------

    async def message(self, channel: str, message_id: int) -> Message | None:
        member = await self._member(channel, message_id)
        return None if member is None else message_from_json(member)

    async def _member(self, channel: str, message_id: int) -> bytes | None:
        """A message's member in its channel's ZSET (its JSON), or None."""
        self._check_open()
        if channel not in self._channels:
            return None
        async with self._reading("message") as client:
            rows = await client.zrange(
                self.keys.channel(channel), message_id, message_id, sortby=PureToken.BYSCORE
            )
        return bytes(rows[0]) if rows else None

    async def _read(self, what: str, script: _Script, keys: list[str], args: list[Any]) -> Any:
        self._check_open()
        async with self._reading(what) as client:
            # EVALSHA, loading the script when Redis does not have it (after a restart).
            return await self._registered(client, script)(keys, args)

    def _reading(self, what: str) -> AbstractAsyncContextManager[RedisClient]:
        """The client for one read, bounded; a failure is a StoreReadError."""
        return redis_call(self, self._client, what, self._timeout, write=False)

    def _registered(self, client: RedisClient, script: _Script) -> Script[bytes]:
        registered = self._scripts.get(script.sha)
        if registered is None or registered.registered_client is not client:
            registered = self._scripts[script.sha] = client.register_script(script.body)
        return registered

    async def get_session(self, session_id: str) -> tuple[User, Session] | None:
        if not session_id:
            self._check_open()
            return None
        found = await self._read(
            "get_session",
            _GET_SESSION,
            [self.keys.session(session_hash(session_id)), self.keys.seen],
            [self.keys.user_prefix],
        )
        if not found:
            return None
        seq, data, created, last_seen = found
        user = user_from_json(data, int(seq))
        seen = int(float(last_seen))
        # A user from before creation times were kept counts from its last visit.
        made = int(created) or seen
        return user, Session(session_id, user.user_id, created=made, last_seen=seen)

    async def recent_messages(self, channel: str, limit: int) -> list[Message]:
        snapshot = await self.snapshot([channel], limit, users_max=0)
        return snapshot.messages[channel]

    async def messages_before(self, channel: str, before_id: int, limit: int) -> list[Message]:
        self._check_open()
        if channel not in self._channels or limit <= 0:
            return []
        async with self._reading("messages_before") as client:
            # With REV the range goes from the highest score: "(" excludes before_id.
            rows = await client.zrange(
                self.keys.channel(channel),
                f"({before_id}",
                "-inf",
                sortby=PureToken.BYSCORE,
                rev=True,
                offset=0,
                count=limit,
            )
        return [message_from_json(row) for row in reversed(rows)]

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
        keys = self.keys
        known = [name for name in channels if name in self._channels]
        last_id, histories, rows = await self._read(
            "snapshot",
            _SNAPSHOT,
            [
                keys.seq,
                keys.users,
                keys.seen,
                keys.online,
                keys.unshown,
                *(keys.channel(n) for n in known),
            ],
            [
                max(limit, 0),
                -1 if users_max is None else max(users_max, 0),
                seen_since,
                keys.user_prefix,
                "1" if skip_online else "0",
                *including,
            ],
        )
        by_channel = dict(zip(known, histories, strict=True))
        users = [user_from_json(data, int(seq)) for seq, data, _, _ in rows]
        seen = {user.user_id: int(float(row[2])) for user, row in zip(users, rows, strict=True)}
        return Snapshot(
            messages={
                name: [message_from_json(row) for row in reversed(by_channel.get(name, []))]
                for name in channels
            },
            users=users,
            last_id=int(last_id),
            seen=seen,
            outside_cut=frozenset(
                user.user_id for user, row in zip(users, rows, strict=True) if row[3] == 0
            ),
        )

    async def list_users(self) -> list[User]:
        return (await self.snapshot([], 0)).users
