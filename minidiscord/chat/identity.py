"""Who a connecting client is: an account's user (a login token or the login cookie), a
guest's restored session, or a new guest; each refusal a ConnectionRefused saying why.

The users this makes or removes are changes a connect snapshot must not straddle: each
is reported to ``changed`` (ChatServer counts them).
"""

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import trio

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import ConnectionRefused, Socket

from . import validation
from .accounts.http import cookie_token
from .accounts.service import AccountError, Accounts, Authenticated, AuthMode
from .accounts.sessions import Lifetimes, refusal
from .models import Role, Session, User
from .moderation.service import Moderation
from .store import Store
from .store.base import StoreWriteError
from .validation import Invalid

log = logging.getLogger(__name__)

# socket.data key of a socket that logged in: its login session's digest (a revoked or
# logged-out session lets its sockets go).
LOGIN = "login"
NEEDS_ACCOUNT = "this server is for registered users: log in first"
# An account's page connects with its login in the cookie and `account: true` in its auth;
# without a login it would otherwise come in as a new guest under a made-up name.
NOT_LOGGED_IN = "you are not logged in any more; log in again"


class Identities:
    def __init__(
        self,
        store: Store,
        *,
        accounts: Accounts | None,
        auth: AuthMode,
        moderation: Moderation | None,
        guest_lifetimes: Lifetimes | None,
        new_user_rate: Rate | None,
        online_users: Callable[[], Mapping[str, User]],
        changed: Callable[[], None],
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        # Who may connect and as whom (None: guests only, as the original server).
        self._accounts = accounts
        self._auth: AuthMode = auth
        self._moderation = moderation
        # How long a guest's session may be restored (None: for ever).
        self._guest_lifetimes = guest_lifetimes
        # Keyed by the address (Handshake.address_key).
        self._new_users = KeyedBuckets(new_user_rate)
        self._online_users = online_users
        self._changed = changed
        self._clock = clock

    async def identify(self, socket: Socket, fields: dict[str, Any]) -> tuple[User, Session, bool]:
        """Who the client is, and whether that user is new: an account's user (a login
        token in the auth's ``token`` or ``sessionId``, or the login cookie), a guest's
        restored session, or a new guest (open mode only; never for a client whose auth
        says ``account: true``, which has no login to speak for it)."""
        login = await self._login(socket, fields)
        if login is not None:
            return await self._account_user(socket, *login)
        if fields.get("account") is True:
            raise ConnectionRefused(NOT_LOGGED_IN)
        if self._auth == "accounts":
            raise ConnectionRefused(NEEDS_ACCOUNT)
        restored = await self._restore(fields.get("sessionId"))
        if restored is not None:
            return (*restored, False)
        user, session = await self._create_user(socket, fields)
        return user, session, True

    async def _login(
        self, socket: Socket, fields: dict[str, Any]
    ) -> tuple[Authenticated, str] | None:
        """The login the client presents, with the token the `session` event may echo (only
        one the client sent in its auth: a cookie's token stays HttpOnly)."""
        accounts = self._accounts
        if accounts is None:
            return None
        # (token, whether the client sent it itself, whether it must be a login's)
        offered = [
            (fields.get("token"), True, True),
            (fields.get("sessionId"), True, False),
            (cookie_token(socket.handshake.headers.get("cookie")), False, False),
        ]
        for token, shown, required in offered:
            if token is None:
                continue
            try:
                found = await accounts.authenticate(token)
            except AccountError as error:
                raise ConnectionRefused(error.message) from None
            if found is not None:
                return found, token if shown and isinstance(token, str) else ""
            if required:
                raise ConnectionRefused("this login token is unknown; log in again")
        return None

    async def _account_user(
        self, socket: Socket, who: Authenticated, token: str
    ) -> tuple[User, Session, bool]:
        """The chat user an account speaks as, made at its first connect."""
        assert self._accounts is not None
        account = who.account
        new = False
        if account.user_id is None:
            made, _ = await self._new_user(account.username, None, role=account.role)
            try:
                user_id, seq = await self._accounts.link_user(account, made)
            except AccountError as error:
                await self.forget_unseen(made)
                raise ConnectionRefused(error.message) from None
            if user_id == made.user_id:
                new = True
            else:
                await self.forget_unseen(made)  # another connect linked its user first
        else:
            user_id, seq = account.user_id, account.user_seq
        socket.data[LOGIN] = who.session.digest
        user = User(user_id, account.username, None, seq=seq, role=account.role)
        return user, Session(token, user_id), new

    async def check_recovered_login(self, socket: Socket) -> None:
        """A recovered socket's login may have ended while its connection was down (when
        it was not there to be let go): then it is refused like a restore."""
        login: bytes | None = socket.data.get(LOGIN)
        if login is None or self._accounts is None:
            return
        try:
            why = await self._accounts.why_ended(login)
        except AccountError as error:
            why = error.message
        if why is not None:
            del socket.data["user"]
            raise ConnectionRefused(why)

    async def refuse_banned(self, subject: str) -> None:
        if self._moderation is None:
            return
        try:
            ban = await self._moderation.banned(subject)
        except AccountError as error:
            raise ConnectionRefused(error.message) from None
        if ban is not None:
            raise ConnectionRefused(f"you are banned: {ban.reason}")

    async def _restore(self, session_id: object) -> tuple[User, Session] | None:
        if not isinstance(session_id, str) or not session_id:
            return None
        restored = await self._store.get_session(session_id)
        if restored is None:
            return None
        user, session = restored
        await self.refuse_banned(user.user_id)
        lifetimes = self._guest_lifetimes
        if lifetimes is None:
            return restored
        if user.user_id in self._online_users():
            return restored  # in use right now, in another tab
        state = lifetimes.state_at(session.created, session.last_seen, self._clock())
        why = refusal(state, "guest session", "connect again to start a new one")
        if why is not None:
            raise ConnectionRefused(why)
        return restored

    async def _create_user(self, socket: Socket, auth: dict[str, Any]) -> tuple[User, Session]:
        try:
            username = validation.username(auth.get("username"))
            avatar = validation.avatar(
                auth.get("avatar"), server_host=socket.handshake.headers.get("host")
            )
        except Invalid as error:
            # The Socket.IO layer logs and counts the refusal.
            raise ConnectionRefused(error.reason) from None
        if self._accounts is not None:
            try:
                owner = await self._accounts.owner_of(username)
            except AccountError as error:
                raise ConnectionRefused(error.message) from None
            if owner is not None:
                raise ConnectionRefused(
                    f"the name {username!r} belongs to an account: log in to use it, or "
                    "pick another"
                )
        # One address making users as fast as it can connect would step around every
        # per-user limit; a restored session is not a new user and costs nothing here.
        wait = self._new_users.take(socket.handshake.address_key, trio.current_time())
        if wait:
            raise ConnectionRefused(
                f"too many new users from your address; try again in {math.ceil(wait)} s"
            )
        return await self._new_user(username, avatar, role=Role.GUEST)

    async def _new_user(
        self, username: str, avatar: str | None, *, role: Role
    ) -> tuple[User, Session]:
        try:
            created = await self._store.create_user(username, avatar, seen=self._clock(), role=role)
        except StoreWriteError as exc:
            log.warning("a new user was not stored: %s", exc)
            raise ConnectionRefused(
                "the server cannot store new users now; try again later"
            ) from None
        self._changed()
        return created

    async def forget_unseen(self, user: User) -> None:
        """Remove a user made for a connect that closed before anyone saw the user join."""
        try:
            await self._store.delete_user(user.user_id)
        except StoreWriteError as exc:
            # Kept, offline: it will be listed like any user who came once.
            log.warning("user %s, never seen online, could not be removed: %s", user.user_id, exc)
        self._changed()
