"""Accounts: registration, login, sessions, password changes and invites, on an AccountStore.

Everything a client may ask is decided here, whatever carries it (HTTP routes, the chat's
connect): the routes only parse and answer. A refusal is an ``AccountError`` with the HTTP
status it maps to and a sentence for the client. Passwords and tokens are never logged;
names are (who tried to log in is what an operator needs).

Attempts are limited two ways (token buckets, trio's clock): per client address, every
attempt (it costs a hash); per account, only the wrong passwords, checked before hashing,
so that someone else's guesses at an account cost its owner nothing until they fail.
"""

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

import trio

from ...limits import KeyedBuckets, Rate
from ..clock import wall_clock_ms
from ..models import Role, User
from ..store.base import StoreReadError, StoreWriteError
from .hashing import MAX_PASSWORD, MIN_PASSWORD, HashingBusy, Passwords
from .names import Invalid, account_name, name_key
from .records import Account, EndReason, Invite, LoginSession, digest, new_id, new_token
from .sessions import TOUCH_EVERY_MS, Lifetimes
from .store import AccountStore, InviteRefused, NameTaken

log = logging.getLogger(__name__)

T = TypeVar("T")
SessionsEnded = Callable[[frozenset[bytes]], Awaitable[None]]

# "open": guests may pick a name (not an account's); "accounts": only logged-in users.
AuthMode = Literal["open", "accounts"]
Registration = Literal["open", "closed", "invite"]
REGISTRATION_MODES: tuple[Registration, ...] = get_args(Registration)
INVITE_SECONDS = 7 * 24 * 3600
# The User-Agent kept with a session: enough to tell a phone from a laptop.
MAX_AGENT = 200
# Sessions one account keeps at once: a new login beyond it ends the oldest active one.
MAX_SESSIONS = 50


class AccountError(Exception):
    """A refused request: ``status`` (HTTP) and ``message`` (for the client)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Login:
    """A session just made (by a login or a registration): ``token`` is its only copy."""

    token: str
    account: Account
    session: LoginSession


@dataclass(frozen=True, slots=True)
class Authenticated:
    account: Account
    session: LoginSession


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        *,
        passwords: Passwords | None = None,
        lifetimes: Lifetimes | None = None,
        registration: Registration = "open",
        login_rate: Rate | None = None,
        ip_login_rate: Rate | None = None,
        ip_new_user_rate: Rate | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.store = store
        self.passwords = passwords or Passwords()
        self.lifetimes = lifetimes or Lifetimes()
        self.registration = registration
        self._failures = KeyedBuckets(login_rate)
        self._attempts = KeyedBuckets(ip_login_rate)
        # Accounts made per address, at the rate guests may be (each is a stored user).
        self._new_accounts = KeyedBuckets(ip_new_user_rate)
        self._clock = clock
        # Told the digests of sessions that just ended (the chat lets their sockets go on
        # every node; `minidiscord admin` tells the running servers).
        self._on_ended: list[SessionsEnded] = []

    def on_sessions_ended(self, listener: SessionsEnded) -> None:
        self._on_ended.append(listener)

    # -- names -------------------------------------------------------------------------

    async def owner_of(self, username: str) -> Account | None:
        """The account whose name ``username`` is or looks like, if any (guests may not
        take it)."""
        return await store_read(self.store.account_named(name_key(username)))

    # -- registering and logging in ----------------------------------------------------

    async def register(
        self, username: object, password: object, invite: object, *, address: str, agent: str
    ) -> Login:
        if self.registration == "closed":
            raise AccountError(403, "registration is closed on this server")
        if self.registration == "invite" and not isinstance(invite, str):
            raise AccountError(403, "registration needs an invite code on this server")
        name = _checked(account_name, username)
        secret = _password(password)
        self._take_attempt(address)
        wait = self._new_accounts.take(address, trio.current_time())
        if wait:
            log.info("registration from %s refused: too many new accounts", address)
            raise _throttled("too many new accounts from your address", wait)
        account = await self._create(name, secret, Role.MEMBER, invite=invite)
        log.info("account %r registered (%s)", account.username, account.role.value)
        return await self._start_session(account, agent)

    async def create_account(self, username: str, password: str, role: Role) -> Account:
        """An account made by an administrator (the CLI): no registration mode applies."""
        return await self._create(_checked(account_name, username), _password(password), role)

    async def _create(
        self, name: str, password: str, role: Role, *, invite: object = None
    ) -> Account:
        account = Account(
            account_id=new_id(),
            username=name,
            name_key=name_key(name),
            password_hash=await self._hash(password),
            role=role,
            created=self._clock(),
        )
        used = digest(invite) if isinstance(invite, str) and self.registration == "invite" else None
        try:
            await store_write(self.store.create_account(account, invite=used))
        except NameTaken:
            raise AccountError(
                409, f"the name {name!r} is taken (or one that looks like it)"
            ) from None
        except InviteRefused:
            raise AccountError(403, "that invite code is unknown, used or expired") from None
        return account

    async def login(self, username: object, password: object, *, address: str, agent: str) -> Login:
        if not isinstance(username, str) or not isinstance(password, str):
            raise AccountError(400, "username and password must be strings")
        if len(password) > MAX_PASSWORD:
            raise AccountError(401, "wrong username or password")
        key = name_key(username.strip())
        now = trio.current_time()
        wait = self._failures.wait(key, now)
        if wait:
            log.info("login to %r refused: too many wrong passwords", username.strip())
            raise _throttled("too many wrong passwords for this account", wait)
        self._take_attempt(address)
        account = await store_read(self.store.account_named(key))
        matches = await self._verify(None if account is None else account.password_hash, password)
        if account is None or not matches:
            self._failures.take(key, now)
            log.info("login to %r from %s failed: wrong username or password", username, address)
            raise AccountError(401, "wrong username or password")
        await self._refuse_banned(account)
        log.info("account %r logged in", account.username)
        return await self._start_session(account, agent)

    async def _start_session(self, account: Account, agent: str) -> Login:
        now = self._clock()
        token = new_token()
        session = LoginSession(
            digest(token), new_id(), account.account_id, now, now, agent=agent[:MAX_AGENT]
        )
        store = self.store
        # Records older than any session can live are only kept to say why they ended.
        await store_write(
            store.forget_sessions(account.account_id, now - int(self.lifetimes.absolute * 1000))
        )
        active = [
            s for s in await store_read(store.sessions_of(account.account_id)) if s.ended is None
        ]
        for oldest in active[: max(0, len(active) + 1 - MAX_SESSIONS)]:
            await self._end(account.account_id, EndReason.REVOKED, only=oldest.handle)
        await store_write(store.add_session(session))
        return Login(token, account, session)

    # -- using a session ---------------------------------------------------------------

    async def authenticate(self, token: object) -> Authenticated | None:
        """The account a token logs in as; None for a token no login made (it may be a
        guest's chat session); AccountError (401) for one that ended or expired."""
        if not isinstance(token, str) or not token:
            return None
        session = await store_read(self.store.session(digest(token)))
        if session is None:
            return None
        now = self._clock()
        account = await store_read(self.store.account(session.account_id))
        if account is None:
            raise AccountError(401, "this account no longer exists")
        # Before the session's own state: a ban ended it, and is what its owner must learn.
        await self._refuse_banned(account)
        why = self.lifetimes.why_not(session, now)
        if why is not None:
            raise AccountError(401, why)
        if now - session.last_used >= TOUCH_EVERY_MS:
            await store_write(self.store.touch_session(session.digest, now))
        return Authenticated(account, session)

    async def require(self, token: object) -> Authenticated:
        """Like authenticate, for a request that needs a login."""
        found = await self.authenticate(token)
        if found is None:
            raise AccountError(401, "log in first")
        return found

    async def link_user(self, account: Account, user: User) -> tuple[str, int]:
        """Make ``user`` the account's chat user unless it has one: the chat user's id and
        creation order it has now."""
        return await store_write(self.store.link_user(account.account_id, user.user_id, user.seq))

    async def why_ended(self, session_digest: bytes) -> str | None:
        """None while the login session with this digest lets its holder in; otherwise
        why not (for a socket that was away when it ended)."""
        session = await store_read(self.store.session(session_digest))
        if session is None:
            return "this login session no longer exists; log in again"
        return self.lifetimes.why_not(session, self._clock())

    async def end_login(self, session_digest: bytes) -> None:
        """Log out the session with this digest (the chat's `user:leave`)."""
        session = await store_read(self.store.session(session_digest))
        if session is not None and session.ended is None:
            await self._end(session.account_id, EndReason.LOGGED_OUT, only=session.handle)

    async def logout(self, token: object) -> None:
        who = await self.require(token)
        await self._end(who.account.account_id, EndReason.LOGGED_OUT, only=who.session.handle)

    async def sessions(self, token: object) -> tuple[Authenticated, list[LoginSession]]:
        """The caller and its account's sessions that still let someone in."""
        who = await self.require(token)
        now = self._clock()
        listed = await store_read(self.store.sessions_of(who.account.account_id))
        return who, [s for s in listed if self.lifetimes.why_not(s, now) is None]

    async def revoke(self, token: object, *, handle: str | None, others: bool) -> int:
        """End one session of the caller's account (by handle), or all of them but the
        caller's (``others``), or all of them ("log out everywhere")."""
        who = await self.require(token)
        sparing = who.session.digest if others else None
        return await self._end(
            who.account.account_id, EndReason.REVOKED, only=handle, sparing=sparing
        )

    async def change_password(self, token: object, current: object, new: object) -> int:
        """Set a new password; every other session of the account ends. Returns how many."""
        who = await self.require(token)
        if not isinstance(current, str):
            raise AccountError(400, "current must be a string")
        secret = _password(new)
        now = trio.current_time()
        wait = self._failures.wait(who.account.name_key, now)
        if wait:
            raise _throttled("too many wrong passwords for this account", wait)
        account = await store_read(self.store.account(who.account.account_id))
        if account is None or not await self._verify(account.password_hash, current[:MAX_PASSWORD]):
            self._failures.take(who.account.name_key, now)
            raise AccountError(403, "the current password is wrong")
        await store_write(self.store.set_password(account.account_id, await self._hash(secret)))
        log.info("account %r changed its password", account.username)
        return await self._end(
            account.account_id, EndReason.PASSWORD_CHANGED, sparing=who.session.digest
        )

    async def end_all(self, account_id: str, reason: EndReason) -> int:
        """End every session of the account (a ban, an administrator's revocation)."""
        return await self._end(account_id, reason)

    async def _refuse_banned(self, account: Account) -> None:
        ban = await store_read(self.store.ban_of(account.account_id))
        if ban is not None:
            log.info("account %r refused: banned", account.username)
            raise AccountError(403, f"this account is banned: {ban.reason}")

    async def _end(
        self,
        account_id: str,
        reason: EndReason,
        *,
        only: str | None = None,
        sparing: bytes | None = None,
    ) -> int:
        before = await store_read(self.store.sessions_of(account_id))
        ending = frozenset(
            s.digest
            for s in before
            if s.ended is None and (only is None or s.handle == only) and s.digest != sparing
        )
        ended = await store_write(
            self.store.end_sessions(account_id, reason, self._clock(), only=only, sparing=sparing)
        )
        if ending:
            for listener in self._on_ended:
                await listener(ending)
        return ended

    # -- invites -----------------------------------------------------------------------

    async def create_invite(self, created_by: str) -> tuple[str, Invite]:
        """A new one-use code (shown once: the store keeps its digest) and its record."""
        code = new_token()
        now = self._clock()
        invite = Invite(digest(code), now, now + INVITE_SECONDS * 1000, created_by)
        await store_write(self.store.add_invite(invite))
        return code, invite

    # -- plumbing ----------------------------------------------------------------------

    def _take_attempt(self, address: str) -> None:
        wait = self._attempts.take(address, trio.current_time())
        if wait:
            log.info("login or registration from %s refused: too many attempts", address)
            raise _throttled("too many login attempts from your address", wait)

    async def _hash(self, password: str) -> str:
        try:
            return await self.passwords.hash(password)
        except HashingBusy:
            raise AccountError(503, "the server is busy; try again in a moment") from None

    async def _verify(self, encoded: str | None, password: str) -> bool:
        try:
            return await self.passwords.verify(encoded, password)
        except HashingBusy:
            raise AccountError(503, "the server is busy; try again in a moment") from None


async def store_read(pending: Awaitable[T]) -> T:
    """A store read, its failure an AccountError (503) for whoever asked."""
    try:
        return await pending
    except StoreReadError as exc:
        log.warning("the account store could not be read: %s", exc)
        raise AccountError(
            503, "the server cannot read its database now; try again later"
        ) from None


async def store_write(pending: Awaitable[T]) -> T:
    """A store write, its failure an AccountError (503) for whoever asked."""
    try:
        return await pending
    except (StoreReadError, StoreWriteError) as exc:
        log.warning("the account store could not be written: %s", exc)
        raise AccountError(503, "the server cannot store this now; try again later") from None


def _checked(rule: Callable[[object], str], raw: object) -> str:
    try:
        return rule(raw)
    except Invalid as error:
        raise AccountError(400, error.reason) from None


def _password(raw: object) -> str:
    if not isinstance(raw, str):
        raise AccountError(400, "password must be a string")
    if not MIN_PASSWORD <= len(raw) <= MAX_PASSWORD:
        raise AccountError(400, f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return raw


def _throttled(reason: str, wait: float) -> AccountError:
    seconds = math.ceil(wait)
    return AccountError(429, f"{reason}; try again in {seconds} s", retry_after=seconds)
