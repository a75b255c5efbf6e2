"""How the chat server composes its features (chat/features.py): an event or an effect two
features claim is refused at startup, and an effect no feature applies, or one malformed,
is logged and changes nothing."""

import logging
from typing import Any

import pytest

from minidiscord.chat.features import always, effect_table, install
from minidiscord.chat.moderation.effects import Do
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from minidiscord.sockets import SocketServer


async def _ack(*args: Any) -> dict[str, Any]:
    return {"ok": True}


def test_an_event_two_features_answer_is_refused() -> None:
    ns = SocketServer().of("/")
    with pytest.raises(ValueError, match="two features answer 'read:mark'"):
        install(ns, [{"read:list": _ack, "read:mark": _ack}, {"read:mark": _ack}])


def test_an_effect_two_features_apply_is_refused() -> None:
    applied: list[dict[str, Any]] = []
    with pytest.raises(ValueError, match="two features apply 'typing'"):
        effect_table([{Do.TYPING: always(applied.append)}, {Do.TYPING: always(applied.append)}])
    table = effect_table([{Do.TYPING: always(applied.append)}, {Do.READ: lambda _: False}])
    assert table["typing"]({"do": "typing"}) is True
    assert applied == [{"do": "typing"}]
    assert table["read"]({"do": "read"}) is False


def test_the_chat_server_registers_every_event_once() -> None:
    sio = SocketServer()
    ChatServer(sio, MemoryStore())
    handlers = sio.of("/").handlers
    for event in ("connect", "message:channel:send", "message:delete", "channel:list", "read:mark"):
        assert event in handlers, event


@pytest.mark.parametrize(
    "effect",
    [
        {"do": "nothing we know"},
        {"do": ["not", "a", "string"]},
        {"do": "kick"},  # no userId
        {"do": "delete", "channel": "general", "id": "7"},
        {"do": "edit", "channel": 3},
        {"do": "role", "userId": "u", "role": "owner"},
        {"do": "channel", "channel": {"id": 1}},
    ],
)
def test_an_effect_no_feature_can_apply_is_logged_and_changes_nothing(
    effect: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    chat = ChatServer(SocketServer(), MemoryStore())
    with caplog.at_level(logging.WARNING, logger="minidiscord.chat.server"):
        chat.apply_effect(effect)
    assert [r.getMessage() for r in caplog.records] == [
        f"a moderation effect could not be applied: {effect!r}"
    ]
