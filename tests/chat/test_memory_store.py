"""MemoryStore keeps the Store contract: ids, sessions, deletion, ordering and paging."""

import pytest

from minidiscord.chat.models import CHANNELS, User
from minidiscord.chat.store import MemoryStore, Store


def make_store() -> Store:
    # Typed as the protocol: mypy checks that MemoryStore implements it.
    return MemoryStore()


async def test_create_user_gives_random_ids_and_an_unguessable_session() -> None:
    store = make_store()
    alice, alice_session = await store.create_user("alice")
    bob, bob_session = await store.create_user("bob", "/b.png")
    assert alice.username == "alice"
    assert alice.avatar is None
    assert bob.avatar == "/b.png"
    assert alice.user_id != bob.user_id
    assert alice_session.user_id == alice.user_id
    assert alice_session.session_id != bob_session.session_id
    # token_urlsafe(32): 43 characters of 6 bits = at least 128 bits of randomness
    assert len(alice_session.session_id) >= 43
    assert alice_session.session_id != alice.user_id


async def test_get_session_restores_the_same_user() -> None:
    store = make_store()
    alice, session = await store.create_user("alice")
    assert await store.get_session(session.session_id) == (alice, session)
    assert await store.get_session("not-a-session") is None
    assert await store.get_session("") is None


async def test_same_username_twice_makes_two_users() -> None:
    store = make_store()
    first, _ = await store.create_user("sam")
    second, _ = await store.create_user("sam")
    assert first.user_id != second.user_id
    assert [u.user_id for u in await store.list_users()] == [first.user_id, second.user_id]


async def test_delete_user_removes_user_and_session_but_keeps_messages() -> None:
    store = make_store()
    alice, session = await store.create_user("alice")
    bob, _ = await store.create_user("bob")
    await store.add_message("general", alice, "bye", 1)
    assert await store.delete_user(alice.user_id) is True
    assert await store.get_session(session.session_id) is None
    assert await store.list_users() == [bob]
    assert [m.message for m in await store.recent_messages("general", 10)] == ["bye"]
    assert await store.delete_user(alice.user_id) is False


async def test_add_message_numbers_messages_increasingly_across_channels() -> None:
    store = make_store()
    alice, _ = await store.create_user("alice", "/a.png")
    ids = []
    for n, channel in enumerate(CHANNELS * 3):
        message = await store.add_message(channel, alice, f"m{n}", 1000 + n)
        assert message.channel == channel
        assert message.user_id == alice.user_id
        assert message.username == "alice"
        assert message.avatar == "/a.png"
        assert message.timestamp == 1000 + n
        assert message.message == f"m{n}"
        ids.append(message.id)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_add_message_to_an_unknown_channel_raises() -> None:
    store = make_store()
    alice, _ = await store.create_user("alice")
    with pytest.raises(KeyError):
        await store.add_message("nowhere", alice, "x", 1)


async def test_message_keeps_the_username_it_was_sent_under() -> None:
    store = make_store()
    alice = User("u1", "alice")
    message = await store.add_message("general", alice, "hi", 1)
    assert message.username == "alice"


async def test_recent_messages_are_the_last_n_oldest_first() -> None:
    store = make_store()
    alice, _ = await store.create_user("alice")
    for n in range(10):
        await store.add_message("general", alice, f"g{n}", n)
        await store.add_message("react", alice, f"r{n}", n)
    recent = await store.recent_messages("general", 3)
    assert [m.message for m in recent] == ["g7", "g8", "g9"]
    assert len(await store.recent_messages("general", 50)) == 10
    assert await store.recent_messages("general", 0) == []
    assert await store.recent_messages("casual", 5) == []


async def test_messages_before_pages_back_through_history() -> None:
    store = make_store()
    alice, _ = await store.create_user("alice")
    sent = [await store.add_message("general", alice, f"g{n}", n) for n in range(10)]
    await store.add_message("react", alice, "other channel", 0)
    page = await store.messages_before("general", sent[7].id, 3)
    assert [m.message for m in page] == ["g4", "g5", "g6"]
    page = await store.messages_before("general", page[0].id, 3)
    assert [m.message for m in page] == ["g1", "g2", "g3"]
    page = await store.messages_before("general", page[0].id, 3)
    assert [m.message for m in page] == ["g0"]
    assert await store.messages_before("general", page[0].id, 3) == []
    # An id past the end pages from the newest; an id between messages works too.
    newest = await store.messages_before("general", 10**9, 2)
    assert [m.message for m in newest] == ["g8", "g9"]
    assert await store.messages_before("general", sent[5].id, 0) == []


async def test_a_closed_store_refuses_work() -> None:
    store = make_store()
    await store.close()
    with pytest.raises(RuntimeError):
        await store.create_user("alice")
