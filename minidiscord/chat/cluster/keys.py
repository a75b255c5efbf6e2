"""The Redis keys of the chat's cluster side, under one prefix, and the log's shape.

Writers (one module per key family): ``P:nodes``, ``P:node:{id}``, ``P:nodeusers:{id}``,
``P:online``, ``P:onlineuser`` and ``P:beatclock`` are written only by the scripts of
:mod:`minidiscord.chat.cluster.presence` (but for a user's role in ``P:onlineuser``, which
the store's ``set_role`` changes), which also remove a user from the store's ``P:unshown``
when it first comes online (or its mark is left too long); ``P:recovery:{pid}`` only by
:mod:`minidiscord.chat.cluster.recovery`; ``P:seq`` and ``P:log`` are the store's
(``store/rediskeys.py``), to which these scripts append ``online``, ``offline`` and ``node``
entries of the same shape (:data:`APPEND_LUA`).
"""

from dataclasses import dataclass

from ..store.rediskeys import LOG_MAXLEN, RedisKeys

# Lua: append one entry of kind ``kind`` with payload ``payload`` (a JSON string) to the log,
# numbered by the shared counter, trimmed as the store trims it (a node further behind than
# LOG_MAXLEN resyncs, see reader); returns its number. Shared by every script of this
# package so that every entry has the same shape as the store's.
APPEND_LUA = f"""
local function append(seq_key, log_key, kind, payload)
  local n = redis.call('INCR', seq_key)
  -- Through %d: `..` prints a Lua number (a double) with 14 digits only.
  local id = '0-' .. string.format('%d', n)
  redis.call('XADD', log_key, 'MAXLEN', '~', {LOG_MAXLEN}, id, 'k', kind, 'd', payload)
  return n
end
"""


@dataclass(frozen=True, slots=True)
class ClusterKeys:
    """Every key name of the cluster side, made once from the prefix."""

    prefix: str

    @property
    def seq(self) -> str:
        """The log's counter (the store's key)."""
        return RedisKeys(self.prefix).seq

    @property
    def log(self) -> str:
        """The log stream (the store's key)."""
        return RedisKeys(self.prefix).log

    @property
    def nodes(self) -> str:
        """ZSET nodeId -> expiry (ms, Redis TIME)."""
        return f"{self.prefix}:nodes"

    @property
    def online(self) -> str:
        """HASH userId -> how many nodes the user has sockets on (the store's snapshot reads
        it too: ``RedisKeys.online``)."""
        return RedisKeys(self.prefix).online

    @property
    def online_user(self) -> str:
        """HASH userId -> the online user's JSON (what a starting node mirrors; the store's
        ``set_role`` changes the role in it)."""
        return RedisKeys(self.prefix).online_user

    @property
    def unshown(self) -> str:
        """ZSET userId -> when created (ms, Redis TIME), until its first arrival is logged
        (the store's key, ``RedisKeys.unshown``): that arrival's ``online`` entry is then a
        ``first`` one, announced as `user:join`."""
        return RedisKeys(self.prefix).unshown

    @property
    def beat_clock(self) -> str:
        """STRING: Redis TIME (ms) of the last heartbeat it ran (to tell a frozen Redis from
        dead nodes)."""
        return f"{self.prefix}:beatclock"

    def recovery(self, pid: str) -> str:
        """STRING: a dropped socket's session for connection state recovery (JSON), under
        its private id, expiring with the recovery window (``cluster/recovery.py``)."""
        return f"{self.prefix}:recovery:{pid}"

    def node_prefix(self) -> str:
        """What a node's socket hash key starts with (the scripts add the node id)."""
        return f"{self.prefix}:node:"

    def node_users_prefix(self) -> str:
        """What a node's per-user socket count key starts with."""
        return f"{self.prefix}:nodeusers:"
