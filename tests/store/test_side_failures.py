"""The SQLite side stores (store/sidestores.py SqliteSide) say which kind of call failed:
a read's failure is a StoreReadError, a write's a StoreWriteError, each one line; so a
caller that guards a read (accounts' ``store_read``) answers it instead of letting it out."""

from pathlib import Path

import pytest

from minidiscord.chat.accounts.service import AccountError, store_read
from minidiscord.chat.accounts.sqlite import SqliteAccounts
from minidiscord.chat.channels.records import conversation
from minidiscord.chat.channels.sqlite import SqliteChannels
from minidiscord.chat.models import Role
from minidiscord.chat.reactions.sqlite import SqliteReactions
from minidiscord.chat.search.sqlite import SqliteSearch
from minidiscord.chat.store.base import StoreReadError, StoreWriteError


async def test_reads_and_writes_of_a_closed_side_store_fail_as_such(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    accounts, channels = SqliteAccounts.open(path), SqliteChannels.open(path)
    reactions, search = SqliteReactions.open(path), SqliteSearch.open(path)
    for store in (accounts, channels, reactions, search):
        await store.close()
    for read in (
        accounts.account_named("ada"),
        accounts.timeouts(0),
        channels.channels(),
        channels.conversations(),
        reactions.of({"general": [1]}),
        search.search(["hello"], ["general"], None, 10),
    ):
        with pytest.raises(StoreReadError, match=r"chat\.db: "):
            await read
    for write in (
        accounts.set_role("nobody", Role.MEMBER),
        channels.add_conversation(conversation("a", "b", created=0)),
        reactions.add("general", 1, "👍", "ada"),
    ):
        with pytest.raises(StoreWriteError, match=r"chat\.db: "):
            await write


async def test_an_account_read_that_fails_is_a_503_for_whoever_asked(tmp_path: Path) -> None:
    accounts = SqliteAccounts.open(str(tmp_path / "chat.db"))
    await accounts.close()
    with pytest.raises(AccountError) as refused:
        await store_read(accounts.account_named("ada"))
    assert refused.value.status == 503
    assert refused.value.message == "the server cannot read its database now; try again later"
