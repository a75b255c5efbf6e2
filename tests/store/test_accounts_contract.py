"""The AccountStore contract, run on every backend (memory, SQLite, Redis)."""

import dataclasses

import pytest
import trio

from minidiscord.chat.accounts.records import (
    Account,
    EndReason,
    Invite,
    LoginSession,
    digest,
    new_id,
    new_token,
)
from minidiscord.chat.accounts.store import AccountStore, InviteRefused, NameTaken
from minidiscord.chat.clock import wall_clock_ms
from minidiscord.chat.models import Role
from minidiscord.chat.moderation.records import Action, AuditEntry, Ban
from minidiscord.chat.validation import name_key


def account(name: str, *, created: int = 1_000) -> Account:
    return Account(new_id(), name, name_key(name), "$argon2id$fake", Role.MEMBER, created)


def login(owner: Account, *, created: int = 1_000) -> tuple[str, LoginSession]:
    token = new_token()
    return token, LoginSession(
        digest(token), new_id(), owner.account_id, created, created, agent="ua"
    )


async def test_an_account_is_found_by_its_name_key_and_its_id(account_store: AccountStore) -> None:
    ada = account("Ada")
    await account_store.create_account(ada)
    assert await account_store.account_named(name_key("ADA")) == ada
    assert await account_store.account(ada.account_id) == ada
    assert await account_store.account_named(name_key("bob")) is None
    assert await account_store.account("nobody") is None


async def test_a_name_key_is_taken_once_even_by_concurrent_registrations(
    account_store: AccountStore,
) -> None:
    await account_store.create_account(account("ada"))
    with pytest.raises(NameTaken):
        # With a Cyrillic a: the same key.
        await account_store.create_account(account("\u0430da"))
    outcomes: list[str] = []

    async def register(name: str) -> None:
        try:
            await account_store.create_account(account(name))
            outcomes.append("made")
        except NameTaken:
            outcomes.append("taken")

    async with trio.open_nursery() as nursery:
        for name in ("bob", "BOB", "Bob", "\uff42\uff4f\uff42"):
            nursery.start_soon(register, name)
    assert sorted(outcomes) == ["made", "taken", "taken", "taken"]


async def test_an_invite_admits_one_account_and_expires(account_store: AccountStore) -> None:
    code = new_token()
    # Wall-clock times: Redis also lets the invite's key expire then.
    now = wall_clock_ms()
    await account_store.add_invite(Invite(digest(code), now, now + 60_000, "cli"))
    late = account("late", created=now + 60_000)
    with pytest.raises(InviteRefused):
        await account_store.create_account(late, invite=digest(code))
    await account_store.create_account(account("ada", created=now), invite=digest(code))
    with pytest.raises(InviteRefused):
        await account_store.create_account(account("bob", created=now), invite=digest(code))
    with pytest.raises(InviteRefused):
        await account_store.create_account(account("eve"), invite=digest("made up"))
    # A refused invite made no account.
    assert await account_store.account_named(name_key("bob")) is None


async def test_the_first_linked_user_stays(account_store: AccountStore) -> None:
    ada = account("ada")
    await account_store.create_account(ada)
    assert await account_store.link_user(ada.account_id, "u1", 7) == ("u1", 7)
    assert await account_store.link_user(ada.account_id, "u2", 8) == ("u1", 7)
    linked = await account_store.account(ada.account_id)
    assert linked is not None
    assert (linked.user_id, linked.user_seq) == ("u1", 7)


async def test_a_password_change_is_kept(account_store: AccountStore) -> None:
    ada = account("ada")
    await account_store.create_account(ada)
    await account_store.set_password(ada.account_id, "$argon2id$new")
    changed = await account_store.account(ada.account_id)
    assert changed is not None
    assert changed.password_hash == "$argon2id$new"


async def test_sessions_are_listed_touched_ended_and_forgotten(
    account_store: AccountStore,
) -> None:
    ada, bob = account("ada"), account("bob")
    await account_store.create_account(ada)
    await account_store.create_account(bob)
    _, first = login(ada, created=1_000)
    _, second = login(ada, created=2_000)
    _, third = login(ada, created=3_000)
    _, bobs = login(bob)
    for session in (first, second, third, bobs):
        await account_store.add_session(session)
    assert await account_store.session(second.digest) == second
    assert await account_store.session(digest("unknown")) is None
    assert await account_store.sessions_of(ada.account_id) == [first, second, third]

    await account_store.touch_session(first.digest, 9_000)
    touched = await account_store.session(first.digest)
    assert touched == dataclasses.replace(first, last_used=9_000)

    ended = await account_store.end_sessions(
        ada.account_id, EndReason.REVOKED, 10_000, only=second.handle
    )
    assert ended == 1
    assert await account_store.session(second.digest) == second.ending(EndReason.REVOKED, 10_000)
    # All but one: the one already ended stays as it ended.
    ended = await account_store.end_sessions(
        ada.account_id, EndReason.PASSWORD_CHANGED, 11_000, sparing=third.digest
    )
    assert ended == 1
    listed = {s.handle: s for s in await account_store.sessions_of(ada.account_id)}
    assert listed[first.handle].end_reason is EndReason.PASSWORD_CHANGED
    assert listed[second.handle].end_reason is EndReason.REVOKED
    assert listed[third.handle].ended is None
    # Another account's sessions are untouched.
    assert await account_store.session(bobs.digest) == bobs

    await account_store.forget_sessions(ada.account_id, created_before=2_500)
    assert [s.handle for s in await account_store.sessions_of(ada.account_id)] == [third.handle]
    assert await account_store.session(first.digest) is None


async def test_an_accounts_user_finds_it_and_a_role_change_is_kept(
    account_store: AccountStore,
) -> None:
    ada = account("ada")
    await account_store.create_account(ada)
    assert await account_store.account_of_user("u1") is None
    await account_store.link_user(ada.account_id, "u1", 1)
    found = await account_store.account_of_user("u1")
    assert found is not None
    assert found.account_id == ada.account_id
    await account_store.set_role(ada.account_id, Role.MODERATOR)
    changed = await account_store.account(ada.account_id)
    assert changed is not None
    assert changed.role is Role.MODERATOR
    # An unknown account: nothing made.
    await account_store.set_role("nobody", Role.ADMIN)
    assert await account_store.account("nobody") is None


async def test_bans_are_kept_replaced_and_lifted(account_store: AccountStore) -> None:
    assert await account_store.ban_of("s1") is None
    await account_store.ban(Ban("s1", "spam", "mod", 5))
    assert await account_store.ban_of("s1") == Ban("s1", "spam", "mod", 5)
    await account_store.ban(Ban("s1", "more spam", "admin", 6))
    assert await account_store.ban_of("s1") == Ban("s1", "more spam", "admin", 6)
    assert await account_store.ban_of("s2") is None
    assert await account_store.unban("s1")
    assert not await account_store.unban("s1")
    assert await account_store.ban_of("s1") is None


async def test_the_audit_log_numbers_entries_and_pages_newest_first(
    account_store: AccountStore,
) -> None:
    assert await account_store.audit(None, 10) == []
    ids = [
        await account_store.add_audit(
            AuditEntry(n, "mod", Action.KICK, f"user{n}", reason=f"why {n}", detail="d")
        )
        for n in range(5)
    ]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    page = await account_store.audit(None, 2)
    assert [e.target for e in page] == ["user4", "user3"]
    assert page[0] == AuditEntry(4, "mod", Action.KICK, "user4", "why 4", "d", id=ids[4])
    page = await account_store.audit(page[-1].id, 2)
    assert [e.target for e in page] == ["user2", "user1"]
    page = await account_store.audit(page[-1].id, 5)
    assert [e.target for e in page] == ["user0"]
    assert await account_store.audit(page[-1].id, 5) == []
    assert await account_store.audit(None, 0) == []


async def test_the_audit_log_is_pruned_by_age_and_by_count(account_store: AccountStore) -> None:
    ids = [
        await account_store.add_audit(AuditEntry(at, "mod", Action.KICK, f"user{at}"))
        for at in (10, 20, 30, 40, 50)
    ]
    # Older than 25: two go.
    assert await account_store.prune_audit(25, 100) == 2
    assert [e.at for e in await account_store.audit(None, 10)] == [50, 40, 30]
    # At most the newest two: one more goes.
    assert await account_store.prune_audit(0, 2) == 1
    assert [e.id for e in await account_store.audit(None, 10)] == ids[:2:-1]
    assert await account_store.prune_audit(0, 2) == 0
    # Numbering goes on after a prune, and paging still works.
    newer = await account_store.add_audit(AuditEntry(60, "mod", Action.BAN, "user60"))
    assert newer > ids[-1]
    assert [e.at for e in await account_store.audit(newer, 10)] == [50, 40]


async def test_timeouts_are_kept_replaced_and_forgotten_when_over(
    account_store: AccountStore,
) -> None:
    assert await account_store.timeouts(0) == {}
    await account_store.set_timeout("u1", 1_000, now=0)
    await account_store.set_timeout("u2", 2_000, now=0)
    assert await account_store.timeouts(500) == {"u1": 1_000, "u2": 2_000}
    # A new one replaces the user's old one (a shorter one too).
    await account_store.set_timeout("u2", 1_500, now=600)
    assert await account_store.timeouts(600) == {"u1": 1_000, "u2": 1_500}
    assert await account_store.timeouts(1_000) == {"u2": 1_500}
    await account_store.set_timeout("u3", 9_000, now=1_600)
    assert await account_store.timeouts(0) == {"u3": 9_000}
