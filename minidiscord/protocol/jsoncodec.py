"""JSON for the wire: orjson on the fast path, the standard library as a lenient fallback."""

import json
import math
from typing import Any, final

import orjson

# Deeper documents are refused: no real client nests this far, and the limit keeps every
# recursive walk over decoded data (attachments, re-encoding for an echo) far from
# Python's recursion limit and below orjson's own encoding limit of 254 levels.
MAX_DEPTH = 128


class JSONDecodeError(ValueError):
    """The text is not JSON we accept (malformed, too deep, or out of range)."""


@final
class Encoded:
    """A JSON value encoded once, embedded as is wherever it is a part of a value given to
    :func:`dumps`: one payload sent in many packets (each with its own header, ack id or
    recovery offset) is then encoded once rather than once per packet, and the packet
    encoder does not walk it (it holds no binary parts). Make one with :meth:`of`."""

    __slots__ = ("_fragment", "json")

    def __init__(self, json: bytes) -> None:
        # Trusted to be one valid JSON value: it is written into documents unchecked.
        self.json = json
        self._fragment = orjson.Fragment(json)

    @classmethod
    def of(cls, value: Any) -> "Encoded":
        """``value`` (JSON data, no bytes) encoded as :func:`dumps` would write it."""
        return cls(dumps(value).encode())

    def __repr__(self) -> str:
        return f"Encoded({self.json[:40]!r}{'...' if len(self.json) > 40 else ''})"


def _embed(value: Any) -> Any:
    if isinstance(value, Encoded):
        return value._fragment
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """Compact JSON text, as JavaScript's JSON.stringify writes it."""
    text = dumps_without_binary(value)
    if text is not None:
        return text
    # orjson refuses lone surrogates (JavaScript strings may hold them and JSON.stringify
    # escapes them) and integers beyond 64 bits; the standard library writes both, escaping
    # non-ASCII so the text stays valid UTF-8. Like orjson and JSON.stringify, it must write
    # null for Infinity and NaN (a peer's 1e999 reads as Infinity), never the non-JSON words.
    return json.dumps(_null_for_non_finite(value), separators=(",", ":"), allow_nan=False)


def dumps_without_binary(value: Any) -> str | None:
    """:func:`dumps` through orjson alone: None when it refuses ``value`` (bytes in it, which
    the caller then takes out first, or what only :func:`dumps`'s fallback writes)."""
    try:
        return orjson.dumps(value, default=_embed).decode()
    except orjson.JSONEncodeError:
        return None


def _null_for_non_finite(value: Any) -> Any:
    if isinstance(value, Encoded):
        return _null_for_non_finite(json.loads(value.json))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_null_for_non_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _null_for_non_finite(item) for key, item in value.items()}
    return value


def loads(text: str | bytes) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogates in string escapes, which JavaScript's
        # JSON.stringify writes; the standard library reads them. Anything it refuses
        # too (including nesting deep enough to exhaust the stack) is the peer's error.
        try:
            value = json.loads(text, parse_constant=_refuse_constant, parse_int=_integer)
        except (ValueError, RecursionError) as exc:
            raise JSONDecodeError(str(exc)) from None
    if _may_be_too_deep(text) and _too_deep(value):
        raise JSONDecodeError(f"nesting deeper than {MAX_DEPTH} levels")
    return value


def _integer(text: str) -> int | float:
    # As orjson (and JavaScript, whose numbers are doubles) read them: integers beyond
    # 64 bits become floats, so both decoding paths agree and re-encoding is stable.
    if len(text) <= 21:  # a sign and 20 digits: the widest a 64-bit integer needs
        value = int(text)
        if -(2**63) <= value < 2**64:
            return value
    return float(text)  # huge digit strings read as +-Infinity, as in JavaScript


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; JavaScript's JSON.parse refuses them as well.
    raise ValueError(f"{name} is not valid JSON")


def _may_be_too_deep(text: str | bytes) -> bool:
    # Each level needs its own bracket, and counting them is a fast C loop, so the
    # walk below only runs for documents that could possibly be too deep.
    if isinstance(text, str):
        return text.count("[") + text.count("{") > MAX_DEPTH
    return text.count(b"[") + text.count(b"{") > MAX_DEPTH


def _too_deep(value: Any) -> bool:
    if not isinstance(value, list | dict):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, list | dict):
                if depth >= MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False
