"""The chat's one access check (the channel registry's), as a yes or no."""

from collections.abc import Callable

from ..validation import Invalid

# The channel id if the user may use it, else Invalid saying why (ChatServer.readable).
Check = Callable[[str, object], str]


def allowed(check: Check, user_id: str, channel: str) -> bool:
    try:
        check(user_id, channel)
    except Invalid:
        return False
    return True
