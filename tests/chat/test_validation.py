"""The input rules: usernames, avatars, message text and channels, accepted and refused."""

import sys
import unicodedata

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
        ("Sysadmin", "Sysadmin"),
        ("Syst3m", "Syst3m"),
    ],
)
def test_username_accepts_and_trims(raw: str, expected: str) -> None:
    assert validation.username(raw, fallback=fixed) == expected


# Real names in many scripts, with the accents, points and stacks their writing needs.
@pytest.mark.parametrize(
    "name",
    [
        "José",
        "Zoë",
        "Jose\u0301 (decomposed)",
        "Алексей",
        "李雷",
        "محمد",
        "Nguyễn Văn Ánh",  # Vietnamese: two marks on one letter
        "Nguye\u0302\u0303n (decomposed)",
        "שָׁלוֹם",  # Hebrew with points
        "བསྒྲུབས",  # Tibetan: stacked consonants and a vowel sign, three marks
        "देवनागरी",
        "ภาษาไทย",
        "Ελένη",
        "Sam ❤️",  # an emoji with its presentation selector (U+FE0F)
        "👩‍💻 ada",  # an emoji ZWJ sequence
        "🏳️‍🌈",
        "🇫🇷 Léa",
        "👍🏽",
        "1️⃣ first",
    ],
)
def test_names_in_any_script_are_accepted(name: str) -> None:
    assert validation.username(name, fallback=fixed) == name


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
        ("a\u0301" + "\u0300" * 40, "too long (42 characters, at most 32)"),
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


@pytest.mark.parametrize(
    "name",
    [
        "\u0405\u0443\u0455t\u0435m",  # Cyrillic dze, u, dze, ie among Latin letters
        "\u0405\u0423\u0405\u0422\u0415\u041c",  # all Cyrillic capitals
        "SYST\u0395M",  # Greek capital epsilon
        "\uff33\uff39\uff33\uff34\uff25\uff2d",  # fullwidth capitals
        "\uff33\uff59\uff53\uff54\uff45\uff4d",  # fullwidth, capitalised
        "\U0001d412\U0001d432\U0001d42c\U0001d42d\U0001d41e\U0001d426",  # mathematical bold
        "\u13daystem",  # Cherokee letter du
        "\ua731ystem",  # Latin small capital s
        "Systern",  # rn reads as m
        "Syst\u00e9m",  # an e with an acute
        "System\u0301",  # a combining acute on the m
        "S\u0338ystem",  # a combining overlay
        "System\u20dd",  # an enclosing circle
    ],
)
def test_names_that_look_like_system_are_reserved(name: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.username(name, fallback=fixed)
    assert caught.value.reason == f"username {name!r} looks like 'system', which is reserved"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Sys\u200btem", "U+200B ZERO WIDTH SPACE"),
        ("ali\u200dce", "U+200D ZERO WIDTH JOINER"),
        ("ali\u200cce", "U+200C ZERO WIDTH NON-JOINER"),
        ("\u202eevil", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("left\u202a", "U+202A LEFT-TO-RIGHT EMBEDDING"),
        ("a\u2066b\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\u200fmark", "U+200F RIGHT-TO-LEFT MARK"),
        ("bom\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN"),
        ("word\u2060joiner", "U+2060 WORD JOINER"),
        ("a\u034fb", "U+034F COMBINING GRAPHEME JOINER"),
        ("x\ufe0f", "U+FE0F VARIATION SELECTOR-16"),  # not an emoji: nothing to select
        ("tag\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
        ("kim\u3164", "U+3164 HANGUL FILLER"),
        ("blank\u2800", "U+2800 BRAILLE PATTERN BLANK"),
    ],
)
def test_invisible_characters_are_refused_and_named(name: str, shown: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.username(name, fallback=fixed)
    assert caught.value.reason == f"username may not contain invisible characters ({shown})"


@pytest.mark.parametrize(
    "name",
    [
        "\u200b",
        "\u3164",
        "\u2800\u2800",
        "\u115f\u1160",
        "\uffa0",
        "\U0001d159",
        "\u200b \u3164 \u200d",
        "\u202e\u2066\u2069",
    ],
)
def test_blank_looking_names_are_refused(name: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.username(name, fallback=fixed)
    assert caught.value.reason == "username has no visible characters"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "Z\u0300\u0301\u0302\u0303\u0304algo",
            "username stacks 5 combining marks on one letter (at most 4)",
        ),
        (
            "Z" + "\u0336\u0337\u0338\u0339\u033a" * 4,
            "username stacks 20 combining marks on one letter (at most 4)",
        ),
        ("Jose\u0301\u0301", "username repeats a combining mark on one letter"),
    ],
)
def test_stacked_combining_marks_are_refused(name: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.username(name, fallback=fixed)
    assert caught.value.reason == reason


def test_a_right_to_left_override_cannot_reverse_the_join_line() -> None:
    # "\u202emetsyS" displays as "System" and would turn the line that follows it around.
    with pytest.raises(Invalid, match="invisible characters"):
        validation.username("\u202emetsyS", fallback=fixed)


def test_length_counts_characters_after_trimming() -> None:
    assert validation.username("  " + "z" * 32 + "  ") == "z" * 32


# The original React client shows nothing when a connect is refused: a long name is cut
# to 32 characters instead, between two characters as a reader sees them.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("x" * 33, "x" * 32),
        ("  " + "y" * 40 + "  ", "y" * 32),
        ("z" * 31 + "  tail", "z" * 31),  # no trailing space is left
        # A ZWJ emoji sequence (3 code points) that would straddle the limit is left out
        # whole, not cut to a dangling joiner.
        ("a" * 30 + "\U0001f469\u200d\U0001f4bb", "a" * 30),
        ("a" * 29 + "\U0001f469\u200d\U0001f4bb!", "a" * 29 + "\U0001f469\u200d\U0001f4bb"),
        # A letter keeps its marks, or goes with them.
        ("b" * 31 + "e\u0301", "b" * 31),
        ("c" * 30 + "e\u0301x", "c" * 30 + "e\u0301"),
    ],
)
def test_a_long_name_is_shortened_at_a_character_boundary(raw: str, expected: str) -> None:
    assert validation.username(raw, fallback=fixed) == expected


def test_a_shortened_name_still_obeys_the_other_rules() -> None:
    with pytest.raises(Invalid, match="reserved"):
        validation.username("System" + " " * 30 + "x", fallback=fixed)
    # Segmenting looks at the start only: a name as large as a payload costs no more.
    assert validation.username("w" * 1_000_000, fallback=fixed) == "w" * 32


SERVER = "chat.example.com"
# A 1x1 PNG.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def data_image(kind: str, size: int) -> str:
    """A data: image URL of `size` characters (valid base64 when the body's length allows)."""
    prefix = f"data:image/{kind};base64,"
    return prefix + "A" * (size - len(prefix))


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("  ", None)])
def test_avatar_is_optional(raw: object, expected: str | None) -> None:
    assert validation.avatar(raw, server_host=SERVER) == expected


@pytest.mark.parametrize(
    "raw",
    [
        PIXEL,
        "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "data:image/webp;base64,UklGRhoAAABXRUJQ",
        "DATA:IMAGE/PNG;BASE64,iVBORw0KGgo=",
        data_image("png", validation.MAX_AVATAR_DATA - 2),  # 8168 characters of base64
        "https://cdn.example.net/avatars/ada.png",
        "https://cdn.example.net:8443/a.png?size=64#x",
        "https://chat.example.com.evil.example/a.png",  # another host that starts alike
        "https://static.chat.example.com/a.png",  # a subdomain is another host
        "https://8.8.8.8/a.png",
        "https://[2606:4700:4700::1111]/a.png",
        "https://cdn.example.net/" + "a" * (validation.MAX_AVATAR - 24),
    ],
)
def test_image_avatars_are_accepted(raw: str) -> None:
    assert validation.avatar(f"  {raw} ", server_host=SERVER) == raw


def test_any_other_host_is_accepted_without_a_server_host() -> None:
    url = "https://chat.example.com/a.png"
    assert validation.avatar(url, server_host=None) == url


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (7, "avatar must be a string"),
        ({"url": "x"}, "avatar must be a string"),
        # Anything that is not an https: or data: image, among them the old relative paths.
        ("/avatars/2.png", "avatar must be an https:// image URL or a data:image/...;base64 image"),
        ("/socket.io/?EIO=4&transport=polling", "avatar must be an https://"),
        ("//cdn.example.net/a.png", "avatar must be an https://"),
        ("http://cdn.example.net/a.png", "avatar must be an https://"),
        ("javascript:alert(1)", "avatar must be an https://"),
        ("smiley", "avatar must be an https://"),
        ("https:cdn.example.net/a.png", "avatar must be an https://"),
        ("https:///cdn.example.net/a.png", "avatar URL has no host"),
        # The server this client connected to, however its name is written.
        (
            "https://chat.example.com/socket.io/?EIO=4&transport=polling",
            "avatar URL may not point at this server (chat.example.com)",
        ),
        ("https://CHAT.Example.com./a.png", "avatar URL may not point at this server"),
        ("https://chat.example.com:444/a.png", "avatar URL may not point at this server"),
        # Credentials, even empty ones.
        ("https://user:secret@cdn.example.net/a.png", "avatar URL may not contain credentials"),
        ("https://@cdn.example.net/a.png", "avatar URL may not contain credentials"),
        # The viewer's own machine and network.
        ("https://localhost/a.png", "avatar URL may not point at localhost"),
        ("https://LOCALHOST./a.png", "avatar URL may not point at localhost"),
        ("https://app.localhost:8181/a.png", "avatar URL may not point at localhost"),
        ("https://127.0.0.1:8181/socket.io/", "avatar URL may not point at a loopback"),
        ("https://10.1.2.3/a.png", "avatar URL may not point at a loopback, private"),
        ("https://192.168.1.1/a.png", "avatar URL may not point at a loopback, private"),
        ("https://172.16.0.1/a.png", "avatar URL may not point at a loopback, private"),
        ("https://169.254.169.254/latest/meta-data", "avatar URL may not point at a loopback"),
        ("https://100.64.0.1/a.png", "avatar URL may not point at a loopback, private"),
        ("https://0.0.0.0/a.png", "avatar URL may not point at a loopback, private"),
        ("https://224.0.0.1/a.png", "avatar URL may not point at a loopback, private"),
        ("https://[::1]/a.png", "avatar URL may not point at a loopback, private"),
        ("https://[::ffff:127.0.0.1]/a.png", "avatar URL may not point at a loopback"),
        ("https://[fd00::1]/a.png", "avatar URL may not point at a loopback, private"),
        ("https://[fe80::1]/a.png", "avatar URL may not point at a loopback, private"),
        ("https://[64:ff9b::7f00:1]/a.png", "avatar URL may not point at a loopback"),
        ("https://[2002:7f00:1::1]/a.png", "avatar URL may not point at a loopback"),
        # Numbers a browser reads as an IPv4 address (2130706433 is 127.0.0.1).
        ("https://2130706433/a.png", "avatar URL host must be a domain name"),
        ("https://0x7f.1/a.png", "avatar URL host must be a domain name"),
        ("https://127.1/a.png", "avatar URL host must be a domain name"),
        ("https://0177.0.0.1/a.png", "avatar URL host must be a domain name"),
        ("https://intranet/a.png", "avatar URL host must be a domain name"),
        ("https://a!b.example.net/a.png", "avatar URL host must be a domain name"),
        ("https://[::1/a.png", "avatar URL is malformed"),
        ("https://%6cocalhost/a.png", "avatar URL host must be a domain name"),
        ("https://cdn.example.net:99999/a.png", "avatar URL has an invalid port"),
        # What a browser would read differently from us, or rewrite into a host of ours.
        ("https://cdn.example.net\\@localhost/a.png", "avatar URL may contain only ASCII URL"),
        ("https://\uff4cocalhost/a.png", "avatar URL may contain only ASCII URL"),
        ("https://cdn.example.net/a b.png", "avatar URL may contain only ASCII URL"),
        ("x\ny", "avatar URL may contain only ASCII URL"),
        (
            "https://cdn.example.net/" + "a" * (validation.MAX_AVATAR - 23),
            "avatar URL is too long (513 characters, at most 512)",
        ),
        # data: URLs other than base64 images of the four kinds, or too large.
        ("data:image/svg+xml;base64,PHN2Zz4=", "avatar data: URL must be a base64 PNG"),
        ("data:text/html;base64,PGgxPg==", "avatar data: URL must be a base64 PNG"),
        ("data:image/png,rawbytes", "avatar data: URL must be a base64 PNG"),
        ("data:image/png;base64,iVBO Rw0=", "avatar data: URL must be a base64 PNG"),
        ("data:image/png;base64,iVBORw0", "avatar data: image is not valid base64"),
        (
            data_image("png", validation.MAX_AVATAR_DATA + 1),
            "avatar data: image is too large (8193 characters, at most 8192)",
        ),
    ],
)
def test_bad_avatars_are_refused_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.avatar(raw, server_host=SERVER)
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("host", "avatar"),
    [
        ("chat.example.com:8181", "https://chat.example.com/a.png"),
        ("[2606:4700:4700::1111]:8181", "https://[2606:4700:4700:0::1111]/a.png"),
        ("93.184.216.34", "https://93.184.216.34:443/a.png"),
    ],
)
def test_the_server_is_recognised_however_its_host_header_reads(host: str, avatar: str) -> None:
    with pytest.raises(Invalid, match="avatar URL may not point at this server"):
        validation.avatar(avatar, server_host=host)


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


def test_message_text_refuses_exactly_the_control_characters_and_lone_surrogates() -> None:
    # Every code point, against the Unicode categories the rule is stated in (Cc but tab,
    # line feed and carriage return; Cs), each with the reason the sender is given.
    allowed_controls = "\t\n\r"
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        reason: str | None
        try:
            validation.message_text(f"a{char}b")
        except Invalid as refused:
            reason = refused.reason
        else:
            reason = None
        if category == "Cs":
            assert reason == "message contains an unpaired surrogate (invalid Unicode)", code
        elif category == "Cc" and char not in allowed_controls:
            assert reason == "message may not contain control characters", code
        else:
            assert reason is None, code
    # The first offending character decides the reason.
    with pytest.raises(Invalid, match="surrogate"):
        validation.message_text("a\ud800\x00")
    with pytest.raises(Invalid, match="control"):
        validation.message_text("a\x00\ud800")
