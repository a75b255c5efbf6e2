"""Account names: which names may be registered, and when two names are the same one."""

from .. import validation
from ..validation import Invalid, name_key

__all__ = ["Invalid", "account_name", "name_key"]


def account_name(raw: object) -> str:
    """A name to register or log in with, trimmed, under the guests' rules (no control or
    invisible characters, nothing that looks like `System`) but never made up or cut: a
    blank or too long one is refused, since an account's name is chosen once."""

    def blank() -> str:
        raise Invalid("username must not be empty")

    if not isinstance(raw, str):
        raise Invalid("username must be a string")
    name = validation.username(raw, fallback=blank)
    if name != raw.strip():
        raise Invalid(f"username is too long (at most {validation.MAX_USERNAME} characters)")
    return name
