"""The ReactionStore contract (issue 18), run against every backend: adding and removing,
the order kept, the bounds, reads of many messages, and concurrent changes."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from minidiscord.chat.reactions.memory import MemoryReactions
from minidiscord.chat.reactions.records import MAX_KINDS, MAX_OWN, Outcome, Reaction
from minidiscord.chat.reactions.redis import RedisReactions
from minidiscord.chat.reactions.sqlite import SqliteReactions
from minidiscord.chat.reactions.store import ReactionStore
from minidiscord.chat.store.factory import open_store
from minidiscord.redis.target import parse_redis_url
from tests.support.redisserver import redis_server


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def reactions(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[ReactionStore]:
    if request.param == "redis":
        async with redis_server(tmp_path / "redis") as redis:
            store: ReactionStore = RedisReactions(parse_redis_url(redis.url), "test")
            await nursery.start(store.run)
            yield store
            await store.close()
        return
    if request.param == "memory":
        yield MemoryReactions()
        return
    # Beside a running chat store on the same file, as in a server.
    chat = open_store("sqlite", str(tmp_path / "chat.db"))
    await nursery.start(chat.run)
    store = SqliteReactions.open(str(tmp_path / "chat.db"))
    yield store
    await store.close()
    await chat.close()


async def test_reactions_are_added_and_removed_in_order(reactions: ReactionStore) -> None:
    assert await reactions.add("general", 1, "👍", "ada") == (
        Outcome.CHANGED,
        (Reaction("👍", ("ada",)),),
    )
    await reactions.add("general", 1, "🎉", "bob")
    outcome, now = await reactions.add("general", 1, "👍", "bob")
    assert outcome is Outcome.CHANGED
    assert now == (Reaction("👍", ("ada", "bob")), Reaction("🎉", ("bob",)))
    # Twice is once; removing what is not there changes nothing.
    assert await reactions.add("general", 1, "👍", "ada") == (Outcome.UNCHANGED, now)
    assert await reactions.remove("general", 1, "🚀", "ada") == (Outcome.UNCHANGED, now)
    assert await reactions.remove("general", 1, "🎉", "ada") == (Outcome.UNCHANGED, now)
    outcome, now = await reactions.remove("general", 1, "👍", "ada")
    # Each emoji goes where its earliest reaction now is: bob's 🎉 came before his 👍.
    assert (outcome, now) == (
        Outcome.CHANGED,
        (Reaction("🎉", ("bob",)), Reaction("👍", ("bob",))),
    )
    assert await reactions.of({"general": [1]}) == {("general", 1): now}
    # The last user of an emoji takes it away.
    _, now = await reactions.remove("general", 1, "👍", "bob")
    assert now == (Reaction("🎉", ("bob",)),)
    assert await reactions.of({"general": [1]}) == {("general", 1): now}
    _, now = await reactions.remove("general", 1, "🎉", "bob")
    assert now == ()
    assert await reactions.of({"general": [1]}) == {}


async def test_reads_name_messages_by_channel_and_id(reactions: ReactionStore) -> None:
    await reactions.add("general", 1, "👍", "ada")
    await reactions.add("general", 3, "🎉", "ada")
    await reactions.add("react", 1, "🔥", "bob")
    assert await reactions.of({"general": [1, 2, 3], "react": [1, 2], "casual": []}) == {
        ("general", 1): (Reaction("👍", ("ada",)),),
        ("general", 3): (Reaction("🎉", ("ada",)),),
        ("react", 1): (Reaction("🔥", ("bob",)),),
    }
    assert await reactions.of({}) == {}


async def test_a_message_holds_a_bounded_number_of_kinds_and_of_one_user_s(
    reactions: ReactionStore,
) -> None:
    kinds = [chr(0x1F600 + n) for n in range(MAX_KINDS + 1)]
    for n, emoji in enumerate(kinds[:MAX_KINDS]):
        outcome, _ = await reactions.add("general", 1, emoji, f"user{n}")
        assert outcome is Outcome.CHANGED
    outcome, now = await reactions.add("general", 1, kinds[-1], "late")
    assert outcome is Outcome.TOO_MANY_KINDS
    assert len(now) == MAX_KINDS
    # Joining a kind already there is fine.
    assert (await reactions.add("general", 1, kinds[0], "late"))[0] is Outcome.CHANGED
    for emoji in kinds[: MAX_OWN - 1]:
        await reactions.add("general", 2, emoji, "ada")
    assert (await reactions.add("general", 2, kinds[MAX_OWN - 1], "ada"))[0] is Outcome.CHANGED
    outcome, now = await reactions.add("general", 2, kinds[MAX_OWN], "ada")
    assert outcome is Outcome.TOO_MANY_OWN
    assert len(now) == MAX_OWN
    assert (await reactions.add("general", 2, kinds[MAX_OWN], "bob"))[0] is Outcome.CHANGED


async def test_concurrent_reactions_on_one_message_are_all_kept(
    reactions: ReactionStore,
) -> None:
    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(reactions.add, "general", 1, "👍", f"user{n}")
            nursery.start_soon(reactions.add, "general", 1, "🎉", f"user{n}")
    found = await reactions.of({"general": [1]})
    (thumbs, party) = sorted(found[("general", 1)], key=lambda r: r.emoji)
    assert sorted(thumbs.user_ids) == sorted(f"user{n}" for n in range(8))
    assert sorted(party.user_ids) == sorted(f"user{n}" for n in range(8))
