"""ChannelStore: where created channels, the original channels' topics and the direct
conversations are kept (memory.py, sqlite.py, redis.py; factory.py picks one)."""

from typing import Protocol

import trio

from .records import Channel, Conversation


class ChannelStore(Protocol):
    """Contract (tests/store/test_channels_contract.py runs it on every backend):

    - `channels` returns every stored channel, created ones in creation order; an original
      channel is stored only once its topic was set.
    - `save` writes a channel whole (create, rename, topic, archive); a name is unique
      case-insensitively among the stored channels: `save` raises NameTaken, atomically
      even against another server's concurrent save.
    - `add_conversation` is idempotent: False if it existed already.
    """

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None: ...

    async def close(self) -> None: ...

    async def channels(self) -> list[Channel]: ...

    async def save(self, channel: Channel) -> None: ...

    async def conversations(self) -> list[Conversation]: ...

    async def add_conversation(self, conversation: Conversation) -> bool: ...
