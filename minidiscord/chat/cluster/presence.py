"""Cluster presence: which node holds which sockets of which user, kept in Redis.

The only writer of ``P:nodes``, ``P:node:{id}`` (socketId -> userId), ``P:nodeusers:{id}``
(userId -> that node's socket count), ``P:online`` (userId -> how many nodes the user is on),
``P:onlineuser`` (userId -> user JSON) and ``P:beatclock`` (when Redis last ran a
heartbeat). Each script decides atomically whether a user came online or went offline
cluster-wide and appends the ``online`` / ``offline`` entry in the same step, so every node
sees presence change in log order. A user's first ``online`` entry ever is the one that
finds it in the store's ``P:unshown`` (created, never shown: no connect snapshot listed it)
and takes it out, in that same step: it is marked ``first`` (a `user:join`), whichever
connect brings the user (its first, a later one after a failed first, a sync), so every
client learns of the user exactly once. Tabs on different nodes are one online user: the user
goes offline when the last node loses its last socket.

A node's calls go out one at a time (a lock), and its sockets' ups and downs in the order
they were asked for: an ``up`` and the ``down`` of the same socket can then never reach
Redis in the wrong order. The ups and downs asked for while a call is in flight go together
in the next call (one script, one round trip), so a connect storm costs a round trip per
batch, not per socket. When a call fails (Redis unreachable), Redis may or may not hold it;
the node marks itself out of step and the next heartbeat replaces its entry with what it
really holds (``sync``).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import trio

from minidiscord.redis.connection import RedisClient, RedisUnavailable, bounded

from ..models import ROLES, Role, User
from .keys import APPEND_LUA, ClusterKeys

log = logging.getLogger(__name__)

# Seconds a user stays unlisted, while its first arrival is on its way (P:unshown), at most:
# far more than a connect takes from creating its user to registering its socket (a few
# bounded Redis calls, seconds each), so only a connect that will never register outlives it.
UNSHOWN_SECONDS = 60.0

# KEYS: seq, log, nodes, online, onlineuser, beatclock, unshown. ARGV[1]: node key prefix,
# ARGV[2]: node users key prefix; a script's own arguments follow.
_FUNCTIONS = (
    APPEND_LUA
    + """
local NODE, NODEUSERS = ARGV[1], ARGV[2]

local function sock_up(node, socket, user_id, user_json)
  if redis.call('HSETNX', NODE .. node, socket, user_id) == 0 then return end
  if redis.call('HINCRBY', NODEUSERS .. node, user_id, 1) ~= 1 then return end
  if redis.call('HINCRBY', KEYS[4], user_id, 1) ~= 1 then return end
  redis.call('HSET', KEYS[5], user_id, user_json)
  local first = redis.call('ZREM', KEYS[7], user_id) == 1
  local entry = {user = cjson.decode(user_json), first = first, node = node, socket = socket}
  append(KEYS[1], KEYS[2], 'online', cjson.encode(entry))
end

local function sock_down(node, socket)
  local user_id = redis.call('HGET', NODE .. node, socket)
  if not user_id then return end
  redis.call('HDEL', NODE .. node, socket)
  if redis.call('HINCRBY', NODEUSERS .. node, user_id, -1) > 0 then return end
  redis.call('HDEL', NODEUSERS .. node, user_id)
  if redis.call('HINCRBY', KEYS[4], user_id, -1) > 0 then return end
  redis.call('HDEL', KEYS[4], user_id)
  local user_json = redis.call('HGET', KEYS[5], user_id)
  redis.call('HDEL', KEYS[5], user_id)
  local user = user_json and cjson.decode(user_json) or {userId = user_id}
  append(KEYS[1], KEYS[2], 'offline', cjson.encode({user = user, node = node}))
end

-- Remove a node with every socket it held; its users not on another node go offline.
local function remove_node(node, event)
  local sockets = redis.call('HKEYS', NODE .. node)
  for _, socket in ipairs(sockets) do sock_down(node, socket) end
  redis.call('DEL', NODE .. node, NODEUSERS .. node)
  redis.call('ZREM', KEYS[3], node)
  append(KEYS[1], KEYS[2], 'node', cjson.encode({node = node, event = event}))
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""
)

# ARGV[3]: node, then four per socket, in the order asked for: "u" (up), socket, userId, user
# JSON; or "d" (down), socket, "", "".
# Returns the log position after them (-1: the node is not registered, and nothing was
# done: its sockets are registered again by its next sync).
CALLS = (
    _FUNCTIONS
    + """
local node = ARGV[3]
if not redis.call('ZSCORE', KEYS[3], node) then return -1 end
for i = 4, #ARGV, 4 do
  if ARGV[i] == 'u' then
    sock_up(node, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  else
    sock_down(node, ARGV[i + 1])
  end
end
return tonumber(redis.call('GET', KEYS[1]) or '0')
"""
)

# ARGV[3]: node, then (socket, userId, user JSON) for every socket the node holds: Redis's
# entry for the node becomes exactly that. Returns the log position after it.
SYNC = (
    _FUNCTIONS
    + """
local node = ARGV[3]
if not redis.call('ZSCORE', KEYS[3], node) then return -1 end
local wanted = {}
for i = 4, #ARGV, 3 do wanted[ARGV[i]] = i end
for _, socket in ipairs(redis.call('HKEYS', NODE .. node)) do
  if not wanted[socket] then sock_down(node, socket) end
end
for socket, i in pairs(wanted) do sock_up(node, socket, ARGV[i + 1], ARGV[i + 2]) end
return tonumber(redis.call('GET', KEYS[1]) or '0')
"""
)

# ARGV[3]: node, [4]: timeout ms, [5]: what to log when it was not registered ("joined" or
# "back"), [6]: ms without any heartbeat after which Redis, not the nodes, was away, [7]: ms
# after which a user's unshown mark is dropped. Reaps every other node past its expiry and the
# marks older than that, then renews this one. Returns {1 when this node was
# registered, 0 when it was not (new, or reaped while it could not heartbeat); the log's
# last position; how many nodes are registered}.
BEAT = (
    _FUNCTIONS
    + """
local node = ARGV[3]
local now = now_ms()
local timeout = tonumber(ARGV[4])
local last = tonumber(redis.call('GET', KEYS[6]) or now)
redis.call('SET', KEYS[6], now)
if now - last > tonumber(ARGV[6]) then
  -- No node got a heartbeat through for that long: Redis itself was frozen or down, not
  -- the nodes. Their expiries move by the gap instead of every node being reaped at once.
  local rows = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  for i = 1, #rows, 2 do
    redis.call('ZADD', KEYS[3], tonumber(rows[i + 1]) + (now - last), rows[i])
  end
end
for _, other in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)) do
  if other ~= node then remove_node(other, 'dead') end
end
-- The connect that made such a user ended (its node crashed, or it failed) before its
-- arrival: the user is listed offline from now on, as any user that is not online.
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. string.format('%d', now - tonumber(ARGV[7])))
local known = redis.call('ZSCORE', KEYS[3], node)
redis.call('ZADD', KEYS[3], now + timeout, node)
if not known then
  append(KEYS[1], KEYS[2], 'node', cjson.encode({node = node, event = ARGV[5]}))
end
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
return {known and 1 or 0, head, redis.call('ZCARD', KEYS[3])}
"""
)

# ARGV[3]: node. A graceful goodbye: its users not on another node go offline.
DEPART = (
    _FUNCTIONS
    + """
if redis.call('ZSCORE', KEYS[3], ARGV[3]) then remove_node(ARGV[3], 'left') end
return tonumber(redis.call('GET', KEYS[1]) or '0')
"""
)


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat learnt."""

    # Whether this node was registered (False: new, or reaped while it could not beat).
    known: bool
    # The log's last position and how many nodes are registered, at that moment.
    head: int
    nodes: int


class NotRegistered(Exception):
    """This node is not (or no longer) in ``P:nodes``: its heartbeat will register it."""


@dataclass(eq=False, slots=True)
class _Call:
    """One socket's up (with ``user``) or down (without), queued for the next call."""

    socket_id: str
    user: User | None = None
    # An up's caller waits for this; then ``position`` or ``error`` says how it went.
    done: trio.Event = field(default_factory=trio.Event)
    position: int = -1
    error: Exception | None = None


def user_body(user: User) -> dict[str, Any]:
    """A user as presence keeps it (before JSON), and as :func:`user_from` reads it."""
    wire: dict[str, Any] = {"userId": user.user_id, "username": user.username, "seq": user.seq}
    if user.avatar is not None:
        wire["avatar"] = user.avatar
    if user.role is not Role.GUEST:
        wire["role"] = user.role.value
    return wire


def user_json(user: User) -> bytes:
    """A user as presence keeps it and as ``online`` entries carry it."""
    return orjson.dumps(user_body(user))


def user_from(data: object) -> User | None:
    """The user of an ``online``/``offline`` entry or of ``P:onlineuser`` (None if malformed)."""
    if not isinstance(data, dict):
        return None
    user_id, username = data.get("userId"), data.get("username")
    if not isinstance(user_id, str) or not isinstance(username, str):
        return None
    avatar = data.get("avatar")
    seq = data.get("seq")
    role = data.get("role", Role.GUEST.value)
    return User(
        user_id,
        username,
        avatar if isinstance(avatar, str) else None,
        seq=seq if isinstance(seq, int) else 0,
        role=Role(role) if role in ROLES else Role.GUEST,
    )


class ClusterPresence:
    """This node's side of cluster presence: registers its sockets, unregisters them,
    heartbeats, and repairs Redis's picture of the node after trouble."""

    def __init__(self, client: RedisClient, keys: ClusterKeys, node_id: str) -> None:
        self.node_id = node_id
        self._client = client
        self._keys = keys
        self._lock = trio.Lock()
        # The sockets this node holds, as Redis should know them.
        self._sockets: dict[str, User] = {}
        # Set when a call failed: Redis may differ from _sockets until the next sync.
        self.out_of_step = False
        # Ups and downs not yet sent, in the order asked for.
        self._queue: list[_Call] = []
        self._queued = trio.Event()
        # How many calls sent ups and downs, and how many those were (what batching saved).
        self.calls = 0
        self.batched = 0
        self._calls = client.register_script(CALLS)
        self._sync = client.register_script(SYNC)
        self._beat = client.register_script(BEAT)
        self._depart = client.register_script(DEPART)

    def _script_keys(self) -> list[str]:
        k = self._keys
        return [k.seq, k.log, k.nodes, k.online, k.online_user, k.beat_clock, k.unshown]

    def _args(self, *rest: str | bytes | int) -> list[str | bytes | int]:
        return [self._keys.node_prefix(), self._keys.node_users_prefix(), self.node_id, *rest]

    @property
    def sockets(self) -> int:
        """How many sockets this node has registered."""
        return len(self._sockets)

    async def up(self, socket_id: str, user: User) -> int:
        """Register a socket of ``user``; returns the log position the node must have
        applied before the socket joins (at or after the ``online`` entry, when this
        brought the user online). Raises RedisUnavailable or NotRegistered."""
        self._sockets[socket_id] = user
        call = _Call(socket_id, user)
        self._queue.append(call)
        self._queued.set()
        await call.done.wait()
        if call.error is not None:
            raise call.error
        return call.position

    def down(self, socket_id: str) -> None:
        """Unregister a socket (never waits: the writer task sends it)."""
        if self._sockets.pop(socket_id, None) is not None:
            self._queue.append(_Call(socket_id))
            self._queued.set()

    async def run_calls(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Send the queued ups and downs, in order, all those queued at a time."""
        task_status.started()
        while True:
            await self._queued.wait()
            self._queued = trio.Event()
            async with self._lock:
                calls, self._queue = self._queue, []
                try:
                    await self._send(calls)
                finally:
                    for call in calls:
                        if call.user is not None and call.error is None and call.position < 0:
                            # Not sent: the node is stopping.
                            call.error = NotRegistered("the node stopped registering sockets")
                        call.done.set()

    async def _send(self, calls: list[_Call]) -> None:
        args: list[str | bytes | int] = []
        for call in calls:
            if call.user is None:
                args += ["d", call.socket_id, "", ""]
            elif call.socket_id not in self._sockets:
                # It closed before its turn (its down follows, or a sync covered it).
                call.error = NotRegistered("the socket closed before it was registered")
            else:
                user = call.user
                args += ["u", call.socket_id, user.user_id, user_json(user)]
        if not args:
            return
        self.calls += 1
        self.batched += len(args) // 4
        try:
            with bounded("registering sockets"):
                position: object = await self._calls(self._script_keys(), self._args(*args))
        except RedisUnavailable as exc:
            # The heartbeat's sync puts Redis in step once it answers.
            self.out_of_step = True
            log.warning("could not register or unregister %d socket(s): %s", len(calls), exc)
            self._fail(calls, exc)
            return
        if not isinstance(position, int) or position < 0:
            self._fail(calls, NotRegistered("this node is not registered in the cluster (yet)"))
            return
        for call in calls:
            call.position = position

    def _fail(self, calls: list[_Call], error: Exception) -> None:
        for call in calls:
            if call.user is not None and call.error is None:
                self._sockets.pop(call.socket_id, None)
                call.error = error

    async def sync(self) -> None:
        """Make Redis's entry for this node exactly the sockets it holds."""
        async with self._lock:
            # Downs queued so far are covered by this: _sockets no longer holds them. Queued
            # ups stay queued: their callers wait for them (sent again, they change nothing).
            self._queue = [call for call in self._queue if call.user is not None]
            flat: list[str | bytes | int] = []
            for socket_id, user in self._sockets.items():
                flat += [socket_id, user.user_id, user_json(user)]
            self.out_of_step = False
            try:
                with bounded("syncing this node's sockets"):
                    position: object = await self._sync(self._script_keys(), self._args(*flat))
            except RedisUnavailable:
                self.out_of_step = True
                raise
            if not isinstance(position, int) or position < 0:
                self.out_of_step = True
                raise NotRegistered("this node is not registered in the cluster")

    async def beat(self, timeout_ms: int, stalled_ms: int, *, first: bool) -> Beat:
        """Renew this node's registration (and reap dead nodes). When Redis ran no
        heartbeat of any node for ``stalled_ms``, Redis was away, not the nodes: every
        expiry moves by the gap instead."""
        with bounded("heartbeat"):
            reply: object = await self._beat(
                self._script_keys(),
                self._args(
                    timeout_ms,
                    "joined" if first else "back",
                    stalled_ms,
                    int(UNSHOWN_SECONDS * 1000),
                ),
            )
        if not isinstance(reply, list) or len(reply) != 3:
            raise RedisUnavailable(f"unexpected heartbeat reply {reply!r}")
        known, head, nodes = reply
        return Beat(known=known == 1, head=int(head), nodes=int(nodes))

    async def depart(self) -> None:
        """Leave the cluster: this node's users not connected elsewhere go offline."""
        async with self._lock:
            self._sockets.clear()
            self._queue = [call for call in self._queue if call.user is not None]
            with bounded("leaving the cluster"):
                await self._depart(self._script_keys(), self._args())


def flat_users(values: Sequence[bytes]) -> list[User]:
    """Users from ``P:onlineuser`` values (malformed ones skipped)."""
    users = []
    for value in values:
        try:
            user = user_from(orjson.loads(value))
        except orjson.JSONDecodeError:
            user = None
        if user is not None:
            users.append(user)
    return users
