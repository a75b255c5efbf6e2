"""The input rules: usernames, avatars, message text and channels, accepted and refused."""

import pytest

from minidiscord.chat import validation
from minidiscord.chat.models import CHANNELS
from minidiscord.chat.validation import Invalid


def fixed() -> str:
    return "anonymous_fixed"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "alice"),
        ("  bob  ", "bob"),
        ("Ana María", "Ana María"),
        ("x" * 32, "x" * 32),
        ("\u00e9l\u00e8ve \U0001f600", "\u00e9l\u00e8ve \U0001f600"),
        ("Systems", "Systems"),
        ("my system", "my system"),
    ],
)
def test_username_accepts_and_trims(raw: str, expected: str) -> None:
    assert validation.username(raw, fallback=fixed) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n "])
def test_missing_or_blank_username_gets_the_fallback(raw: object) -> None:
    assert validation.username(raw, fallback=fixed) == "anonymous_fixed"


def test_default_fallback_is_anonymous_plus_random_hex() -> None:
    names = {validation.username(None) for _ in range(20)}
    assert len(names) == 20
    for name in names:
        prefix, _, suffix = name.partition("_")
        assert prefix == "anonymous"
        assert len(suffix) == 8
        int(suffix, 16)


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        (42, "must be a string"),
        (["alice"], "must be a string"),
        ({"name": "x"}, "must be a string"),
        (True, "must be a string"),
        ("x" * 33, "too long (33 characters, at most 32)"),
        ("  " + "y" * 40 + "  ", "too long (40 characters"),
        ("ali\x00ce", "control characters"),
        ("ali\nce", "control characters"),
        ("bell\x07", "control characters"),
        ("del\x7f", "control characters"),
        ("c1\x85x", "control characters"),
        ("line\u2028sep", "line breaks"),
        ("System", "reserved"),
        ("system", "reserved"),
        ("  SYSTEM ", "reserved"),
        ("SyStEm", "reserved"),
    ],
)
def test_bad_usernames_are_refused_with_a_reason(raw: object, reason_part: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.username(raw, fallback=fixed)
    assert reason_part in caught.value.reason
    assert caught.value.reason.startswith("username")


def test_length_counts_characters_after_trimming() -> None:
    assert validation.username("  " + "z" * 32 + "  ") == "z" * 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("  ", None), (" /a/1.png ", "/a/1.png"), ("a" * 512, "a" * 512)],
)
def test_avatar_is_optional(raw: object, expected: str | None) -> None:
    assert validation.avatar(raw) == expected


@pytest.mark.parametrize("raw", [7, {"url": "x"}, "a" * 513, "x\ny"])
def test_bad_avatar_is_refused(raw: object) -> None:
    with pytest.raises(Invalid, match=r"^avatar"):
        validation.avatar(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", "hello"),
        ("  padded \n", "padded"),
        ("two\nlines\r\nand\ttab", "two\nlines\r\nand\ttab"),
        ("m" * 2000, "m" * 2000),
        (" " * 10 + "m" * 2000 + " " * 10, "m" * 2000),
        ("\U0001f44b", "\U0001f44b"),
    ],
)
def test_message_text_accepted_and_trimmed(raw: str, expected: str) -> None:
    assert validation.message_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "message must be a string, not null"),
        (5, "message must be a string, not a number"),
        (1.5, "message must be a string, not a number"),
        (False, "message must be a string, not a boolean"),
        (["hi"], "message must be a string, not an array"),
        ({"message": "hi"}, "message must be a string, not an object"),
        (b"hi", "message must be a string, not binary data"),
        ("", "message is empty"),
        ("   \n\t ", "message is empty"),
        ("m" * 2001, "message is too long (2001 characters, at most 2000)"),
        ("nul\x00", "message may not contain control characters"),
        ("esc\x1b[31m", "message may not contain control characters"),
    ],
)
def test_bad_message_text_is_refused(raw: object, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.message_text(raw)
    assert caught.value.reason == reason
    assert str(caught.value) == reason


@pytest.mark.parametrize("name", CHANNELS)
def test_every_channel_is_accepted(name: str) -> None:
    assert validation.channel(name) == name


@pytest.mark.parametrize(
    ("raw", "reason_start"),
    [
        ("random", "unknown channel 'random'; channels are welcome, general"),
        ("General", "unknown channel 'General'"),
        (" general", "unknown channel ' general'"),
        (None, "channel must be a string, not null"),
        (3, "channel must be a string, not a number"),
    ],
)
def test_bad_channel_is_refused(raw: object, reason_start: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.channel(raw)
    assert caught.value.reason.startswith(reason_start)


def test_a_huge_channel_name_is_not_echoed_whole() -> None:
    with pytest.raises(Invalid) as caught:
        validation.channel("c" * 100_000)
    assert len(caught.value.reason) < 200
