"""The ChannelStore contract on every backend (memory, SQLite, Redis), and the chat store
keeping messages of a channel it was told of (Store.add_channel)."""

import dataclasses
from pathlib import Path

import pytest
import trio

from minidiscord.chat.channels.records import Channel, NameTaken, conversation, new_channel_id
from minidiscord.chat.channels.sqlite import SqliteChannels
from minidiscord.chat.channels.store import ChannelStore
from minidiscord.chat.models import User
from minidiscord.chat.store.factory import RunnableStore, open_store


def made(name: str, created: int = 1) -> Channel:
    return Channel(new_channel_id(), name, "", created=created)


async def test_saved_channels_come_back_in_creation_order(channel_store: ChannelStore) -> None:
    assert await channel_store.channels() == []
    first, second = made("zeta", 5), made("alpha", 6)
    await channel_store.save(first)
    await channel_store.save(second)
    topic = Channel("general", "general", "anything")
    await channel_store.save(topic)
    assert await channel_store.channels() == [first, second, topic]
    renamed = dataclasses.replace(first, name="Omega", topic="t", archived=True)
    await channel_store.save(renamed)
    # A change keeps the channel's place.
    assert await channel_store.channels() == [renamed, second, topic]


async def test_a_name_is_taken_once_whatever_its_case(channel_store: ChannelStore) -> None:
    music = made("Music")
    await channel_store.save(music)
    with pytest.raises(NameTaken):
        await channel_store.save(made("MUSIC"))
    art = made("art")
    await channel_store.save(art)
    with pytest.raises(NameTaken):
        await channel_store.save(dataclasses.replace(art, name="music"))
    # Its own name in another case, and a renamed channel's old name, are free.
    await channel_store.save(dataclasses.replace(music, name="Tunes"))
    await channel_store.save(dataclasses.replace(art, name="MUSIC"))
    assert [c.name for c in await channel_store.channels()] == ["Tunes", "MUSIC"]


async def test_concurrent_creations_of_one_name_make_one_channel(
    channel_store: ChannelStore,
) -> None:
    outcomes: list[str] = []

    async def create(name: str) -> None:
        try:
            await channel_store.save(made(name))
            outcomes.append("made")
        except NameTaken:
            outcomes.append("taken")

    async with trio.open_nursery() as nursery:
        for name in ("news", "NEWS", "News"):
            nursery.start_soon(create, name)
    assert sorted(outcomes) == ["made", "taken", "taken"]
    assert len(await channel_store.channels()) == 1


async def test_a_conversation_is_added_once(channel_store: ChannelStore) -> None:
    talk = conversation("b" * 32, "a" * 32, created=7)
    assert talk.members == ("a" * 32, "b" * 32)
    assert await channel_store.add_conversation(talk) is True
    assert await channel_store.add_conversation(conversation("a" * 32, "b" * 32)) is False
    other = conversation("a" * 32, "c" * 32, created=8)
    await channel_store.add_conversation(other)
    assert await channel_store.conversations() == [talk, other]


async def test_sqlite_channels_survive_a_reopen(nursery: trio.Nursery, tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    chat = open_store("sqlite", path)
    await nursery.start(chat.run)
    channels = SqliteChannels.open(path)
    kept = made("kept")
    await channels.save(kept)
    await channels.add_conversation(conversation("a" * 32, "b" * 32))
    await channels.close()
    again = SqliteChannels.open(path)
    try:
        assert await again.channels() == [kept]
        assert len(await again.conversations()) == 1
    finally:
        await again.close()
        await chat.close()


async def test_the_chat_store_keeps_messages_of_a_channel_it_was_told_of(
    store: RunnableStore,
) -> None:
    ada = User("a" * 32, "ada")
    with pytest.raises(KeyError):
        await store.add_message("c:0123456789ab", ada, "too early", 1)
    await store.add_channel("c:0123456789ab")
    await store.add_channel("c:0123456789ab")  # idempotent
    await store.add_channel("dm:" + "a" * 32 + ":" + "b" * 32)
    first = await store.add_message("c:0123456789ab", ada, "one", 1)
    second = await store.add_message("dm:" + "a" * 32 + ":" + "b" * 32, ada, "two", 2)
    assert second.id > first.id
    assert [m.message for m in await store.recent_messages("c:0123456789ab", 10)] == ["one"]
    assert [m.id for m in await store.messages_before("c:0123456789ab", second.id, 10)] == [
        first.id
    ]
    # The original five are untouched.
    assert await store.recent_messages("general", 10) == []
