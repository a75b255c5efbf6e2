"""The JSON layer: the nesting limit, and values orjson alone would refuse."""

from typing import Any

import pytest
from hypothesis import given

from minidiscord.protocol import jsoncodec, socketio

from .strategies import json_values


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert jsoncodec.loads(nested(jsoncodec.MAX_DEPTH)) is not None
    assert jsoncodec.loads(nested(jsoncodec.MAX_DEPTH).encode()) is not None


@pytest.mark.parametrize("depth", [jsoncodec.MAX_DEPTH + 1, 1000, 100_000])
def test_nesting_beyond_the_limit_is_refused(depth: int) -> None:
    with pytest.raises(jsoncodec.JSONDecodeError):
        jsoncodec.loads(nested(depth))


def test_many_shallow_containers_are_not_too_deep() -> None:
    assert len(jsoncodec.loads("[" + ",".join(["[]"] * 1000) + "]")) == 1000


def test_dumps_escapes_lone_surrogates_and_writes_big_integers() -> None:
    assert jsoncodec.dumps(["\ud800", "é"]) == '["\\ud800","\\u00e9"]'
    assert jsoncodec.dumps([2**70]) == f"[{2**70}]"
    assert jsoncodec.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


@given(json_values(binary=False))
def test_round_trip(value: object) -> None:
    assert jsoncodec.loads(jsoncodec.dumps(value)) == value


def test_non_finite_numbers_re_encode_as_null_even_on_the_fallback_path() -> None:
    # orjson refuses the big integer, so the standard library decodes and encodes this one;
    # 1e999 reads as Infinity, which JSON.stringify (and orjson) write as null.
    decoded = jsoncodec.loads("[-9223372036854775809,1e999]")
    assert decoded == [-9223372036854775809.0, float("inf")]
    once = jsoncodec.dumps(decoded)
    assert once == "[-9.223372036854776e+18,null]"
    assert jsoncodec.dumps(jsoncodec.loads(once)) == once
    assert jsoncodec.dumps([float("nan"), 2**70]) == "[null,1180591620717411303424]"


@given(json_values(binary=False), json_values(binary=False))
def test_an_encoded_value_is_written_as_its_plain_value_would_be(value: Any, other: Any) -> None:
    # Encoded once, embedded in many documents: each reads as if the value were plain.
    shared = jsoncodec.Encoded.of(value)
    assert jsoncodec.dumps(["users", shared, other]) == jsoncodec.dumps(["users", value, other])
    assert jsoncodec.loads(jsoncodec.dumps({"v": shared})) == jsoncodec.loads(
        jsoncodec.dumps({"v": value})
    )


def test_an_encoded_value_survives_the_lenient_fallback() -> None:
    # A lone surrogate elsewhere in the document sends it through the standard library.
    shared = jsoncodec.Encoded.of([{"name": "\ud800", "n": 2**70}, "é"])
    text = jsoncodec.dumps([shared, "\udc00"])
    assert text == jsoncodec.dumps([[{"name": "\ud800", "n": 2**70}, "é"], "\udc00"])


def test_the_packet_encoder_embeds_an_encoded_value_without_walking_it() -> None:
    users = [
        {"userId": f"u{n}", "username": f"user {n}", "connected": n % 2 == 0} for n in range(50)
    ]
    plain = socketio.encode_event("users", [users])
    shared = jsoncodec.Encoded.of(users)
    assert socketio.encode_event("users", [shared]) == plain
    assert socketio.deconstruct_binary(["users", shared], []) == ["users", shared]
