"""The accounts' HTTP API under ``/api/``: JSON in, JSON out, the token in a cookie too.

``GET /api/config`` answers ``{ok: true, auth, registration}`` (the server's modes: what a
login page offers). ``POST /api/register`` ``{username, password, invite?}`` and ``POST /api/login``
``{username, password}`` answer ``{ok: true, token, username, role, session}`` and set the
token as an HttpOnly, SameSite=Lax cookie (Secure over TLS). The other routes take the
token as ``Authorization: Bearer TOKEN`` or that cookie: ``POST /api/logout``,
``GET /api/sessions``, ``POST /api/sessions/revoke`` ``{session} | {others: true} |
{all: true}``, ``POST /api/password`` ``{current, new}``. A refusal is
``{ok: false, error}`` with its status (400, 401, 403, 404, 405, 409, 413, 415, 429 with
Retry-After, 503).

Cross-site requests: a POST must be ``application/json`` (a form on another site cannot
send that without a CORS preflight) from an origin the server admits (``--cors-origin``
and its own, as for Socket.IO); the cookie is SameSite=Lax besides.
"""

import logging
from typing import Any

import orjson

from ...addresses import address_key
from ...asgi_io import (
    BODY_SECONDS,
    CLOSE_CONNECTION,
    BodyTooLarge,
    BodyTooSlow,
    ClientGone,
    Headers,
    Receive,
    Scope,
    Send,
    body_within,
    client_ip,
    discard_body,
    header,
    read_body,
    respond,
)
from ...engine.cors import OriginPolicy
from .records import LoginSession
from .service import AccountError, Accounts, AuthMode, Login

log = logging.getLogger(__name__)

PREFIX = "/api/"
COOKIE = "minidiscord_session"
# Every body this API takes is a few short strings.
MAX_BODY = 8 * 1024
JSON = "application/json"


class AccountRoutes:
    def __init__(
        self, accounts: Accounts, origins: OriginPolicy, *, auth: AuthMode = "open"
    ) -> None:
        self.accounts = accounts
        self._origins = origins
        self._auth = auth

    @staticmethod
    def serves(path: str) -> bool:
        return path.startswith(PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope.get("method", "GET")
        cors = self._origins.response_headers(scope)
        # Even a body read only to be dropped, so that the client sees the answer.
        receive = body_within(receive)
        try:
            if not self._origins.admits(scope):
                await discard_body(receive, MAX_BODY)
                await _answer(send, 403, {"ok": False, "error": "origin not allowed"})
                return
            if method == "OPTIONS":
                await discard_body(receive, MAX_BODY)
                await respond(send, 204, headers=self._origins.preflight_headers(scope))
                return
            status, body, headers = await self._route(scope, receive, method)
        except BodyTooSlow:
            line = f"the request body did not arrive within {BODY_SECONDS:g} s"
            status, body, headers = 408, {"ok": False, "error": line}, [CLOSE_CONNECTION]
        except AccountError as error:
            status, body = error.status, {"ok": False, "error": error.message}
            headers = []
            if scope.get("path") == f"{PREFIX}logout":
                # A cookie whose session already ended would otherwise stay and be offered
                # at every connect, refused each time (the guest path too).
                headers.append(_cookie(scope, "", 0))
            if error.retry_after is not None:
                body["retryAfter"] = int(error.retry_after * 1000)
                headers.append((b"retry-after", str(int(error.retry_after)).encode()))
        except ClientGone:
            return
        await _answer(send, status, body, headers=[*headers, *cors])

    async def _route(
        self, scope: Scope, receive: Receive, method: str
    ) -> tuple[int, dict[str, Any], Headers]:
        path: str = scope.get("path", "")
        name = path.removeprefix(PREFIX)
        route = _ROUTES.get(name)
        if route is None:
            await discard_body(receive, MAX_BODY)
            raise AccountError(404, f"no such API: {path}")
        if method != route:
            await discard_body(receive, MAX_BODY)
            raise AccountError(405, f"{path} takes {route}")
        fields = await _json_body(scope, receive) if method == "POST" else {}
        if name == "config":
            modes = {"auth": self._auth, "registration": self.accounts.registration}
            return 200, {"ok": True, **modes}, []
        token = _token(scope)
        accounts = self.accounts
        if name in ("register", "login"):
            address = address_key(client_ip(scope))
            agent = header(scope, b"user-agent") or ""
            if name == "register":
                login = await accounts.register(
                    fields.get("username"),
                    fields.get("password"),
                    fields.get("invite"),
                    address=address,
                    agent=agent,
                )
            else:
                login = await accounts.login(
                    fields.get("username"), fields.get("password"), address=address, agent=agent
                )
            cookie = _cookie(scope, login.token, int(accounts.lifetimes.absolute))
            return 201 if name == "register" else 200, _logged_in(login), [cookie]
        if name == "logout":
            await accounts.logout(token)
            return 200, {"ok": True}, [_cookie(scope, "", 0)]
        if name == "sessions":
            who, sessions = await accounts.sessions(token)
            listed = [_listed(s, current=s.digest == who.session.digest) for s in sessions]
            return 200, {"ok": True, "sessions": listed}, []
        if name == "sessions/revoke":
            handle = fields.get("session")
            if handle is not None and not isinstance(handle, str):
                raise AccountError(400, "session must be a session's id (a string)")
            everything = fields.get("all") is True
            others = fields.get("others") is True
            if (handle is not None) + everything + others != 1:
                raise AccountError(400, "give one of: session, others: true, all: true")
            ended = await accounts.revoke(token, handle=handle, others=others)
            return 200, {"ok": True, "ended": ended}, [_cookie(scope, "", 0)] if everything else []
        ended = await accounts.change_password(token, fields.get("current"), fields.get("new"))
        return 200, {"ok": True, "ended": ended}, []


# Each route's path under /api/ and the one method it takes.
_ROUTES = {
    "config": "GET",
    "register": "POST",
    "login": "POST",
    "logout": "POST",
    "sessions": "GET",
    "sessions/revoke": "POST",
    "password": "POST",
}


async def _json_body(scope: Scope, receive: Receive) -> dict[str, Any]:
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != JSON:
        await discard_body(receive, MAX_BODY)
        raise AccountError(415, "send the body as application/json")
    try:
        raw = await read_body(receive, MAX_BODY)
    except BodyTooLarge:
        raise AccountError(413, f"the body is larger than {MAX_BODY} bytes") from None
    try:
        fields = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AccountError(400, "the body is not JSON") from None
    if not isinstance(fields, dict):
        raise AccountError(400, "the body must be a JSON object")
    return fields


def _token(scope: Scope) -> str | None:
    """The token a request presents: ``Authorization: Bearer`` first, then the cookie."""
    authorization = header(scope, b"authorization")
    if authorization is not None and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return cookie_token(header(scope, b"cookie"))


def cookie_token(cookies: str | None) -> str | None:
    """The login token in a Cookie header (the Socket.IO handshake reads it too)."""
    for pair in (cookies or "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def _cookie(scope: Scope, token: str, max_age: int) -> tuple[bytes, bytes]:
    attributes = f"{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    if scope.get("scheme") in ("https", "wss"):
        attributes += "; Secure"
    return b"set-cookie", attributes.encode("latin-1")


def _logged_in(login: Login) -> dict[str, Any]:
    return {
        "ok": True,
        "token": login.token,
        "username": login.account.username,
        "role": login.account.role.value,
        "session": login.session.handle,
    }


def _listed(session: LoginSession, *, current: bool) -> dict[str, Any]:
    return {
        "id": session.handle,
        "created": session.created,
        "lastUsed": session.last_used,
        "agent": session.agent,
        "current": current,
    }


async def _answer(
    send: Send, status: int, body: dict[str, Any], *, headers: Headers | None = None
) -> None:
    extra = [(b"cache-control", b"no-store"), *(headers or [])]
    await respond(send, status, orjson.dumps(body), content_type=JSON, headers=extra)
