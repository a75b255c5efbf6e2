"""What the account stores keep: accounts, their login sessions and invite codes."""

import hashlib
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum

from ..models import Role


class EndReason(StrEnum):
    """Why a login session ended before its lifetime did (told to a client that tries it)."""

    LOGGED_OUT = "logged out"
    REVOKED = "revoked by its owner"
    PASSWORD_CHANGED = "the password was changed"
    # The next part's `admin revoke-sessions` and bans end sessions with these.
    REVOKED_BY_ADMIN = "revoked by an administrator"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    # As typed at registration: what everyone sees.
    username: str
    # validation.name_key(username): unique among accounts.
    name_key: str
    # argon2id, in its encoded form (parameters and salt included).
    password_hash: str
    role: Role
    created: int  # ms since the epoch
    # The chat user this account speaks as, made at its first connect (None until then).
    user_id: str | None = None
    user_seq: int = 0

    def __repr__(self) -> str:
        # The hash is not a password, but it is what an offline guess is checked against.
        return f"Account({self.account_id!r}, {self.username!r}, role={self.role.value})"


@dataclass(frozen=True, slots=True)
class LoginSession:
    """One login: its token is kept only as ``digest`` (like chat sessions, base.py);
    ``handle`` names it to its owner (listing, revoking) without being a credential."""

    digest: bytes
    handle: str
    account_id: str
    created: int  # ms since the epoch
    last_used: int
    ended: int | None = None
    end_reason: EndReason | None = None
    # The User-Agent it logged in with (cut short): how an owner tells sessions apart.
    agent: str = ""

    def ending(self, reason: EndReason, when: int) -> "LoginSession":
        return replace(self, ended=when, end_reason=reason)


@dataclass(frozen=True, slots=True)
class Invite:
    digest: bytes
    created: int
    expires: int
    # The account (or "cli") that made it.
    created_by: str


def new_token() -> str:
    """A login token or invite code: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_hex(16)


def digest(secret: str) -> bytes:
    """How a token or invite is kept and looked up (never the secret itself)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
