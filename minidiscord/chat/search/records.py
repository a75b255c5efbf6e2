"""A search's words, its hits and pages, and the bounds on them."""

import re
from dataclasses import dataclass
from typing import Any, Final

from ..models import Message
from ..validation import Invalid

MAX_QUERY: Final = 200
MAX_WORDS: Final = 8
MAX_PAGE: Final = 50
DEFAULT_PAGE: Final = 20
# Characters of a hit's text around its first match.
SNIPPET_CHARS: Final = 120

_WORD = re.compile(r"\w+")


def query_words(raw: object) -> list[str]:
    """The words a query looks for (letters, digits, underscores; casefolded), or Invalid."""
    if not isinstance(raw, str):
        raise Invalid("query must be a string")
    if len(raw) > MAX_QUERY:
        raise Invalid(f"query is too long ({len(raw)} characters, at most {MAX_QUERY})")
    words = list(dict.fromkeys(w.casefold() for w in _WORD.findall(raw)))
    if not words:
        raise Invalid("query has no word to look for")
    if len(words) > MAX_WORDS:
        raise Invalid(f"query has too many words (at most {MAX_WORDS})")
    return words


@dataclass(frozen=True, slots=True)
class Hit:
    message: Message
    snippet: str

    def wire(self) -> dict[str, Any]:
        m = self.message
        return {
            "channel": m.channel,
            "id": m.id,
            "userId": m.user_id,
            "username": m.username,
            "timestamp": m.timestamp,
            "snippet": self.snippet,
        }


@dataclass(frozen=True, slots=True)
class Page:
    """Hits, newest first; ``next``: the ``before`` of the next page (None: no more)."""

    hits: list[Hit]
    next: int | None


def snippet_around(text: str, at: int, length: int) -> str:
    """About SNIPPET_CHARS of ``text`` around ``text[at:at + length]``, with ellipses."""
    if len(text) <= SNIPPET_CHARS:
        return text
    start = max(0, min(at - SNIPPET_CHARS // 3, len(text) - SNIPPET_CHARS))
    end = start + SNIPPET_CHARS
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
