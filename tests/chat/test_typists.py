"""Typists (sans I/O): who types where, coalesced snapshots, expiry, with plain times."""

from minidiscord.chat.live.typists import (
    EXPIRE_AFTER,
    FLUSH,
    KEEPALIVE,
    MAX_LISTED,
    SHARE_EVERY,
    Typist,
    Typists,
)

ADA = Typist("u1", "ada")
BOB = Typist("u2", "bob")


def names(snapshot: list[Typist]) -> list[str]:
    return [t.username for t in snapshot]


def test_a_first_start_is_due_at_once_and_a_refresh_is_not_sent_again() -> None:
    typists = Typists()
    typists.start("general", ADA, "s1", 0.0)
    assert typists.next_wake() == float("-inf")
    assert {c: names(s) for c, s in typists.due(0.0).items()} == {"general": ["ada"]}
    typists.start("general", ADA, "s1", 2.0)
    assert typists.due(2.0) == {}
    # Still typing: told again after the keepalive, so a client that missed it learns.
    assert typists.next_wake() == KEEPALIVE
    assert names(typists.due(KEEPALIVE)["general"]) == ["ada"]


def test_a_crowd_starting_within_a_flush_is_one_snapshot_of_the_latest() -> None:
    typists = Typists()
    typists.start("general", ADA, "s1", 0.0)
    assert names(typists.due(0.0)["general"]) == ["ada"]
    for n in range(30):
        typists.start("general", Typist(f"x{n}", f"n{n}"), f"t{n}", 0.1 + n / 100)
    assert typists.due(0.5) == {}  # within the flush window
    assert typists.next_wake() == FLUSH
    (snapshot,) = typists.due(FLUSH).values()
    assert len(snapshot) == MAX_LISTED
    assert names(snapshot)[-2:] == ["n28", "n29"]
    assert names(snapshot)[0] == f"n{30 - MAX_LISTED}"
    assert len(typists) == 31


def test_typing_expires_without_a_new_start() -> None:
    typists = Typists()
    typists.start("general", ADA, "s1", 0.0)
    typists.start("react", BOB, "s2", 1.0)
    typists.due(1.0)
    assert typists.next_wake() == 1.0 + KEEPALIVE
    assert set(typists.due(1.0 + KEEPALIVE)) == {"general", "react"}
    assert typists.next_wake() == EXPIRE_AFTER
    due = typists.due(EXPIRE_AFTER)
    assert due == {"general": []}
    assert typists.typing_in("react") == [BOB]
    assert typists.due(1.0 + EXPIRE_AFTER) == {"react": []}
    assert len(typists) == 0
    assert typists.next_wake() is None


def test_a_message_a_gone_socket_or_a_leave_stops_typing() -> None:
    typists = Typists()
    typists.start("general", ADA, "s1", 0.0)
    typists.start("react", ADA, "s1", 0.0)
    typists.start("casual", ADA, "s9", 0.0)
    typists.start("general", BOB, "s2", 0.0)
    typists.due(0.0)
    assert typists.stop("general", ADA.user_id)
    assert typists.typing_in("general") == [BOB]
    # Nothing to stop: nothing changed, no snapshot is due for it.
    assert not typists.stop("general", ADA.user_id)
    typists.drop_source("s1")
    assert typists.typing_in("react") == []
    assert typists.typing_in("casual") == [ADA]
    typists.drop_user(ADA.user_id)
    typists.drop_source("s2")
    assert len(typists) == 0
    assert {c: names(s) for c, s in typists.due(FLUSH).items()} == {
        "general": [],
        "react": [],
        "casual": [],
    }
    assert typists.due(2 * FLUSH) == {}
    assert typists.next_wake() is None


def test_stopping_and_starting_again_within_a_flush_waits_for_it() -> None:
    typists = Typists()
    typists.start("general", ADA, "s1", 0.0)
    typists.due(0.0)
    typists.stop("general", ADA.user_id)
    typists.start("general", ADA, "s1", 0.2)
    assert typists.due(0.3) == {}
    assert names(typists.due(FLUSH)["general"]) == ["ada"]


def test_a_refresh_is_shared_again_before_other_nodes_forget_it() -> None:
    typists = Typists()
    assert typists.to_share("general", ADA.user_id, 0.0)
    typists.start("general", ADA, "s1", 0.0)
    assert not typists.to_share("general", ADA.user_id, 2.0)
    typists.start("general", ADA, "s1", 2.0, shared=False)
    # Kept to this node, the refresh does not count as shared.
    assert typists.to_share("general", ADA.user_id, SHARE_EVERY)
    # A client starting every 2 s is shared again before the other nodes let it expire.
    assert SHARE_EVERY + 2.0 < EXPIRE_AFTER
    assert typists.has_source("s1")
    typists.drop_source("s1")
    assert not typists.has_source("s1")
