"""RedisReactions: reactions on the cluster's Redis, beside the chat's keys.

A message's reactions are one ZSET (``RedisKeys.reactions``): member ``emoji US userId``
(US: the unit separator, which no emoji or user id holds), scored by a counter, so they
read back in the order they came. A change is one Lua script: it checks the bounds over the
message's members and adds or removes one, atomically however many users react at once.
"""

from collections.abc import Collection, Mapping
from typing import Any, Final

from ...redis.connection import (
    DEFAULT_CALL_TIMEOUT,
)
from ...redis.target import RedisTarget
from ..store.rediskeys import RedisKeys
from ..store.sidestores import RedisSide
from .records import MAX_KINDS, MAX_OWN, Outcome, Reactions, grouped
from .store import MessageKey

SEPARATOR: Final = "\x1f"

_CHANGE = """
local member = ARGV[2] .. ARGV[5] .. ARGV[3]
local outcome = 'changed'
if ARGV[1] == 'add' then
  if redis.call('ZSCORE', KEYS[1], member) then
    outcome = 'unchanged'
  else
    local kinds, own, known = {}, 0, false
    local count = 0
    for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      local at = string.find(m, ARGV[5], 1, true)
      local emoji, user = string.sub(m, 1, at - 1), string.sub(m, at + #ARGV[5])
      if not kinds[emoji] then kinds[emoji] = true; count = count + 1 end
      if emoji == ARGV[2] then known = true end
      if user == ARGV[3] then own = own + 1 end
    end
    if not known and count >= tonumber(ARGV[4]) then outcome = 'too many kinds'
    elseif own >= tonumber(ARGV[6]) then outcome = 'too many own'
    else redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), member) end
  end
elseif redis.call('ZREM', KEYS[1], member) == 0 then
  outcome = 'unchanged'
end
return {outcome, redis.call('ZRANGE', KEYS[1], 0, -1)}
"""
# KEYS: the message's reactions, the counter. ARGV: add or remove, emoji, user id, the most
# kinds, the separator, the most of one user's.

_READ = """
local found = {}
for i = 1, #KEYS do found[i] = redis.call('ZRANGE', KEYS[i], 0, -1) end
return found
"""
# KEYS: the messages' reactions. One call: one round trip for a whole snapshot.


class RedisReactions(RedisSide):
    def __init__(
        self, target: RedisTarget, prefix: str, *, timeout: float = DEFAULT_CALL_TIMEOUT
    ) -> None:
        super().__init__(target, prefix, timeout=timeout)
        self._keys = RedisKeys(prefix)

    async def add(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        return await self._change(channel, message_id, emoji, user_id, add=True)

    async def remove(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        return await self._change(channel, message_id, emoji, user_id, add=False)

    async def _change(
        self, channel: str, message_id: int, emoji: str, user_id: str, *, add: bool
    ) -> tuple[Outcome, Reactions]:
        keys = [self._keys.reactions(channel, message_id), self._keys.reaction_seq]
        args = ["add" if add else "remove", emoji, user_id, MAX_KINDS, SEPARATOR, MAX_OWN]
        async with self._call("change reactions", write=True) as client:
            answer: Any = await client.register_script(_CHANGE)(keys, args)
        outcome, members = answer
        return Outcome(outcome.decode()), _grouped(members)

    async def of(self, wanted: Mapping[str, Collection[int]]) -> dict[MessageKey, Reactions]:
        named = [(channel, number) for channel, numbers in wanted.items() for number in numbers]
        if not named:
            return {}
        keys = [self._keys.reactions(channel, number) for channel, number in named]
        async with self._call("read reactions", write=False) as client:
            found: Any = await client.register_script(_READ)(keys, [])
        return {
            key: _grouped(members) for key, members in zip(named, found, strict=True) if members
        }


def _grouped(members: list[bytes]) -> Reactions:
    pairs = (bytes(member).decode().partition(SEPARATOR) for member in members)
    return grouped((emoji, user_id) for emoji, _, user_id in pairs)
