"""JSON for the wire: orjson on the fast path, the standard library as a lenient fallback."""

import json
from typing import Any

import orjson


class JSONDecodeError(ValueError):
    """The text is not JSON we accept (malformed, too deep, or out of range)."""


def dumps(value: Any) -> str:
    """Compact JSON text, as JavaScript's JSON.stringify writes it."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses integers beyond 64 bits, which JavaScript's JSON.stringify writes
    # for numbers such as 2**64; the standard library reads them. Anything it refuses
    # too (including nesting deep enough to exhaust the stack) is the peer's error.
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise JSONDecodeError(str(exc)) from None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; JavaScript's JSON.parse refuses them as well.
    raise ValueError(f"{name} is not valid JSON")
