"""The benchmark peer: minidiscord's chat events on python-socketio 5 (asyncio) served by uvicorn.

Written the way a python-socketio user would deploy it (``AsyncServer(async_mode="asgi")``
wrapped in ``ASGIApp``, uvicorn with uvloop, httptools and websockets), all state in memory,
so the benchmark compares servers, not a strawman.
Run: ``python -m scripts.peer_socketio --port N``.
"""

from __future__ import annotations

import argparse
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import socketio
import uvicorn

CHANNELS = ("welcome", "general", "react", "learners", "casual")
HISTORY_LIMIT = 50
MAX_MESSAGE_LENGTH = 2000
MAX_USERNAME_LENGTH = 64


@dataclass
class User:
    session_id: str
    user_id: str
    username: str
    avatar: str | None = None
    # Sockets currently open for this session (a user may have several tabs).
    sockets: set[str] = field(default_factory=set)

    @property
    def connected(self) -> bool:
        return bool(self.sockets)

    def public(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "userId": self.user_id,
            "username": self.username,
            "connected": self.connected,
        }
        if self.avatar is not None:
            info["avatar"] = self.avatar
        return info

    def session(self) -> dict[str, Any]:
        return {"sessionId": self.session_id, **self.public()}


@dataclass
class ChatState:
    users: dict[str, User] = field(default_factory=dict)  # by session id
    by_sid: dict[str, User] = field(default_factory=dict)  # by Socket.IO sid
    channels: dict[str, deque[dict[str, Any]]] = field(
        default_factory=lambda: {name: deque(maxlen=HISTORY_LIMIT) for name in CHANNELS}
    )

    def channel_list(self) -> list[dict[str, Any]]:
        return [{"name": name, "messages": list(msgs)} for name, msgs in self.channels.items()]

    def user_list(self) -> list[dict[str, Any]]:
        return [user.public() for user in self.users.values()]


def clean_username(auth: dict[str, Any]) -> str:
    name = auth.get("username")
    if isinstance(name, str) and name.strip():
        return name.strip()[:MAX_USERNAME_LENGTH]
    return "anonymous_" + secrets.token_hex(4)


def create_server() -> Any:
    """Build the python-socketio server with the chat handlers registered on it."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins="*",
        # Emitting from the connect handler is only ordered after CONNECT with this set.
        always_connect=True,
        logger=False,
        engineio_logger=False,
    )
    state = ChatState()

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        auth = auth if isinstance(auth, dict) else {}
        session_id = auth.get("sessionId")
        user = state.users.get(session_id) if isinstance(session_id, str) else None
        restored = user is not None
        if user is None:
            avatar = auth.get("avatar")
            user = User(
                session_id=uuid.uuid4().hex,
                user_id=uuid.uuid4().hex,
                username=clean_username(auth),
                avatar=avatar if isinstance(avatar, str) else None,
            )
            state.users[user.session_id] = user
        came_online = not user.connected
        user.sockets.add(sid)
        state.by_sid[sid] = user
        for name in CHANNELS:
            await sio.enter_room(sid, name)
        await sio.emit("session", user.session(), to=sid)
        await sio.emit("channels", state.channel_list(), to=sid)
        await sio.emit("users", state.user_list(), to=sid)
        if not restored:
            await sio.emit("user:join", user.public(), room="welcome", skip_sid=sid)
        elif came_online:
            await sio.emit("user:connect", user.public(), room="welcome", skip_sid=sid)

    async def send_message(sid: str, channel: Any = None, text: Any = None) -> dict[str, Any]:
        user = state.by_sid.get(sid)
        if user is None:
            return {"ok": False, "error": "not in a session"}
        if not isinstance(channel, str) or channel not in state.channels:
            return {"ok": False, "error": "unknown channel"}
        if not isinstance(text, str) or not text.strip():
            return {"ok": False, "error": "empty message"}
        if len(text) > MAX_MESSAGE_LENGTH:
            return {"ok": False, "error": "message too long"}
        message: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "userId": user.user_id,
            "username": user.username,
            "timestamp": int(time.time() * 1000),
            "message": text,
        }
        if user.avatar is not None:
            message["avatar"] = user.avatar
        state.channels[channel].append(message)
        await sio.emit("message:channel", (channel, message), room=channel)
        return {"ok": True, "id": message["id"]}

    async def leave(sid: str, *_: Any) -> None:
        user = state.by_sid.pop(sid, None)
        if user is None:
            return
        state.users.pop(user.session_id, None)
        for other in user.sockets - {sid}:
            state.by_sid.pop(other, None)
        user.sockets.clear()
        await sio.emit("user:leave", user.public(), skip_sid=sid)

    async def disconnect(sid: str, *_: Any) -> None:
        user = state.by_sid.pop(sid, None)
        if user is None:
            return
        user.sockets.discard(sid)
        if not user.connected:
            await sio.emit("user:disconnect", user.public(), skip_sid=sid)

    sio.on("connect", connect)
    sio.on("message:channel:send", send_message)
    sio.on("user:leave", leave)
    sio.on("disconnect", disconnect)
    return sio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8182)
    # uvicorn's "auto" picks websockets' sans-I/O protocol; the others are there to compare.
    parser.add_argument(
        "--ws", choices=("websockets-sansio", "websockets", "wsproto"), default="websockets-sansio"
    )
    args = parser.parse_args()
    app = socketio.ASGIApp(create_server())
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=args.ws,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
