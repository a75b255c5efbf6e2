"""The Store contract for edited messages (issue 18), run against every backend: a message
read by its id, a new text with its edit time, and every read returning the current state."""

import trio

from minidiscord.chat.store.factory import RunnableStore


async def test_a_message_is_read_by_its_channel_and_id(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice", "/a.png")
    sent = await store.add_message("general", alice, "hello", 1_000)
    assert await store.message("general", sent.id) == sent
    assert (await store.message("general", sent.id)).edited_at is None  # type: ignore[union-attr]
    # Another channel, an id never given, a channel that does not exist: none.
    assert await store.message("react", sent.id) is None
    assert await store.message("general", sent.id + 1000) is None
    assert await store.message("nowhere", sent.id) is None
    assert await store.delete_message("general", sent.id)
    assert await store.message("general", sent.id) is None


async def test_an_edit_keeps_the_message_and_every_read_returns_its_new_text(
    store: RunnableStore,
) -> None:
    alice, _ = await store.create_user("alice", "/a.png")
    first = await store.add_message("general", alice, "helo", 1_000)
    second = await store.add_message("general", alice, "world", 1_001)
    edited = await store.edit_message("general", first.id, "hello", 5_000)
    assert edited is not None
    assert (edited.id, edited.user_id, edited.username, edited.avatar, edited.timestamp) == (
        first.id,
        alice.user_id,
        "alice",
        "/a.png",
        1_000,
    )
    assert (edited.message, edited.edited_at) == ("hello", 5_000)
    assert await store.message("general", first.id) == edited
    assert await store.recent_messages("general", 10) == [edited, second]
    assert await store.messages_before("general", second.id, 10) == [edited]
    snapshot = await store.snapshot(["general"], 10)
    assert snapshot.messages["general"] == [edited, second]
    # Edited again: the last edit is what stays.
    again = await store.edit_message("general", first.id, "hello!", 6_000)
    assert again is not None
    assert (again.message, again.edited_at) == ("hello!", 6_000)
    assert (await store.recent_messages("general", 10))[0] == again
    # The order and numbering of messages are untouched.
    later = await store.add_message("general", alice, "later", 7_000)
    assert [m.id for m in await store.recent_messages("general", 10)] == [
        first.id,
        second.id,
        later.id,
    ]


async def test_nothing_to_edit_is_none_and_changes_nothing(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice")
    sent = await store.add_message("general", alice, "keep", 1_000)
    gone = await store.add_message("general", alice, "gone", 1_001)
    assert await store.delete_message("general", gone.id)
    assert await store.edit_message("general", gone.id, "back?", 2_000) is None
    assert await store.edit_message("react", sent.id, "wrong channel", 2_000) is None
    assert await store.edit_message("general", 10**6, "never sent", 2_000) is None
    assert await store.edit_message("nowhere", sent.id, "no channel", 2_000) is None
    assert await store.recent_messages("general", 10) == [sent]


async def test_concurrent_edits_of_one_message_leave_one_of_them(store: RunnableStore) -> None:
    alice, _ = await store.create_user("alice")
    sent = await store.add_message("general", alice, "v0", 1_000)
    results = {}

    async def edit(n: int) -> None:
        results[n] = await store.edit_message("general", sent.id, f"v{n}", 1_000 + n)

    async with trio.open_nursery() as nursery:
        for n in range(1, 4):
            nursery.start_soon(edit, n)
    assert all(result is not None for result in results.values())
    (kept,) = await store.recent_messages("general", 10)
    assert kept.id == sent.id
    assert kept.message in {"v1", "v2", "v3"}
    assert kept.edited_at == 1_000 + int(kept.message[1:])
