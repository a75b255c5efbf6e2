"""Rules for what clients send: usernames, avatars, message text, channel names.

Pure functions: each returns the normalized value or raises `Invalid` whose `reason` is a
sentence the client is shown (in a CONNECT_ERROR or an ack), so it says what to fix.
"""

import base64
import binascii
import ipaddress
import itertools
import re
import secrets
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import icu  # type: ignore[import-untyped]  # PyICU ships no type information

from .models import CHANNELS

MAX_USERNAME = 32
MAX_MESSAGE = 2000
# An avatar that is an https: URL.
MAX_AVATAR = 512
# An avatar that is a data: image, the whole URL (about 6 KiB of image): it travels with
# every message and join, and is stored with every message.
MAX_AVATAR_DATA = 8192
# Combining marks on one letter: Vietnamese needs two, pointed Hebrew and Tibetan stacks
# up to four. More only piles decoration over the neighbouring lines ("Zalgo" text).
MAX_COMBINING_MARKS = 4
# Names a user may not take because the server or clients speak under them (case-folded).
RESERVED_USERNAMES = frozenset({"system"})
# Cc: C0/C1 controls; Zl/Zp: line and paragraph separators, which break one-line names.
_NAME_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Multi-line messages are normal chat; other control characters (category Cc: U+0000-001F
# and U+007F-009F, fixed by Unicode's stability policy) are never typed. Lone UTF-16
# surrogates (Cs: U+D800-DFFF) are not text. One regular-expression scan instead of a
# category lookup per character: this runs on every chat message.
_MESSAGE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _frozen_set(pattern: str) -> Any:
    """An ICU UnicodeSet from a pattern, frozen: immutable, and quicker to query."""
    chars = icu.UnicodeSet(pattern)
    chars.freeze()
    return chars


# Unicode rules for names come from ICU (the reference implementation of UTS #39, with
# current Unicode data; Python's unicodedata lacks the properties and lags versions).
_SPOOF = icu.SpoofChecker()
_NFKC = icu.Normalizer2.getNFKCInstance()
_NFKC_CASEFOLD = icu.Normalizer2.getNFKCCasefoldInstance()
_NFD = icu.Normalizer2.getNFDInstance()
# What displays as nothing: every default-ignorable code point (zero-width spaces and
# joiners, bidi controls, BOM, soft hyphen, variation selectors, Hangul fillers, tags...),
# every format character, and two that fonts draw blank though Unicode does not say so.
_INVISIBLE = _frozen_set(r"[[:Default_Ignorable_Code_Point:][:Cf:]\u2800\U0001D159]")
_MARKS = _frozen_set("[[:Mn:][:Me:]]")
# Emoji sequences recommended for interchange ("👩‍💻", "❤️"): their joiners and selectors
# are part of one visible picture, not hidden between letters.
_RGI_EMOJI = _frozen_set("[:RGI_Emoji:]")
# Folding case can uncover another confusable, and a skeleton can hold capitals again.
_SKELETON_ROUNDS = 4

_AVATAR_KINDS = "avatar must be an https:// image URL or a data:image/...;base64 image"
_DATA_IMAGE = re.compile(
    r"data:image/(?:png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})", re.IGNORECASE
)
# What RFC 3986 allows in a URL, escapes included. Browsers rewrite the rest, and could
# read a host we did not: a backslash ends it, a fullwidth letter becomes an ASCII one.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
# A host whose last label is a number is an IPv4 address to a browser, in decimal, octal
# or hex and with fewer than four parts: "2130706433" and "0x7f.1" are 127.0.0.1.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
# IPv6 prefixes that carry an IPv4 address a gateway may deliver to (RFC 6052 NAT64).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class Invalid(ValueError):
    """Client input broke a rule; `reason` tells the client which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def anonymous_username() -> str:
    return f"anonymous_{secrets.token_hex(4)}"


def username(raw: object, *, fallback: Callable[[], str] = anonymous_username) -> str:
    """A username from handshake auth: missing or blank gets an anonymous one, a long one
    is shortened."""
    if raw is None:
        return fallback()
    if not isinstance(raw, str):
        raise Invalid("username must be a string")
    name = _shortened(raw.strip())
    if not name:
        return fallback()
    if any(unicodedata.category(char) in _NAME_FORBIDDEN_CATEGORIES for char in name):
        raise Invalid("username may not contain control characters or line breaks")
    _check_visible(name)
    _check_marks(name)
    if name.casefold() in RESERVED_USERNAMES:
        raise Invalid(f"username {name!r} is reserved")
    reserved = _reserved_look_alike(name)
    if reserved is not None:
        raise Invalid(f"username {name!r} looks like {reserved!r}, which is reserved")
    return name


def _shortened(name: str) -> str:
    """`name` cut to at most MAX_USERNAME characters, between two of what a reader sees as
    characters (an emoji sequence or a letter with its marks is kept whole or left out).

    Cut rather than refused: the original server took any name, and its React client
    ignores a CONNECT_ERROR, so a refusal would leave its user on the login page with no
    word; the name they got is in the `session` event, which every client shows.
    """
    if len(name) <= MAX_USERNAME:
        return name
    # Boundaries up to MAX_USERNAME depend only on the characters around them: the rest of
    # a name as large as a whole payload need not be segmented.
    kept = 0
    for cluster in _grapheme_clusters(name[: MAX_USERNAME + 1]):
        if kept + len(cluster) > MAX_USERNAME:
            break
        kept += len(cluster)
    if kept == 0:
        # One "character" longer than a whole name: piled-up marks or joiners.
        raise Invalid(f"username is too long ({len(name)} characters, at most {MAX_USERNAME})")
    return name[:kept].rstrip()


def _check_visible(name: str) -> None:
    """No characters that display as nothing: a blank-looking name, or one that differs
    from another (or from "System") only by what nobody can see, or that reorders text."""
    if not any(_INVISIBLE.contains(char) for char in name):
        return
    if all(char.isspace() or _INVISIBLE.contains(char) for char in name):
        raise Invalid("username has no visible characters")
    for cluster in _grapheme_clusters(name):
        if _RGI_EMOJI.contains(cluster):
            continue
        for char in cluster:
            if _INVISIBLE.contains(char):
                raise Invalid(f"username may not contain invisible characters ({_named(char)})")


def _check_marks(name: str) -> None:
    """No stacks of combining marks beyond what writing needs, nor one mark twice on a
    letter (drawn in one place, so two names would differ invisibly)."""
    decomposed: str = str(_NFD.normalize(name))
    for is_mark, group in itertools.groupby(decomposed, lambda char: bool(_MARKS.contains(char))):
        if not is_mark:
            continue
        marks = list(group)
        if len(marks) > MAX_COMBINING_MARKS:
            raise Invalid(
                f"username stacks {len(marks)} combining marks on one letter"
                f" (at most {MAX_COMBINING_MARKS})"
            )
        if any(mark == following for mark, following in itertools.pairwise(marks)):
            raise Invalid("username repeats a combining mark on one letter")


def _grapheme_clusters(text: str) -> list[str]:
    """What a reader sees as single characters (an emoji sequence is one)."""
    ustr = icu.UnicodeString(text)
    breaks = icu.BreakIterator.createCharacterInstance(icu.Locale.getRoot())
    breaks.setText(ustr)
    clusters = []
    start = breaks.first()
    for end in breaks:
        clusters.append(str(ustr[start:end]))
        start = end
    return clusters


def _named(char: str) -> str:
    name = str(icu.Char.charName(char))
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def _skeleton_key(text: str) -> str:
    """The UTS #39 skeleton of `text` once compatibility forms, case, combining marks and
    invisible characters are gone: two names with one key look the same."""
    key = text
    for _ in range(_SKELETON_ROUNDS):
        bare = "".join(
            char
            for char in str(_NFD.normalize(key))
            if not _MARKS.contains(char) and not _INVISIBLE.contains(char)
        )
        folded = str(_NFKC_CASEFOLD.normalize(str(_SPOOF.getSkeleton(0, bare))))
        if folded == key:
            break
        key = folded
    return key


_RESERVED_KEYS = {_skeleton_key(name): name for name in sorted(RESERVED_USERNAMES)}


def name_key(name: str) -> str:
    """What makes two names one (accounts: chat/accounts/names.py): the skeleton of the
    name after NFKC and case folding, so `Ada`, `ADA` in fullwidth letters, `ada` with a
    Cyrillic a, `Ádá` and `ad\u200ba` share a key, as do `rn` and `m`."""
    return _skeleton_key(str(_NFKC_CASEFOLD.normalize(name)))


def _reserved_look_alike(name: str) -> str | None:
    """The reserved name that `name` could be read as, if any."""
    # Skeletons map capitals and small letters apart (Cyrillic capital TE is a T, its
    # small form a small capital T), so the name counts as written and case-folded.
    for form in (_NFKC.normalize(name), _NFKC_CASEFOLD.normalize(name)):
        reserved = _RESERVED_KEYS.get(_skeleton_key(str(form)))
        if reserved is not None:
            return reserved
    return None


def avatar(raw: object, *, server_host: str | None) -> str | None:
    """An optional avatar from handshake auth: a small data: image or an https: image URL.

    Every viewer's browser loads it, so it must not be able to address this server (an
    avatar of "/socket.io/?EIO=4&transport=polling" opened a session in each of them),
    nor the viewer's own machine or network. `server_host` is the Host header the client
    connected with (None when it sent none).
    """
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Invalid("avatar must be a string")
    value = raw.strip()
    if not value:
        return None
    if value[:5].lower() == "data:":
        return _data_image(value)
    return _image_url(value, server_host)


def _data_image(value: str) -> str:
    if len(value) > MAX_AVATAR_DATA:
        raise Invalid(
            f"avatar data: image is too large ({len(value)} characters, at most {MAX_AVATAR_DATA})"
        )
    match = _DATA_IMAGE.fullmatch(value)
    if match is None:
        raise Invalid(
            "avatar data: URL must be a base64 PNG, JPEG, GIF or WebP image"
            " (data:image/png;base64,...)"
        )
    try:
        base64.b64decode(match[1], validate=True)
    except binascii.Error:
        raise Invalid("avatar data: image is not valid base64") from None
    return value


def _image_url(value: str, server_host: str | None) -> str:
    if len(value) > MAX_AVATAR:
        raise Invalid(f"avatar URL is too long ({len(value)} characters, at most {MAX_AVATAR})")
    if not _URL_CHARS.fullmatch(value):
        raise Invalid("avatar URL may contain only ASCII URL characters (percent-encode the rest)")
    # Exactly "https://": browsers also read "https:host" and "https:///host" as a host.
    if value[:8].lower() != "https://":
        raise Invalid(_AVATAR_KINDS)
    try:
        parts = urlsplit(value)
    except ValueError:  # unbalanced IPv6 brackets
        raise Invalid("avatar URL is malformed") from None
    if "@" in parts.netloc:
        raise Invalid("avatar URL may not contain credentials")
    if not parts.hostname:
        raise Invalid("avatar URL has no host")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise Invalid("avatar URL has an invalid port") from None
    _check_image_host(_canonical_host(parts.hostname), server_host)
    return value


def _check_image_host(host: str, server_host: str | None) -> None:
    """Another host on the public internet: not this server, nor the viewer's network."""
    if server_host is not None and host == _host_of(server_host):
        raise Invalid(f"avatar URL may not point at this server ({host})")
    if host == "localhost" or host.endswith(".localhost"):
        raise Invalid("avatar URL may not point at localhost")
    address = _ip_address(host)
    if address is not None:
        if not _is_public(address):
            raise Invalid("avatar URL may not point at a loopback, private or reserved address")
        return
    if not _HOST_NAME.fullmatch(host) or _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        raise Invalid(
            "avatar URL host must be a domain name (like images.example.com) or a public IP address"
        )


def _host_of(host_header: str) -> str | None:
    """The host name a Host header ("name:port", "[v6]:port") names, canonical."""
    try:
        host = urlsplit("//" + host_header).hostname
    except ValueError:
        return None
    return _canonical_host(host) if host else None


def _canonical_host(host: str) -> str:
    """Lower case, no root dot, IP addresses in their one written form."""
    host = host.lower().rstrip(".")
    address = _ip_address(host)
    return host if address is None else str(address)


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one reaches that IPv4 host through a gateway.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None and not embedded.is_global:
            return False
    return True


def message_text(raw: object) -> str:
    """The text of a chat message: trimmed, 1 to MAX_MESSAGE characters."""
    if not isinstance(raw, str):
        raise Invalid(f"message must be a string, not {_json_type(raw)}")
    text = raw.strip()
    if not text:
        raise Invalid("message is empty")
    if len(text) > MAX_MESSAGE:
        raise Invalid(f"message is too long ({len(text)} characters, at most {MAX_MESSAGE})")
    forbidden = _MESSAGE_FORBIDDEN.search(text)
    if forbidden is not None:
        if "\ud800" <= forbidden.group() <= "\udfff":
            # A lone UTF-16 surrogate (JSON "\\ud800"): not text, and no store can keep it.
            raise Invalid("message contains an unpaired surrogate (invalid Unicode)")
        raise Invalid("message may not contain control characters")
    return text


def channel_id(raw: object) -> str:
    """What names a channel: a string (whether it exists and who may read or post in it is
    the channel registry's one check, chat/channels/registry.py)."""
    if not isinstance(raw, str):
        raise Invalid(f"channel must be a string, not {_json_type(raw)}")
    return raw


def channel(raw: object) -> str:
    """One of the original five channels."""
    raw = channel_id(raw)
    if raw not in CHANNELS:
        # Bounded echo: the name is the client's own input and may be huge.
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise Invalid(f"unknown channel {shown!r}; channels are {', '.join(CHANNELS)}")
    return raw


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, as the client would call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    return type(value).__name__
