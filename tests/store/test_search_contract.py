"""The MessageSearch contract (issue 18), on every store: SQLite's FTS5 index, and the scan
of memory's and Redis's history. Matching, what deletes and edits do, channels, paging."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minidiscord.chat.search.scan import MAX_SCAN, ScanSearch
from minidiscord.chat.search.sqlite import SqliteSearch
from minidiscord.chat.search.store import MessageSearch
from minidiscord.chat.store.factory import RunnableStore
from minidiscord.chat.store.sqlite import SqliteStore

ALL = ["welcome", "general", "react", "learners", "casual"]


@pytest.fixture
async def search(store: RunnableStore, tmp_path: Path) -> AsyncIterator[MessageSearch]:
    found: MessageSearch = (
        SqliteSearch.open(str(tmp_path / "chat.db"))
        if isinstance(store, SqliteStore)
        else ScanSearch(store)
    )
    yield found
    await found.close()


async def texts(search: MessageSearch, *words: str, **options: object) -> list[str]:
    channels = options.pop("channels", ALL)
    page = await search.search(list(words), channels, options.pop("before", None), 20)  # type: ignore[arg-type]
    return [hit.message.message for hit in page.hits]


async def test_every_word_must_match_newest_first(
    store: RunnableStore, search: MessageSearch
) -> None:
    ada, _ = await store.create_user("ada")
    await store.add_message("general", ada, "The deploy went fine", 1)
    await store.add_message("react", ada, "deploy again tomorrow", 2)
    await store.add_message("casual", ada, "lunch?", 3)
    await store.add_message("general", ada, "DEPLOY failed: rollback", 4)
    assert await texts(search, "deploy") == [
        "DEPLOY failed: rollback",
        "deploy again tomorrow",
        "The deploy went fine",
    ]
    assert await texts(search, "deploy", "fine") == ["The deploy went fine"]
    assert await texts(search, "deploy", "lunch") == []
    assert await texts(search, "deploy", channels=["react", "casual"]) == ["deploy again tomorrow"]
    page = await search.search(["rollback"], ALL, None, 20)
    (hit,) = page.hits
    assert (hit.message.channel, hit.message.username, hit.message.timestamp) == (
        "general",
        "ada",
        4,
    )
    assert "rollback" in hit.snippet
    assert page.next is None


async def test_deleted_messages_never_match_and_edited_ones_match_their_text_now(
    store: RunnableStore, search: MessageSearch
) -> None:
    ada, _ = await store.create_user("ada")
    gone = await store.add_message("general", ada, "secret password", 1)
    edited = await store.add_message("general", ada, "tpyo here", 2)
    assert await store.delete_message("general", gone.id)
    assert await store.edit_message("general", edited.id, "typo fixed", 3) is not None
    assert await texts(search, "secret") == []
    assert await texts(search, "tpyo") == []
    assert await texts(search, "typo") == ["typo fixed"]


async def test_pages_go_back_through_the_hits(store: RunnableStore, search: MessageSearch) -> None:
    ada, _ = await store.create_user("ada")
    sent = [await store.add_message(ALL[n % 5], ada, f"note {n}", n) for n in range(12)]
    await store.add_message("general", ada, "unrelated", 99)
    seen: list[int] = []
    before = None
    for _ in range(10):
        page = await search.search(["note"], ALL, before, 5)
        seen += [hit.message.id for hit in page.hits]
        if page.next is None:
            break
        before = page.next
    assert seen == [m.id for m in reversed(sent)]
    assert await texts(search, "note", before=sent[2].id) == ["note 1", "note 0"]


async def test_a_long_history_is_searched_in_pages(
    store: RunnableStore, search: MessageSearch
) -> None:
    if isinstance(search, SqliteSearch):
        pytest.skip("an index has no scan bound")
    ada, _ = await store.create_user("ada")
    old = await store.add_message("general", ada, "needle", 1)
    for n in range(MAX_SCAN):
        await store.add_message("general", ada, f"hay {n}", 2)
    page = await search.search(["needle"], ["general"], None, 20)
    # Not found within one scan's bound: the page says where to go on.
    assert page.hits == []
    assert page.next is not None
    page = await search.search(["needle"], ["general"], page.next, 20)
    assert [hit.message.id for hit in page.hits] == [old.id]


async def test_sqlite_matches_words_by_their_start_and_without_accents(
    store: RunnableStore, search: MessageSearch
) -> None:
    if not isinstance(search, SqliteSearch):
        pytest.skip("FTS5's tokenizer is SQLite's")
    ada, _ = await store.create_user("ada")
    await store.add_message("general", ada, "Un café crème, s'il vous plaît", 1)
    await store.add_message("general", ada, 'quotes "and" OR NOT operators*', 2)
    assert await texts(search, "cafe", "creme") == ["Un café crème, s'il vous plaît"]
    assert await texts(search, "caf") == ["Un café crème, s'il vous plaît"]
    # The words are strings to FTS5, never its syntax.
    assert await texts(search, "or", "not") == ['quotes "and" OR NOT operators*']
