"""The Store contract, run against every backend: ids, sessions, deletion, ordering, paging."""

import pytest
import trio

from minidiscord.chat.models import CHANNELS, Message, Role, User
from minidiscord.chat.store.factory import RunnableStore
from minidiscord.chat.store.redis import RedisStore


async def test_create_user_gives_random_ids_and_an_unguessable_session(
    store: RunnableStore,
) -> None:
    alice, alice_session = await store.create_user("alice")
    bob, bob_session = await store.create_user("bob", "/b.png")
    assert (alice.username, alice.avatar) == ("alice", None)
    assert (bob.username, bob.avatar) == ("bob", "/b.png")
    assert alice.user_id != bob.user_id
    assert alice_session.user_id == alice.user_id
    assert alice_session.session_id != bob_session.session_id
    # at least 128 bits of URL-safe randomness
    assert len(alice_session.session_id) >= 43


async def test_get_session_restores_the_same_user(store: RunnableStore) -> None:
    alice, session = await store.create_user("alice", "/a.png")
    assert await store.get_session(session.session_id) == (alice, session)
    assert await store.get_session("not-a-session") is None
    assert await store.get_session("") is None


async def test_a_restored_session_says_when_it_was_made_and_its_user_last_seen(
    store: RunnableStore,
) -> None:
    alice, session = await store.create_user("alice", seen=1_000)
    restored = await store.get_session(session.session_id)
    assert restored is not None
    assert (restored[1].created, restored[1].last_seen) == (1_000, 1_000)
    store.note_seen(alice.user_id, 5_000)
    # Notes are written with the next write (SQLite, Redis): one that is awaited.
    await store.add_message("general", alice, "hi", 5_000)
    for _ in range(100):
        restored = await store.get_session(session.session_id)
        assert restored is not None
        if restored[1].last_seen == 5_000:
            break
        await trio.sleep(0.05)
    assert (restored[1].created, restored[1].last_seen) == (1_000, 5_000)


async def test_users_keep_their_role(store: RunnableStore) -> None:
    await store.create_user("guest")
    _, session = await store.create_user("ada", role=Role.MEMBER)
    await store.create_user("root", role=Role.ADMIN)
    assert [u.role for u in await store.list_users()] == [Role.GUEST, Role.MEMBER, Role.ADMIN]
    restored = await store.get_session(session.session_id)
    assert restored is not None
    assert restored[0].role is Role.MEMBER
    snapshot = await store.snapshot((), 0)
    assert {u.username: u.role for u in snapshot.users} == {
        "guest": Role.GUEST,
        "ada": Role.MEMBER,
        "root": Role.ADMIN,
    }


async def test_a_users_role_changes_and_an_unknown_user_is_ignored(store: RunnableStore) -> None:
    ada, session = await store.create_user("ada", "/a.png", role=Role.MEMBER)
    await store.set_role(ada.user_id, Role.MODERATOR)
    restored = await store.get_session(session.session_id)
    assert restored is not None
    assert (restored[0].role, restored[0].avatar) == (Role.MODERATOR, "/a.png")
    snapshot = await store.snapshot((), 0)
    assert [(u.username, u.role) for u in snapshot.users] == [("ada", Role.MODERATOR)]
    await store.set_role("nobody", Role.ADMIN)
    assert [u.user_id for u in await store.list_users()] == [ada.user_id]


async def test_same_username_twice_makes_two_users_listed_in_creation_order(
    store: RunnableStore,
) -> None:
    users = [(await store.create_user(name))[0] for name in ("sam", "zoe", "sam", "al")]
    assert users[0].user_id != users[2].user_id
    assert await store.list_users() == users


async def test_delete_user_removes_user_and_sessions_but_keeps_messages(
    store: RunnableStore,
) -> None:
    alice, session = await store.create_user("alice")
    bob, _ = await store.create_user("bob")
    await store.add_message("general", alice, "bye", 1)
    assert await store.delete_user(alice.user_id) is True
    assert await store.get_session(session.session_id) is None
    assert await store.list_users() == [bob]
    assert [m.message for m in await store.recent_messages("general", 10)] == ["bye"]
    assert await store.delete_user(alice.user_id) is False
    assert await store.delete_user("nobody") is False


async def test_messages_keep_every_field_and_number_increasingly_across_channels(
    store: RunnableStore,
) -> None:
    alice, _ = await store.create_user("alice", "/a.png")
    sent = [
        await store.add_message(channel, alice, f"m{n} é ✓", 1_700_000_000_000 + n)
        for n, channel in enumerate(CHANNELS * 3)
    ]
    ids = [m.id for m in sent]
    assert ids == sorted(set(ids))
    for channel in CHANNELS:
        assert await store.recent_messages(channel, 10) == [m for m in sent if m.channel == channel]
    first = sent[0]
    assert (first.user_id, first.username, first.avatar) == (alice.user_id, "alice", "/a.png")
    assert (first.timestamp, first.message) == (1_700_000_000_000, "m0 é ✓")


async def test_add_message_to_an_unknown_channel_raises(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice")
    with pytest.raises(KeyError):
        await store.add_message("nowhere", alice, "x", 1)
    assert await store.recent_messages("nowhere", 5) == []


async def test_a_message_keeps_the_author_it_was_sent_under(store: RunnableStore) -> None:
    # The author need not be stored (nor still exist): messages are snapshots.
    ghost = User("u1", "ghost", "/g.png")
    message = await store.add_message("general", ghost, "boo", 1)
    assert await store.recent_messages("general", 1) == [message]
    assert message.username == "ghost"


async def test_recent_messages_are_the_last_n_oldest_first(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice")
    for n in range(10):
        await store.add_message("general", alice, f"g{n}", n)
        await store.add_message("react", alice, f"r{n}", n)
    assert [m.message for m in await store.recent_messages("general", 3)] == ["g7", "g8", "g9"]
    assert len(await store.recent_messages("general", 50)) == 10
    assert await store.recent_messages("general", 0) == []
    assert await store.recent_messages("casual", 5) == []


async def test_messages_before_pages_back_through_history(store: RunnableStore) -> None:
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
    # An id past the end (even past 64 bits) pages from the newest.
    assert [m.message for m in await store.messages_before("general", 10**30, 2)] == ["g8", "g9"]
    assert await store.messages_before("general", sent[5].id, 0) == []


async def test_concurrent_senders_get_ids_in_call_order(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice")
    called: list[str] = []
    returned: dict[str, int] = {}

    async def sender(name: str) -> None:
        for n in range(20):
            text = f"{name}-{n}"
            # No checkpoint between noting the call and making it.
            called.append(text)
            message = await store.add_message(CHANNELS[n % len(CHANNELS)], alice, text, n)
            returned[text] = message.id
            for _ in range(n % 3):
                await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for name in "abcde":
            nursery.start_soon(sender, name)
    assert len(returned) == len(called) == 100
    assert [returned[text] for text in called] == sorted(returned.values())
    assert len(set(returned.values())) == 100


async def test_a_write_is_never_both_committed_and_reported_cancelled(
    store: RunnableStore,
) -> None:
    # The chat broadcasts what a call returns, and shields nothing itself: a sender gone
    # mid-commit must not leave a stored message unbroadcast (or an edit unannounced).
    alice, _ = await store.create_user("alice")
    first = await store.add_message("general", alice, "first", 1)
    with trio.CancelScope() as scope:
        scope.cancel()
        # Handed to the commit before its first wait: it cannot be cancelled at all.
        second = await store.add_message("general", alice, "second", 2)
        await trio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert second.message == "second"
    assert await store.recent_messages("general", 5) == [first, second]

    # An edit may read first (Redis): cancelled there, it has written nothing.
    edited: Message | None = None
    with trio.CancelScope() as scope:
        scope.cancel()
        edited = await store.edit_message("general", first.id, "first, edited", 3)
    now = (await store.recent_messages("general", 5))[0]
    assert now.message == ("first" if edited is None else "first, edited")
    # A delete reads nothing first: handed over at once, it is done and reported.
    with trio.CancelScope() as scope:
        scope.cancel()
        deleted = await store.delete_message("general", first.id)
    assert deleted is True
    assert await store.recent_messages("general", 5) == [second]


async def test_a_closed_store_refuses_work(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice")
    await store.close()
    with pytest.raises(RuntimeError):
        await store.create_user("bob")
    with pytest.raises(RuntimeError):
        await store.add_message("general", alice, "late", 1)
    with pytest.raises(RuntimeError):
        await store.recent_messages("general", 5)
    await store.close()  # twice is harmless


async def test_an_open_store_is_healthy_and_a_closed_one_is_not(store: RunnableStore) -> None:
    assert await store.healthy() is True
    await store.close()
    assert await store.healthy() is False


async def test_snapshot_reads_histories_users_and_the_last_id_at_once(
    store: RunnableStore,
) -> None:
    alice, _ = await store.create_user("alice")
    await store.create_user("bob")
    sent = [
        await store.add_message("general" if n % 2 else "react", alice, f"m{n}", n)
        for n in range(7)
    ]
    snapshot = await store.snapshot(["general", "react", "casual"], 2)
    assert [m.message for m in snapshot.messages["general"]] == ["m3", "m5"]
    assert [m.message for m in snapshot.messages["react"]] == ["m4", "m6"]
    assert snapshot.messages["casual"] == []
    assert [u.username for u in snapshot.users] == ["alice", "bob"]
    assert snapshot.last_id == sent[-1].id
    assert (await store.snapshot([], 0)).last_id == sent[-1].id


async def test_users_know_their_creation_order(store: RunnableStore) -> None:
    users = [(await store.create_user(name))[0] for name in ("a", "b", "c")]
    assert [u.seq for u in users] == sorted({u.seq for u in users})
    assert [u.seq for u in await store.list_users()] == [u.seq for u in users]
    _, session = await store.create_user("d")
    restored = await store.get_session(session.session_id)
    assert restored is not None
    assert restored[0].seq > users[-1].seq


async def _seen_settled(store: RunnableStore) -> None:
    """Notes are committed no later than the next awaited write (here, a message)."""
    await store.add_message("general", User("u0", "barrier"), "barrier", 0)


async def test_snapshot_lists_the_most_recently_seen_users_in_creation_order(
    store: RunnableStore,
) -> None:
    users = [(await store.create_user(f"u{n}", seen=1000 + n))[0] for n in range(6)]
    store.note_seen(users[0].user_id, 5000)  # back recently: first by recency
    store.note_seen(users[4].user_id, 10)  # seen long ago
    store.note_seen("nobody", 9000)  # unknown users are ignored
    await _seen_settled(store)

    snapshot = await store.snapshot([], 0, users_max=3)
    assert snapshot.users == [users[0], users[3], users[5]]
    assert snapshot.seen == {users[0].user_id: 5000, users[3].user_id: 1003, users[5].user_id: 1005}

    # Too long ago: left out, even with room to spare.
    snapshot = await store.snapshot([], 0, users_max=10, seen_since=1002)
    assert snapshot.users == [users[0], users[2], users[3], users[5]]

    # One named user is listed whatever the cut; everyone without a cut.
    snapshot = await store.snapshot([], 0, users_max=1, including=[users[4].user_id])
    assert snapshot.users == [users[0], users[4]]
    assert snapshot.outside_cut == {users[4].user_id}
    assert (await store.snapshot([], 0)).users == users
    assert (await store.snapshot([], 0, users_max=0)).users == []


async def test_snapshot_cut_breaks_ties_for_the_newer_user_and_forgets_the_gone(
    store: RunnableStore,
) -> None:
    users = [(await store.create_user(f"u{n}", seen=7))[0] for n in range(4)]
    assert (await store.snapshot([], 0, users_max=2)).users == users[2:]
    await store.delete_user(users[3].user_id)
    store.note_seen(users[3].user_id, 99)  # gone: nothing to note
    await _seen_settled(store)
    assert (await store.snapshot([], 0, users_max=2)).users == users[1:3]
    snapshot = await store.snapshot([], 0, including=[users[3].user_id])
    assert snapshot.users == users[:3]
    assert snapshot.outside_cut == frozenset()


async def test_snapshot_lists_several_users_whatever_the_cut_and_says_which(
    store: RunnableStore,
) -> None:
    # One read shared by several connects: each connecting user is listed, and the
    # snapshot tells them apart from the users the cut chose.
    users = [(await store.create_user(f"u{n}", seen=100 + n))[0] for n in range(5)]
    asked = [users[0].user_id, users[1].user_id, users[4].user_id, "unknown"]
    snapshot = await store.snapshot([], 0, users_max=2, including=asked)
    assert snapshot.users == [users[0], users[1], users[3], users[4]]
    assert snapshot.outside_cut == {users[0].user_id, users[1].user_id}
    assert set(snapshot.seen) == {u.user_id for u in snapshot.users}
    # Without a cut everyone is in it.
    assert (await store.snapshot([], 0, including=asked)).outside_cut == frozenset()
    # Nobody is online in any store's cluster presence here. Only Redis keeps one, and there
    # none of these users has been shown yet (test_redis): it lists only those asked for.
    skipping = await store.snapshot([], 0, users_max=2, including=asked, skip_online=True)
    if isinstance(store, RedisStore):
        assert skipping.users == [users[0], users[1], users[4]]
        assert skipping.outside_cut == {users[0].user_id, users[1].user_id, users[4].user_id}
    else:
        assert skipping == snapshot


async def test_a_deleted_message_is_gone_from_every_read_and_its_id_never_comes_back(
    store: RunnableStore,
) -> None:
    alice, _ = await store.create_user("alice")
    sent = [await store.add_message("general", alice, f"g{n}", n) for n in range(4)]
    # The newest: a store numbering from its highest id would hand it out again.
    assert await store.delete_message("general", sent[3].id)
    assert await store.delete_message("general", sent[1].id)
    assert [m.message for m in await store.recent_messages("general", 10)] == ["g0", "g2"]
    assert [m.message for m in await store.messages_before("general", 10**9, 10)] == ["g0", "g2"]
    snapshot = await store.snapshot(["general"], 10)
    assert [m.message for m in snapshot.messages["general"]] == ["g0", "g2"]
    # Already gone, in another channel, or never sent: nothing to delete.
    assert not await store.delete_message("general", sent[3].id)
    assert not await store.delete_message("react", sent[0].id)
    assert not await store.delete_message("general", 10**6)
    assert not await store.delete_message("nowhere", sent[0].id)
    after = await store.add_message("general", alice, "later", 9)
    assert after.id > sent[3].id
