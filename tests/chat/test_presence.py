"""Presence: a user is online from their first live socket until their last one closes."""

from minidiscord.chat.models import User
from minidiscord.chat.presence import Presence


def _user(user_id: str) -> User:
    return User(user_id, f"name of {user_id}")


def test_first_socket_brings_a_user_online_and_last_takes_them_offline() -> None:
    presence = Presence()
    assert not presence.is_online("u1")
    assert presence.add(_user("u1"), "s1") is True
    assert presence.add(_user("u1"), "s2") is False  # a second tab is no news
    assert presence.is_online("u1")
    assert presence.sockets_of("u1") == {"s1", "s2"}
    assert presence.remove("u1", "s1") is False
    assert presence.is_online("u1")
    assert presence.remove("u1", "s2") is True
    assert not presence.is_online("u1")
    assert presence.sockets_of("u1") == frozenset()


def test_users_are_independent() -> None:
    presence = Presence()
    presence.add(_user("u1"), "s1")
    presence.add(_user("u2"), "s2")
    assert presence.online() == {"u1", "u2"}
    assert presence.remove("u2", "s2") is True
    assert presence.online() == {"u1"}


def test_removing_an_unknown_socket_changes_nothing() -> None:
    presence = Presence()
    assert presence.remove("ghost", "s1") is False
    presence.add(_user("u1"), "s1")
    assert presence.remove("u1", "other") is False
    assert presence.remove("u1", "s1") is True
    assert presence.remove("u1", "s1") is False  # twice is harmless


def test_adding_the_same_socket_twice_counts_once() -> None:
    presence = Presence()
    presence.add(_user("u1"), "s1")
    presence.add(_user("u1"), "s1")
    assert presence.remove("u1", "s1") is True


def test_forget_returns_the_remaining_sockets_and_takes_the_user_offline() -> None:
    presence = Presence()
    presence.add(_user("u1"), "s1")
    presence.add(_user("u1"), "s2")
    assert presence.forget("u1") == {"s1", "s2"}
    assert not presence.is_online("u1")
    assert presence.remove("u1", "s1") is False
    assert presence.forget("u1") == frozenset()
    assert presence.add(_user("u1"), "s3") is True


def test_online_users_are_known_with_their_details_until_they_go() -> None:
    presence = Presence()
    users = presence.users()
    presence.add(_user("u1"), "s1")
    presence.add(_user("u2"), "s2")
    assert len(presence) == 2
    assert users["u1"].username == "name of u1"  # a live view
    presence.remove("u1", "s1")
    presence.forget("u2")
    assert dict(users) == {}
    assert len(presence) == 0
