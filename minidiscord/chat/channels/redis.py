"""RedisChannels: the ChannelStore on the cluster's Redis, beside the chat's keys.

Keys (P is the chat's prefix): ``P:channels`` HASH id -> the channel's JSON (with its
creation order), ``P:channelnames`` HASH name key -> id, ``P:conversations`` HASH id -> the
conversation's JSON. A save (name check, old name freed, new one taken) is one Lua script,
so two nodes cannot give one name to two channels. Every call is bounded and fails with
the chat store's StoreReadError / StoreWriteError.
"""

import json
from typing import Any

from ...redis.connection import DEFAULT_CALL_TIMEOUT
from ...redis.target import RedisTarget
from ..store.sidestores import RedisSide
from .records import Channel, Conversation, NameTaken

# KEYS: channels, channelnames. ARGV: id, name key, the channel's JSON without its order.
_SAVE = """
local owner = redis.call('HGET', KEYS[2], ARGV[2])
if owner and owner ~= ARGV[1] then return 'taken' end
local old = redis.call('HGET', KEYS[1], ARGV[1])
local channel = cjson.decode(ARGV[3])
if old then
  local was = cjson.decode(old)
  redis.call('HDEL', KEYS[2], was['key'])
  channel['seq'] = was['seq']
else
  channel['seq'] = redis.call('HLEN', KEYS[1]) + 1
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(channel))
return 'ok'
"""


class RedisChannels(RedisSide):
    def __init__(
        self, target: RedisTarget, prefix: str, *, timeout: float = DEFAULT_CALL_TIMEOUT
    ) -> None:
        super().__init__(target, prefix, timeout=timeout)
        self._channels_key = f"{prefix}:channels"
        self._names_key = f"{prefix}:channelnames"
        self._conversations_key = f"{prefix}:conversations"

    async def channels(self) -> list[Channel]:
        async with self._call("read the channels", write=False) as client:
            stored = await client.hvals(self._channels_key)
        rows = sorted((json.loads(raw) for raw in stored), key=lambda row: row["seq"])
        return [
            Channel(row["id"], row["name"], row["topic"], row["archived"], row["created"])
            for row in rows
        ]

    async def save(self, channel: Channel) -> None:
        row = {
            "id": channel.id,
            "name": channel.name,
            "key": channel.name_key,
            "topic": channel.topic,
            "archived": channel.archived,
            "created": channel.created,
        }
        async with self._call("save a channel", write=True) as client:
            outcome: Any = await client.register_script(_SAVE)(
                [self._channels_key, self._names_key],
                [channel.id, channel.name_key, json.dumps(row)],
            )
        if outcome == b"taken":
            raise NameTaken(channel.name)

    async def conversations(self) -> list[Conversation]:
        async with self._call("read the conversations", write=False) as client:
            stored = await client.hvals(self._conversations_key)
        rows = sorted((json.loads(raw) for raw in stored), key=lambda row: (row[2], row[0]))
        return [Conversation(row[0], (row[1][0], row[1][1]), row[2]) for row in rows]

    async def add_conversation(self, conversation: Conversation) -> bool:
        row = json.dumps([conversation.id, list(conversation.members), conversation.created])
        async with self._call("add a conversation", write=True) as client:
            added = await client.hsetnx(self._conversations_key, conversation.id, row)
        return bool(added)
