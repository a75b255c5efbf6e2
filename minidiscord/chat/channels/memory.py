"""MemoryChannels: the ChannelStore in dicts (tests, the memory chat store)."""

import trio

from .records import Channel, Conversation, NameTaken


class MemoryChannels:
    def __init__(self) -> None:
        # In creation order (a dict keeps insertion order).
        self._channels: dict[str, Channel] = {}
        self._conversations: dict[str, Conversation] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        pass

    async def channels(self) -> list[Channel]:
        return list(self._channels.values())

    async def save(self, channel: Channel) -> None:
        for other in self._channels.values():
            if other.id != channel.id and other.name_key == channel.name_key:
                raise NameTaken(channel.name)
        self._channels[channel.id] = channel

    async def conversations(self) -> list[Conversation]:
        return list(self._conversations.values())

    async def add_conversation(self, conversation: Conversation) -> bool:
        if conversation.id in self._conversations:
            return False
        self._conversations[conversation.id] = conversation
        return True
