"""The Engine.IO server: session registry, request routing and the protocol's HTTP errors."""

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from ..addresses import address_key
from ..asgi_io import (
    DIRECT_SEND,
    RECEIVE_HANDLER,
    SEND_MANY,
    Headers,
    Receive,
    Scope,
    Send,
    client_address,
    client_ip,
    query,
    respond,
)
from ..metrics import Metrics
from ..protocol import engineio, jsoncodec
from . import polling, websocket
from .admission import Admission
from .cors import OriginPolicy
from .deadlines import Deadlines
from .directwrites import DirectWrites
from .errors import RequestRefused, TransportError
from .reasons import CloseReason
from .session import EngineConfig, EngineSession, OpenHandler, RequestInfo
from .sids import new_sid

logger = logging.getLogger("minidiscord.engine")

TRANSPORTS = ("polling", "websocket")


class EngineServer:
    """Serves Engine.IO sessions to an ASGI host; the layer above sees only sessions.

    :meth:`run` must be running (it owns the nursery every session lives in) before
    requests arrive; the ASGI lifespan of the app starts it.
    """

    def __init__(
        self,
        config: EngineConfig,
        on_open: OpenHandler,
        *,
        allowed_origins: Iterable[str] = ("*",),
        transports: Iterable[str] = TRANSPORTS,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        # Set when the server stops taking new sessions (graceful shutdown).
        self.draining = False
        self._drained = trio.Event()
        self.origins = OriginPolicy(allowed_origins)
        self.transports = tuple(transports)
        self.sessions: dict[str, EngineSession] = {}
        self.admission = Admission(config)
        self._on_open = on_open
        self._nursery: trio.Nursery | None = None
        self._deadlines = Deadlines()
        # Broadcasts to idle WebSocket clients on a front end that offers direct sends.
        self.direct_writes = DirectWrites(self.metrics)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold every session's deadlines and tasks; sessions still open at the end close."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.direct_writes.run)
            task_status.started()
            try:
                await self._deadlines.run()
            finally:
                self.close_all(CloseReason.SERVER_SHUTTING_DOWN)
                self._nursery = None

    # What each session needs from the engine (SessionHost).

    def schedule(self, session: EngineSession, at: float) -> None:
        self._deadlines.schedule(session, at)

    def spawn(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(task, *args)

    def session_established(self, session: EngineSession) -> None:
        self.admission.established(session)

    def session_ended(self, session: EngineSession) -> None:
        self.sessions.pop(session.sid, None)
        self.admission.ended(session)
        if self.draining and not self.sessions:
            self._drained.set()

    def close_all(self, reason: CloseReason) -> None:
        for session in list(self.sessions.values()):
            session.close(reason)

    async def drain(self, timeout: float) -> None:
        """Refuse new sessions, close every session cleanly, wait (bounded) until all ended.

        The transports close, not the Socket.IO sessions: standard clients reconnect on
        their own, to this server when it is back or to another node.
        """
        self.draining = True
        self.close_all(CloseReason.SERVER_SHUTTING_DOWN)
        with trio.move_on_after(timeout):
            if self.sessions:
                await self._drained.wait()

    def handle(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The exchange's handler, for the caller to await (not awaited here: a connection
        would hold this frame for its whole life, 0.35 KiB)."""
        if scope["type"] == "http":
            return self._handle_http(scope, receive, send)
        if scope["type"] == "websocket":
            return self._handle_websocket(scope, receive, send)
        return _no_exchange()

    def _open_session(self, transport: str, scope: Scope, params: dict[str, str]) -> EngineSession:
        if self._nursery is None:
            raise RuntimeError("EngineServer.run() is not running (is the ASGI lifespan enabled?)")
        sid = new_sid()
        request = RequestInfo(client_address(scope), scope.get("headers", ()), params)
        budget = self.admission.budget_for(request.address_key)
        session = EngineSession(sid, transport, self.config, request, self, self.metrics, budget)
        self.sessions[sid] = session
        self.admission.opened(session)
        session.start(self._on_open)
        return session

    def _admit(self, scope: Scope) -> None:
        """Refuse a new session when the server, or this client's address, has enough."""
        if self.draining:
            raise RequestRefused(TransportError.UNAVAILABLE, "the server is shutting down")
        self.admission.check(address_key(client_ip(scope)), trio.current_time())

    def _upgrades_for(self, transport: str) -> list[str]:
        return ["websocket"] if transport == "polling" and "websocket" in self.transports else []

    def _verify(self, scope: Scope, params: dict[str, str], *, upgrade: bool) -> str:
        """Validate a request as the reference server's ``verify`` does, in its order;
        returns the transport. ``upgrade``: the request asks for a WebSocket."""
        transport = params.get("transport", "")
        if transport not in self.transports:
            raise RequestRefused(TransportError.UNKNOWN_TRANSPORT)
        if not self.origins.admits(scope):
            raise RequestRefused(TransportError.FORBIDDEN, "origin not allowed")
        sid = params.get("sid")
        if sid is not None:
            session = self.sessions.get(sid)
            if session is None:
                raise RequestRefused(TransportError.UNKNOWN_SID)
            if not upgrade and session.transport != transport:
                raise RequestRefused(TransportError.BAD_REQUEST, "transport mismatch")
            return transport
        if scope["type"] == "http" and scope["method"] != "GET":
            raise RequestRefused(TransportError.BAD_HANDSHAKE_METHOD)
        if transport == "websocket" and not upgrade:
            raise RequestRefused(TransportError.BAD_REQUEST, "websocket without upgrade")
        return transport

    def _check_handshake(self, scope: Scope, params: dict[str, str]) -> None:
        """What the reference checks once it opens a session (the protocol version), then
        our admission limits."""
        if params.get("EIO") != str(engineio.PROTOCOL_VERSION):
            raise RequestRefused(TransportError.UNSUPPORTED_PROTOCOL_VERSION)
        self._admit(scope)

    async def _handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        cors = self.origins.response_headers(scope)
        if scope["method"] == "OPTIONS":
            preflight = self.origins.preflight_headers(scope)
            await respond(send, 204 if preflight else 403, headers=preflight)
            return
        params = query(scope)
        try:
            transport = self._verify(scope, params, upgrade=False)
            sid = params.get("sid")
            if sid is None:
                self._check_handshake(scope, params)
                session = self._open_session("polling", scope, params)
                await respond(
                    send, 200, session.open_frame(self._upgrades_for("polling")), headers=cors
                )
                session.handshake_sent()
                return
            if transport != "polling":
                # A WebSocket session's sid over plain HTTP: the reference leaves such a
                # request unanswered; it gets the mismatch error and the session goes on.
                raise RequestRefused(TransportError.BAD_REQUEST, "websocket transport over HTTP")
            session = self.sessions[sid]
            if scope["method"] == "GET":
                await polling.poll(session, receive, send, cors)
            elif scope["method"] == "POST":
                await polling.post(session, receive, send, cors, self.admission.unfinished)
            else:
                raise RequestRefused(TransportError.BAD_REQUEST, "method not allowed")
        except RequestRefused as refusal:
            self._refused(scope, refusal)
            await _respond_error(send, refusal, cors)

    async def _handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        params = query(scope)
        try:
            transport = self._verify(scope, params, upgrade=True)
            if transport != "websocket":
                # As the reference does (its polling transport "handles no upgrades"): the
                # WebSocket is accepted, then closed; no session opens or changes.
                logger.info("a WebSocket asking for %s transport closed", transport)
                await _accept_and_close(send)
                return
            if "sid" not in params:
                self._check_handshake(scope, params)
        except RequestRefused as refusal:
            self._refused(scope, refusal)
            await _refuse_websocket(scope, send, refusal)
            return
        sid = params.get("sid")
        if sid is not None:
            session = self.sessions[sid]
            # Reserved before any await: of two upgrades at the same instant, one wins.
            if not session.begin_upgrade():
                # As the reference server does for a session upgrading, upgraded or gone:
                # the WebSocket is accepted, then closed; the session goes on untouched.
                logger.info(
                    "%s cannot upgrade while %s: a second WebSocket closed",
                    sid,
                    session.state.name.lower(),
                )
                await _accept_and_close(send)
                return
            try:
                await send({"type": "websocket.accept"})
            except BaseException:
                session.end_upgrade()
                raise
            if not await websocket.upgrade(session, receive, send):
                await send({"type": "websocket.close", "code": 1000})
                return
        else:
            await send({"type": "websocket.accept"})
            session = self._open_session("websocket", scope, params)
            await send({"type": "websocket.send", "text": session.open_frame([])})
            session.handshake_sent()
        extensions = scope.get("extensions") or {}
        batch = SEND_MANY in extensions
        direct = (extensions.get(DIRECT_SEND) or {}).get("send")
        hand_to = (extensions.get(RECEIVE_HANDLER) or {}).get("hand_to")
        await websocket.carry(
            session,
            receive,
            send,
            batch=batch,
            direct=direct,
            writes=self.direct_writes,
            hand_to=hand_to,
        )

    def _refused(self, scope: Scope, refusal: RequestRefused) -> None:
        self.metrics.reject(refusal.error.label)
        logger.info(
            "refused %s %s from %s: %s",
            scope["type"],
            scope.get("path", ""),
            client_address(scope),
            refusal.detail or refusal.error.message,
        )


async def _no_exchange() -> None:
    """What the engine does with a scope that is neither HTTP nor a WebSocket."""


def _error_body(refusal: RequestRefused) -> str:
    error = refusal.error
    if error.code is None:
        return jsoncodec.dumps({"message": refusal.detail or error.message})
    return jsoncodec.dumps({"code": error.code, "message": error.message})


async def _respond_error(send: Send, refusal: RequestRefused, headers: Headers) -> None:
    await respond(
        send,
        refusal.error.status,
        _error_body(refusal),
        content_type="application/json",
        headers=headers,
    )


async def _accept_and_close(send: Send) -> None:
    """Finish the WebSocket handshake, then close normally: what a standard client sees as
    a failed upgrade (not as an error), like the reference server's ``websocket.close()``."""
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 1000})


async def _refuse_websocket(scope: Scope, send: Send, refusal: RequestRefused) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        body = _error_body(refusal).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refusal.error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
