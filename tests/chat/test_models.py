"""The wire shapes of users, sessions and messages match the protocol table exactly."""

from minidiscord.chat.models import CHANNELS, Message, Session, User


def test_channels_are_the_originals_in_order() -> None:
    assert CHANNELS == ("welcome", "general", "react", "learners", "casual")


def test_presence_wire_never_carries_the_avatar() -> None:
    user = User("u1", "alice", "/a.png")
    assert user.presence_wire(connected=False) == {
        "userId": "u1",
        "username": "alice",
        "connected": False,
        "role": "guest",
    }


def test_join_wire_carries_the_avatar_only_when_set() -> None:
    assert User("u1", "alice").join_wire() == {
        "userId": "u1",
        "username": "alice",
        "connected": True,
        "role": "guest",
    }
    assert User("u1", "alice", "/a.png").join_wire()["avatar"] == "/a.png"


def test_session_wire() -> None:
    session = Session("secret-id", "u1")
    assert session.wire(User("u1", "alice")) == {
        "sessionId": "secret-id",
        "userId": "u1",
        "username": "alice",
        "connected": True,
        "role": "guest",
    }
    assert session.wire(User("u1", "alice", "/a.png"))["avatar"] == "/a.png"


def test_session_repr_hides_the_credential() -> None:
    assert "secret-id" not in repr(Session("secret-id", "u1"))
    assert "secret-id" not in str(Session("secret-id", "u1"))


def test_message_wire() -> None:
    message = Message(7, "general", "u1", "alice", 1_700_000_000_123, "hi")
    assert message.wire() == {
        "id": 7,
        "userId": "u1",
        "username": "alice",
        "timestamp": 1_700_000_000_123,
        "message": "hi",
    }
    with_avatar = Message(8, "general", "u1", "alice", 1, "hi", "/a.png")
    assert with_avatar.wire()["avatar"] == "/a.png"
    assert "channel" not in with_avatar.wire()
