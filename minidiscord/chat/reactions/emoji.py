"""Which emoji a reaction may be: one emoji (RGI), or a shortcode of the fixed list the web
client's formatting knows (web/markup.js), kept as its emoji so both count together."""

from typing import Final

from ..validation import Invalid, single_emoji

SHORTCODES: Final = {
    "smile": "😄",
    "joy": "😂",
    "wink": "😉",
    "heart": "❤️",
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "tada": "🎉",
    "rocket": "🚀",
    "fire": "🔥",
    "eyes": "👀",
    "wave": "👋",
    "thinking": "🤔",
    "pray": "🙏",
    "clap": "👏",
    "sparkles": "✨",
    "coffee": "☕",
    "white_check_mark": "✅",
    "x": "❌",
    "warning": "⚠️",
}
# Longer than any emoji sequence or shortcode: refused before ICU looks at it.
MAX_EMOJI_CHARS: Final = 32


def reaction_emoji(raw: object) -> str:
    """The emoji a reaction is kept under, or Invalid saying why not."""
    if not isinstance(raw, str):
        raise Invalid("emoji must be a string: one emoji, or a :shortcode:")
    if len(raw) > MAX_EMOJI_CHARS:
        raise Invalid("emoji must be one emoji, or a :shortcode:")
    if raw.startswith(":") and raw.endswith(":") and len(raw) > 2:
        found = SHORTCODES.get(raw[1:-1])
        if found is None:
            raise Invalid(f"unknown shortcode {raw}; known: {', '.join(sorted(SHORTCODES))}")
        return found
    emoji = single_emoji(raw)
    if emoji is None:
        raise Invalid("emoji must be one emoji, or a :shortcode:")
    return emoji
