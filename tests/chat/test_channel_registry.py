"""The channel registry's one access check and the channel records' rules, without a server."""

import pytest

from minidiscord.chat.channels.memory import MemoryChannels
from minidiscord.chat.channels.records import (
    Channel,
    NameTaken,
    checked_name,
    checked_topic,
    conversation,
    members_of,
)
from minidiscord.chat.channels.registry import ChannelRegistry, Need
from minidiscord.chat.store.memory import MemoryStore
from minidiscord.chat.validation import Invalid

ADA, BOB, EVE = "a" * 32, "b" * 32, "e" * 32


def registry() -> ChannelRegistry:
    return ChannelRegistry(MemoryChannels(), MemoryStore())


def test_public_channels_are_read_by_anyone_and_archived_ones_not_posted_in() -> None:
    channels = registry()
    channels.apply_channel(Channel("c:1", "open"))
    channels.apply_channel(Channel("c:2", "old", archived=True))
    for need in Need:
        assert channels.check(EVE, "general", need) == "general"
        assert channels.check(EVE, "c:1", need) == "c:1"
    assert channels.check(EVE, "c:2", Need.READ) == "c:2"
    with pytest.raises(Invalid, match="#old is archived"):
        channels.check(EVE, "c:2", Need.POST)


def test_a_conversation_is_for_its_members_once_opened() -> None:
    channels = registry()
    talk = conversation(BOB, ADA)
    with pytest.raises(Invalid, match="unknown channel"):
        channels.check(ADA, talk.id, Need.READ)  # not opened yet
    channels.apply_conversations([talk])
    for member in (ADA, BOB):
        assert channels.check(member, talk.id, Need.POST) == talk.id
    with pytest.raises(Invalid) as others:
        channels.check(EVE, talk.id, Need.READ)
    with pytest.raises(Invalid) as made_up:
        channels.check(EVE, conversation(EVE, "f" * 32).id, Need.READ)
    # The same words: a refusal does not tell whether two others talk.
    assert others.value.reason.split(";")[1] == made_up.value.reason.split(";")[1]
    assert channels.conversations_of(ADA) == [talk]
    assert channels.conversations_of(EVE) == []


@pytest.mark.parametrize("raw", [None, 5, ["general"], {"id": "general"}])
def test_a_channel_must_be_a_string(raw: object) -> None:
    with pytest.raises(Invalid, match="channel must be a string"):
        registry().check(ADA, raw, Need.READ)


async def test_a_load_does_not_undo_a_change_applied_meanwhile() -> None:
    store = MemoryChannels()
    await store.save(Channel("c:1", "before"))
    channels = ChannelRegistry(store, MemoryStore())
    channels.apply_channel(Channel("c:1", "after"))  # from the log, before the load
    await channels.load()
    assert channels.channel("c:1") == Channel("c:1", "after")


@pytest.mark.parametrize(
    "channel_id",
    ["general", "dm:", "dm:a", "dm:b:a", "dm:a:a", "dm:a:b:c", "dm::b", "c:dm:a:b"],
)
def test_only_well_formed_conversation_ids_name_members(channel_id: str) -> None:
    assert members_of(channel_id) is None


def test_a_conversation_id_names_its_members_in_order() -> None:
    talk = conversation(BOB, ADA)
    assert talk == conversation(ADA, BOB)
    assert members_of(talk.id) == (ADA, BOB)


def test_names_and_topics() -> None:
    assert checked_name("  Release-Notes_2 ") == "Release-Notes_2"
    with pytest.raises(NameTaken):
        checked_name("WELCOME")
    assert checked_topic(None) == ""
    assert checked_topic("  two\nlines  ") == "two lines"
